"""regbench's TensorFlow/Keras method plugin: VoxelMorph Vxm-1 and Vxm-2 in Keras,
trained by a Keras loop with the same loss, batches and hyper-parameters as the
PyTorch twins (``vxm1``, ``vxm2``). Installed with ``pip install 'regbench[tensorflow]'``;
TensorFlow is imported only when one of these methods is prepared, never by the core.
"""

from __future__ import annotations

from regbench import Method, Registry, hookimpl
from regbench_keras.method import KerasVxm1, KerasVxm2


@hookimpl
def regbench_register_methods(register: Registry[Method]) -> None:
    for method in (KerasVxm1, KerasVxm2):
        register(method, requires=("tensorflow",), install="pip install 'regbench[tensorflow]'")
