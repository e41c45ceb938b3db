"""Observation in, completed mesh out: the whole job behind every front end.

    validate -> normalise into the box -> normals (given, or estimated and oriented)
    -> FitSession (from a prior or random init) -> sparse extraction + marching cubes
    -> back to the user's units -> drop small floating parts -> distance to the observed data
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np
import trimesh
from scipy.spatial import cKDTree

from .config import NetworkConfig, FitConfig, preset
from .errors import InputError
from .extract import drop_small_components
from .fit import FitSession, PreviewCallback, ProgressCallback, StepInfo
from .normals import estimate_normals
from .observation import Normalization, Observation, validate
from .prior import Prior
from .prior_io import resolve_prior


@dataclass
class Completion:
    """A completed, closed mesh in the input's units.

    vertices: float64 [V, 3]; faces: int64 [F, 3] (outward-facing);
    distance: float64 [V] distance from each vertex to the nearest observed point (what was invented);
    stats: the run's figures (points, steps, seconds per phase, vertices, faces, components, watertight...);
    notes: remarks for the user (subsampling, estimated normals, dropped parts).
    """

    vertices: np.ndarray
    faces: np.ndarray
    distance: np.ndarray
    stats: dict = field(default_factory=dict)
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


def complete(observation: Observation, config: FitConfig, prior: Prior | None = None,
             device: str = "auto", seed: int = 0, progress: ProgressCallback | None = None,
             preview: PreviewCallback | None = None,
             cancel: threading.Event | None = None) -> Completion:
    """Complete ``observation`` into a closed mesh.

    ``preview`` receives coarse meshes in the input's units while fitting; setting ``cancel`` from
    another thread stops the job with ``FitCancelled``. Raises ``InputError`` for unusable input.
    """
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    rng = np.random.default_rng(seed)
    observation = validate(observation, rng)
    notes = list(observation.notes)
    normalization = Normalization.fit(observation.points)
    points = normalization.to_box(observation.points)
    if observation.has_normals:
        normals = observation.normals
    else:
        normals = estimate_normals(points, config.normal_neighbours)
        notes.append("the input has no normals; they were estimated and oriented")
    timings["prepare"] = time.perf_counter() - clock

    clock = time.perf_counter()
    session = FitSession(points, normals, config, prior=prior, device=device, seed=seed, cancel=cancel)
    def world_preview(vertices: np.ndarray, faces: np.ndarray, step: int) -> None:
        preview(normalization.to_world(vertices), faces, step)

    history = session.run(progress=progress, preview=world_preview if preview is not None else None)
    timings["fit"] = time.perf_counter() - clock

    clock = time.perf_counter()
    box_vertices, faces = session.mesh(config.resolution)
    if len(faces) == 0:
        raise InputError("the fitted surface is empty (no zero crossing in the box); "
                         "try more steps or another preset")
    box_vertices, faces, dropped = drop_small_components(box_vertices, faces, config.min_component_fraction)
    if dropped:
        notes.append(f"dropped {dropped} small floating part(s) "
                     f"(< {config.min_component_fraction:.0%} of the surface area)")
    vertices = normalization.to_world(box_vertices)
    timings["extract"] = time.perf_counter() - clock

    distance, _ = cKDTree(observation.points).query(vertices, workers=-1)
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    stats = {
        "points": len(observation.points),
        "normals": "given" if observation.has_normals else "estimated",
        "steps": session.steps_done,
        "device": str(session.device),
        "final_loss": history[-1].loss if history else None,
        "seconds": {k: round(v, 3) for k, v in timings.items()},
        "grid_evaluations": session.last_evaluations,
        "vertices": len(vertices),
        "faces": len(faces),
        "components": int(mesh.body_count),
        "watertight": bool(mesh.is_watertight),
    }
    return Completion(vertices, faces, distance, stats, tuple(notes), history)
