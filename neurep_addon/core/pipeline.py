"""Observation in, completed mesh out: the whole job behind every front end, in two reusable steps.

    prepare:  validate -> normalise into the box -> normals (given, or estimated and oriented)
    fit:      FitSession (from a prior or random init), the only fitting loop
    finish:   sparse extraction + marching cubes -> back to the user's units -> drop small floating parts
              -> distance to the observed data -> figures

``complete`` runs the three. A benchmark that scores a fit at several step counts calls ``prepare`` once,
steps its own ``FitSession`` and calls ``finish`` at each count; no front end builds a fit from the pieces.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import trimesh
from scipy.spatial import cKDTree

from .config import NetworkConfig, FitConfig, preset
from .errors import ConfigError, FitError
from .extract import drop_small_components
from .fit import FitSession, PreviewCallback, ProgressCallback, StepInfo
from .normals import estimate_normals
from .observation import Normalization, Observation, validate
from .prior import Prior
from .prior_io import resolve_prior
from .symmetry import mirrored_evidence, plane_for


@dataclass
class Prepared:
    """A validated observation, mapped into the network's box, with oriented normals.

    observation: the validated input (float64 [N, 3], the user's units); normalization: user <-> box;
    points, normals: float64 [N, 3] in the box; notes: remarks so far; seconds: time spent preparing.
    """

    observation: Observation
    normalization: Normalization
    points: np.ndarray
    normals: np.ndarray
    notes: list[str]
    seconds: float
    symmetry: dict | None = None
    """The mirror plane used (input's units: normal, offset, confidence, support, mirrored points), if any."""

    @property
    def normals_source(self) -> str:
        return "given" if self.observation.has_normals else "estimated"


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
    """The mirror plane used, if any (see ``Prepared.symmetry``)."""

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


def settings(preset_name: str = "default", prior_spec: str = "none",
             **overrides) -> tuple[FitConfig, Prior | None]:
    """The fit settings and prior for a preset, a prior choice and individual overrides.

    A prior fixes the network: its architecture is used unless the caller overrides a network field,
    in which case a mismatch is an error (``PriorError``) rather than a silent change.
    """
    config = preset(preset_name, **overrides)
    prior = resolve_prior(prior_spec)
    if prior is not None:
        network_overrides = {k for k, v in overrides.items()
                             if v is not None and k in NetworkConfig.__dataclass_fields__}
        if network_overrides:
            prior.check_matches(config.network)
        config = config.replace(network=prior.network)
    return config, prior


def prepare(observation: Observation, config: FitConfig, seed: int = 0) -> Prepared:
    """Check ``observation`` and map it into the box with oriented normals; ``InputError`` if unusable."""
    clock = time.perf_counter()
    observation = validate(observation, np.random.default_rng(seed))
    notes = list(observation.notes)
    normalization = Normalization.fit(observation.points)
    points = normalization.to_box(observation.points)
    if observation.has_normals:
        normals = observation.normals
    else:
        normals = estimate_normals(points, config.normal_neighbours)
        notes.append("the input has no normals; they were estimated and oriented")
    symmetry = None
    plane = plane_for(config.symmetry, points, normals, seed)
    if plane is not None:
        mirrored, mirrored_normals = mirrored_evidence(points, normals, plane, seed)
        symmetry = {**plane.to_dict(normalization.center, normalization.scale), "mirrored_points": len(mirrored)}
        notes.append(f"mirror plane (normal {symmetry['normal']}, confidence {plane.confidence:.2f}): "
                     f"{len(mirrored):,} mirrored points added as evidence")
        points, normals = np.concatenate([points, mirrored]), np.concatenate([normals, mirrored_normals])
    return Prepared(observation, normalization, points, normals, notes, time.perf_counter() - clock, symmetry)


def start_fit(prepared: Prepared, config: FitConfig, prior: Prior | None = None, device: str = "auto",
              seed: int = 0, cancel: threading.Event | None = None) -> FitSession:
    """The ``FitSession`` of a prepared observation (nothing fitted yet)."""
    return FitSession(prepared.points, prepared.normals, config, prior=prior, device=device, seed=seed,
                      cancel=cancel)


def finish(prepared: Prepared, session: FitSession, fit_seconds: float = 0.0,
           history: list[StepInfo] | None = None) -> Completion:
    """The completed mesh of ``session``'s current field, in the user's units, with its figures.

    Raises ``FitError`` when the field has no zero crossing in the box.
    """
    config = session.config
    clock = time.perf_counter()
    notes = list(prepared.notes)
    box_vertices, faces = session.mesh(config.resolution)
    if len(faces) == 0:
        raise FitError("the fitted surface is empty (no zero crossing in the box); "
                       "try more steps or another preset")
    box_vertices, faces, dropped = drop_small_components(box_vertices, faces, config.min_component_fraction,
                                                         prepared.points, config.min_component_observed_share)
    if dropped:
        notes.append(f"dropped {dropped} floating part(s) with under {config.min_component_fraction:.0%} of the "
                     f"surface area or {config.min_component_observed_share:.0%} of the observed points")
    vertices = prepared.normalization.to_world(box_vertices)
    extract_seconds = time.perf_counter() - clock

    distance, _ = cKDTree(prepared.observation.points).query(vertices, workers=-1)
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    history = history or []
    stats = CompletionStats(
        points=len(prepared.observation.points), normals=prepared.normals_source, steps=session.steps_done,
        device=str(session.device), final_loss=history[-1].loss if history else None,
        seconds={"prepare": round(prepared.seconds, 3), "fit": round(fit_seconds, 3),
                 "extract": round(extract_seconds, 3)},
        grid_evaluations=session.last_evaluations, vertices=len(vertices), faces=len(faces),
        components=int(mesh.body_count), watertight=bool(mesh.is_watertight), symmetry=prepared.symmetry)
    return Completion(vertices, faces, distance, stats, tuple(notes), history)


def complete(observation: Observation, config: FitConfig, prior: Prior | None = None,
             device: str = "auto", seed: int = 0, progress: ProgressCallback | None = None,
             preview: PreviewCallback | None = None,
             cancel: threading.Event | None = None) -> Completion:
    """Complete ``observation`` into a closed mesh: ``prepare``, fit, ``finish``.

    ``preview`` receives coarse meshes in the input's units while fitting; setting ``cancel`` from
    another thread stops the job with ``FitCancelled``. Raises ``InputError`` for unusable input,
    ``ConfigError`` for a fit of no steps and ``FitError`` when the fit gives no surface.
    """
    if config.steps < 1:
        raise ConfigError("steps", f"must be at least 1 to complete a scan, got {config.steps}")
    prepared = prepare(observation, config, seed)
    clock = time.perf_counter()
    session = start_fit(prepared, config, prior, device, seed, cancel)

    def world_preview(vertices: np.ndarray, faces: np.ndarray, step: int) -> None:
        preview(prepared.normalization.to_world(vertices), faces, step)

    history = session.run(progress=progress, preview=world_preview if preview is not None else None)
    return finish(prepared, session, time.perf_counter() - clock, history)
