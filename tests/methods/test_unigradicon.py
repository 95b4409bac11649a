"""unigradicon: the adapter around the package, checked with weights of uniGradICON's own
architecture that the test saves itself (the real ones cannot be fetched here; their
accuracy is not measured by these tests).

The plugin's field must be the package's result: the moving labels warped by the
package's own ITK transform (nearest neighbour, ITK's resampler) and by the harness
through the plugin's field agree with Dice 1.0000 per label. Without weights the method
is listed as not installed with the hint, never downloads; the weights' content keys
its results; a 2D image is a clear error."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import label_agreement

from regbench.execution.plan import plan_job
from regbench.measuring.warp import warp_image, warp_labels
from regbench.plugin.manager import collect, plugin_manager
from regbench.plugin.training import PROFILES

pytest.importorskip("unigradicon", reason="needs uniGradICON's package: pip install 'regbench[unigradicon]'")
import torch  # noqa: E402
from regbench_methods.unigradicon import (  # noqa: E402
    WEIGHTS_ENV,
    UniGradICON,
    UniGradICONIO,
    _package,
    field_from_transform,
)

SIZE = 72  # the smallest input its U-Nets take; the real weights' is 175


def save_weights(path, seed: int = 0):
    """uniGradICON's network (the package's make_network) with its zero-initialised
    output convolutions set at random, so that the field moves: a stand-in for the
    published weights, of the same architecture and format."""
    network = _package().unigradicon.make_network([1, 1, SIZE, SIZE, SIZE], include_last_step=True)
    state = network.regis_net.state_dict()
    generator = torch.Generator().manual_seed(seed)
    for name in state:
        if "lastConv" in name:
            state[name] = torch.randn(state[name].shape, generator=generator) * 0.02
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return save_weights(tmp_path_factory.mktemp("unigradicon") / "Step_2_final.trch")


@pytest.fixture(scope="module")
def pair():
    from regbench_datasets.synthetic import Synthetic  # noqa: PLC0415

    dataset = Synthetic(shape=(44, 40, 36), n_subjects=6)  # three lengths: a swapped axis cannot hide
    return list(dataset.labels), dataset.load(dataset.atlas_id), dataset.load(dataset.test_ids[0])


def test_the_plugins_field_is_the_packages_registration(weights, pair):
    labels, fixed, moving = pair
    method = UniGradICON(weights=str(weights), input_size=SIZE)
    method.prepare(None)
    # The package's result for the pair (register() is field_from_transform(*transform(...))),
    # and its own warp of it (ITK's resampler).
    transform, reference = method.transform(fixed.image, moving.image)
    field = field_from_transform(transform, reference)
    assert np.abs(field).max() > 1.0  # the stand-in weights move the image
    itk = _package().itk
    seg = itk.image_from_array(np.ascontiguousarray(moving.seg.T, np.float32))  # as the plugin hands images to ITK
    by_package = itk.array_from_image(itk.resample_image_filter(
        seg, transform=transform, interpolator=itk.NearestNeighborInterpolateImageFunction.New(seg),
        use_reference_image=True, reference_image=reference)).T
    dice = label_agreement("unigradicon", labels, by_package, warp_labels(moving.seg, field))
    np.testing.assert_array_equal(dice, 1.0)
    # images too: ITK's linear interpolation and the harness's, inside the image
    image = itk.image_from_array(np.ascontiguousarray(moving.image.T, np.float32))
    warped = itk.array_from_image(itk.resample_image_filter(
        image, transform=transform, interpolator=itk.LinearInterpolateImageFunction.New(image),
        use_reference_image=True, reference_image=reference)).T
    inside = np.all([(0 <= c + u) & (c + u <= n - 1) for c, u, n in
                     zip(np.indices(fixed.image.shape), field, fixed.image.shape, strict=True)], axis=0)
    assert np.abs(warped - warp_image(moving.image, field))[inside].max() < 1e-4


def test_the_network_sees_a_volume_as_the_packages_own_command_reads_its_file(weights, tmp_path):
    """regbench's arrays are in nibabel's voxel order; the package reads files with ITK:
    the image the plugin hands over is the one ``itk.imread`` gives for the same NIfTI."""
    import nibabel as nib  # noqa: PLC0415

    volume = np.random.default_rng(0).random((30, 24, 18)).astype(np.float32)
    path = tmp_path / "volume.nii.gz"
    nib.save(nib.Nifti1Image(volume, np.eye(4)), path)
    as_regbench_loads_it = np.asarray(nib.load(path).dataobj, dtype=np.float32)
    package = _package()
    by_package = package.unigradicon.preprocess(package.itk.imread(str(path)), modality="mri")
    by_plugin = UniGradICON(weights=str(weights)).itk_image(as_regbench_loads_it, "fixed")
    np.testing.assert_array_equal(np.asarray(by_plugin), np.asarray(by_package))


class Stop(Exception):
    pass


@pytest.mark.parametrize(("method", "steps"), [(UniGradICON, None), (UniGradICONIO, 50)])
def test_instance_optimisation_is_the_packages_with_its_defaults(method, steps, weights, pair, monkeypatch):
    """unigradicon-io hands the package's register_pair its instance optimisation as the
    package's command line does by default (50 steps at 2e-5); unigradicon none (the
    package's ``None``). The optimisation itself, which restores the network after each
    pair, is the package's."""
    _, fixed, moving = pair
    calls = []

    def spy(network, moving_image, fixed_image, finetune_steps, learning_rate):
        calls.append((finetune_steps, learning_rate, np.asarray(moving_image).sum(), torch.rand(1).item()))
        raise Stop

    prepared = method(weights=str(weights), input_size=SIZE, seed=3)
    prepared.prepare(None)
    monkeypatch.setattr(_package(), "register_pair", spy)
    before = torch.random.get_rng_state()
    for _ in range(2):
        with pytest.raises(Stop):
            prepared.transform(fixed.image, moving.image)
    assert [call[:2] for call in calls] == [(steps, 2e-5)] * 2
    # the moving image goes first (the package's A, warped onto B), preprocessed to [0, 1]
    assert calls[0][2] == pytest.approx(np.asarray(prepared.itk_image(moving.image, "moving")).sum())
    # the noise its loss draws is seeded per pair; torch's global generator is left alone
    assert calls[0][3] == calls[1][3] and torch.equal(torch.random.get_rng_state(), before)


def test_without_weights_it_is_listed_with_the_hint_and_named_it_says_how(tmp_path, monkeypatch, weights):
    missing = tmp_path / "nowhere.trch"
    monkeypatch.setenv(WEIGHTS_ENV, str(missing))
    entry = collect(plugin_manager()).methods["unigradicon"]
    assert not entry.installed
    assert entry.status.startswith(f"not installed: weights not found at {missing} — download Step_2_final.trch (uni")
    assert "--param unigradicon.weights=PATH or set $REGBENCH_UNIGRADICON_WEIGHTS" in entry.status
    with pytest.raises(ValueError, match=r"method 'unigradicon-io': weights not found at .*nowhere\.trch"):
        UniGradICONIO.resolve_params({})
    assert UniGradICON.resolve_params({"weights": str(weights)})["weights"] == str(weights.resolve())
    monkeypatch.setenv(WEIGHTS_ENV, str(weights))
    assert collect(plugin_manager()).methods["unigradicon"].installed


def test_all_takes_it_when_its_weights_are_given_as_a_parameter(tmp_path, monkeypatch, weights):
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "nowhere.trch"))
    found = collect(plugin_manager())
    notes = []
    names = [choice.entry.name for choice in
             found.select_methods("all", [f"unigradicon.weights={weights}"], note=notes.append, ndim=3)]
    assert "unigradicon" in names and "unigradicon-io" not in names
    assert any(note.startswith("skipping method unigradicon-io: not installed: weights not found") for note in notes)


def test_the_weights_content_keys_the_results(tmp_path):
    from regbench_datasets.synthetic import Synthetic  # noqa: PLC0415

    entry = collect(plugin_manager()).methods["unigradicon"]
    path = tmp_path / "weights.trch"
    path.write_bytes(b"first")
    dataset = Synthetic(shape=(24, 24, 24), n_subjects=6)

    def key():
        job = plan_job(entry, {"weights": str(path)}, dataset=dataset, seed=0, profile=PROFILES["smoke"])
        return job.identity().method_files

    first = key()
    path.write_bytes(b"other")
    assert key() != first


def test_a_2d_image_is_a_clear_error(weights):
    method = UniGradICON(weights=str(weights), input_size=SIZE)
    with pytest.raises(ValueError, match=r"registers 3D volumes only .* shape \(32, 32\)"):
        method.register(np.zeros((32, 32), np.float32), np.ones((32, 32), np.float32))
    with pytest.raises(ValueError, match="input_size must be at least 72"):
        UniGradICON(weights=str(weights), input_size=64)
