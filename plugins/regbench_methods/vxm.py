"""``vxm1`` and ``vxm2``: VoxelMorph (Balakrishnan et al., TMI 2019) as the paper compares it.

Encoder [16, 32, 32, 32] for both; decoder [32, 32, 32, 32, 8, 8] (Vxm-1) or
[32, 32, 32, 32, 32, 16, 16] (Vxm-2); 3×3 convolutions with LeakyReLU(0.2), max
pooling, nearest upsampling; a 3×3 flow convolution initialised from N(0, 1e-5).

Built from the voxelmorph/neurite packages' own pieces: neurite's
``DownsampleConvBlock`` (conv, then max pool), ``UpsampleConvBlock`` (upsample,
concatenate the skip, conv) and ``ConvBlock``, and voxelmorph's
``IntegrateVelocityField`` for the diffeomorphic variant. neurite's ``BasicUNet``
itself cannot express these decoders: it forces the full-resolution decoder conv to
the width of the one before it (32 instead of Vxm-1's 8) and adds a 1×1 output conv.
Non-diffeomorphic (``int_steps=0``) is what the paper compares, and the default.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from regbench import Method, Range, Registry, hookimpl
from regbench.learning import LearnedMethod

# The widths of the comparison, in one place: the ECA U-Net and the Keras twins use them too.
ENCODER = (16, 32, 32, 32)
VXM1_DECODER = (32, 32, 32, 32, 8, 8)
VXM2_DECODER = (32, 32, 32, 32, 32, 16, 16)


class VxmNetwork(nn.Module):
    """VoxelMorph's U-Net and flow head: ``(moving, fixed) -> displacement``.

    Decoder entry ``levels`` (0-based) runs at the lowest resolution; each next one
    upsamples, concatenates the encoder features of that resolution and convolves,
    the last of them at full resolution; the entries after that are plain
    full-resolution convs.
    """

    def __init__(self, ndim: int, encoder: Sequence[int], decoder: Sequence[int], int_steps: int = 0) -> None:
        import neurite as ne  # noqa: PLC0415
        import voxelmorph as vxm  # noqa: PLC0415

        super().__init__()
        levels = len(encoder)
        if len(decoder) <= levels:
            raise ValueError(f"decoder {list(decoder)} needs more than {levels} entries (one per level, then full resolution)")
        activation = nn.LeakyReLU(0.2)
        channels = 2  # moving and fixed, stacked
        self.down = nn.ModuleList()
        for features in encoder:
            self.down.append(ne.nn.modules.DownsampleConvBlock(ndim, channels, features, activation=activation, return_skip=True))
            channels = features
        self.bottom = ne.nn.modules.ConvBlock(ndim, channels, decoder[0], activation=activation)
        channels = decoder[0]
        self.up = nn.ModuleList()
        for features, skip in zip(decoder[1 : levels + 1], reversed(encoder)):
            self.up.append(ne.nn.modules.UpsampleConvBlock(
                ndim, channels, features, upsample_mode="nearest", activation=activation, skip_channels=skip
            ))
            channels = features
        remaining = []
        for features in decoder[levels + 1 :]:
            remaining.append(ne.nn.modules.ConvBlock(ndim, channels, features, activation=activation))
            channels = features
        self.remaining = nn.Sequential(*remaining)
        self.flow = getattr(nn, f"Conv{ndim}d")(channels, ndim, kernel_size=3, padding=1)
        nn.init.normal_(self.flow.weight, mean=0.0, std=1e-5)
        nn.init.zeros_(self.flow.bias)
        self.integrate = vxm.nn.modules.IntegrateVelocityField(steps=int_steps) if int_steps > 0 else None

    def forward(self, moving: torch.Tensor, fixed: torch.Tensor) -> torch.Tensor:
        x = torch.cat([moving, fixed], dim=1)
        skips = []
        for block in self.down:
            x, skip = block(x)
            skips.append(skip)
        x = self.bottom(x)
        for block in self.up:
            x = block(x, skips.pop())
        field = self.flow(self.remaining(x))
        return self.integrate(field) if self.integrate is not None else field


class Vxm(LearnedMethod):
    decoder: ClassVar[tuple[int, ...]]
    default_params: ClassVar[dict[str, Any]] = {
        **LearnedMethod.default_params,
        "int_steps": 0,  # 0: plain displacement (as the paper); 7: diffeomorphic (scaling and squaring)
    }
    param_rules: ClassVar[dict[str, Any]] = {"int_steps": Range(at_least=0)}

    def build_network(self, ndim: int) -> nn.Module:
        return VxmNetwork(ndim, ENCODER, self.decoder, int_steps=self.params["int_steps"])


class Vxm1(Vxm):
    name = "vxm1"
    description = "VoxelMorph Vxm-1: encoder [16,32,32,32], decoder [32,32,32,32,8,8]"
    decoder = VXM1_DECODER


class Vxm2(Vxm):
    name = "vxm2"
    description = "VoxelMorph Vxm-2: encoder [16,32,32,32], decoder [32,32,32,32,32,16,16]"
    decoder = VXM2_DECODER


@hookimpl
def regbench_register_methods(register: Registry[Method]) -> None:
    for method in (Vxm1, Vxm2):
        register(method, requires=("voxelmorph", "neurite"))
