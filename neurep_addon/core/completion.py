"""Observation in, completed mesh out: the whole job behind every front end, in reusable steps.

    prepare:  validate -> normalise into the box -> normals (given, or estimated and oriented) -> symmetry
    fit:      a shape space first when one is given (``shape_fit``: pose search, code, gate, refinement);
              else, or when none explains the scan, FitSession (from an initialisation or random weights)
    finish:   sparse extraction + marching cubes -> back to the user's units -> drop small floating parts
              -> distance to the observed data -> figures

``complete`` runs them all; ``complete_prepared`` all but ``prepare``, for a caller that also needs what
``prepare`` made (the evaluation scores the estimated normals). A benchmark that scores a fit at several
step counts calls ``prepare`` once, steps its own ``FitSession`` and calls ``finish`` at each count; no
front end builds a fit from the pieces. Filling holes instead is ``fill.fill_holes``.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from dataclasses import dataclass

import numpy as np
import trimesh
from scipy.spatial import cKDTree

from .config import FitConfig
from .errors import ConfigError, FitError
from .extract import drop_small_components
from .fit import FitSession, PreviewCallback, ProgressCallback
from .fit_settings import Priors, inits, spaces
from .normals import in_box
from .observation import Normalization, Observation, validate
from .results import Completion, CompletionStats, StepInfo
from .shape_fit import ShapeFit, fit_code, refine
from .shape_space import ShapeSpace
from .symmetry import mirrored_evidence, planes_for


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
    """The mirror plane used (input's units: normal, offset, confidence, support, mirrored points of all planes),
    if any; ``more_planes`` lists a second plane across it (``symmetry.detect_planes``), in the same units."""

    @property
    def normals_source(self) -> str:
        return "given" if self.observation.has_normals else "estimated"


def prepare(observation: Observation, config: FitConfig, seed: int = 0) -> Prepared:
    """Check ``observation`` and map it into the box with oriented normals; ``InputError`` if unusable."""
    clock = time.perf_counter()
    observation = validate(observation, np.random.default_rng(seed))
    notes = list(observation.notes)
    normalization, points, normals = in_box(observation, config.normal_neighbours)
    if not observation.has_normals:
        notes.append("the input has no normals; they were estimated and oriented")
    symmetry = None
    planes = planes_for(config.symmetry, points, normals, seed)
    if planes:
        evidence = [mirrored_evidence(points, normals, plane, seed) for plane in planes]
        planes_out = [plane.to_dict(normalization.center, normalization.scale) for plane in planes]
        symmetry = {**planes_out[0], "mirrored_points": sum(len(m) for m, _ in evidence),
                    "more_planes": planes_out[1:]}
        for plane, described, (mirrored, _) in zip(planes, planes_out, evidence):
            notes.append(f"mirror plane (normal {described['normal']}, confidence {plane.confidence:.2f}): "
                         f"{len(mirrored):,} mirrored points added as evidence")
        points = np.concatenate([points] + [m for m, _ in evidence])
        normals = np.concatenate([normals] + [n for _, n in evidence])
    return Prepared(observation, normalization, points, normals, notes, time.perf_counter() - clock, symmetry)


def start_fit(prepared: Prepared, config: FitConfig, prior: Priors = None, device: str = "auto",
              seed: int = 0, cancel: threading.Event | None = None) -> FitSession:
    """The ``FitSession`` of a prepared observation: nothing fitted yet, or, given several priors, the
    session of the one whose learned steps explain this observation best (its learned steps taken).

    Choosing costs each candidate its learned steps (K x 5 steps for K priors) and one loss evaluation.
    Shape spaces among ``prior`` are left out (``complete_prepared`` tries them first).
    """
    if isinstance(prior, tuple):
        prior = inits(prior)
        prior = prior if len(prior) > 1 else prior[0] if prior else None
    if isinstance(prior, ShapeSpace):
        prior = None
    if not isinstance(prior, tuple):
        return FitSession(prepared.points, prepared.normals, config, prior=prior, device=device, seed=seed,
                          cancel=cancel)
    scored = []
    for candidate in prior:
        session = FitSession(prepared.points, prepared.normals, config.replace(network=candidate.network),
                             prior=candidate, device=device, seed=seed, cancel=cancel)
        while session.steps_done < candidate.inner_steps:
            session.step()
        scored.append((session.data_loss(seed), candidate.name, session))
    loss, name, best = min(scored, key=lambda entry: entry[0])
    others = ", ".join(f"{n} {value:.3f}" for value, n, _ in scored if n != name)
    prepared.notes.append(f"started from the prior {name} (data loss {loss:.3f} after its learned steps; {others})")
    return best


def finish(prepared: Prepared, session: FitSession, fit_seconds: float = 0.0,
           history: list[StepInfo] | None = None, prior_report: dict | None = None) -> Completion:
    """The completed mesh of ``session``'s current field, in the user's units, with its figures.

    Raises ``FitError`` when the field has no zero crossing in the box.
    """
    config = session.config
    clock = time.perf_counter()
    box_vertices, faces = session.mesh(config.resolution)
    notes = list(prepared.notes) + session.notes
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
    if history and not math.isfinite(history[-1].loss):
        raise FitError("the fit diverged (its loss is not a finite number); try another prior or seed")
    stats = CompletionStats(
        points=len(prepared.observation.points), normals=prepared.normals_source, steps=session.steps_done,
        device=str(session.device), final_loss=history[-1].loss if history else None,
        seconds={"prepare": round(prepared.seconds, 3), "fit": round(fit_seconds, 3),
                 "extract": round(extract_seconds, 3)},
        grid_evaluations=session.last_evaluations, vertices=len(vertices), faces=len(faces),
        components=int(mesh.body_count), watertight=bool(mesh.is_watertight), symmetry=prepared.symmetry,
        prior=prior_report)
    return Completion(vertices, faces, distance, stats, tuple(notes), history)


def complete(observation: Observation, config: FitConfig, prior: Priors = None,
             device: str = "auto", seed: int = 0, progress: ProgressCallback | None = None,
             preview: PreviewCallback | None = None,
             cancel: threading.Event | None = None) -> Completion:
    """Complete ``observation`` into a closed mesh: ``prepare``, fit, ``finish``.

    ``preview`` receives coarse meshes in the input's units while fitting; setting ``cancel`` from
    another thread stops the job with ``FitCancelled``. Raises ``InputError`` for unusable input,
    ``ConfigError`` for a fit of no steps and ``FitError`` when the fit gives no surface.
    """
    check_steps(config.steps)
    return complete_prepared(prepare(observation, config, seed), config, prior, device, seed, progress, preview,
                             cancel)


def complete_prepared(prepared: Prepared, config: FitConfig, prior: Priors = None, device: str = "auto",
                      seed: int = 0, progress: ProgressCallback | None = None,
                      preview: PreviewCallback | None = None,
                      cancel: threading.Event | None = None) -> Completion:
    """``complete`` from an already prepared observation (the fit and ``finish``): for a caller that also
    needs what ``prepare`` made, such as the evaluation scoring the estimated normals."""
    check_steps(config.steps)
    clock = time.perf_counter()

    def world_preview(vertices: np.ndarray, faces: np.ndarray, step: int) -> None:
        preview(prepared.normalization.to_world(vertices), faces, step)

    box_preview = world_preview if preview is not None else None
    report = None
    if spaces(prior):
        fitted, report = _shape_space_fit(prepared, config, spaces(prior), device, seed, cancel, progress,
                                          box_preview)
        if fitted is not None:
            return finish(prepared, fitted.session, time.perf_counter() - clock, fitted.history, report)
        prepared.notes.append(report["reason"])
    session = start_fit(prepared, config, prior, device, seed, cancel)
    history = session.run(progress=progress, preview=box_preview)
    return finish(prepared, session, time.perf_counter() - clock, history, report)


def _shape_space_fit(prepared: Prepared, config: FitConfig, candidates: tuple[ShapeSpace, ...], device: str,
                     seed: int, cancel: threading.Event | None, progress: ProgressCallback | None,
                     preview: PreviewCallback | None) -> tuple[ShapeFit | None, dict]:
    """The refined fit of the shape space that explains the observation best, or ``None`` when none passes its
    gate; and the report of what happened (``CompletionStats.prior``)."""
    observed = prepared.normalization.to_box(prepared.observation.points)
    fits = [fit_code(prepared.points, prepared.normals, space, config, device, seed, cancel, progress, preview,
                     residual_points=observed) for space in candidates]
    best = min(fits, key=lambda fitted: fitted.residual / fitted.threshold)
    report = {"name": best.space.name, "kind": best.space.kind, "used": best.explains,
              "residual": round(best.residual, 5), "threshold": round(best.threshold, 5), "pose": best.pose}
    others = "".join(f"; {f.space.name}: {f.residual:.4f} against {f.threshold:.4f}" for f in fits if f is not best)
    if best.explains:
        report["reason"] = (f"completed from the shape space {best.space.name}: it explains the scan (mean distance "
                            f"{best.residual:.4f} within its threshold {best.threshold:.4f}{others})")
        prepared.notes.append(report["reason"])
        return refine(best, prepared.points, prepared.normals, config, device, seed, cancel, progress, preview), report
    report["reason"] = (f"the shape space {best.space.name} does not explain the scan (mean distance "
                        f"{best.residual:.4f} above its threshold {best.threshold:.4f}{others}); "
                        "completed by the generic fit instead")
    return None, report


def check_steps(steps: int) -> None:
    """``ConfigError`` unless a completion or a fill takes at least one step."""
    if steps < 1:
        raise ConfigError("steps", f"must be at least 1, got {steps}")
