"""VoxelMorph Vxm-1/Vxm-2 as built by regbench, checked against the published architecture."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from regbench_methods.vxm import ENCODER, VXM1_DECODER, VXM2_DECODER, VxmNetwork

from regbench.measuring.warp import warp_tensor

vxm = pytest.importorskip("voxelmorph")


def published_parameter_count(ndim: int, encoder: list[int], decoder: list[int]) -> int:
    """Parameters of VoxelMorph's U-Net as published (Balakrishnan et al. 2019, Fig. 3).

    Every layer is a 3^ndim convolution with bias. Encoder: conv to encoder[i], then
    pool. Decoder: decoder[0] at the lowest resolution; decoder[1..L] each on the
    previous output concatenated with the encoder features of that resolution; then
    the remaining full-resolution convs; then the flow conv to ndim channels.
    """
    kernel = 3**ndim
    conv = lambda cin, cout: kernel * cin * cout + cout  # noqa: E731
    levels = len(encoder)
    total, channels = 0, 2
    for width in encoder:
        total, channels = total + conv(channels, width), width
    total, channels = total + conv(channels, decoder[0]), decoder[0]
    for width, skip in zip(decoder[1 : levels + 1], reversed(encoder)):
        total, channels = total + conv(channels + skip, width), width
    for width in decoder[levels + 1 :]:
        total, channels = total + conv(channels, width), width
    return total + conv(channels, ndim)


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("decoder", [VXM1_DECODER, VXM2_DECODER], ids=["vxm1", "vxm2"])
def test_parameter_count_matches_the_published_architecture(ndim, decoder):
    network = VxmNetwork(ndim, ENCODER, decoder)
    assert sum(p.numel() for p in network.parameters()) == published_parameter_count(ndim, list(ENCODER), list(decoder))


def test_vxm1_2d_parameter_count_by_hand():
    # enc 304 + 4640 + 9248 + 9248; dec 9248 + 3 * 18464 + (48*8*9 + 8); 8->8: 584; flow 8->2: 146
    assert sum(p.numel() for p in VxmNetwork(2, ENCODER, VXM1_DECODER).parameters()) == 92274


@pytest.mark.parametrize("shape", [(32, 48), (16, 16, 32)], ids=["2d", "3d"])
def test_untrained_field_is_near_identity(shape):
    torch.manual_seed(0)
    network = VxmNetwork(len(shape), ENCODER, VXM1_DECODER)
    moving, fixed = torch.rand(2, 1, *shape), torch.rand(2, 1, *shape)
    field = network(moving, fixed)
    assert field.shape == (2, len(shape), *shape)
    assert field.abs().max() < 1e-2


def test_diffeomorphic_variant_integrates_with_voxelmorph():
    torch.manual_seed(0)
    network = VxmNetwork(2, ENCODER, VXM1_DECODER, int_steps=7)
    assert isinstance(network.integrate, vxm.nn.modules.IntegrateVelocityField)
    moving, fixed = torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        network.flow.weight.normal_(0, 2.0)  # a field big enough for integration to matter
        field = network(moving, fixed)
        network.integrate = None
        velocity = network(moving, fixed)
    assert torch.isfinite(field).all() and field.shape == (1, 2, 32, 32)
    assert not torch.allclose(field, velocity, atol=1e-3)


def test_regbench_warp_equals_voxelmorph_spatial_transformer(rng):
    moving = torch.from_numpy(rng.random((2, 3, 24, 28))).float()
    field = torch.from_numpy(rng.normal(0, 3, (2, 2, 24, 28))).float()
    theirs = vxm.nn.modules.SpatialTransformer()(moving, field)
    np.testing.assert_allclose(warp_tensor(moving, field).numpy(), theirs.numpy(), atol=1e-5)
