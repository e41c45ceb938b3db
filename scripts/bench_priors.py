"""Benchmark priors: completion quality against optimisation steps and seconds, on shapes no prior saw.

    python scripts/bench_priors.py --data DATA --reptile REPTILE.safetensors [--methods ...] [--shapes ...]
    python scripts/bench_priors.py --report          # only rewrite the docs from the results file

DATA holds ``meshes/`` (the validation meshes of the default prior's split are scanned virtually:
2 depth views, points only), ``pairs/<name>/{partial,complete}.*`` and ``scans/abc/*_{scan,complete}.ply``.
Every neural method runs the engine's own fit (``FitSession``, preset ``fast`` unless ``--preset``) from its
initialisation and is meshed and scored (``metrics.evaluate``) after 0, 5, 10, 25, 50, 100 and 500 steps;
screened Poisson (``baselines``) is the classical anchor. Results are merged into ``--results`` (JSON,
keyed by method and shape, so runs can be split and resumed); the report writes the "priors" section of
docs/BENCHMARKS.md and two PNGs under docs/img/.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from docsection import write_section  # noqa: E402
from neurep_addon.core.config import NetworkConfig, preset  # noqa: E402
from neurep_addon.core.extract import drop_small_components  # noqa: E402
from neurep_addon.core.fit import FitSession  # noqa: E402
from neurep_addon.core.io import read_observation  # noqa: E402
from neurep_addon.core.normals import estimate_normals  # noqa: E402
from neurep_addon.core.observation import Normalization, Observation, validate  # noqa: E402
from neurep_addon.core.prior_io import DEFAULT_PRIOR_PATH, load_prior  # noqa: E402
from neurep_addon.tasks.synth import depth_scan  # noqa: E402
from neurep_addon.tasks.shapes import load_mesh, mesh_files, split_files  # noqa: E402

CHECKPOINTS = (0, 5, 10, 25, 50, 100, 500)
METHODS = ("random", "default", "reptile", "fourier", "poisson")
LABELS = {"random": "SIREN, random init", "default": "SIREN, default prior (MetaSDF)",
          "reptile": "SIREN, Reptile prior", "fourier": "Fourier-feature MLP, random init",
          "poisson": "screened Poisson"}
METRICS = (("chamfer_l1", "Chamfer-L1 (lower is better)"), ("fscore_1", "F-score @1% (higher is better)"),
           ("missing_recall_1", "recall in missing regions @1% (higher is better)"))
SCAN_VIEWS = 2


def test_shapes(data: Path, validation_names: list[str],
                wanted: Callable[[str], bool]) -> dict[str, tuple[Observation, object]]:
    """Name -> (partial observation, complete ground-truth mesh) for every ``wanted`` test shape."""
    import trimesh

    shapes = {}
    by_stem = {f.stem: f for f in mesh_files(data / "meshes")}
    for index, name in enumerate(validation_names):
        if wanted(f"val/{name}"):
            mesh = load_mesh(by_stem[name])
            shapes[f"val/{name}"] = (depth_scan(mesh, SCAN_VIEWS, np.random.default_rng(index)), mesh)
    for pair in sorted(p for p in (data / "pairs").iterdir() if p.is_dir() and wanted(f"pairs/{p.name}")):
        partial = next(pair.glob("partial.*"))
        complete = trimesh.load(str(next(pair.glob("complete.*"))), force="mesh")
        complete.merge_vertices()
        shapes[f"pairs/{pair.name}"] = (read_observation(partial), complete)
    for scan in sorted((data / "scans" / "abc").glob("*_scan.ply")):
        name = f"abc/{scan.stem.replace('_scan', '')}"
        if wanted(name):
            complete = trimesh.load(str(scan.with_name(scan.name.replace("_scan", "_complete"))), force="mesh")
            shapes[name] = (read_observation(scan), complete)
    return shapes


def run_neural(method: str, observation: Observation, gt, prior_path: Path | None, preset_name: str,
               resolution: int) -> list[dict]:
    """Fit from ``method``'s initialisation; the scores and seconds at every checkpoint."""
    from neurep_addon.evaluation.metrics import evaluate

    clock = time.perf_counter()
    prior = load_prior(prior_path) if prior_path else None
    config = preset(preset_name, steps=CHECKPOINTS[-1], resolution=resolution, preview_every=0)
    if prior is not None:
        config = config.replace(network=prior.network)
    elif method == "fourier":
        config = config.replace(network=NetworkConfig(encoding="fourier"))
    observation = validate(observation, np.random.default_rng(0))
    normalization = Normalization.fit(observation.points)
    points = normalization.to_box(observation.points)
    normals = observation.normals if observation.has_normals else estimate_normals(points, config.normal_neighbours)
    session = FitSession(points, normals, config, prior=prior, device="cpu", seed=0)
    seconds = time.perf_counter() - clock
    rows = []
    for checkpoint in CHECKPOINTS:
        clock = time.perf_counter()
        while session.steps_done < checkpoint:
            session.step()
        vertices, faces = session.mesh(resolution)
        if len(faces):
            vertices, faces, _ = drop_small_components(vertices, faces, config.min_component_fraction)
        seconds += time.perf_counter() - clock
        scores = evaluate(normalization.to_world(vertices), faces, gt.vertices, gt.faces,
                          observed_points=observation.points)
        rows.append({"step": checkpoint, "seconds": round(seconds, 3), **_numbers(scores)})
    return rows


def run_poisson(observation: Observation, gt) -> list[dict]:
    from neurep_addon.evaluation import baselines
    from neurep_addon.evaluation.metrics import evaluate

    clock = time.perf_counter()
    vertices, faces = baselines.poisson(validate(observation, np.random.default_rng(0)))
    seconds = time.perf_counter() - clock
    scores = evaluate(vertices, faces, gt.vertices, gt.faces, observed_points=observation.points)
    return [{"step": None, "seconds": round(seconds, 3), **_numbers(scores)}]


def _numbers(scores: dict) -> dict:
    return {k: float(v) for k, v in scores.items() if isinstance(v, (int, float, np.floating, np.integer))}


def common_shapes(results: dict) -> list[str]:
    """The shapes every method was run on (means are only compared over the same shapes)."""
    return sorted(set.intersection(*(set(shapes) for shapes in results.values())))


def _mean(values: list[float]) -> float:
    """The mean of the values that are not NaN (NaN if none is)."""
    values = [v for v in values if not math.isnan(v)]
    return float(np.mean(values)) if values else math.nan


def aggregate(results: dict, common: list[str] | None = None) -> dict[str, list[dict]]:
    """Method -> per checkpoint, the mean of every metric and of the seconds over ``common`` (by default the
    shapes every method was run on)."""
    summary, common = {}, common or common_shapes(results)
    for method, shapes in results.items():
        runs = [shapes[name] for name in common]
        # A shape whose input misses nothing has no missing-region recall: it is left out of that mean only.
        summary[method] = [
            {key: _mean([run[i].get(key, math.nan) for run in runs])
             for key in ("seconds", *(m for m, _ in METRICS))} | {"step": runs[0][i]["step"], "shapes": len(runs)}
            for i in range(len(runs[0]))]
    return summary


def report(results: dict, out_dir: Path, command: str) -> str:
    """Markdown for the "priors" section; writes the PNGs next to it."""
    most = max(len(shapes) for shapes in results.values())
    incomplete = {m: sorted(shapes) for m, shapes in results.items() if len(shapes) < most}
    every = results
    results = {m: shapes for m, shapes in results.items() if m not in incomplete}
    summary = aggregate(results)
    order = [m for m in METHODS if m in summary]
    shapes = common_shapes(results)
    lines = [f"Written by `scripts/bench_priors.py` ({command}). {len(shapes)} held-out shapes: "
             + ", ".join(f"`{s}`" for s in shapes) + ". Means over shapes; CPU, 1 thread; steps of the engine's "
             "own fit (preset `fast`: 1024 points per step; Adam with cosine decay at the preset's learning rate; after a prior's learned steps it starts at `prior_learning_rate_scale` times that rate and ramps up over `prior_warmup_steps`), meshed "
             "at resolution 128. Chamfer-L1 and F-score as `metrics.evaluate` defines them; an empty mesh "
             "counts as infinite Chamfer and zero F-score. Seconds were measured on a 2-core CPU shared with "
             "other jobs at times: compare them between methods, not with other machines.", ""]
    for key, title in METRICS:
        lines += [f"**{title}**", "", "| method | " + " | ".join(f"{s} steps" for s in CHECKPOINTS) + " |",
                  "|---|" + "---:|" * len(CHECKPOINTS)]
        for method in order:
            rows = summary[method]
            if rows[0]["step"] is None:
                lines.append(f"| {LABELS[method]} ({rows[0]['seconds']:.1f} s) | {rows[0][key]:.4f} |"
                             + " |" * (len(CHECKPOINTS) - 1))
            else:
                lines.append(f"| {LABELS[method]} | " + " | ".join(f"{r[key]:.4f}" for r in rows) + " |")
        lines.append("")
    seconds = {m: summary[m][-1]["seconds"] for m in order if summary[m][0]["step"] is not None}
    lines += ["Mean seconds to the 500-step mesh: " + ", ".join(f"{LABELS[m]} {s:.0f} s" for m, s in seconds.items())
              + ".", ""]
    if "default" in summary and "random" in summary:
        at = {r["step"]: r for r in summary["default"]}
        ref = {r["step"]: r for r in summary["random"]}
        verdicts = [f"{key}: default prior after 25 steps {at[25][key]:.4f} vs random init after 500 steps "
                    f"{ref[500][key]:.4f}" for key, _ in METRICS]
        lines += ["Goal check: " + "; ".join(verdicts) + ".", ""]
        lines += by_test_set(results, shapes)
    without = [s for s in shapes if all("missing_recall_1" not in row for row in every[order[0]][s])]
    if without:
        lines += ["Missing recall is averaged over the shapes whose input lacks part of the surface; "
                  + ", ".join(f"`{s}`" for s in without) + " lacks none.", ""]
    columns = [m for m in METHODS if m in every]
    for key, title in METRICS[1:]:
        lines += [f"**Per shape, {title.split(' (')[0]} after 25 / 500 steps** (Poisson: its one result)", "",
                  "| shape | " + " | ".join(LABELS[m] for m in columns) + " |", "|---|" + "---:|" * len(columns)]
        for shape in shapes:
            cells = []
            for method in columns:
                by_step = {row["step"]: row.get(key, math.nan) for row in every[method].get(shape, [])}
                cells.append("not run" if not by_step else _cell(by_step[None]) if None in by_step
                             else f"{_cell(by_step[25])} / {_cell(by_step[500])}")
            lines.append(f"| `{shape}` | " + " | ".join(cells) + " |")
        lines.append("")
    for method, done in incomplete.items():
        lines += [f"Left out of the means: {LABELS[method]} finished only " + ", ".join(f"`{s}`" for s in done)
                  + " in the time available (its per-shape results are in the JSON file).", ""]
    plot(summary, order, out_dir)
    lines += ["![quality vs steps](img/priors_steps.png)", "", "![quality vs seconds](img/priors_seconds.png)"]
    return "\n".join(lines)


def _cell(value: float, digits: int = 3) -> str:
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}"


TEST_SETS = {"val": "held-out meshes, 2-view virtual scans", "abc": "ABC real scans", "pairs": "partial/complete pairs"}


def by_test_set(results: dict, shapes: list[str]) -> list[str]:
    """Markdown table: per test set, the default prior after 25 and 500 steps against random init after 500
    steps and Poisson (the means of Chamfer-L1 / F-score / missing recall)."""
    columns = [("random", 500, "random init, 500 steps"), ("default", 25, "default prior, 25 steps"),
               ("default", 500, "default prior, 500 steps"), ("poisson", None, "screened Poisson")]
    columns = [c for c in columns if c[0] in results]
    lines = ["**By test set** (means of Chamfer-L1 / F@1% / missing recall)", "",
             "| test set | shapes | " + " | ".join(c[2] for c in columns) + " |", "|---|---:|" + "---|" * len(columns)]
    for prefix, label in TEST_SETS.items():
        part = [s for s in shapes if s.startswith(prefix + "/")]
        if not part:
            continue
        summary = aggregate(results, part)
        cells = []
        for method, step, _ in columns:
            row = next(r for r in summary[method] if r["step"] == step)
            cells.append(" / ".join(_cell(row[key], 4 if key == "chamfer_l1" else 3) for key, _ in METRICS))
        lines.append(f"| {label} | {len(part)} | " + " | ".join(cells) + " |")
    return lines + [""]


def plot(summary: dict, order: list[str], out_dir: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    for axis, name in (("step", "steps"), ("seconds", "seconds")):
        fig, axes = plt.subplots(1, len(METRICS), figsize=(11, 3.2), dpi=72)
        for ax, (key, title) in zip(axes, METRICS):
            for method in order:
                rows = summary[method]
                if rows[0]["step"] is None:
                    ax.axhline(rows[0][key], color="k", ls="--", lw=1, label=LABELS[method])
                    continue
                x = [max(r[axis], 0.5 if axis == "step" else 0.05) for r in rows]
                ax.plot(x, [r[key] for r in rows], "o-", ms=3, label=LABELS[method])
            ax.set_xscale("log")
            ax.set_xlabel("optimisation steps (0 plotted at 0.5)" if axis == "step" else "seconds (CPU)")
            ax.set_title(title, fontsize=9)
        axes[0].legend(fontsize=6)
        fig.tight_layout()
        fig.savefig(out_dir / f"priors_{name}.png")
        plt.close(fig)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench_priors.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="folder with meshes/, pairs/ and scans/abc/")
    parser.add_argument("--default-prior", default=str(DEFAULT_PRIOR_PATH))
    parser.add_argument("--reptile", help="the Reptile prior file (method 'reptile')")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset of " + ",".join(METHODS))
    parser.add_argument("--shapes", help="comma-separated substrings: only shapes whose name contains one")
    parser.add_argument("--preset", default="fast", help="fit preset of every neural method")
    parser.add_argument("--resolution", type=int, default=128, help="marching-cubes resolution")
    parser.add_argument("--results", default=str(ROOT / "docs" / "bench_priors.json"))
    parser.add_argument("--report", action="store_true", help="only write the docs from the results file")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    results_path = Path(args.results)
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}

    if not args.report:
        if not args.data:
            parser.error("--data is required unless --report is given")
        methods = args.methods.split(",")
        unknown = set(methods) - set(METHODS)
        if unknown:
            parser.error(f"unknown methods {sorted(unknown)}; choose from {', '.join(METHODS)}")
        if "reptile" in methods and not args.reptile:
            parser.error("method 'reptile' needs --reptile PRIOR_FILE")
        default_prior = load_prior(args.default_prior)
        validation = [n for n in default_prior.provenance.get("validation_meshes", "").split(", ") if n]
        if not validation:
            _, files = split_files(mesh_files(Path(args.data) / "meshes"), 0.2)
            validation = [f.stem for f in files]
        patterns = args.shapes.split(",") if args.shapes else [""]
        shapes = test_shapes(Path(args.data), validation, lambda name: any(p in name for p in patterns))
        priors = {"default": Path(args.default_prior), "reptile": Path(args.reptile) if args.reptile else None}
        for method in methods:
            for name, (observation, gt) in shapes.items():
                clock = time.perf_counter()
                rows = (run_poisson(observation, gt) if method == "poisson"
                        else run_neural(method, observation, gt, priors.get(method), args.preset, args.resolution))
                # Re-read before writing: several benchmark processes may share the results file.
                results = json.loads(results_path.read_text()) if results_path.is_file() else {}
                results.setdefault(method, {})[name] = rows
                results_path.write_text(json.dumps(results, indent=1))
                print(f"{method:8s} {name:28s} {time.perf_counter() - clock:6.0f} s  "
                      + "  ".join(f"{k} {rows[-1].get(k, float('nan')):.4f}" for k, _ in METRICS), flush=True)
    command = ("python scripts/bench_priors.py --data ../shared/data --reptile out/priors/reptile.safetensors "
               "--methods M [--shapes S], several processes at once; results merge by method and shape")
    (ROOT / "docs" / "img").mkdir(parents=True, exist_ok=True)
    if results:
        write_section(ROOT / "docs" / "BENCHMARKS.md", "priors", report(results, ROOT / "docs" / "img", command))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
