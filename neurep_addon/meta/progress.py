"""A training's progress report: plain Python, no torch, so a front end reads the worker's progress replies
(``jobs.worker``) without loading the engine. ``shape_space`` makes these and re-exports the class."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Progress:
    """Where a training run is: seconds done and budgeted, steps, the latest training loss, the latest and best
    validation scores (mean Chamfer-L1 of the held-out shapes' code fits; ``None`` before the first)."""

    seconds: float
    budget: float
    step: int
    loss: float
    validation: float | None
    best: float | None
