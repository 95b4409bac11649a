"""``transmorph`` and ``transmorph-small``: TransMorph (Chen et al., Medical Image
Analysis 2022), a Swin-transformer encoder with a convolutional decoder, 2D and 3D.

The network, as the paper describes it, from MONAI's Swin building blocks:

- *encoder*: the stacked moving and fixed images are cut into 4-voxel patches and
  embedded (a strided conv to ``embed_dim`` channels, layer norm), then four Swin stages
  of ``depths`` blocks each (windowed multi-head self-attention with a relative position
  bias, shifted windows every second block, an MLP of ratio 4, no qkv bias; stochastic
  depth rising linearly to 0.3), patch merging between stages (2× fewer voxels per axis,
  2× the channels); every stage's output is layer-normed and kept as a skip;
- *decoder*: from the 1/32-resolution stage up, each step upsamples by 2 (linearly),
  concatenates the skip of that resolution and applies two 3×3 conv + instance norm +
  LeakyReLU blocks; below the patches, two convolutional skips from the images themselves
  (at 1/2 resolution, average-pooled, with ``embed_dim / 2`` channels; at full resolution
  with 16) bring back fine detail;
- *head*: a 3×3 conv to the ``ndim``-channel displacement, initialised from N(0, 1e-5).

``transmorph`` has the published configuration (``embed_dim`` 96, depths (2, 2, 4, 2),
heads (4, 4, 8, 8), window (5, 6, 7) for 160×192×224 volumes; 46.77 M parameters in
3D, as published). ``transmorph-small`` is the paper's TransMorph-S (``embed_dim`` 48,
heads (4, 4, 4, 4)), cheap enough for CPU profiles. In 2D the window is the first two
of the 3D one. Images are zero-padded to a multiple of 32 voxels per axis inside the
network and the field cropped back. Trained by the shared trainer with the same loss
and profiles as the other networks, so differences come from the network.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from regbench import Method, Range, Registry, hookimpl
from regbench.learning import LearnedMethod

STRIDE = 32  # 4-voxel patches, then three patch mergings


@functools.cache
def _swin() -> SimpleNamespace:
    """MONAI's Swin blocks. Importing MONAI imports TensorBoard, which imports TensorFlow
    where it is installed: its C++ start-up lines are kept off the terminal, as the
    Keras plugin does."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from monai.networks.blocks import PatchEmbed  # noqa: PLC0415
    from monai.networks.nets.swin_unetr import BasicLayer, PatchMergingV2  # noqa: PLC0415

    return SimpleNamespace(PatchEmbed=PatchEmbed, BasicLayer=BasicLayer, PatchMerging=PatchMergingV2)


def _conv_block(ndim: int, in_channels: int, out_channels: int) -> nn.Sequential:
    """3×3 conv (no bias), instance norm, LeakyReLU: the decoder's unit."""
    return nn.Sequential(getattr(nn, f"Conv{ndim}d")(in_channels, out_channels, 3, padding=1, bias=False),
                         getattr(nn, f"InstanceNorm{ndim}d")(out_channels), nn.LeakyReLU(0.01, inplace=True))


class DecoderStep(nn.Module):
    """Upsample by 2, concatenate the skip, two conv blocks."""

    def __init__(self, ndim: int, in_channels: int, skip_channels: int, out_channels: int) -> None:
        super().__init__()
        self.mode = "bilinear" if ndim == 2 else "trilinear"
        self.convs = nn.Sequential(_conv_block(ndim, in_channels + skip_channels, out_channels),
                                   _conv_block(ndim, out_channels, out_channels))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode=self.mode, align_corners=False)
        return self.convs(torch.cat([x, skip], dim=1))


class SwinEncoder(nn.Module):
    """Patch embedding and four Swin stages; returns each stage's normed output."""

    def __init__(self, ndim: int, embed_dim: int, depths: Sequence[int], heads: Sequence[int],
                 window: Sequence[int], drop_path: float = 0.3) -> None:
        swin = _swin()
        super().__init__()
        self.embed = swin.PatchEmbed(patch_size=4, in_chans=2, embed_dim=embed_dim, norm_layer=nn.LayerNorm,
                                spatial_dims=ndim)
        rates = torch.linspace(0, drop_path, sum(depths)).tolist()
        self.stages, self.norms, self.merges = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        for i, (depth, n_heads) in enumerate(zip(depths, heads, strict=True)):
            dim = embed_dim * 2**i
            self.stages.append(swin.BasicLayer(dim=dim, depth=depth, num_heads=n_heads, window_size=tuple(window),
                                          drop_path=rates[sum(depths[:i]):sum(depths[:i + 1])], mlp_ratio=4.0,
                                          qkv_bias=False, downsample=None))
            self.norms.append(nn.LayerNorm(dim))
            if i < len(depths) - 1:
                self.merges.append(swin.PatchMerging(dim=dim, norm_layer=nn.LayerNorm, spatial_dims=ndim))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.embed(x)
        outputs = []
        for i, stage in enumerate(self.stages):
            x = stage(x).movedim(1, -1)  # channels last, as the norms and mergings take them
            outputs.append(self.norms[i](x).movedim(-1, 1).contiguous())
            if i < len(self.merges):
                x = self.merges[i](x).movedim(-1, 1)
        return outputs


class TransMorphNetwork(nn.Module):
    """``(moving, fixed) -> displacement``: Swin encoder, convolutional decoder, flow head."""

    def __init__(self, ndim: int, embed_dim: int = 96, depths: Sequence[int] = (2, 2, 4, 2),
                 heads: Sequence[int] = (4, 4, 8, 8), window: Sequence[int] = (5, 6, 7), head_channels: int = 16) -> None:
        super().__init__()
        if len(depths) != 4 or len(heads) != 4:
            raise ValueError(f"TransMorph has four stages: got depths {list(depths)} and heads {list(heads)}")
        self.encoder = SwinEncoder(ndim, embed_dim, depths, heads, tuple(window)[:ndim])
        half = embed_dim // 2
        self.image_skip_half = _conv_block(ndim, 2, half)
        self.image_skip_full = _conv_block(ndim, 2, head_channels)
        self.pool = getattr(nn, f"AvgPool{ndim}d")(3, stride=2, padding=1)
        e = embed_dim
        self.decoder = nn.ModuleList([DecoderStep(ndim, 8 * e, 4 * e, 4 * e), DecoderStep(ndim, 4 * e, 2 * e, 2 * e),
                                      DecoderStep(ndim, 2 * e, e, e), DecoderStep(ndim, e, half, half),
                                      DecoderStep(ndim, half, head_channels, head_channels)])
        self.head = getattr(nn, f"Conv{ndim}d")(head_channels, ndim, kernel_size=3, padding=1)
        nn.init.normal_(self.head.weight, mean=0.0, std=1e-5)
        nn.init.zeros_(self.head.bias)

    def forward(self, moving: torch.Tensor, fixed: torch.Tensor) -> torch.Tensor:
        spatial = moving.shape[2:]
        padding = [(-n) % STRIDE for n in spatial]
        x = torch.cat([moving, fixed], dim=1)
        if any(padding):
            x = F.pad(x, [side for amount in reversed(padding) for side in (0, amount)])
        stages = self.encoder(x)
        skips = [*reversed(stages[:-1]), self.image_skip_half(self.pool(x)), self.image_skip_full(x)]
        y = stages[-1]
        for step, skip in zip(self.decoder, skips, strict=True):
            y = step(y, skip)
        field = self.head(y)
        return field[(..., *(slice(0, n) for n in spatial))]


class TransMorph(LearnedMethod):
    name = "transmorph"
    description = "TransMorph (Chen et al. 2022): Swin-transformer encoder, conv decoder; published configuration"
    default_params: ClassVar[dict[str, Any]] = {
        **LearnedMethod.default_params,
        "embed_dim": 96,
        "depths": (2, 2, 4, 2),
        "heads": (4, 4, 8, 8),
        "window": (5, 6, 7),  # in 2D, the first two
    }
    param_rules: ClassVar[dict[str, Any]] = dict.fromkeys(("embed_dim", "depths", "heads", "window"),
                                                          Range(at_least=1))
    size_multiple = 1  # any size: padded to a multiple of 32 inside the network

    def build_network(self, ndim: int) -> nn.Module:
        p = self.params
        return TransMorphNetwork(ndim, p["embed_dim"], p["depths"], p["heads"], p["window"])


class TransMorphSmall(TransMorph):
    name = "transmorph-small"
    description = "TransMorph-S (Chen et al. 2022): the published small variant, embed_dim 48"
    default_params: ClassVar[dict[str, Any]] = {**TransMorph.default_params, "embed_dim": 48, "heads": (4, 4, 4, 4)}


@hookimpl
def regbench_register_methods(register: Registry[Method]) -> None:
    for method in (TransMorph, TransMorphSmall):
        register(method, requires=("monai",), install="pip install 'regbench[transmorph]'")
