"""VoxelMorph's U-Net and flow head in Keras, layer for layer the PyTorch ``VxmNetwork``
of :mod:`regbench_methods.vxm` (same convolutions, same order, same skips), so that
weights move between the two with :func:`torch_to_keras`.

Keras works channels-last: the model takes ``[moving, fixed]`` of shape
``(B, *spatial, 1)`` and returns the displacement ``(B, *spatial, ndim)``, whose
component ``d`` moves along spatial axis ``d`` in voxels (regbench's pull-back
convention, as the PyTorch network's channel ``d``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from regbench_keras.backend import keras

layers = keras.layers


def vxm_model(ndim: int, encoder: Sequence[int], decoder: Sequence[int]) -> keras.Model:
    """Encoder convs (each followed by 2× max pooling), a bottom conv, decoder convs after
    2× nearest upsampling and concatenation of the skip, full-resolution convs, and a
    3×3 flow conv initialised from N(0, 1e-5). Convolutions are named ``conv_<i>`` in
    the PyTorch network's order; every one is 3×3 with LeakyReLU(0.2) but the flow's."""
    levels = len(encoder)
    if len(decoder) <= levels:
        raise ValueError(f"decoder {list(decoder)} needs more than {levels} entries (one per level, then full resolution)")
    spatial = (None,) * ndim
    moving, fixed = keras.Input((*spatial, 1), name="moving"), keras.Input((*spatial, 1), name="fixed")
    convs = iter(range(len(encoder) + len(decoder) + 1))
    conv_layer = getattr(layers, f"Conv{ndim}D")

    def conv(x: keras.KerasTensor, features: int) -> keras.KerasTensor:
        x = conv_layer(features, 3, padding="same", name=f"conv_{next(convs)}")(x)
        return layers.LeakyReLU(negative_slope=0.2)(x)

    x = layers.Concatenate()([moving, fixed])
    skips = []
    for features in encoder:
        x = conv(x, features)
        skips.append(x)
        x = getattr(layers, f"MaxPooling{ndim}D")(2)(x)
    x = conv(x, decoder[0])
    for features in decoder[1 : levels + 1]:
        x = getattr(layers, f"UpSampling{ndim}D")(2)(x)  # nearest
        x = conv(layers.Concatenate()([x, skips.pop()]), features)
    for features in decoder[levels + 1 :]:
        x = conv(x, features)
    flow = conv_layer(ndim, 3, padding="same", name=f"conv_{next(convs)}",
                      kernel_initializer=keras.initializers.RandomNormal(0.0, 1e-5))(x)
    return keras.Model([moving, fixed], flow, name="vxm")


def _convolutions(model: keras.Model) -> list[layers.Layer]:
    named = [layer for layer in model.layers if layer.name.startswith("conv_")]
    return sorted(named, key=lambda layer: int(layer.name.split("_")[1]))


def torch_to_keras(state: Mapping[str, object], model: keras.Model) -> None:
    """Copy a PyTorch ``VxmNetwork``'s ``state_dict`` into ``model`` (built by
    :func:`vxm_model` with the same widths): kernels ``(out, in, *k)`` become
    ``(*k, in, out)``, biases stay."""
    arrays = {key: np.asarray(value.detach().cpu() if hasattr(value, "detach") else value)
              for key, value in state.items()}
    kernels = [(arrays[key], arrays[key[: -len("weight")] + "bias"])
               for key in arrays if key.endswith(".weight") and arrays[key].ndim >= 3]
    convolutions = _convolutions(model)
    if len(kernels) != len(convolutions):
        raise ValueError(f"the PyTorch network has {len(kernels)} convolutions, the Keras one {len(convolutions)}")
    for (kernel, bias), layer in zip(kernels, convolutions, strict=True):
        layer.set_weights([np.transpose(kernel, (*range(2, kernel.ndim), 1, 0)), bias])
