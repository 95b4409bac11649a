"""``unigradicon`` and ``unigradicon-io``: uniGradICON (Tian et al., MICCAI 2024), the
pretrained registration foundation model, through its package (``unigradicon`` on
``icon-registration``), without training here.

Its weights are not downloaded: the package fetches them from the web at first use,
which regbench never does. The user supplies the file (``Step_2_final.trch`` of the
uniGradICON release ``unigradicon_weights``) as ``--param unigradicon.weights=PATH``,
or in ``$REGBENCH_UNIGRADICON_WEIGHTS``, or at
``~/.cache/regbench/unigradicon/Step_2_final.trch`` (``$REGBENCH_CACHE`` moves it).
Without it both methods are listed as not installed, with that hint. The file's
content is part of the key results are stored under.

The package's conventions are kept inside the plugin, each done by the package's own
code: its MRI intensity preprocessing (``unigradicon.preprocess``: clamped to the
image's minimum and 99th percentile, scaled to [0, 1]); its registration
(``icon_registration.itk_wrapper.register_pair``: both images resampled to the
network's fixed 175³ input, the field computed there and returned as an ITK transform
that maps the fixed image's points to the moving image's, composed with the
resampling); and the field read back on the fixed image's own grid, in voxels (images
go to ITK with unit spacing, so a physical millimetre is a voxel). The arrays go to ITK
in the axis order ITK reads a NIfTI file in (regbench's arrays are in nibabel's voxel
order i, j, k; ``itk.imread`` gives numpy k, j, i), so that the network sees a volume as
the package's own command would, and the field comes back in regbench's order. ``unigradicon-io`` adds the package's
instance optimisation, as LUMIR reports both: 50 Adam steps at learning rate 2e-5 on
the package's LNCC (σ 5) and gradient-inverse-consistency loss, the network restored
after each pair.

3D only (the weights are a 3D network). ``unigradicon`` has no random step (a pair gives
the same field every time on the CPU) and runs once per ``--seeds``; the instance
optimisation's loss draws random noise, which ``unigradicon-io`` seeds from ``--seed``
for every pair, leaving torch's global generator as it was. On a GPU when PyTorch sees
one (the package decides, ``icon_registration.config.device``). On a 2-core CPU a
pair takes about 40 s without instance optimisation; with it, a GPU is needed.
Accuracy with the real weights has not been measured in regbench's own tests (they
cannot be fetched there): the tests check the adapter with weights of the same
architecture that they save themselves.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np

from regbench import Method, Range, RegistrationResult, Registry, TrainingContext, hookimpl
from regbench.learning import default_cache_dir
from regbench.measuring import devices

WEIGHTS_FILE = "Step_2_final.trch"
WEIGHTS_ENV = "REGBENCH_UNIGRADICON_WEIGHTS"
INPUT_SIZE = 175  # the network's input, fixed by the published weights (unigradicon.input_shape)


def default_weights() -> Path:
    """Where the weights are looked for when ``weights`` is not given."""
    given = os.environ.get(WEIGHTS_ENV)
    return Path(given).expanduser() if given else default_cache_dir() / "unigradicon" / WEIGHTS_FILE


def weights_hint(method: str, where: Path) -> str:
    """What to do when ``method``'s weights are not at ``where`` (the README gives the address)."""
    return (f"weights not found at {where} — download {WEIGHTS_FILE} (uniGradICON's release "
            f"'unigradicon_weights') and pass --param {method}.weights=PATH or set ${WEIGHTS_ENV}")


@functools.cache
def _package() -> SimpleNamespace:
    """The package's pieces, imported once (ITK's wrappers load slowly)."""
    import icon_registration as icon  # noqa: PLC0415
    import itk  # noqa: PLC0415
    import unigradicon  # noqa: PLC0415
    from icon_registration import config  # noqa: PLC0415
    from icon_registration.itk_wrapper import register_pair  # noqa: PLC0415

    return SimpleNamespace(icon=icon, itk=itk, unigradicon=unigradicon, config=config, register_pair=register_pair)


class UniGradICON(Method):
    name = "unigradicon"
    description = "uniGradICON (pretrained foundation model; weights supplied by the user; 3D; GPU when there)"
    default_params: ClassVar = {"weights": "", "io_iterations": 0, "io_lr": 2e-5, "input_size": INPUT_SIZE}
    param_rules: ClassVar = {"io_iterations": Range(at_least=0), "io_lr": Range(above=0),
                             "input_size": Range(at_least=72)}  # 72: the smallest its U-Nets take
    seeded = False
    dimensions = (3,)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._network: Any = None  # set by prepare()

    @classmethod
    def resolve_params(cls, given: Mapping[str, Any]) -> dict[str, Any]:
        """As :meth:`Method.resolve_params`; ``weights`` becomes the absolute path of a file
        that exists (the default location when not given), or a ValueError says how to get it."""
        params = super().resolve_params(given)
        where = Path(params["weights"]).expanduser() if params["weights"] else default_weights()
        if not where.is_file():
            raise ValueError(f"method {cls.name!r}: {weights_hint(cls.name, where)}")
        params["weights"] = str(where.resolve())
        return params

    @classmethod
    def input_files(cls, params: Mapping[str, Any]) -> tuple[Path, ...]:
        return (Path(params["weights"]),)

    @property
    def device(self) -> str:
        return devices.device_name(_package().config.device)

    def prepare(self, context: TrainingContext) -> None:
        """The package's network (``unigradicon.make_network``, as ``get_unigradicon``
        builds it) with the user's weights loaded, never downloaded."""
        import torch  # noqa: PLC0415

        package = _package()
        size = self.params["input_size"]
        network = package.unigradicon.make_network([1, 1, size, size, size], include_last_step=True,
                                                   loss_fn=package.icon.LNCC(sigma=5))
        state = torch.load(self.params["weights"], map_location="cpu", weights_only=True)
        try:
            network.regis_net.load_state_dict(state)
        except RuntimeError as error:
            raise ValueError(f"method {self.name!r}: {self.params['weights']} does not hold uniGradICON's weights "
                             f"({str(error).splitlines()[0]})") from None
        self._network = network.to(package.config.device).eval()

    def transform(self, fixed: np.ndarray, moving: np.ndarray):  # noqa: ANN201 - an itk.CompositeTransform
        """The package's result for the pair: the ITK transform taking the fixed image's
        points to the moving image's (with the images as ITK has them, preprocessed)."""
        import torch  # noqa: PLC0415

        if fixed.ndim != 3:
            raise ValueError(f"method {self.name!r} registers 3D volumes only (the weights are a 3D network), "
                             f"got an image of shape {fixed.shape}")
        if self._network is None:
            raise RuntimeError(f"method {self.name!r} must be prepared (its weights loaded) before it registers")
        package = _package()
        images = [self.itk_image(image, what) for image, what in ((fixed, "fixed"), (moving, "moving"))]
        steps = self.params["io_iterations"] or None  # the package's "no instance optimisation"
        # Its loss draws noise from torch's generator: seeded per pair, the global one left alone.
        with contextlib.redirect_stdout(io.StringIO()), torch.random.fork_rng():  # it prints its losses
            torch.manual_seed(self.seed)
            phi_moving_to_fixed, _ = package.register_pair(self._network, images[1], images[0], finetune_steps=steps,
                                                           learning_rate=self.params["io_lr"])
        return phi_moving_to_fixed, images[0]

    def itk_image(self, image: np.ndarray, what: str):  # noqa: ANN201 - an itk.Image
        """``image`` as the package takes it: in the axis order ITK reads files in (ITK's
        index i, j, k = regbench's axes), unit spacing, MRI preprocessing."""
        package = _package()
        if float(image.max()) <= float(image.min()):
            raise ValueError(f"method {self.name!r}: the {what} image is constant; uniGradICON's intensity "
                             f"preprocessing needs a range")
        with warnings.catch_warnings():  # the package's preprocess uses ITK's older interface
            warnings.filterwarnings("ignore", r".*itk\.CastImageFilter\(\) is deprecated")
            return package.unigradicon.preprocess(
                package.itk.image_from_array(np.ascontiguousarray(image.T, np.float32)), modality="mri")

    def register(self, fixed: np.ndarray, moving: np.ndarray) -> RegistrationResult:
        return RegistrationResult(field_from_transform(*self.transform(fixed, moving)))


def field_from_transform(transform: Any, reference: Any) -> np.ndarray:
    """An ITK transform (fixed points to moving points) on ``reference``'s grid (unit
    spacing, no rotation, origin 0; ITK's index i, j, k = regbench's axes) as regbench's
    displacement ``(3, *spatial)`` in voxels."""
    itk = _package().itk
    field_type = itk.Image[itk.Vector[itk.F, 3], 3]
    to_field = itk.TransformToDisplacementFieldFilter[field_type, itk.D].New(
        Transform=transform, ReferenceImage=reference, UseReferenceImage=True)
    to_field.Update()
    field = itk.array_from_image(to_field.GetOutput())  # (k, j, i, 3), components along i, j, k
    return np.ascontiguousarray(np.moveaxis(field.transpose(2, 1, 0, 3), -1, 0), dtype=np.float32)


class UniGradICONIO(UniGradICON):
    name = "unigradicon-io"
    description = "uniGradICON with its instance optimisation (50 Adam steps per pair; weights supplied by the user)"
    default_params: ClassVar = {**UniGradICON.default_params, "io_iterations": 50}
    seeded = True  # the optimisation's loss draws noise


@hookimpl
def regbench_register_methods(register: Registry[Method]) -> None:
    where = default_weights()
    for method in (UniGradICON, UniGradICONIO):
        register(method, requires=("unigradicon", "icon_registration", "itk"),
                 install="pip install 'regbench[unigradicon]'", unavailable="" if where.is_file() else weights_hint(method.name, where))
