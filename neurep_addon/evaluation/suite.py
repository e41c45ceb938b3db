"""Benchmark cases and method runners, shared by ``scripts/benchmark.py`` and the priors benchmark.

A ``Case`` is a partial observation with its complete ground truth, in the same coordinates. Cases come
from the development data (``pairs/`` real hole pairs, ``scans/abc/`` simulated time-of-flight scans,
2-view depth scans and ball holes cut from a fixed subset of ``meshes/``) or are generated (``--quick``;
``--cuts``: scans cut by a plane).

Every method maps an observation to a mesh through one runner: screened Poisson (``baselines``) or the
engine's own ``completion.complete`` with a method-specific configuration. Neural runs are also scored at
intermediate steps through the completion's preview callback (a coarse dense mesh), giving quality-vs-steps
and quality-vs-seconds curves from the same fit; the time spent meshing and scoring those previews is
excluded from the reported seconds.

Fill-holes cases (``fill_cases``) keep the partial mesh itself; ``run_fill_method`` closes its holes with
``fill.fill_holes`` (``neurep-fill``) or the minimal-area baseline (``minimal-fill``), or completes it
(``neurep``) for comparison, and ``fill_scores`` scores what each method invented against the ground truth.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import trimesh
from scipy.spatial import cKDTree

from ..core.config import LossWeights, FitConfig
from ..core.errors import InputError
from ..core.holes import fill_holes_minimal_area
from ..core.io import read_mesh, read_observation
from .metrics import MISSING_DISTANCE, MISSING_TAU, evaluate, unit_transform, wrong_facing
from ..core.observation import Observation, sample_mesh
from ..core.fit_settings import settings
from ..core.completion import complete, complete_prepared, prepare
from ..core.fill import fill_holes
from ..core.prior import Prior
from ..core.prior_io import DEFAULT_PRIOR_PATH
from ..tasks.synth import depth_scan, holed_samples, surface_samples
from ..tasks.shapes import load_mesh

SCAN_MESHES = ("odedstein_spot_low_resolution", "c3d_fandisk")
"""The fixed subset of ``meshes/`` turned into 2-view depth scans (points only, as users scan)."""
HOLE_MESHES = ("odedstein_bunny", "cgal_rotor")
"""The fixed subset of ``meshes/`` sampled with ball holes (with exact normals)."""
ABC_SCANS = ("00010009", "00010039")
"""The ABC parts used (of the six in ``scans/abc/``)."""
SCAN_VIEWS = 2
HOLE_SAMPLES = 20_000
HOLE_COUNT = 3
HOLE_RADIUS = 0.12
"""Ball-hole radius as a fraction of the bounding-box diagonal."""
CURVE_POINTS = 4
"""Intermediate scores per neural fit (at 1/4, 2/4, 3/4 of its steps, then the final mesh)."""
CURVE_RESOLUTION = 64
"""Dense grid of the intermediate meshes."""
CURVE_SAMPLES = 20_000
"""Surface samples per intermediate score (the final score uses ``samples``, 100k by default)."""


@dataclass
class Case:
    """A partial observation and its ground truth (vertices float64 [W, 3], faces int64 [G, 3]).

    scored_in: a 4x4 similarity applied to the prediction, the ground truth and the observed points before
    scoring (``None``: scored as they are), so that a case moved out of a common frame is scored in it.
    """

    name: str
    kind: str
    observation: Observation
    gt_vertices: np.ndarray
    gt_faces: np.ndarray
    scored_in: np.ndarray | None = None


@dataclass
class Run:
    """One method on one case: the mesh ([V, 3], [F, 3]), the final scores, seconds and the curve.

    curve: per checkpoint {"step", "seconds", metric...}; empty for non-iterative methods.
    """

    vertices: np.ndarray
    faces: np.ndarray
    scores: dict
    seconds: float
    curve: list[dict] = field(default_factory=list)


# --- Cases -------------------------------------------------------------------------------------

def _mesh_case(name: str, kind: str, mesh: trimesh.Trimesh, observation: Observation) -> Case:
    return Case(name, kind, observation, np.asarray(mesh.vertices, dtype=np.float64),
                np.asarray(mesh.faces, dtype=np.int64))


def _seed(name: str) -> int:
    """A stable per-case seed (Python's ``hash`` of a string changes between runs)."""
    return sum((i + 1) * ord(c) for i, c in enumerate(name))


def synthetic_cases(mesh: trimesh.Trimesh, stem: str) -> list[Case]:
    """The 2-view scan case and the ball-hole case of one complete mesh."""
    scan = depth_scan(mesh, SCAN_VIEWS, np.random.default_rng(_seed(f"scan/{stem}")))
    holes = holed_samples(mesh, HOLE_SAMPLES, HOLE_COUNT, HOLE_RADIUS,
                          np.random.default_rng(_seed(f"holes/{stem}")), with_normals=True)
    return [_mesh_case(f"scan2/{stem}", "2-view scan", mesh, scan),
            _mesh_case(f"holes/{stem}", "ball holes", mesh, holes)]


def pair_cases(data: Path) -> list[Case]:
    """The real hole pairs of ``data/pairs/`` (a partial mesh and its complete one in each folder)."""
    cases = []
    for pair in sorted(p for p in (data / "pairs").iterdir() if p.is_dir()):
        partial, full = sorted(pair.glob("partial.*")), sorted(pair.glob("complete.*"))
        if not partial or not full:
            raise InputError(f"{pair}: needs a partial.* and a complete.* mesh")
        gt = trimesh.load(str(full[0]), force="mesh", process=False)
        gt.merge_vertices()
        cases.append(_mesh_case(f"pairs/{pair.name}", "real holes", gt, read_observation(partial[0])))
    return cases


def abc_cases(data: Path, parts: tuple[str, ...] | None = None) -> list[Case]:
    """The simulated time-of-flight scans of ``data/scans/abc/`` (``parts``, or all of them)."""
    folder = data / "scans" / "abc"
    parts = parts or tuple(sorted(p.name.removesuffix("_scan.ply") for p in folder.glob("*_scan.ply")))
    cases = []
    for part in parts:
        gt = trimesh.load(str(folder / f"{part}_complete.ply"), force="mesh", process=False)
        cases.append(_mesh_case(f"abc/{part}", "ToF scan", gt, read_observation(folder / f"{part}_scan.ply")))
    return cases


ONE_SIDED_MESHES = ("odedstein_torus",)
"""Validation meshes also scanned from one side only (a single view): a shape with a handle, where a prior
that starts from a solid has nothing to offer."""


def held_out_cases(data: str | Path, validation_meshes: list[str]) -> list[Case]:
    """The shapes no prior trains on (the priors benchmark): a 2-view scan of each validation mesh, a 1-view
    scan of those in ``ONE_SIDED_MESHES``, every real hole pair and every ABC scan."""
    data = Path(data)
    cases, one_sided = [], []
    for index, stem in enumerate(validation_meshes):
        found = sorted((data / "meshes").glob(f"{stem}.*"))
        if not found:
            raise InputError(f"{data / 'meshes'}: {stem} is missing")
        mesh = load_mesh(found[0])
        cases.append(_mesh_case(f"val/{stem}", "2-view scan", mesh,
                                depth_scan(mesh, SCAN_VIEWS, np.random.default_rng(index))))
        if stem in ONE_SIDED_MESHES:
            one_sided.append(_mesh_case(f"one-sided/{stem}", "1-view scan", mesh,
                                        depth_scan(mesh, 1, np.random.default_rng(index))))
    return cases + one_sided + pair_cases(data) + abc_cases(data)


SELECTION_SEED = 20261127
"""Seed of the selection shapes; the training draws its procedural shapes from other seeds."""


def selection_cases(count: int) -> list[Case]:
    """Procedural shapes scanned as the held-out meshes are (2 views), a ``count`` of them, the families in
    turn: a set to choose between priors on, with the benchmark's kind of observation, that is not the
    benchmark's held-out shapes (choosing on those would tune to the test)."""
    from ..tasks.shapes import FAMILIES, procedural_mesh

    cases = []
    for index in range(count):
        family = FAMILIES[index % len(FAMILIES)]
        rng = np.random.default_rng([SELECTION_SEED, index])
        mesh = procedural_mesh(rng, family=family)
        cases.append(_mesh_case(f"proc/{family}-{index}", "2-view scan", mesh, depth_scan(mesh, SCAN_VIEWS, rng)))
    return cases


def data_cases(data: str | Path) -> list[Case]:
    """Every case of the development data folder, kinds interleaved (so a run cut short still covers each
    kind); ``InputError`` if the folder or a part of it is missing."""
    data = Path(data)
    if not data.is_dir():
        raise InputError(f"{data}: no such data folder (expected meshes/, pairs/ and scans/abc/ in it; "
                         "pass --data)")
    for sub in ("meshes", "pairs", "scans/abc"):
        if not (data / sub).is_dir():
            raise InputError(f"{data}: missing the {sub}/ folder of the development data")
    groups: list[list[Case]] = [pair_cases(data), abc_cases(data, ABC_SCANS), [], []]
    meshes = data / "meshes"
    for stem in SCAN_MESHES + HOLE_MESHES:
        found = sorted(meshes.glob(f"{stem}.*"))
        if not found:
            raise InputError(f"{meshes}: {stem} is missing")
        scan, holes = synthetic_cases(load_mesh(found[0]), stem)
        if stem in SCAN_MESHES:
            groups[2].append(scan)
        if stem in HOLE_MESHES:
            groups[3].append(holes)
    return ([group[i] for i in range(max(map(len, groups))) for group in groups if i < len(group)]
            + quality_cases())


QUALITY_VIEWS = np.array([[1.0, 0.3, 0.4], [0.7, -0.5, -0.3]])
"""Two cameras on the +x side: the -x half of a shape mirrored in x = 0 is never seen."""


def mirrored_animal() -> trimesh.Trimesh:
    """A body, a head and two legs, mirror-symmetric in x = 0 only."""
    body = trimesh.creation.capsule(height=0.6, radius=0.25, count=[24, 24])
    body.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [0, 1, 0]))
    head = trimesh.creation.icosphere(subdivisions=3, radius=0.2).apply_translation([0.0, 0.35, 0.2])
    leg = trimesh.creation.box(extents=(0.1, 0.1, 0.4)).apply_translation([0.3, -0.15, -0.3])
    return trimesh.util.concatenate([body, head, leg, leg.copy().apply_translation([-0.6, 0, 0])])


def asymmetric_blob() -> trimesh.Trimesh:
    """The convex hull of 9 random points: no mirror plane (the control of symmetry detection)."""
    return trimesh.convex.convex_hull(np.random.default_rng(4).normal(size=(9, 3)) * [0.5, 0.4, 0.3])


def quality_cases() -> list[Case]:
    """Generated cases of the completion-quality work: a unit sphere missing its top (z > 0.72, with
    normals: the fill should be round), a torus with 3 ball holes (one part, round fills), 2-view scans
    from one side of a mirror-symmetric shape and of an asymmetric control (points only)."""
    sphere = trimesh.creation.icosphere(subdivisions=5)
    points, normals = surface_samples(sphere, HOLE_SAMPLES, np.random.default_rng(0))
    keep = points[:, 2] < 0.72
    torus = trimesh.creation.torus(major_radius=0.35, minor_radius=0.15, major_sections=64, minor_sections=32)
    animal, blob = mirrored_animal(), asymmetric_blob()
    return [_mesh_case("quality/holed_sphere", "capped hole", sphere, Observation(points[keep], normals[keep])),
            _mesh_case("quality/holed_torus", "ball holes", torus,
                       holed_samples(torus, HOLE_SAMPLES, HOLE_COUNT, HOLE_RADIUS, np.random.default_rng(5))),
            _mesh_case("quality/symmetric_2view", "one-sided scan", animal,
                       depth_scan(animal, QUALITY_VIEWS, np.random.default_rng(0), resolution=128)),
            _mesh_case("quality/asymmetric_2view", "one-sided scan", blob,
                       depth_scan(blob, QUALITY_VIEWS, np.random.default_rng(0), resolution=128))]


CUT_SAMPLES = 20_000
CUT_DIRECTIONS = {"x": (1.0, 0.0, 0.0), "z": (0.0, 0.0, 1.0), "xz": (0.6, 0.0, 0.8)}
CUT_KEEP = 0.6
"""Cut cases: of ``CUT_SAMPLES`` surface samples (points only), the share ``CUT_KEEP`` lowest along each of
``CUT_DIRECTIONS`` is kept, so the data end at a plane that is no mirror plane."""
CUT_SHAPES = ("torus", "box", "animal", "blob")
"""A torus, a box and ``mirrored_animal`` have mirror planes that no cut bounds; ``asymmetric_blob`` has none."""
ABOVE_AND_SIDE = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
"""The cameras of the torus seen only from above and from one side (issue 26)."""


def cut_shape(name: str) -> trimesh.Trimesh:
    """The shapes of the cut cases (``CUT_SHAPES``)."""
    if name == "torus":
        return trimesh.creation.torus(major_radius=0.35, minor_radius=0.15, major_sections=64, minor_sections=32)
    if name == "box":
        return trimesh.creation.box(extents=(0.8, 0.5, 0.3))
    return {"animal": mirrored_animal, "blob": asymmetric_blob}[name]()


def cut_observation(mesh: trimesh.Trimesh, direction, keep: float, rng: np.random.Generator) -> Observation:
    """Surface samples (points only) on the side of a plane normal to ``direction`` that holds the share
    ``keep`` of them."""
    points, _ = surface_samples(mesh, CUT_SAMPLES, rng)
    along = points @ (np.asarray(direction) / np.linalg.norm(direction))
    kept = along <= np.quantile(along, keep)
    return Observation(points[kept], None, (f"{CUT_SAMPLES:,} surface samples cut by a plane, {keep:.0%} kept",))


def cut_case(shape: str, direction: str, keep: float = CUT_KEEP) -> Case:
    """``shape`` (of ``CUT_SHAPES``) cut across ``direction`` (of ``CUT_DIRECTIONS``, or "y"), ``keep`` kept."""
    mesh = cut_shape(shape)
    name = f"cut/{shape}-{direction}" + ("" if keep == CUT_KEEP else f"-{keep:.0%}")
    vector = CUT_DIRECTIONS.get(direction, (0.0, 1.0, 0.0) if direction == "y" else None)
    return _mesh_case(name, "cut scan", mesh, cut_observation(mesh, vector, keep, np.random.default_rng(_seed(name))))


def cut_cases() -> list[Case]:
    """Scans cut by a plane (``--cuts``): each of ``CUT_SHAPES`` cut across each of ``CUT_DIRECTIONS``; the
    torus and the box also cut in half at a mirror plane (the data end there, so it shows nothing), and the
    torus seen only from above and from one side (2 views, points only)."""
    cases = [cut_case(shape, direction) for shape in CUT_SHAPES for direction in CUT_DIRECTIONS]
    cases += [cut_case("torus", "z", 0.5), cut_case("box", "y", 0.5)]
    torus = cut_shape("torus")
    return cases + [_mesh_case("cut/torus-above-side", "one-sided scan", torus,
                               depth_scan(torus, ABOVE_AND_SIDE, np.random.default_rng(0), resolution=128))]


def generated_cases() -> list[Case]:
    """Two small cases on generated shapes (no data needed): a scanned torus and a holed capsule."""
    torus = trimesh.creation.torus(major_radius=0.35, minor_radius=0.15, major_sections=48, minor_sections=24)
    capsule = trimesh.creation.capsule(height=0.5, radius=0.25, count=[32, 32])
    return [synthetic_cases(torus, "torus")[0], synthetic_cases(capsule, "capsule")[1]]


# --- Methods -----------------------------------------------------------------------------------

def _paper_siren(config: FitConfig) -> FitConfig:
    """Random-init SIREN with only the SIREN paper's four loss terms (no sphere init, no extra terms, no
    mirror symmetry)."""
    return config.replace(sphere_radius=0.0, symmetry="off",
                          weights=LossWeights(near_band=0.0, outside=0.0, hint=0.0, curvature_variation=0.0))


METHODS: dict[str, tuple[str, str, str, Callable[[FitConfig], FitConfig] | None]] = {
    "poisson": ("screened Poisson (pymeshlab, depth 8)", "", "", None),
    "siren": ("SIREN, random init, paper loss", "default", "none", _paper_siren),
    "fourier": ("Fourier-feature MLP (NeuRep loss)", "default", "none",
                lambda config: config.replace(encoding="fourier")),
    "neurep-fast": ("NeuRep, preset fast", "fast", "none", None),
    "neurep": ("NeuRep, preset default", "default", "none", None),
    "neurep-quality": ("NeuRep, preset quality", "quality", "none", None),
    "neurep-prior": ("NeuRep, preset default + default prior", "default", "default", None),
    "neurep-prior-flat": ("NeuRep, preset default + default prior, no curvature term", "default", "default",
                          lambda config: config.replace(weights=dataclasses.replace(config.weights, curvature=0.0))),
    "neurep-fast-nosymmetry": ("NeuRep, preset fast, --symmetry off", "fast", "none",
                               lambda config: config.replace(symmetry="off")),
    "neurep-prior-nosymmetry": ("NeuRep, preset default + default prior, --symmetry off", "default", "default",
                                lambda config: config.replace(symmetry="off")),
}
"""Name -> (label, preset, prior, config change); ``poisson`` is the classical baseline."""
DEFAULT_METHODS = ("poisson", "neurep", "neurep-prior", "neurep-fast", "siren", "fourier")


def available_methods(names: list[str] | tuple[str, ...]) -> list[str]:
    """``names`` checked against ``METHODS``; ``neurep-prior`` is dropped while no default prior exists."""
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    return [n for n in names if n != "neurep-prior" or DEFAULT_PRIOR_PATH.exists()]


def method_config(name: str, **overrides) -> tuple[FitConfig, Prior | None]:
    """The fit configuration and prior of neural method ``name`` (overrides apply to the preset)."""
    _, preset_name, prior_spec, change = METHODS[name]
    config, prior = settings(preset_name, prior_spec, **overrides)
    return (change(config) if change else config), prior


def run_method(name: str, case: Case, seed: int = 0, samples: int = 100_000, **overrides) -> Run:
    """Run method ``name`` on ``case`` and score it with ``samples`` points per surface.

    Overrides go to the preset of neural methods. Errors of the method propagate.
    """
    if name == "poisson":
        from .baselines import poisson

        return run_mesher(poisson, case, samples)
    config, prior = method_config(name, **overrides)
    return run_fit(config, prior, case, seed, samples)


def run_mesher(mesher: Callable[[Observation], tuple[np.ndarray, np.ndarray]], case: Case,
               samples: int = 100_000) -> Run:
    """A one-shot method (observation -> vertices [V, 3], faces [F, 3]) on ``case``, timed and scored."""
    clock = time.perf_counter()
    vertices, faces = mesher(case.observation)
    seconds = time.perf_counter() - clock
    return Run(vertices, faces, _score(vertices, faces, case, samples), seconds)


def run_fit(config: FitConfig, prior: Prior | tuple[Prior, ...] | None, case: Case, seed: int = 0,
            samples: int = 100_000) -> Run:
    """``completion.complete`` of ``case`` with ``config`` and ``prior`` (as ``settings`` gives them), scored
    at ``CURVE_POINTS`` checkpoints and at the end."""
    config = config.replace(preview_every=max(1, config.steps // CURVE_POINTS),
                            preview_resolution=CURVE_RESOLUTION)
    return _run_neural(config, prior, case, seed, samples)


def _score(vertices: np.ndarray, faces: np.ndarray, case: Case, samples: int) -> dict:
    gt, observed = case.gt_vertices, case.observation.points
    if case.scored_in is not None:
        vertices, gt, observed = (np.asarray(x, dtype=np.float64) @ case.scored_in[:3, :3].T + case.scored_in[:3, 3]
                                  for x in (vertices, gt, observed))
    return evaluate(vertices, faces, gt, case.gt_faces, observed_points=observed, samples=samples)


def _run_neural(config: FitConfig, prior: Prior | tuple[Prior, ...] | None, case: Case, seed: int,
                samples: int) -> Run:
    """``completion.complete`` with the previews scored; seconds exclude preview meshing and scoring."""
    curve: list[dict] = []
    clock = {"last_step": 0.0, "excluded": 0.0, "start": time.perf_counter()}

    def progress(info) -> None:
        clock["last_step"] = time.perf_counter()

    def preview(vertices, faces, step) -> None:
        seconds = clock["last_step"] - clock["start"] - clock["excluded"]
        curve.append({"step": step, "seconds": seconds, **_score(vertices, faces, case, CURVE_SAMPLES)})
        clock["excluded"] += time.perf_counter() - clock["last_step"]
        clock["last_step"] = time.perf_counter()

    prepared = prepare(case.observation, config, seed)
    clock["last_step"] = time.perf_counter()  # a preview before any step (a shape space's mean shape) counts from here
    result = complete_prepared(prepared, config, prior=prior, device="cpu", seed=seed,
                               progress=progress, preview=preview)
    seconds = time.perf_counter() - clock["start"] - clock["excluded"]
    scores = _score(result.vertices, result.faces, case, samples)
    if not case.observation.has_normals:  # the normals the fit was given, estimated by ``prepare``
        scores["wrong_facing"] = wrong_facing(prepared.observation.points,
                                              prepared.normals[:len(prepared.observation.points)],
                                              case.gt_vertices, case.gt_faces)
    curve.append({"step": result.stats.steps, "seconds": seconds, **scores})
    return Run(result.vertices, result.faces, scores, seconds, curve)


# --- Fill holes ---------------------------------------------------------------------------------

FILL_METHODS = {
    "neurep-fill": "NeuRep fill holes (preset default + default prior)",
    "minimal-fill": "minimal-area fill (Liepa 2003, step 1; no new vertices)",
    "neurep": "NeuRep complete (preset default + default prior), for comparison",
}
"""Name -> label of the methods of the fill-holes evaluation."""
FILL_SAMPLES = 100_000
"""Surface samples of the ground truth and of what a method invented."""


@dataclass
class FillCase:
    """A partial mesh (vertices float64 [V, 3], faces int64 [F, 3]) and its complete ground truth ([W, 3], [G, 3])."""

    name: str
    vertices: np.ndarray
    faces: np.ndarray
    gt_vertices: np.ndarray
    gt_faces: np.ndarray


def fill_cases(data: str | Path) -> list[FillCase]:
    """The real hole pairs of ``data/pairs/`` as meshes: the partial mesh as its file holds it."""
    cases = []
    for case in pair_cases(Path(data)):
        partial = sorted((Path(data) / case.name).glob("partial.*"))[0]
        mesh = read_mesh(partial)
        cases.append(FillCase(case.name, mesh.vertices, mesh.faces, case.gt_vertices, case.gt_faces))
    return cases


def run_fill_method(name: str, case: FillCase, seed: int = 0, **overrides) -> dict:
    """Run fill method ``name`` on ``case``; its ``fill_scores``, seconds and what it did to the holes.

    Overrides go to the preset of the neural methods.
    """
    clock = time.perf_counter()
    if name == "minimal-fill":
        result = fill_holes_minimal_area(case.vertices, case.faces)
        vertices, faces, invented = result.vertices, result.faces, result.faces[result.input_faces:]
        holes = (result.holes_closed, result.holes_left_open)
    elif name in FILL_METHODS:
        config, prior = settings("default", "default", **{"keep_open": "none", **overrides})  # every hole
        if name == "neurep-fill":
            result = fill_holes(case.vertices, case.faces, config, prior, device="cpu", seed=seed)
            vertices, faces, invented = result.vertices, result.faces, result.faces[result.input_faces:]
            holes = (result.stats.holes_closed, result.stats.holes_left_open)
        else:
            completion = complete(sample_mesh(case.vertices, case.faces, seed=seed), config, prior, device="cpu",
                                  seed=seed)
            vertices, faces, invented, holes = completion.vertices, completion.faces, None, (None, None)
    else:
        raise ValueError(f"unknown fill method {name}; choose from {', '.join(FILL_METHODS)}")
    seconds = time.perf_counter() - clock
    return {"seconds": seconds, "holes_closed": holes[0], "holes_left_open": holes[1],
            **fill_scores(vertices, faces, invented, case)}


def fill_scores(vertices: np.ndarray, faces: np.ndarray, invented: np.ndarray | None, case: FillCase) -> dict:
    """What a method added, against the ground truth, in fractions of the ground truth's longest side.

    invented: the added faces [P, 3] (``None``: the whole result, of which the part farther than
    ``MISSING_DISTANCE`` from the partial mesh counts as invented). ``invented_mean`` / ``invented_max``:
    distances of invented-surface samples to the ground truth; ``missing_mean`` and ``missing_recall_1``:
    distances from the ground truth's missing region (farther than ``MISSING_DISTANCE`` from the partial mesh)
    to the result, and the share within ``MISSING_TAU``; ``None`` where there is nothing to measure; ``watertight`` and ``added_area`` (unit-scaled).
    """
    offset, scale = unit_transform(case.gt_vertices)

    def samples(v: np.ndarray, f: np.ndarray, seed: int) -> np.ndarray:
        return sample_mesh((v - offset) * scale, f, FILL_SAMPLES, seed).points

    gt, partial, result = (samples(case.gt_vertices, case.gt_faces, 0), samples(case.vertices, case.faces, 1),
                           samples(vertices, faces, 2))
    if invented is None:
        added = result[cKDTree(partial).query(result, workers=-1)[0] > MISSING_DISTANCE]
    else:
        added = samples(vertices, invented, 3) if len(invented) else np.zeros((0, 3))
    missing = gt[cKDTree(partial).query(gt, workers=-1)[0] > MISSING_DISTANCE]
    to_gt = cKDTree(gt).query(added, workers=-1)[0] if len(added) else np.zeros(0)
    to_result = cKDTree(result).query(missing, workers=-1)[0]
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    added_area = (trimesh.Trimesh((vertices - offset) * scale, invented, process=False).area
                  if invented is not None and len(invented) else None)
    return {"invented_mean": float(to_gt.mean()) if len(to_gt) else None,
            "invented_max": float(to_gt.max()) if len(to_gt) else None,
            "missing_mean": float(to_result.mean()) if len(to_result) else None,
            "missing_recall_1": float((to_result < MISSING_TAU).mean()) if len(to_result) else None,
            "watertight": bool(mesh.is_watertight), "added_area": added_area}
