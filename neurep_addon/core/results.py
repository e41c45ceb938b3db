"""What a fit reports and returns: its steps, a completion, a hole filling. Plain numpy and Python, no torch,
so a front end reads what the worker process sends (``jobs.worker``) without loading the engine: unpickling a
reply imports this module and ``holes``, nothing else (Blender's process stays without torch).

``fit``, ``completion`` and ``fill`` make these and re-export them under their usual names.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from .holes import Hole


@dataclass
class StepInfo:
    """What one step did: its index (1-based), the loss and its terms, time spent so far and left."""

    step: int
    total_steps: int
    loss: float
    terms: dict[str, float]
    elapsed: float
    eta: float


@dataclass
class CompletionStats:
    """The figures of one completion (the report, the summary line, the Blender panel)."""

    points: int
    normals: str
    """"given" or "estimated"."""
    steps: int
    device: str
    final_loss: float | None
    seconds: dict[str, float]
    """Per phase: prepare, fit, extract (front ends add read and write)."""
    grid_evaluations: int
    vertices: int
    faces: int
    components: int
    watertight: bool
    symmetry: dict | None = None
    """The mirror plane used, if any (see ``completion.Prepared.symmetry``)."""
    prior: dict | None = None
    """What a shape-space prior did, when one was among the priors: ``name``, ``used`` (whether the completion
    comes from it), ``residual`` and ``threshold`` (the gate, box units), ``reason`` (in words), ``pose``."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class Completion:
    """A completed, closed mesh in the input's units.

    vertices: float64 [V, 3]; faces: int64 [F, 3] (outward-facing);
    distance: float64 [V] distance from each vertex to the nearest observed point (what was invented);
    stats: the run's figures; notes: remarks for the user (subsampling, estimated normals, dropped parts);
    history: every fit step's loss and timing.
    """

    vertices: np.ndarray
    faces: np.ndarray
    distance: np.ndarray
    stats: CompletionStats
    notes: tuple[str, ...] = ()
    history: list[StepInfo] = field(default_factory=list)


@dataclass(kw_only=True)
class FillStats(CompletionStats):
    """The figures of one hole filling: those of a completion (``grid_evaluations`` counts the points at which
    the patches evaluated the field; ``vertices``, ``faces``, ``components``, ``watertight`` describe the
    filled mesh) and what became of the holes (``added_area`` in the input's units, squared)."""

    holes_closed: int
    holes_left_open: int
    added_faces: int
    added_area: float


@dataclass
class HoleFilling:
    """A mesh with its holes closed by patches on the fitted surface, in the input's units.

    vertices: float64 [V + N, 3] and faces: int64 [F + P, 3], the input's first and unchanged, then the
    patches' (``faces[input_faces:]``); holes: one record per boundary loop (closed, or why it stays open);
    stats, notes and history as in ``Completion``.
    """

    vertices: np.ndarray
    faces: np.ndarray
    input_faces: int
    holes: list[Hole]
    stats: FillStats
    notes: tuple[str, ...] = ()
    history: list[StepInfo] = field(default_factory=list)

    @property
    def added(self) -> np.ndarray:
        """bool [F + P]: True for the patches' faces."""
        return np.arange(len(self.faces)) >= self.input_faces
