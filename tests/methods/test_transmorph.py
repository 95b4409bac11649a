"""transmorph: the published sizes (parameter counts of the paper's four variants in 3D),
the Swin encoder's layout, fields of the input's shape near zero before training for any
size (padded to 32 inside), gradients reaching every layer, and the conformance suite."""

from __future__ import annotations

import pytest
import torch
from conftest import parameters_without_gradient, untrained_field

from regbench.testing import MethodConformance

pytest.importorskip("monai", reason="needs MONAI's Swin blocks: pip install 'regbench[transmorph]'")
from regbench_methods.transmorph import TransMorph, TransMorphNetwork, TransMorphSmall  # noqa: E402

SMALL = {"embed_dim": 12, "heads": (2, 2, 2, 2)}  # a test's network, not TransMorph's


def parameters(network: torch.nn.Module) -> int:
    return sum(p.numel() for p in network.parameters() if p.requires_grad)


@pytest.mark.parametrize(("options", "published"), [
    ({}, 46.77),                                                         # TransMorph
    ({"embed_dim": 48, "heads": (4, 4, 4, 4)}, 11.76),                   # TransMorph-S
    ({"embed_dim": 6, "heads": (2, 2, 4, 4)}, 0.24),                     # TransMorph-T
    ({"embed_dim": 128, "depths": (2, 2, 12, 2), "heads": (4, 4, 8, 16)}, 108.34),  # TransMorph-L
], ids=["transmorph", "small", "tiny", "large"])
def test_3d_parameter_counts_are_the_published_ones(options, published):
    # Chen et al. 2022 give every variant's size in millions to two decimals.
    assert round(parameters(TransMorphNetwork(3, **options)) / 1e6, 2) == published


def test_the_methods_build_the_published_configurations():
    assert parameters(TransMorph(seed=0).build_network(3)) == 46_771_251
    assert round(parameters(TransMorphSmall(seed=0).build_network(3)) / 1e6, 2) == 11.76


def test_the_swin_encoder_has_the_published_layout():
    encoder = TransMorphNetwork(3).encoder
    assert [len(stage.blocks) for stage in encoder.stages] == [2, 2, 4, 2]
    assert [stage.blocks[0].num_heads for stage in encoder.stages] == [4, 4, 8, 8]
    assert [stage.blocks[0].dim for stage in encoder.stages] == [96, 192, 384, 768]
    # windows of (5, 6, 7), shifted by half a window in every second block
    assert all(block.window_size == (5, 6, 7) for stage in encoder.stages for block in stage.blocks)
    assert [block.shift_size for block in encoder.stages[2].blocks] == [(0, 0, 0), (2, 3, 3)] * 2
    # stochastic depth rising linearly from 0 to 0.3 over the ten blocks
    rates = [getattr(block.drop_path, "drop_prob", 0.0) for stage in encoder.stages for block in stage.blocks]
    assert rates == pytest.approx(torch.linspace(0, 0.3, 10).tolist())
    assert len(encoder.merges) == 3 and TransMorphNetwork(2).encoder.stages[0].blocks[0].window_size == (5, 6)


@pytest.mark.parametrize("shape", [(32, 64), (40, 36), (16, 20, 24)], ids=["2d", "2d-padded", "3d-padded"])
def test_output_is_a_near_zero_field_of_the_input_shape(shape):
    torch.manual_seed(0)
    assert untrained_field(TransMorphNetwork(len(shape), **SMALL), shape) < 1e-2  # near identity before training


def test_gradients_reach_every_layer():
    torch.manual_seed(0)
    assert parameters_without_gradient(TransMorphNetwork(2, **SMALL), (64, 64)) == []


def test_monais_version_keys_its_results_and_its_weights(monkeypatch):
    """MONAI's code builds the network: a new MONAI recomputes stored results and retrains."""
    from regbench_datasets.synthetic import Synthetic  # noqa: PLC0415

    from regbench.execution.plan import plan_job, result_key  # noqa: PLC0415
    from regbench.measuring import environment  # noqa: PLC0415
    from regbench.plugin.manager import collect, plugin_manager  # noqa: PLC0415
    from regbench.plugin.training import PROFILES  # noqa: PLC0415

    entry = collect(plugin_manager()).methods["transmorph"]
    job = plan_job(entry, {}, dataset=Synthetic(shape=(32, 32), n_subjects=12), seed=0, profile=PROFILES["smoke"])
    assert job.identity().method_versions.startswith("monai ")
    before = result_key(job), TransMorph().cache_key(job.training_context())
    monkeypatch.setattr(environment, "module_versions", lambda modules: "monai 99.0")
    after = result_key(job), TransMorph().cache_key(job.training_context())
    assert after[0] != before[0] and after[1] != before[1]


def test_it_trains_and_registers_at_any_image_size(tmp_path):
    from regbench_datasets.synthetic import Synthetic  # noqa: PLC0415

    from regbench.plugin.method import TrainingContext  # noqa: PLC0415
    from regbench.plugin.training import Profile  # noqa: PLC0415

    dataset = Synthetic(shape=(24, 28), n_subjects=6)  # not multiples of 16: padded inside
    method = TransMorph(seed=0, **SMALL)
    method.prepare(TrainingContext(dataset=dataset, train_ids=dataset.train_ids, cache_dir=tmp_path,
                                   profile=Profile("test", batch_size=2, lr=1e-3, steps=2)))
    fixed, moving = dataset.load(dataset.atlas_id).image, dataset.load(dataset.test_ids[0]).image
    assert method.register(fixed, moving).displacement.shape == (2, 24, 28)


def test_four_stages_are_required():
    with pytest.raises(ValueError, match=r"four stages: got depths \[2, 2\]"):
        TransMorphNetwork(2, depths=(2, 2), heads=(4, 4))


class TestTransMorphConformance(MethodConformance):
    method = TransMorph
    plugin = "regbench_methods.transmorph"
    params = SMALL
