"""regbench's vxm1 against voxelmorph's own ``VxmPairwise``, same input, one run.

Both networks take a batch of 160x192 pairs. ``VxmPairwise`` cannot express Vxm-1's
full-resolution decoder (neurite's BasicUNet forces it to the previous level's width
and adds a 1x1 output conv), so it gets the closest configuration it has: encoder
[16, 32, 32, 32], decoder [32, 32, 32, 32], LeakyReLU(0.2), nearest upsampling, no
integration. Its training step is voxelmorph's own recipe: its spatial transformer
(``return_warped_source=True``) and neurite's MSE and gradient losses.

Each group (train step, inference) compares the two; the "relative" column of the
table is the ratio regbench / voxelmorph (goal: at most 1.1).

    python -m pytest benchmarks/test_vxm_vs_voxelmorph.py --benchmark-columns=median,iqr,rounds
"""

from __future__ import annotations

import neurite as ne
import pytest
import torch
import voxelmorph as vxm
from regbench_methods.vxm import ENCODER, VXM1_DECODER, VxmNetwork

from regbench.learning.trainer import diffusion_loss, similarity_loss
from regbench.measuring.warp import warp_tensor

SHAPE = (160, 192)
BATCH = 8


def regbench_vxm1() -> torch.nn.Module:
    torch.manual_seed(0)
    return VxmNetwork(2, ENCODER, VXM1_DECODER)


def voxelmorph_pairwise() -> torch.nn.Module:
    torch.manual_seed(0)
    return vxm.nn.models.VxmPairwise(
        ndim=2, source_channels=1, target_channels=1,
        nb_features=[list(ENCODER), [32, 32, 32, 32]],
        activations=torch.nn.LeakyReLU(0.2), integration_steps=0,
        unet_kwargs={"upsample_mode": "nearest"},
    )


@pytest.fixture(scope="module")
def images():
    generator = torch.Generator().manual_seed(0)
    return torch.rand(BATCH, 1, *SHAPE, generator=generator), torch.rand(BATCH, 1, *SHAPE, generator=generator)


def regbench_train_step(network, optimizer, moving, fixed):
    sim, smooth = similarity_loss("mse"), diffusion_loss()
    field = network(moving, fixed)
    loss = sim(fixed, warp_tensor(moving, field)) + 0.01 * smooth(field)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def voxelmorph_train_step(network, optimizer, moving, fixed):
    sim, smooth = ne.nn.modules.MSE(), ne.nn.modules.SpatialGradient("l2")
    field, warped = network(moving, fixed, return_warped_source=True)
    loss = sim(fixed, warped) + 0.01 * smooth(field)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


STEPS = {"regbench-vxm1": (regbench_vxm1, regbench_train_step),
         "voxelmorph-VxmPairwise": (voxelmorph_pairwise, voxelmorph_train_step)}


@pytest.mark.parametrize("name", list(STEPS))
def test_train_step_batch8(benchmark, images, name):
    benchmark.group = "train step, batch 8, 160x192"
    build, step = STEPS[name]
    network = build()
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-4)
    moving, fixed = images
    benchmark.pedantic(step, args=(network, optimizer, moving, fixed), rounds=15, warmup_rounds=2)


@pytest.mark.parametrize("name", list(STEPS))
def test_inference_one_pair(benchmark, images, name):
    benchmark.group = "inference, 1 pair, 160x192"
    network = STEPS[name][0]().eval()
    moving, fixed = images[0][:1], images[1][:1]

    def infer():
        with torch.inference_mode():
            return network(moving, fixed)

    field = benchmark.pedantic(infer, rounds=40, warmup_rounds=3)
    assert field.shape == (1, 2, *SHAPE)
