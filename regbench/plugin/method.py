"""What a registration method is, to regbench.

Every kind of method satisfies one small interface: classical optimisers (ANTs),
learned networks (VoxelMorph, the ECA U-Net) and anyone's own. The harness gives a
method the fixed and moving images as arrays and gets back a dense displacement
field; it warps the labels and computes every metric itself, so all methods are
measured the same way.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from regbench.plugin import options
from regbench.plugin.dataset import Dataset
from regbench.plugin.training import PROFILES, Profile, TrainingReport


@dataclass
class RegistrationResult:
    """What :meth:`Method.register` returns.

    ``displacement``: float array of shape ``(ndim, *spatial)`` in voxel units, in the
    pull-back convention ``warped(x) = moving(x + u(x))`` (VoxelMorph, Learn2Reg and
    ``scipy.ndimage.map_coordinates`` use the same). An affine method returns its
    dense field too.
    ``extras``: anything else worth keeping (e.g. the method's own warped image).
    """

    displacement: np.ndarray
    extras: dict[str, Any] = field(default_factory=dict)


def check_displacement(method: str, displacement: Any, fixed: np.ndarray) -> np.ndarray:
    """The field a method returned, checked against the convention of
    :class:`RegistrationResult` (shape ``(ndim, *spatial)`` of ``fixed``, floats, finite);
    else a clear error naming the method and what was expected."""
    expected = (fixed.ndim, *fixed.shape)
    if not isinstance(displacement, np.ndarray):
        raise TypeError(f"method {method!r} returned a displacement of type {type(displacement).__name__}; "
                        f"expected a numpy array of shape {expected}")
    if displacement.shape != expected:
        raise ValueError(f"method {method!r} returned a displacement of shape {displacement.shape}; "
                         f"expected {expected} (ndim, *spatial)")
    if not np.issubdtype(displacement.dtype, np.floating):
        raise TypeError(f"method {method!r} returned a displacement of dtype {displacement.dtype}; expected floats")
    if not np.isfinite(displacement).all():
        raise ValueError(f"method {method!r} returned a displacement with NaN or infinite values")
    return displacement


@dataclass(frozen=True)
class TrainingContext:
    """What :meth:`Method.prepare` receives: the data it may learn from.

    ``dataset`` streams subjects with ``dataset.load(subject_id)`` and names the atlas
    (``dataset.atlas_id``), the fixed image of every pair; ``train_ids`` are the
    subjects a method may train on, ``validation_ids`` the ones held out to tell when
    training has converged (never trained on; neither is ever a test subject; see
    :mod:`regbench.learning.validation`). ``profile`` says how long to train and when
    to stop, ``cache_dir`` where trained weights are kept. The seed is the method's own
    (``Method.seed``). ``data_digest`` is the content of the files training reads (the
    atlas's and the training subjects'; empty for data made from the options): cached
    weights are keyed by it, and by ``library_versions``, the versions of the libraries
    the method is registered as requiring (a network built from MONAI's blocks changes
    with MONAI).
    """

    dataset: Dataset
    train_ids: tuple[str, ...]
    validation_ids: tuple[str, ...] = ()
    profile: Profile = PROFILES["quick"]
    cache_dir: Path | None = None  # where learned weights are kept (None: the default)
    progress: bool = False
    log_every: float | None = None  # seconds between progress lines when the log is a file; None: no lines
    data_digest: str = ""
    library_versions: str = ""


class Method(abc.ABC):
    """A registration method.

    Subclasses set ``name`` and ``description``, declare their tunable parameters with
    their defaults in ``default_params`` (a value's type is the default's type) and,
    where the type is not enough, their valid values in ``param_rules`` (a
    :class:`~regbench.plugin.options.Range` or :class:`~regbench.plugin.options.Choices`
    per name), and implement :meth:`register`. Learning methods override :meth:`prepare` to train;
    classical ones need not. ``self.seed`` seeds every random choice of the method;
    ``self.params`` holds every parameter, typed and complete.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    default_params: ClassVar[Mapping[str, Any]] = {}
    param_rules: ClassVar[Mapping[str, options.Rule]] = {}
    # True when results depend on the training profile (the method learns in prepare()).
    learns: ClassVar[bool] = False
    # False when results do not depend on ``self.seed`` (a deterministic method): a run
    # with several seeds (``--seeds``) then runs it once and says so.
    seeded: ClassVar[bool] = True
    # The image dimensions the method registers: ``(3,)`` for a 3D-only tool. ``--methods
    # all`` skips a method that cannot take the dataset's images; naming it is an error.
    dimensions: ClassVar[tuple[int, ...]] = (2, 3)

    def __init__(self, *, seed: int = 0, **params: Any) -> None:
        self.seed = seed
        self.training: TrainingReport | None = None  # set by prepare() when a method trains
        self.params: dict[str, Any] = self.resolve_params(params)

    @classmethod
    def resolve_params(cls, given: Mapping[str, Any]) -> dict[str, Any]:
        """Every parameter, typed: the defaults updated with ``given`` (values, or text
        from the command line). An unknown name, a value of the wrong type or one outside
        its ``param_rules`` is a ValueError naming the method and what was expected.
        Methods whose defaults depend on other parameters override this (and call it first)."""
        what = f"method {cls.name!r}"
        rules = options.inherited_rules(what, cls, "param_rules", cls.default_params)
        return options.resolve(what, cls.default_params, given, rules)

    @classmethod
    def code_modules(cls) -> tuple[str, ...]:
        """Modules whose source decides this method's results: by default those that
        define the class and its bases. Stored results (and trained weights) are
        recomputed when one of them changes."""
        return tuple(dict.fromkeys(k.__module__ for k in cls.__mro__ if k.__module__ not in ("builtins", "abc")))

    @classmethod
    def input_files(cls, params: Mapping[str, Any]) -> tuple[Path, ...]:
        """Files besides the data whose content decides this method's results with
        ``params`` (pretrained weights it loads). Their content is part of the key its
        results are stored under: replacing a file recomputes them. Default: none."""
        return ()

    @property
    def device(self) -> str:
        """Where the method computes, as stored with every result (``cpu``, ``cuda: <name>``)."""
        return "cpu"

    @property
    def device_type(self) -> str:
        """``cpu`` or ``cuda``: what timing must synchronise with."""
        return self.device.split(":")[0]

    # Timing and accelerator memory: nothing to do on the CPU; torch's CUDA allocator on
    # a GPU. Methods of another framework override these three hooks.

    def reset_peak_memory(self) -> None:
        """Start measuring peak accelerator memory."""
        if self.device_type != "cpu":
            from regbench.measuring import devices  # noqa: PLC0415 - torch, only for accelerators

            devices.reset_peak_memory(self.device_type)

    def peak_memory_mb(self) -> float | None:
        """Peak accelerator memory since :meth:`reset_peak_memory`, in MiB; None on the CPU."""
        if self.device_type == "cpu":
            return None
        from regbench.measuring import devices  # noqa: PLC0415

        return devices.peak_memory_mb(self.device_type)

    def synchronize(self) -> None:
        """Wait for work queued on the accelerator, so that timings are complete."""
        if self.device_type != "cpu":
            from regbench.measuring import devices  # noqa: PLC0415

            devices.synchronize(self.device_type)

    @property
    def parameter_count(self) -> int | None:
        """Number of trainable parameters, for methods that have them."""
        return None

    def prepare(self, context: TrainingContext) -> None:  # noqa: B027 - optional hook
        """Get ready to register test pairs (train, load weights...). Default: nothing."""

    @abc.abstractmethod
    def register(self, fixed: np.ndarray, moving: np.ndarray) -> RegistrationResult:
        """Register ``moving`` onto ``fixed`` (float32 arrays of one spatial shape)."""
