"""The category benchmark: scans of held-out instances of one kind of object, completed with and without
a prior trained on that kind (issue 27's "Must show").

Per category (``tasks.categories``), test instances are seeds from ``TEST_FIRST_SEED`` on, never a
training seed (0 .. N-1). Each is observed as users scan: ``VIEWS`` orthographic depth views from the
front and above (azimuth within ``MAX_AZIMUTH`` of -y, elevation in ``ELEVATIONS``), points only, so the
back and the underside are never seen. Every case comes twice:

- ``plain``: in the collection's common pose;
- ``posed``: the same scan and ground truth moved by one seeded similarity (a uniform random rotation of
  at least ``MIN_ROTATION``, a scale in ``SCALES``, a shift of up to ``SHIFT`` on each axis).

Methods (``METHODS``) run through the suite's runners (``suite.run_fit``, ``suite.run_mesher``) and are
scored by ``metrics.evaluate``. ``collection`` is skipped for a category without a prior file, ``default``
while no default prior ships. ``targets`` checks issue 27's targets per category and pose.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from scipy.spatial.transform import Rotation

from ..core.observation import Observation
from ..core.fit_settings import settings
from ..core.prior_io import DEFAULT_PRIOR_PATH
from ..tasks.categories import CATEGORIES, TEST_FIRST_SEED, make_instance
from ..tasks.synth import depth_scan
from .baselines import poisson, retrieval
from .metrics import missing_fraction
from .suite import Case, Run, run_fit, run_mesher

VIEWS = 2
"""Depth views per scan."""
MAX_AZIMUTH = 70.0
"""Degrees from the front (-y, the way chairs face) within which the cameras stand."""
ELEVATIONS = (10.0, 45.0)
"""Degrees above the horizon of the cameras."""
VIEW_SPREAD = (30.0, 70.0)
"""Degrees of azimuth between the two views."""
SCAN_RESOLUTION = 192
MIN_ROTATION = 30.0
"""Degrees: the posed variant's rotation turns at least this far (about a random axis)."""
SCALES = (0.5, 2.0)
"""The posed variant's scale, drawn log-uniformly."""
SHIFT = 1.0
"""The posed variant's shift, uniform in [-SHIFT, SHIFT] on each axis (instances are up to about 1 across)."""
VARIANTS = ("plain", "posed")
CASE_SEED = 20261202

METHODS = {
    "none": "NeuRep, random init (prior none)",
    "default": "NeuRep, the shipped default prior",
    "collection": "NeuRep, the category's prior (trained on its training instances)",
    "poisson": "screened Poisson (pymeshlab, depth 8)",
    "retrieval": "the nearest training instance, fitted by scale and translation",
}
"""Name -> label of the methods compared."""
TARGETS = {"recall_gain": 0.40, "fscore_gain": 0.15, "time_ratio": 1.3}
"""Issue 27: collection minus none, in missing-region recall and F@1% (and collection below retrieval in
Chamfer-L1); the time of a fit with the collection prior at most this multiple of one without."""


@dataclass
class CategoryCase(Case):
    """A ``suite.Case`` of one test instance: its ``category``, ``seed``, ``variant`` (``VARIANTS``),
    ``pose`` (the 4x4 similarity from the collection's pose to the case's) and ``unseen`` (the share of the
    ground-truth surface farther than ``metrics.MISSING_DISTANCE`` from every observed point)."""

    category: str = ""
    seed: int = 0
    variant: str = "plain"
    pose: np.ndarray = field(default_factory=lambda: np.eye(4))
    unseen: float = 0.0


def _rng(*keys: int | str) -> np.random.Generator:
    return np.random.default_rng([CASE_SEED] + [zlib.crc32(k.encode()) if isinstance(k, str) else k for k in keys])


def scan_directions(rng: np.random.Generator, views: int = VIEWS) -> np.ndarray:
    """Unit directions [views, 3] from the object to the cameras: in front (-y) and above, never behind
    or below."""
    first = rng.uniform(-MAX_AZIMUTH, MAX_AZIMUTH - (VIEW_SPREAD[0] if views > 1 else 0))
    azimuths = [first]
    for _ in range(views - 1):
        azimuths.append(min(azimuths[-1] + rng.uniform(*VIEW_SPREAD), MAX_AZIMUTH))
    a = np.radians(azimuths)
    e = np.radians(rng.uniform(*ELEVATIONS, size=views))
    return np.stack([np.sin(a) * np.cos(e), -np.cos(a) * np.cos(e), np.sin(e)], axis=1)


def random_pose(rng: np.random.Generator) -> np.ndarray:
    """A 4x4 similarity: rotation of at least ``MIN_ROTATION`` about a random axis, scale, shift."""
    while True:
        rotation = Rotation.random(random_state=int(rng.integers(2**31)))
        if np.degrees(rotation.magnitude()) >= MIN_ROTATION:
            break
    pose = np.eye(4)
    pose[:3, :3] = np.exp(rng.uniform(*np.log(SCALES))) * rotation.as_matrix()
    pose[:3, 3] = rng.uniform(-SHIFT, SHIFT, size=3)
    return pose


def apply_pose(pose: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``points`` [N, 3] moved by the 4x4 ``pose``."""
    return np.asarray(points, dtype=np.float64) @ pose[:3, :3].T + pose[:3, 3]


def posed_case(case: CategoryCase, pose: np.ndarray) -> CategoryCase:
    """``case`` with its observation and ground truth moved by ``pose`` (the same scan, another frame),
    scored back in the collection's frame (the metrics normalise by the ground truth's axis-aligned box,
    which a rotation changes), so that its scores compare with the plain case's."""
    observation = Observation(apply_pose(pose, case.observation.points), None,
                              case.observation.notes + ("moved by a similarity",))
    total = pose @ case.pose
    return CategoryCase(case.name.replace("/plain", "/posed"), case.kind, observation,
                        apply_pose(pose, case.gt_vertices), case.gt_faces, np.linalg.inv(total), case.category,
                        case.seed, "posed", total, case.unseen)


def category_cases(category: str, count: int, views: int = VIEWS,
                   resolution: int = SCAN_RESOLUTION) -> list[CategoryCase]:
    """Test instances ``TEST_FIRST_SEED`` .. + ``count`` - 1 of ``category``, each plain then posed."""
    cases = []
    for seed in range(TEST_FIRST_SEED, TEST_FIRST_SEED + count):
        mesh = make_instance(category, seed)
        rng = _rng(category, seed)
        scan = depth_scan(mesh, scan_directions(rng, views), rng, resolution=resolution)
        vertices, faces = np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64)
        plain = CategoryCase(f"{category}/{seed:05d}/plain", f"{views}-view one-sided scan", scan, vertices, faces,
                             None, category, seed, "plain", np.eye(4), missing_fraction(vertices, faces, scan.points))
        cases += [plain, posed_case(plain, random_pose(rng))]
    return cases


def training_meshes(category: str, count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Training instances 0 .. ``count`` - 1 of ``category`` (what its prior is trained on): (vertices, faces)."""
    if not 0 < count <= TEST_FIRST_SEED:
        raise ValueError(f"training count must be in 1 .. {TEST_FIRST_SEED}, got {count}")
    meshes = []
    for seed in range(count):
        mesh = make_instance(category, seed)
        meshes.append((np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64)))
    return meshes


def prior_file(priors: str | Path | None, category: str) -> Path | None:
    """``priors/<category>.safetensors`` if it exists."""
    if priors is None:
        return None
    path = Path(priors) / f"{category}.safetensors"
    return path if path.is_file() else None


def methods_for(methods: list[str] | tuple[str, ...], category: str,
                priors: str | Path | None) -> tuple[list[str], list[str]]:
    """The ``methods`` that can run on ``category`` and a message per method skipped; ``ValueError`` for
    an unknown name."""
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    runnable, skipped = [], []
    for method in methods:
        if method == "collection" and prior_file(priors, category) is None:
            where = f"{Path(priors) / (category + '.safetensors')}" if priors else "no --category-priors folder"
            skipped.append(f"{category}: collection skipped (no prior file: {where})")
        elif method == "default" and not DEFAULT_PRIOR_PATH.is_file():
            skipped.append(f"{category}: default skipped (this build ships no default prior)")
        else:
            runnable.append(method)
    return runnable, skipped


def run_category_method(method: str, case: CategoryCase, preset: str = "default",
                        priors: str | Path | None = None,
                        training: list[tuple[np.ndarray, np.ndarray]] | None = None, seed: int = 0,
                        samples: int = 100_000, **overrides) -> Run:
    """Method ``method`` on ``case``, scored. ``priors``: the folder of ``<category>.safetensors`` files
    (for ``collection``); ``training``: the category's training meshes (for ``retrieval``); overrides go
    to ``preset``."""
    if method == "poisson":
        return run_mesher(poisson, case, samples)
    if method == "retrieval":
        if not training:
            raise ValueError("retrieval needs the category's training meshes")
        return run_mesher(lambda observation: retrieval(observation, training, seed), case, samples)
    if method == "collection":
        path = prior_file(priors, case.category)
        if path is None:
            raise ValueError(f"{case.category}: no prior file in {priors}")
        spec = str(path)
    elif method in ("none", "default"):
        spec = method
    else:
        raise ValueError(f"unknown method {method}; choose from {', '.join(METHODS)}")
    config, prior = settings(preset, spec, **overrides)
    return run_fit(config, prior, case, seed, samples)


def run_benchmark(categories: list[str], methods: list[str], results: dict,
                  save: Callable[[dict], None] = lambda results: None, priors: str | Path | None = None,
                  train_count: int = 40, test_count: int = 4, preset: str = "default", samples: int = 100_000,
                  log: Callable[[str], None] = print, keep: Callable[[CategoryCase, str, Run], None] | None = None,
                  views: int = VIEWS, **overrides) -> dict:
    """Every (case, method) of ``categories`` missing from ``results`` (``results["cases"][name]``),
    saved with ``save`` after each run; a failing run is recorded with its error and the others go on.
    ``keep`` receives each finished run (for renders). Returns ``results``."""
    for category in categories:
        if category not in CATEGORIES:
            raise ValueError(f"unknown category {category!r}; the categories are {', '.join(CATEGORIES)}")
        runnable, skipped = methods_for(methods, category, priors)
        for message in skipped:
            log(message)
        cases = category_cases(category, test_count, views)
        training = training_meshes(category, train_count) if "retrieval" in runnable else None
        for case in cases:
            entry = results.setdefault("cases", {}).setdefault(case.name, {
                "category": category, "seed": case.seed, "variant": case.variant, "unseen": case.unseen,
                "points": len(case.observation.points), "methods": {}})
            for method in runnable:
                if method in entry["methods"]:
                    continue
                log(f"[{time.strftime('%H:%M:%S')}] {case.name} (unseen {case.unseen:.0%}): {method} ...")
                try:
                    run = run_category_method(method, case, preset, priors, training, samples=samples,
                                              **({} if method in ("poisson", "retrieval") else overrides))
                except Exception as exc:  # one failing run must not lose the others
                    done = {"error": f"{type(exc).__name__}: {exc}"}
                else:
                    done = {"seconds": run.seconds, "scores": run.scores, "curve": run.curve}
                    if keep is not None:
                        keep(case, method, run)
                entry["methods"][method] = done
                log("    " + ("FAILED " + done["error"] if "error" in done else
                             f"CD-L1 {run.scores['chamfer_l1']:.4f}  F@1% {run.scores['fscore_1']:.3f}  "
                             f"recall {run.scores['missing_recall_1']:.3f}  {run.seconds:.1f} s"))
                save(results)
    results["summary"], results["targets"] = summary(results), targets(results)
    save(results)
    return results


SUMMARY_KEYS = ("chamfer_l1", "fscore_1", "missing_recall_1")


def summary(results: dict) -> dict:
    """Means per category, variant and method: the ``SUMMARY_KEYS``, seconds, ``runs`` (scored) and
    ``failed``, and ``unseen`` per category and variant."""
    out: dict = {}
    for entry in results.get("cases", {}).values():
        group = out.setdefault(entry["category"], {}).setdefault(entry["variant"], {"unseen": [], "methods": {}})
        group["unseen"].append(entry["unseen"])
        for method, done in entry["methods"].items():
            runs = group["methods"].setdefault(method, {"runs": [], "failed": 0})
            if "error" in done:
                runs["failed"] += 1
            else:
                runs["runs"].append({**{k: done["scores"][k] for k in SUMMARY_KEYS}, "seconds": done["seconds"]})
    for variants in out.values():
        for group in variants.values():
            group["unseen"] = float(np.mean(group["unseen"]))
            for method, runs in group["methods"].items():
                scored = runs.pop("runs")
                runs.update({key: (float(np.mean([r[key] for r in scored])) if scored else None)
                             for key in SUMMARY_KEYS + ("seconds",)})
                runs["runs"] = len(scored)
    return out


def _paired_means(results: dict, category: str, variant: str, first: str, second: str,
                  key: str) -> tuple[float, float] | None:
    """Means of score ``key`` (or ``"seconds"``) of methods ``first`` and ``second`` over the cases where
    both were scored."""
    def value(done: dict) -> float | None:
        return done["seconds"] if key == "seconds" else done["scores"][key]

    pairs = [(value(e["methods"][first]), value(e["methods"][second]))
             for e in results.get("cases", {}).values()
             if e["category"] == category and e["variant"] == variant
             and all(m in e["methods"] and "error" not in e["methods"][m] for m in (first, second))]
    pairs = [(a, b) for a, b in pairs if a is not None and b is not None]
    return (float(np.mean([a for a, _ in pairs])), float(np.mean([b for _, b in pairs]))) if pairs else None


def targets(results: dict) -> dict:
    """Issue 27's targets per category and variant, on the cases where both methods compared were scored:
    ``recall_gain`` and ``fscore_gain`` (collection minus none) with ``*_met`` against ``TARGETS``;
    ``chamfer`` (collection, retrieval) with ``chamfer_met``; ``met``: all three. ``None``: not measured.
    Also ``time_ratio`` (collection seconds over none's) and ``time_met``, apart from ``met``."""
    out: dict = {}
    for entry in results.get("cases", {}).values():
        out.setdefault(entry["category"], {}).setdefault(entry["variant"], {})
    for category, variants in out.items():
        for variant in variants:
            row: dict = {}
            for key, metric in (("recall_gain", "missing_recall_1"), ("fscore_gain", "fscore_1")):
                means = _paired_means(results, category, variant, "collection", "none", metric)
                row[key] = None if means is None else means[0] - means[1]
                row[f"{key}_met"] = None if means is None else row[key] >= TARGETS[key]
            row["chamfer"] = _paired_means(results, category, variant, "collection", "retrieval", "chamfer_l1")
            row["chamfer_met"] = None if row["chamfer"] is None else row["chamfer"][0] < row["chamfer"][1]
            checks = [row["recall_gain_met"], row["fscore_gain_met"], row["chamfer_met"]]
            row["met"] = None if None in checks else all(checks)
            seconds = _paired_means(results, category, variant, "collection", "none", "seconds")
            row["time_ratio"] = None if seconds is None else seconds[0] / seconds[1]
            row["time_met"] = None if seconds is None else row["time_ratio"] <= TARGETS["time_ratio"]
            variants[variant] = row
    return out


def _cell(value: float | None, form: str) -> str:
    return "n/a" if value is None else form.format(value)


def tables(results: dict) -> list[str]:
    """Markdown: per category, a table of the methods' means in both variants and the targets."""
    lines = []
    means, met = results.get("summary") or summary(results), results.get("targets") or targets(results)
    for category, variants in means.items():
        unseen = ", ".join(f"{v} {g['unseen']:.0%}" for v, g in variants.items())
        lines += [f"### {category} (unseen surface: {unseen})", "",
                  "| method | pose | runs | Chamfer-L1 ↓ | F@1% ↑ | missing recall ↑ | seconds |",
                  "|---|---|---:|---:|---:|---:|---:|"]
        for method in METHODS:
            for variant, group in variants.items():
                if method not in group["methods"]:
                    continue
                m = group["methods"][method]
                runs = f"{m['runs']}" + (f" ({m['failed']} failed)" if m["failed"] else "")
                lines.append(f"| `{method}` | {variant} | {runs} | {_cell(m['chamfer_l1'], '{:.4f}')} | "
                             f"{_cell(m['fscore_1'], '{:.3f}')} | {_cell(m['missing_recall_1'], '{:.3f}')} | "
                             f"{_cell(m['seconds'], '{:.1f}')} |")
        lines.append("")
        for variant, row in met.get(category, {}).items():
            lines.append(f"- targets, {variant}: " + target_line(row))
        lines.append("")
    return lines


def target_line(row: dict) -> str:
    """One variant's targets in words."""
    def verdict(ok: bool | None) -> str:
        return "not measured" if ok is None else ("met" if ok else "NOT met")

    chamfer = row["chamfer"]
    return (f"recall {_cell(row['recall_gain'], '{:+.3f}')} (≥ +{TARGETS['recall_gain']:.2f}: "
            f"{verdict(row['recall_gain_met'])}); F@1% {_cell(row['fscore_gain'], '{:+.3f}')} "
            f"(≥ +{TARGETS['fscore_gain']:.2f}: {verdict(row['fscore_gain_met'])}); Chamfer-L1 collection "
            + ("n/a" if chamfer is None else f"{chamfer[0]:.4f} vs retrieval {chamfer[1]:.4f}")
            + f" ({verdict(row['chamfer_met'])}); all: {verdict(row['met'])}. Time collection / none "
            f"{_cell(row.get('time_ratio'), '{:.2f}')}x (≤ {TARGETS['time_ratio']}: {verdict(row.get('time_met'))})")
