"""``eca-unet``: the reference paper's network (Zheng et al. 2023).

A U-shaped CNN on the stacked moving and fixed images with two contributions:

- *dense connections* (UNet++-style nested skips): after every downsampling an
  upsampling path is added, and each decoder node concatenates every earlier node of
  its resolution, besides the encoder→decoder long connections;
- *ECA channel attention* after each decoder upsampling: global average pool, a 1-D
  conv across channels with kernel k = odd(|log2(C)/2 + 1/2|), a sigmoid, and the
  channels rescaled.

The paper gives no channel widths; like VoxelMorph, the encoder is [16, 32, 32, 32]
with a 32-channel node at 1/16 resolution, and every decoder node takes the width of
its level, so the comparison with Vxm-1/Vxm-2 is fair. 3×3 convs with LeakyReLU(0.2),
max pooling, nearest upsampling, and a 3×3 conv head to the ndim-channel displacement
field initialised near zero. ``dense=False`` keeps only the long connections (a plain
U-Net) and ``eca=False`` drops the attention: the ablation the paper did not publish.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from regbench import Method, Registry, hookimpl
from regbench.learning import LearnedMethod
from regbench_methods.vxm import ENCODER

BOTTOM = 32  # the lowest-resolution node, as VoxelMorph's first decoder conv


def eca_kernel_size(channels: int, gamma: int = 2, b: int = 1) -> int:
    """ECA-Net's adaptive kernel: the odd number nearest above |log2(C)/γ + b/γ|."""
    t = int(abs((math.log2(channels) + b) / gamma))
    return t if t % 2 else t + 1


class ECA(nn.Module):
    """Efficient channel attention (Wang et al., CVPR 2020), for 2D and 3D maps."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        k = eca_kernel_size(channels)
        self.conv = nn.Conv1d(1, 1, kernel_size=k, padding=k // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = x.mean(dim=tuple(range(2, x.ndim)))  # (B, C)
        weights = torch.sigmoid(self.conv(pooled[:, None, :]))[:, 0]
        return x * weights.view(*weights.shape, *([1] * (x.ndim - 2)))


def _conv(ndim: int, in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        getattr(nn, f"Conv{ndim}d")(in_channels, out_channels, kernel_size=3, padding=1),
        nn.LeakyReLU(0.2),
    )


class EcaUNet(nn.Module):
    """``(moving, fixed) -> displacement``; node X[i][j] lives at resolution 1/2**i.

    X[i][0] is the encoder (X[L][0] the lowest-resolution node); a decoder node is
    ``X[i][j] = conv(cat(X[i][0..j-1] (dense) or X[i][0] (plain), ECA(up(X[i+1][j-1]))))``,
    and the field comes from X[0][L].
    """

    def __init__(self, ndim: int, encoder: Sequence[int] = ENCODER, bottom: int = BOTTOM,
                 dense: bool = True, eca: bool = True) -> None:
        super().__init__()
        self.levels = len(encoder)
        self.dense = dense
        widths = [*encoder, bottom]
        self.pool = getattr(nn, f"MaxPool{ndim}d")(2)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.encoder = nn.ModuleList()
        channels = 2
        for width in widths:
            self.encoder.append(_conv(ndim, channels, width))
            channels = width
        # Decoder nodes, keyed "i_j". Plain U-Net: only the nodes on the final path (i + j = L).
        self.nodes = nn.ModuleDict()
        self.attention = nn.ModuleDict()
        for j in range(1, self.levels + 1):
            for i in range(self.levels + 1 - j):
                if not dense and i + j != self.levels:
                    continue
                same_level = widths[i] * (j if dense else 1)
                self.nodes[f"{i}_{j}"] = _conv(ndim, same_level + widths[i + 1], widths[i])
                self.attention[f"{i}_{j}"] = ECA(widths[i + 1]) if eca else nn.Identity()
        self.head = getattr(nn, f"Conv{ndim}d")(widths[0], ndim, kernel_size=3, padding=1)
        nn.init.normal_(self.head.weight, mean=0.0, std=1e-5)
        nn.init.zeros_(self.head.bias)

    def forward(self, moving: torch.Tensor, fixed: torch.Tensor) -> torch.Tensor:
        x = torch.cat([moving, fixed], dim=1)
        grid: list[list[torch.Tensor]] = []
        for i, block in enumerate(self.encoder):
            x = block(x if i == 0 else self.pool(x))
            grid.append([x])
        for j in range(1, self.levels + 1):
            for i in range(self.levels + 1 - j):
                key = f"{i}_{j}"
                if key not in self.nodes:
                    continue
                below = self.attention[key](self.upsample(grid[i + 1][-1]))
                same_level = grid[i] if self.dense else grid[i][:1]
                grid[i].append(self.nodes[key](torch.cat([*same_level, below], dim=1)))
        return self.head(grid[0][-1])


class EcaUNetMethod(LearnedMethod):
    name = "eca-unet"
    description = "the paper's dense-connected U-Net with ECA channel attention (Zheng et al. 2023)"
    default_params: ClassVar[dict[str, Any]] = {
        **LearnedMethod.default_params,
        "dense": True,  # UNet++-style nested skip connections
        "eca": True,  # ECA channel attention after each decoder upsampling
    }

    @classmethod
    def code_modules(cls) -> tuple[str, ...]:
        return (*super().code_modules(), "regbench_methods.vxm")  # where its encoder widths are defined

    def build_network(self, ndim: int) -> nn.Module:
        return EcaUNet(ndim, dense=self.params["dense"], eca=self.params["eca"])


@hookimpl
def regbench_register_methods(register: Registry[Method]) -> None:
    register(EcaUNetMethod)
