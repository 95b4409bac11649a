"""The Keras twins of vxm1/vxm2: with the same weights they give the same field and
the same loss as the PyTorch networks; they train, cache and run through regbench."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("tensorflow", reason="the Keras plugin needs pip install 'regbench[tensorflow]'")

from regbench_datasets.synthetic import Synthetic  # noqa: E402
from regbench_keras import network  # noqa: E402
from regbench_keras import training as keras_training  # noqa: E402
from regbench_keras.backend import tf  # noqa: E402
from regbench_keras.method import KerasVxm1  # noqa: E402
from regbench_methods.vxm import ENCODER, VXM1_DECODER, VXM2_DECODER, VxmNetwork  # noqa: E402

from regbench.learning import trainer  # noqa: E402
from regbench.measuring.warp import warp_tensor  # noqa: E402
from regbench.plugin.method import TrainingContext  # noqa: E402
from regbench.plugin.training import Profile  # noqa: E402
from regbench.testing import MethodConformance  # noqa: E402

# float32 through ~10 convolutions, summed in different orders by the two frameworks:
# the largest difference may be this fraction of the largest displacement.
TOLERANCE = 5e-5


def twins(ndim: int, decoder: tuple[int, ...], seed: int = 0):
    """A PyTorch network with random weights big enough to give an O(1) field, and the
    Keras network holding the same weights."""
    torch.manual_seed(seed)
    torch_net = VxmNetwork(ndim, ENCODER, decoder).eval()
    with torch.no_grad():
        for parameter in torch_net.parameters():
            parameter.normal_(0.0, 0.1)
    keras_net = network.vxm_model(ndim, ENCODER, decoder)
    network.torch_to_keras(torch_net.state_dict(), keras_net)
    return torch_net, keras_net


def images(shape: tuple[int, ...], seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((2, *shape), dtype=np.float32)


@pytest.mark.parametrize(("ndim", "shape", "decoder"), [
    (2, (32, 48), VXM1_DECODER), (2, (32, 48), VXM2_DECODER), (3, (16, 16, 32), VXM1_DECODER),
], ids=["vxm1-2d", "vxm2-2d", "vxm1-3d"])
def test_identical_weights_give_the_same_field(ndim, shape, decoder):
    torch_net, keras_net = twins(ndim, decoder)
    moving, fixed = images(shape, seed=ndim)
    with torch.no_grad():
        expected = torch_net(torch.from_numpy(moving)[None, None], torch.from_numpy(fixed)[None, None])[0].numpy()
    field = np.moveaxis(keras_net([moving[None, ..., None], fixed[None, ..., None]])[0].numpy(), -1, 0)
    largest = np.abs(expected).max()
    assert largest > 0.1  # a field worth comparing, not the near-zero of a fresh head
    difference = np.abs(field - expected).max()
    print(f"max |keras - torch| = {difference:.2e} voxels; field up to {largest:.2f} voxels")
    assert field.shape == expected.shape and difference <= TOLERANCE * largest


def test_identical_weights_give_the_same_loss():
    """The Keras loop's loss (its warp and diffusion) is the PyTorch trainer's."""
    torch_net, keras_net = twins(2, VXM1_DECODER)
    moving, fixed = images((32, 48), seed=5)
    with torch.no_grad():
        m, f = torch.from_numpy(moving)[None, None], torch.from_numpy(fixed)[None, None]
        flow = torch_net(m, f)
        expected = trainer.similarity_loss("mse")(f, warp_tensor(m, flow)) + 0.01 * trainer.diffusion_loss()(flow)
    m, f = tf.constant(moving[None, ..., None]), tf.constant(fixed[None, ..., None])
    flow = keras_net([m, f])
    loss = tf.reduce_mean(tf.square(f - keras_training.warp(m, flow))) + 0.01 * keras_training.diffusion(flow)
    np.testing.assert_allclose(float(loss), float(expected), rtol=1e-4)


def test_the_keras_method_trains_caches_and_registers(tmp_path):
    dataset = Synthetic(shape=(32, 32), n_subjects=10)
    context = TrainingContext(dataset=dataset, train_ids=dataset.train_ids, cache_dir=tmp_path,
                              profile=Profile("tiny", batch_size=2, lr=1e-3, steps=5))
    trained = KerasVxm1()
    trained.prepare(context)
    assert trained.training.steps == 5 and not trained.training.cached and len(trained.training.losses) == 5
    assert list(tmp_path.glob("weights/keras-vxm1-*.weights.h5"))
    reloaded = KerasVxm1()
    reloaded.prepare(context)
    assert reloaded.training.cached and reloaded.parameter_count == trained.parameter_count
    fixed, moving = dataset.load(dataset.atlas_id).image, dataset.load(dataset.test_ids[0]).image
    field = reloaded.register(fixed, moving).displacement
    assert field.shape == (2, 32, 32) and field.dtype == np.float32
    np.testing.assert_array_equal(field, trained.register(fixed, moving).displacement)


def test_parameter_counts_match_the_pytorch_twins():
    for decoder in (VXM1_DECODER, VXM2_DECODER):
        torch_net, keras_net = twins(2, decoder)
        assert keras_net.count_params() == sum(p.numel() for p in torch_net.parameters())


class TestKerasVxm1Conformance(MethodConformance):
    method = KerasVxm1
    plugin = "regbench_keras"
