"""Training a shape space from a collection of complete meshes, within a wall-clock budget.

    read:      every mesh file of the collection (bad files are skipped with a message), each put in the
               collection's frame (bounding box centred, longest half side ``DATA_HALF_EXTENT``, pose kept)
    samples:   per shape, surface points with normals and points in the box with their signed distance; the
               sign comes from the generalised winding number of the surface samples (Barill et al. 2018's
               dipole sum), so meshes with holes or several parts still get a robust inside
    train:     the base and one code per shape together (auto-decoding, DeepSDF), Adam, batches of shapes
    validate:  held-out shapes, seen from one side in two depth views (points only, as users scan): the engine's
               own code fit (``shape_fit``), its shape scored by Chamfer-L1 against the whole held-out shape;
               the best state is kept
    gate:      the threshold is ``GATE_MARGIN`` times the largest residual of those validation fits, lowered
               towards the residuals of scans of shapes of other kinds (``calibrate``)

State is checkpointed to ``OUT.ckpt`` at each validation and when the run is stopped (Ctrl-C, SIGTERM, a cancel
event), so a run resumes (``resume=True``) where it stopped; OUT always holds the best prior found so far.
"""

from __future__ import annotations

import io
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import trimesh
from scipy.spatial import cKDTree

from ..core.config import NetworkConfig, preset
from ..core.errors import InputError, PriorError
from ..core.io import write_atomically, write_json
from ..core.observation import Normalization, Observation, sample_surface
from ..core.completion import prepare
from ..core.prior_io import save_prior
from ..core.shape_fit import fit_code, shape_mesh
from ..core.shape_space import CODE_SIZE, ModulatedSiren, ShapeSpace
from ..tasks.shapes import load_mesh, procedural_mesh
from ..tasks.synth import depth_scan
from .progress import Progress

NETWORK = NetworkConfig(width=128, depth=4)
"""The base's architecture."""
SURFACE_SAMPLES = 16_384
"""Surface samples per shape (with normals): the surface term, and the dipoles of the winding number."""
VOLUME_SAMPLES = 32_768
"""Points per shape with a signed distance: near the surface (two scales) and uniform in the box."""
WINDING_DIPOLES = 4096
"""Surface samples whose dipoles give the winding number (the sign of the points away from the surface)."""
WINDING_CHUNK = 1 << 20
"""Query-dipole pairs per block of the winding-number sum (blocks that stay in the cache run several times faster)."""
NEAR_SCALES = (0.01, 0.05)
"""Standard deviations (box units) of the offsets of the near-surface points."""
SHAPES_PER_STEP = 8
POINTS_PER_SHAPE = 2048
"""Volume points per shape and step (and half as many surface points)."""
BASE_RATE = 2e-4
CODE_RATE = 1e-3
CODE_REGULARISER = 1e-4
"""Weight of the mean squared code: keeps the codes of the collection near the origin (DeepSDF's prior)."""
CLAMP = 0.1
"""Signed distances are compared clamped to +-this (box units): the field is learnt where it matters."""
VALIDATION_FRACTION = 0.15
"""Share of the collection held out to validate (at least one shape with four or more)."""
VALIDATION_SHAPES = 4
"""Most shapes held out (each validation fits all of them)."""
VALIDATION_VIEWS = 2
VALIDATE_EVERY = 90.0
"""Seconds of training between two validations."""
GATE_MARGIN = 2.0
"""The gate's threshold as a multiple of the largest validation residual (see ``calibrate``)."""
REFERENCE_FAMILIES = ("handles", "thin", "csg", "blobby")
"""Procedural families (``tasks.shapes``) whose scans calibrate the gate from the other side."""
VALIDATION_RESOLUTION = 64
"""Grid of the validation fits' meshes."""
VALIDATION_SAMPLES = 20_000
"""Surface samples of the validation's Chamfer distance."""


ProgressCallback = Callable[[Progress], None]


@dataclass
class ShapeSamples:
    """One training shape in the collection's frame: surface [P, 3] with normals [P, 3], volume [Q, 3] with
    signed distances [Q] (negative inside)."""

    name: str
    surface: torch.Tensor
    normals: torch.Tensor
    volume: torch.Tensor
    distance: torch.Tensor

    def to(self, device: str | torch.device) -> "ShapeSamples":
        return ShapeSamples(self.name, *(t.to(device) for t in (self.surface, self.normals, self.volume,
                                                                 self.distance)))


def read_collection(files: list[Path], log: Callable[[str], None] = print) -> list[tuple[str, trimesh.Trimesh]]:
    """The usable meshes of ``files`` in the collection's frame; a bad file is skipped with a message."""
    meshes = []
    for path in files:
        try:
            mesh = load_mesh(path)
            if not mesh.area > 0:
                raise InputError(f"{path}: its faces have no area")
        except InputError as exc:
            log(f"skipped: {exc}")
            continue
        normalization = Normalization.fit(mesh.vertices)
        meshes.append((path.stem, trimesh.Trimesh(normalization.to_box(mesh.vertices), mesh.faces, process=False)))
    return meshes


def winding_numbers(queries: torch.Tensor, points: torch.Tensor, normals: torch.Tensor, areas: torch.Tensor,
                    ) -> torch.Tensor:
    """Generalised winding numbers [Q] of queries [Q, 3] with respect to a surface given by samples [P, 3],
    their outward normals [P, 3] and areas [P]: sum of a (p - q) . n / (4 pi |p - q|^3), about 1 inside and 0
    outside, robust to holes (the dipole approximation of Barill et al. 2018)."""
    weighted = areas / (4 * math.pi)
    along_points = (points * normals).sum(-1)  # p . n  [P]
    out = []
    for q in queries.split(max(16, WINDING_CHUNK // len(points))):
        along = along_points[None] - q @ normals.T  # (p - q) . n  [C, P]
        distance = torch.cdist(q, points).clamp(min=1e-3)
        out.append((along * weighted / distance ** 3).sum(-1))
    return torch.cat(out)


def shape_samples(name: str, mesh: trimesh.Trimesh, seed: int) -> ShapeSamples:
    """The training samples of one shape (in the collection's frame)."""
    rng = np.random.default_rng(seed)
    surface, normals = sample_surface(mesh, SURFACE_SAMPLES, seed)
    near = [surface[rng.integers(0, len(surface), VOLUME_SAMPLES // 3)] + rng.normal(0, s, (VOLUME_SAMPLES // 3, 3))
            for s in NEAR_SCALES]
    uniform = rng.uniform(-1, 1, (VOLUME_SAMPLES - 2 * (VOLUME_SAMPLES // 3), 3))
    volume = np.concatenate(near + [uniform])
    tree = cKDTree(surface)
    distance, index = tree.query(volume, k=1, workers=-1)
    # Close to the surface the distance to the tangent plane of the nearest sample is the better estimate.
    plane = np.abs(((volume - surface[index]) * normals[index]).sum(-1))
    distance = np.where(distance < 3 * NEAR_SCALES[0], plane, distance)
    # The winding number where the nearest sample's side is not enough: away from the surface.
    facing = ((volume - surface[index]) * normals[index]).sum(-1)
    inside = facing < 0
    away = distance >= NEAR_SCALES[0]
    dipoles = rng.choice(len(surface), WINDING_DIPOLES, replace=False)
    area = torch.full((WINDING_DIPOLES,), float(mesh.area) / WINDING_DIPOLES)
    winding = winding_numbers(torch.as_tensor(volume[away], dtype=torch.float32),
                              torch.as_tensor(surface[dipoles], dtype=torch.float32),
                              torch.as_tensor(normals[dipoles], dtype=torch.float32), area)
    inside[away] = winding.numpy() > 0.5
    signed = np.where(inside, -distance, distance)
    as_tensor = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    return ShapeSamples(name, as_tensor(surface), as_tensor(normals), as_tensor(volume), as_tensor(signed))


@dataclass
class Validation:
    """A held-out shape as a user scans it: the prepared observation (box frame of the scan), the observed points
    and the whole shape (vertices, faces) in the same box frame."""

    name: str
    points: np.ndarray
    normals: np.ndarray
    observed: np.ndarray
    vertices: np.ndarray
    faces: np.ndarray


def validation_case(name: str, mesh: trimesh.Trimesh, seed: int) -> Validation:
    """Two depth views from one side (the back never seen), points only, through the engine's ``prepare``."""
    rng = np.random.default_rng(seed)
    side = rng.normal(size=3)
    side[2] = 0.3 * abs(side[2])
    side /= np.linalg.norm(side)
    spread = np.cross(side, [0.0, 0.0, 1.0])
    spread /= np.linalg.norm(spread)
    views = np.stack([side + 0.5 * spread, side - 0.5 * spread])
    scan = depth_scan(mesh, views, rng, resolution=128)
    config = preset("default", symmetry="off")
    prepared = prepare(Observation(scan.points), config, seed)
    to_box = prepared.normalization.to_box
    return Validation(name, prepared.points, prepared.normals, to_box(scan.points), to_box(mesh.vertices),
                      np.asarray(mesh.faces))


def validate(space: ShapeSpace, cases: list[Validation], seed: int = 0) -> tuple[float, list[float]]:
    """The mean Chamfer-L1 (``chamfer_l1``: a fraction of the shape's size) of each case's code fit (the
    engine's, from the collection's pose: the held-out scans are in it) against the whole shape, and the fits'
    residuals on the observed points. The whole shape, not only its unseen part: a shape that is too large
    comes as close to the unseen surface as the right one (measured: on 4 held-out vases the
    unseen-surface score chose the state of step 209 over that of step 534, which fitted a test vase's code to
    Chamfer-L1 0.009 where the chosen one gave 0.059)."""
    config = preset("fast")  # half the points of the default preset: the validations take training time
    scores, residuals = [], []
    for case in cases:
        fitted = fit_code(case.points, case.normals, space, config, "cpu", seed, residual_points=case.observed,
                          rotations=torch.eye(3)[None])
        vertices, faces = shape_mesh(fitted.session.network, VALIDATION_RESOLUTION)
        scores.append(chamfer_l1(vertices, faces, case.vertices, case.faces, seed))
        residuals.append(fitted.residual)
    return float(np.mean(scores)), residuals


def chamfer_l1(vertices: np.ndarray, faces: np.ndarray, truth_vertices: np.ndarray, truth_faces: np.ndarray,
               seed: int = 0) -> float:
    """The symmetric Chamfer-L1 distance of two meshes (``VALIDATION_SAMPLES`` surface samples each) as a fraction
    of the second one's longest side, as the evaluation suite scores (which the extension does not ship);
    infinite for a mesh with no surface."""
    if len(faces) == 0:
        return math.inf
    truth = sample_surface(trimesh.Trimesh(truth_vertices, truth_faces, process=False), VALIDATION_SAMPLES, seed)[0]
    try:
        found = sample_surface(trimesh.Trimesh(vertices, faces, process=False), VALIDATION_SAMPLES, seed)[0]
    except InputError:
        return math.inf
    there = cKDTree(truth).query(found, workers=-1)[0].mean()
    back = cKDTree(found).query(truth, workers=-1)[0].mean()
    return float((there + back) / 2 / np.ptp(truth_vertices, axis=0).max())


def reference_cases(seed: int = 0) -> list[Validation]:
    """Scans of shapes of other kinds (one per family of ``REFERENCE_FAMILIES``), seen as the held-out shapes are:
    what the gate must turn away."""
    cases = []
    for index, family in enumerate(REFERENCE_FAMILIES):
        mesh = procedural_mesh(np.random.default_rng(seed + index), resolution=64, family=family)
        mesh = trimesh.Trimesh(Normalization.fit(mesh.vertices).to_box(mesh.vertices), mesh.faces, process=False)
        cases.append(validation_case(family, mesh, seed + index))
    return cases


def calibrate(space: ShapeSpace, out: Path, seed: int, log: Callable[[str], None]) -> None:
    """Set the gate of the best ``space`` between its own shapes and shapes of other kinds, and write it to ``out``.

    The threshold is ``GATE_MARGIN`` times the largest residual of the held-out shapes (from the validation that
    chose ``space``), or the geometric mean of that residual and the smallest residual of the reference shapes
    (fitted with the full pose search, as a user's scan is) if lower. When a reference shape is explained as well
    as the held-out ones, that mean rejects both: a scan the space cannot tell from another kind goes to the
    generic fit, which is never worse than a wrong shape.
    """
    inside = max(float(r) for r in space.provenance["residuals"].split(", "))
    outside = [fit_code(case.points, case.normals, space, preset("default"), "cpu", seed,
                        residual_points=case.observed).residual for case in reference_cases(seed)]
    space.threshold = min(GATE_MARGIN * inside, math.sqrt(inside * min(outside)))
    if min(outside) <= inside:
        log(f"warning: the space explains shapes of other kinds ({min(outside):.4f}) as well as its own "
            f"({inside:.4f}); its gate turns both away. Train it longer or on more shapes")
    space.provenance["reference_residuals"] = ", ".join(f"{r:.5f}" for r in outside)
    space.provenance["threshold"] = f"{space.threshold:.5f}"
    log(f"gate: held-out shapes leave at most {inside:.4f}, shapes of other kinds at least {min(outside):.4f}; "
        f"threshold {space.threshold:.4f}")
    save_prior(space, out)


def _losses(base: ModulatedSiren, codes: torch.Tensor, batch: list[ShapeSamples], generator: torch.Generator
            ) -> torch.Tensor:
    """The auto-decoding loss of a batch of shapes (``codes`` [B, D], theirs): the L1 error of the signed distance
    (clamped to +-``CLAMP``, as DeepSDF) at points of the box, |f| on the surface and the code prior. No gradient
    terms: they cost a second backward pass, and the distances already make the field a distance near the data."""
    picks = [torch.randint(len(s.volume), (POINTS_PER_SHAPE,), generator=generator, device=generator.device)
             for s in batch]
    on = [torch.randint(len(s.surface), (POINTS_PER_SHAPE // 4,), generator=generator, device=generator.device)
          for s in batch]
    x = torch.stack([torch.cat([s.volume[i], s.surface[j]]) for s, i, j in zip(batch, picks, on)])
    distance = torch.stack([s.distance[i] for s, i in zip(batch, picks)])
    values = base(x, codes)[..., 0]
    v_volume, v_surface = values.split([POINTS_PER_SHAPE, POINTS_PER_SHAPE // 4], dim=1)
    return ((v_volume.clamp(-CLAMP, CLAMP) - distance.clamp(-CLAMP, CLAMP)).abs().mean() + v_surface.abs().mean()
            + CODE_REGULARISER * codes.square().sum(-1).mean())


def train_shape_space(files: list[Path], out: str | Path, minutes: float, seed: int = 0,
                      progress: ProgressCallback | None = None, cancel: threading.Event | None = None,
                      resume: bool = False, log: Callable[[str], None] = print,
                      device: str = "cpu", network: NetworkConfig = NETWORK, max_steps: int | None = None) -> Path:
    """Train a shape space from the complete meshes ``files`` for ``minutes`` of wall-clock time (this run's) and
    write the best one found to ``out`` (and its state to ``out.ckpt``); ``max_steps`` ends it earlier after that many
    steps in all. Returns ``out``.

    Raises ``InputError`` when fewer than two meshes are usable, ``PriorError`` when the run stopped before its
    first validation (nothing worth writing; the checkpoint still holds the state).
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)  # found missing at the first validation, the run would be lost
    checkpoint = out.with_name(out.name + ".ckpt")
    clock = time.perf_counter()
    budget = minutes * 60.0
    cancel = cancel if cancel is not None else threading.Event()
    meshes = read_collection(files, log)
    if len(meshes) < 2:
        raise InputError(f"a shape space needs at least two usable meshes, found {len(meshes)}")
    order = np.random.default_rng(seed).permutation(len(meshes))
    held = min(VALIDATION_SHAPES, max(1, round(VALIDATION_FRACTION * len(meshes)))) if len(meshes) >= 4 else 0
    validation_meshes = [meshes[i] for i in sorted(order[:held])]
    training_meshes = [meshes[i] for i in sorted(order[held:])] or meshes
    validation_meshes = validation_meshes or training_meshes[:2]
    log(f"{len(training_meshes)} training shapes, {len(validation_meshes)} held out to validate: "
        f"{', '.join(name for name, _ in validation_meshes)}")
    samples = [shape_samples(name, mesh, seed + i).to(device) for i, (name, mesh) in enumerate(training_meshes)]
    cases = [validation_case(name, mesh, seed + i) for i, (name, mesh) in enumerate(validation_meshes)]
    log(f"samples ready after {time.perf_counter() - clock:.0f} s")

    torch.manual_seed(seed)
    base = ModulatedSiren(network, CODE_SIZE).to(device)
    codes = torch.nn.Parameter((torch.randn(len(samples), CODE_SIZE) * 0.01).to(device))
    optimizer = torch.optim.Adam([{"params": base.parameters(), "lr": BASE_RATE},
                                  {"params": [codes], "lr": CODE_RATE}])
    state = {"step": 0, "seconds": 0.0, "best": None, "best_space": None, "curve": []}
    if resume and checkpoint.is_file():
        saved = torch.load(checkpoint, weights_only=False)
        if saved["names"] != [s.name for s in samples]:
            raise PriorError(f"{checkpoint}: made from other meshes; train without resuming, or give its collection")
        base.load_state_dict(saved["base"])
        with torch.no_grad():
            codes.copy_(saved["codes"])
        optimizer.load_state_dict(saved["optimizer"])
        state = saved["state"]
        log(f"resumed from {checkpoint.name} at step {state['step']} ({state['seconds'] / 60:.1f} min trained)")
    generator = torch.Generator(device=device).manual_seed(seed + state["step"])

    def space_now() -> ShapeSpace:
        return ShapeSpace(network, {k: v.detach().cpu().clone() for k, v in base.state_dict().items()},
                          codes.detach().cpu().clone(), threshold=1.0, name=out.stem)

    def save_state() -> None:
        payload = {"names": [s.name for s in samples], "base": base.state_dict(), "codes": codes.detach(),
                   "optimizer": optimizer.state_dict(), "state": state}
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        write_atomically(checkpoint, buffer.getvalue())

    def check() -> None:
        space = space_now()
        score, residuals = validate(space, cases, seed)
        state["curve"].append({"step": state["step"], "seconds": round(state["seconds"], 1),
                               "validation": round(score, 5)})
        if state["best"] is None or score < state["best"]:
            space.threshold = GATE_MARGIN * max(residuals)
            space.provenance = {"kind": "shape-space", "shapes": str(len(samples)),
                                "validation_shapes": ", ".join(c.name for c in cases),
                                "steps": str(state["step"]), "minutes": f"{state['seconds'] / 60:.1f}",
                                "validation": f"{score:.5f}", "residuals": ", ".join(f"{r:.5f}" for r in residuals)}
            state["best"], state["best_space"] = score, space
            save_prior(space, out)
        write_json(out.with_name(out.name + ".curve.json"), state["curve"])
        save_state()
        return score

    last_validation = state["seconds"]
    validation_cost = [0.0]
    latest = state["curve"][-1]["validation"] if state["curve"] else None
    loss = float("nan")
    try:
        # Stop early enough for the last validation and the calibration (about twice a validation's time).
        while (time.perf_counter() - clock + 3 * validation_cost[0] < budget and not cancel.is_set()
               and (max_steps is None or state["step"] < max_steps)):
            started = time.perf_counter()
            chosen = torch.randperm(len(samples), generator=generator, device=device)[:SHAPES_PER_STEP]
            batch = [samples[i] for i in chosen]
            total = _losses(base, codes[chosen], batch, generator)
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
            loss = float(total.detach())
            state["step"] += 1
            state["seconds"] += time.perf_counter() - started
            if state["seconds"] - last_validation >= VALIDATE_EVERY:
                timer = time.perf_counter()
                latest = check()
                validation_cost[0] = time.perf_counter() - timer
                last_validation = state["seconds"]
            if progress is not None:
                progress(Progress(time.perf_counter() - clock, budget, state["step"], loss, latest, state["best"]))
    except KeyboardInterrupt:
        log("stopping: saving the state and the best prior")
        cancel.set()
    if state["seconds"] > last_validation or state["best"] is None:
        check()
    if cancel.is_set():
        log("stopped before the gate's calibration: the prior's gate only knows its own shapes "
            f"(threshold {state['best_space'].threshold:.4f})")
    else:
        calibrate(state["best_space"], out, seed, log)
    if progress is not None:
        progress(Progress(time.perf_counter() - clock, budget, state["step"], loss, state["curve"][-1]["validation"],
                          state["best"]))
    return out

