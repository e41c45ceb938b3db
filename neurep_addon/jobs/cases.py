"""The use cases: one class per kind of work, each with one ``run(progress, preview, cancel, log)``.

The command line runs them in its own process; Blender sends them to the worker process (``jobs.job`` ->
``jobs.worker``), which runs whatever case a request holds. The engine loads (torch) only when ``run`` is
called, so a front end can build a case without torch.

    Complete      an observation -> a new closed mesh (``Completion``)
    FillHoles     a mesh -> the same mesh with patches where it is open (``HoleFilling``)
    CompleteFile  a scan file -> a mesh file, and the report's record
    FillFile      a mesh file -> the filled mesh file, and the report's record (with every hole)
    TrainPrior    meshes -> a new prior in a folder of priors (its path)

``progress`` receives each step's ``StepInfo`` (a training's ``Progress``), ``preview(vertices, faces, step)``
coarse meshes in the input's units (completions only), ``log`` a training's lines; setting ``cancel`` stops
the work after its current step with ``FitCancelled``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from .kinds import Mode

if TYPE_CHECKING:
    from ..core.config import FitConfig
    from ..core.fit_settings import PriorChoice
    from ..core.observation import Observation
    from ..core.results import Completion, HoleFilling


@dataclass(kw_only=True)
class Fitting:
    """What every fit takes: its settings, its prior(s), the device and the seed.

    ``prior`` may name files (``PriorFile``, from ``fit_settings.plan``) rather than hold loaded priors: a
    front end that must not load torch (Blender) sends those, and the process that runs the case loads them.
    """

    config: FitConfig
    prior: PriorChoice = None
    device: str = "auto"
    seed: int = 0

    def settings(self) -> dict:
        """The keyword arguments of the engine's call, the priors loaded."""
        from ..core.fit_settings import load

        return dict(config=self.config, prior=load(self.prior), device=self.device, seed=self.seed)


@dataclass(kw_only=True)
class Complete(Fitting):
    """``completion.complete`` of an observation."""

    observation: Observation

    def run(self, progress=None, preview=None, cancel: threading.Event | None = None, log=None) -> Completion:
        from ..core.completion import complete

        return complete(self.observation, **self.settings(), progress=progress, preview=preview, cancel=cancel)


@dataclass(kw_only=True)
class FillHoles(Fitting):
    """``fill.fill_holes`` of a triangle mesh (vertices [V, 3], faces [F, 3]); no previews.
    ``max_hole_size`` (None: no limit) and ``selected`` (vertex indices, None: every hole) pass on as they are."""

    vertices: np.ndarray
    faces: np.ndarray
    max_hole_size: float | None = None
    selected: np.ndarray | None = None

    def run(self, progress=None, preview=None, cancel: threading.Event | None = None, log=None) -> HoleFilling:
        from ..core.fill import fill_holes

        return fill_holes(self.vertices, self.faces, **self.settings(), progress=progress, cancel=cancel,
                          max_hole_size=self.max_hole_size, selected=self.selected)


@dataclass(kw_only=True)
class CompleteFile(Fitting):
    """Read a scan file, complete it and write the mesh to ``destination`` (checked beforehand)."""

    source: str
    destination: str

    def run(self, progress=None, preview=None, cancel: threading.Event | None = None, log=None) -> dict:
        """The report's record: the result's stats (read and write seconds added) and notes."""
        from ..core.io import read_observation, write_mesh

        clock = time.perf_counter()
        observation = read_observation(self.source, seed=self.seed)
        read_seconds = time.perf_counter() - clock
        result = Complete(observation=observation, **self.settings()).run(progress, preview, cancel)
        clock = time.perf_counter()
        write_mesh(self.destination, result.vertices, result.faces)
        return dict(notes=list(result.notes), **_timed(result, read_seconds, clock))


@dataclass(kw_only=True)
class FillFile(Fitting):
    """Read a mesh file whole, fill its holes and write it back, patches appended, to ``destination``."""

    source: str
    destination: str
    max_hole_size: float | None = None

    def run(self, progress=None, preview=None, cancel: threading.Event | None = None, log=None) -> dict:
        """The report's record: the fill's stats (read and write seconds added), notes and every hole."""
        from ..core.io import read_mesh, write_filled_mesh

        clock = time.perf_counter()
        mesh = read_mesh(self.source)
        read_seconds = time.perf_counter() - clock
        result = FillHoles(vertices=mesh.vertices, faces=mesh.faces, max_hole_size=self.max_hole_size,
                           **self.settings()).run(progress, None, cancel)
        clock = time.perf_counter()
        write_filled_mesh(self.destination, mesh, result.vertices, result.faces)
        return dict(notes=list(result.notes), holes=[hole.to_dict() for hole in result.holes],
                    **_timed(result, read_seconds, clock))


def _timed(result, read_seconds: float, write_clock: float) -> dict:
    """``result``'s stats with the read and write seconds around its own phases."""
    stats = result.stats.to_dict()
    stats["seconds"] = {"read": round(read_seconds, 3), **stats["seconds"],
                        "write": round(time.perf_counter() - write_clock, 3)}
    return stats


def file_case(mode: Mode, source: str, destination: str, config: FitConfig, prior: PriorChoice = None,
              device: str = "auto", seed: int = 0, max_hole_size: float | None = None) -> CompleteFile | FillFile:
    """The use case of ``mode`` for one file: where the command line's ``--mode`` is dispatched
    (``max_hole_size`` applies to Fill Holes)."""
    files = dict(source=source, destination=destination, config=config, prior=prior, device=device, seed=seed)
    if mode is Mode.FILL_HOLES:
        return FillFile(**files, max_hole_size=max_hole_size)
    return CompleteFile(**files)


@dataclass(kw_only=True)
class TrainPrior:
    """``training.train_prior``: meshes (name, vertices [V, 3], triangles [F, 3]) -> ``<name>.safetensors``
    in ``folder``, trained for ``minutes``."""

    meshes: list[tuple[str, np.ndarray, np.ndarray]]
    folder: str
    name: str
    minutes: float
    device: str = "auto"
    seed: int = 0

    def run(self, progress=None, preview=None, cancel: threading.Event | None = None,
            log: Callable[[str], None] | None = None) -> Path:
        from .training import train_prior

        return train_prior(self.meshes, self.folder, self.name, self.minutes, seed=self.seed, progress=progress,
                           cancel=cancel, log=log or print, device=self.device)
