"""The reference paper's dense ECA U-Net: attention kernel, shapes, gradients, ablations."""

from __future__ import annotations

import pytest
import torch
from conftest import parameters_without_gradient, untrained_field
from regbench_methods.eca_unet import ECA, EcaUNet, eca_kernel_size


@pytest.mark.parametrize(("channels", "k"), [(8, 3), (16, 3), (32, 3), (64, 3), (128, 5), (256, 5), (512, 5), (1024, 5), (2048, 7)])
def test_eca_kernel_size(channels, k):
    # k = odd(|log2(C)/2 + 1/2|): 3 for C <= 64, 5 for 128..1024 (ECA-Net, Wang et al. 2020)
    assert eca_kernel_size(channels) == k


def test_eca_rescales_channels_by_attention_of_their_means():
    torch.manual_seed(0)
    eca = ECA(16)
    x = torch.rand(2, 16, 5, 6)
    means = x.mean(dim=(2, 3))
    expected = x * torch.sigmoid(torch.nn.functional.conv1d(means[:, None], eca.conv.weight, padding=1))[:, 0, :, None, None]
    torch.testing.assert_close(eca(x), expected)


@pytest.mark.parametrize("shape", [(32, 48), (16, 16, 32)], ids=["2d", "3d"])
@pytest.mark.parametrize("options", [{}, {"dense": False}, {"eca": False}], ids=["full", "no-dense", "no-eca"])
def test_output_is_a_near_zero_field_of_the_input_shape(shape, options):
    torch.manual_seed(0)
    assert untrained_field(EcaUNet(len(shape), **options), shape) < 1e-2  # near identity before training


def test_gradients_reach_every_layer():
    torch.manual_seed(0)
    assert parameters_without_gradient(EcaUNet(2), (32, 32)) == []


def test_ablation_switches_remove_exactly_their_part():
    full, no_dense, no_eca = EcaUNet(2), EcaUNet(2, dense=False), EcaUNet(2, eca=False)
    assert sorted(full.nodes) == sorted(f"{i}_{j}" for j in range(1, 5) for i in range(5 - j))  # 10 nested nodes
    assert sorted(no_dense.nodes) == ["0_4", "1_3", "2_2", "3_1"]  # the plain U-Net path
    assert sum(isinstance(m, ECA) for m in full.modules()) == 10
    assert sum(isinstance(m, ECA) for m in no_eca.modules()) == 0
    assert sorted(no_eca.nodes) == sorted(full.nodes)
