"""Training profiles: how long and how fast learning methods train.

Kept apart from the trainer (which needs torch) so that the command line, the
runner and :class:`regbench.TrainingContext` can name a profile without importing it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    """How long and how fast to train. Exactly one of ``epochs`` and ``steps`` is set;
    an epoch is one pass over the training subjects."""

    name: str
    batch_size: int
    lr: float
    epochs: int | None = None
    steps: int | None = None

    def total_steps(self, n_train: int) -> int:
        if self.steps is not None:
            return self.steps
        assert self.epochs is not None
        return self.epochs * math.ceil(n_train / self.batch_size)


PROFILES = {
    # As published: 2000 epochs, batch 8, Adam at 1e-4 (hours on a GPU).
    "paper": Profile("paper", batch_size=8, lr=1e-4, epochs=2000),
    # Fits a 2-core CPU budget; at 1e-4 a few hundred steps barely move the network
    # (mean Dice on mni2d stays near the affine baseline), so the learning rate is raised.
    "quick": Profile("quick", batch_size=8, lr=1e-3, steps=250),
    # Two minutes on a CPU: for CI's regression gate and for checking a set-up, not for results.
    "smoke": Profile("smoke", batch_size=8, lr=1e-3, steps=80),
}
