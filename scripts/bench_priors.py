"""Benchmark priors: completion quality against optimisation steps and seconds, on shapes no prior saw.

    python scripts/bench_priors.py --data DATA [--candidate PRIOR] [--methods ...] [--shapes ...] [--anchor-weight W]
    python scripts/bench_priors.py --report          # only rewrite the docs from the results file

DATA holds ``meshes/`` (the validation meshes of the default prior's split are scanned virtually:
2 depth views, points only), ``pairs/<name>/{partial,complete}.*`` and ``scans/abc/*_{scan,complete}.ply``.
Every neural method runs the engine's own fit (``FitSession``, preset ``default`` unless ``--preset``) from its
initialisation and is meshed and scored (``metrics.evaluate``) at every ``--checkpoints`` step count;
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

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from scripts.docsection import write_section  # noqa: E402
from neurep_addon.core.config import FitConfig, NetworkConfig  # noqa: E402
from neurep_addon.core.errors import FitError  # noqa: E402
from neurep_addon.core.observation import validate  # noqa: E402
from neurep_addon.core.fit_settings import settings  # noqa: E402
from neurep_addon.core.completion import finish, prepare, start_fit  # noqa: E402
from neurep_addon.core.prior_io import DEFAULT_PRIOR_PATH  # noqa: E402
from neurep_addon.core.prior_io import load_prior  # noqa: E402
from neurep_addon.evaluation.suite import Case, held_out_cases, selection_cases  # noqa: E402
from neurep_addon.tasks.shapes import mesh_files, split_files  # noqa: E402

CHECKPOINTS = (0, 5, 10, 25, 50, 100, 200)
METHODS = ("random", "default", "candidate", "reptile", "fourier", "poisson")
LABELS = {"random": "SIREN, random init", "default": "SIREN, default prior (MetaSDF)",
          "candidate": "SIREN, candidate prior", "reptile": "SIREN, Reptile prior",
          "fourier": "Fourier-feature MLP, random init", "poisson": "screened Poisson"}
PRIOR_METHODS = ("default", "candidate", "reptile")
METRICS = (("chamfer_l1", "Chamfer-L1 (lower is better)"), ("fscore_1", "F-score @1% (higher is better)"),
           ("missing_recall_1", "recall in missing regions @1% (higher is better)"))


def run_neural(method: str, case: Case, prior_path: Path | None, preset_name: str, resolution: int,
               checkpoints: tuple[int, ...] = CHECKPOINTS, **overrides) -> list[dict]:
    """Fit from ``method``'s initialisation; the scores and seconds at every checkpoint.

    The engine's own steps: ``completion.prepare`` once, then one ``FitSession`` scored by ``completion.finish``
    at each checkpoint (an empty surface scores as an empty mesh)."""
    from neurep_addon.evaluation.metrics import evaluate

    clock = time.perf_counter()
    network = NetworkConfig(encoding="fourier") if method == "fourier" else None
    prior_spec = str(prior_path) if prior_path else "none"
    config, prior = settings(preset_name, prior_spec, steps=checkpoints[-1], resolution=resolution,
                             preview_every=0, **overrides)
    if network is not None:
        config = config.replace(network=network)
    prepared = prepare(case.observation, config, seed=0)
    session = start_fit(prepared, config, prior, device="cpu", seed=0)
    seconds = time.perf_counter() - clock
    rows = []
    for checkpoint in checkpoints:
        clock = time.perf_counter()
        while session.steps_done < checkpoint:
            session.step()
        try:
            completion = finish(prepared, session)
            vertices, faces = completion.vertices, completion.faces
        except FitError:
            vertices, faces = np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64)
        seconds += time.perf_counter() - clock
        scores = evaluate(vertices, faces, case.gt_vertices, case.gt_faces, observed_points=case.observation.points)
        rows.append({"step": checkpoint, "seconds": round(seconds, 3), **_numbers(scores)})
    return rows


def run_poisson(case: Case) -> list[dict]:
    from neurep_addon.evaluation import baselines
    from neurep_addon.evaluation.metrics import evaluate

    clock = time.perf_counter()
    vertices, faces = baselines.poisson(validate(case.observation, np.random.default_rng(0)))
    seconds = time.perf_counter() - clock
    scores = evaluate(vertices, faces, case.gt_vertices, case.gt_faces, observed_points=case.observation.points)
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


def report(results: dict, out_dir: Path, command: str, preset: str = "default") -> str:
    """Markdown for the "priors" section; writes the PNGs next to it."""
    most = max(len(shapes) for shapes in results.values())
    incomplete = {m: sorted(shapes) for m, shapes in results.items() if len(shapes) < most}
    every = results
    results = {m: shapes for m, shapes in results.items() if m not in incomplete}
    summary = aggregate(results)
    order = [m for m in METHODS if m in summary]
    shapes = common_shapes(results)
    steps = [r["step"] for r in next(summary[m] for m in order if summary[m][0]["step"] is not None)]
    last = steps[-1]
    lines = [f"Written by `scripts/bench_priors.py` ({command}). {len(shapes)} held-out shapes: "
             + ", ".join(f"`{s}`" for s in shapes) + ". Means over shapes; CPU, 1 thread; steps of the engine's "
             f"own fit (preset `{preset}`; Adam with cosine decay at the preset's learning rate over {last} steps; "
             "after a prior's learned steps it starts at `prior_learning_rate_scale` times that rate and ramps up "
             "over `prior_warmup_steps`), meshed at resolution 128. Chamfer-L1 and F-score as `metrics.evaluate` "
             "defines them; an empty mesh "
             "counts as infinite Chamfer and zero F-score. Seconds were measured on a 2-core CPU shared with "
             "other jobs at times: compare them between methods, not with other machines.", ""]
    for key, title in METRICS:
        lines += [f"**{title}**", "", "| method | " + " | ".join(f"{s} steps" for s in steps) + " |",
                  "|---|" + "---:|" * len(steps)]
        for method in order:
            rows = summary[method]
            if rows[0]["step"] is None:
                lines.append(f"| {LABELS[method]} ({rows[0]['seconds']:.1f} s) | {rows[0][key]:.4f} |"
                             + " |" * (len(steps) - 1))
            else:
                lines.append(f"| {LABELS[method]} | " + " | ".join(f"{r[key]:.4f}" for r in rows) + " |")
        lines.append("")
    seconds = {m: summary[m][-1]["seconds"] for m in order if summary[m][0]["step"] is not None}
    lines += [f"Mean seconds to the {last}-step mesh: " + ", ".join(f"{LABELS[m]} {s:.0f} s" for m, s in seconds.items())
              + ".", ""]
    ref = {r["step"]: r for r in summary.get("random", [])}
    for method in (m for m in PRIOR_METHODS if m in summary and ref):
        at = {r["step"]: r for r in summary[method]}
        verdicts = [f"{key} {at[25][key]:.4f} after 25 steps vs {ref[last][key]:.4f}; {at[last][key]:.4f} vs "
                    f"{ref[last][key]:.4f} after {last}" for key, _ in METRICS]
        lines += [f"{LABELS[method]} against random init after {last} steps: " + "; ".join(verdicts) + ".", ""]
    if "random" in summary:
        lines += by_test_set(results, shapes, last)
    without = [s for s in shapes if all("missing_recall_1" not in row for row in every[order[0]][s])]
    if without:
        lines += ["Missing recall is averaged over the shapes whose input lacks part of the surface; "
                  + ", ".join(f"`{s}`" for s in without) + " lacks none.", ""]
    columns = [m for m in METHODS if m in every]
    for key, title in METRICS[1:]:
        lines += [f"**Per shape, {title.split(' (')[0]} after 25 / {last} steps** (Poisson: its one result)", "",
                  "| shape | " + " | ".join(LABELS[m] for m in columns) + " |", "|---|" + "---:|" * len(columns)]
        for shape in shapes:
            cells = []
            for method in columns:
                by_step = {row["step"]: row.get(key, math.nan) for row in every[method].get(shape, [])}
                cells.append("not run" if not by_step else _cell(by_step[None]) if None in by_step
                             else f"{_cell(by_step[25])} / {_cell(by_step[last])}")
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


TEST_SETS = {"proc": "selection set: procedural shapes, 2-view virtual scans",
             "val": "held-out meshes, 2-view virtual scans", "one-sided": "held-out torus, 1-view scan",
             "abc": "ABC real scans", "pairs": "partial/complete pairs"}


def by_test_set(results: dict, shapes: list[str], last: int) -> list[str]:
    """Markdown table: per test set, each prior after 25 and ``last`` steps against random init after ``last``
    steps and Poisson (the means of Chamfer-L1 / F-score / missing recall)."""
    columns = [("random", last, f"random init, {last} steps")]
    for method in PRIOR_METHODS:
        columns += [(method, 25, f"{LABELS[method]}, 25 steps"), (method, last, f"{LABELS[method]}, {last} steps")]
    columns.append(("poisson", None, "screened Poisson"))
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


def held_out_meshes(args: argparse.Namespace) -> list[str]:
    """The meshes the default prior's training held out (its provenance), else the seeded 20% split."""
    validation = [n for n in load_prior(args.default_prior).provenance.get("validation_meshes", "").split(", ") if n]
    if not validation:
        _, files = split_files(mesh_files(Path(args.data) / "meshes"), 0.2)
        validation = [f.stem for f in files]
    return validation


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench_priors.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="folder with meshes/, pairs/ and scans/abc/")
    parser.add_argument("--default-prior", default=str(DEFAULT_PRIOR_PATH))
    parser.add_argument("--candidate", help="a prior file to compare with the default one (method 'candidate')")
    parser.add_argument("--reptile", help="the Reptile prior file (method 'reptile')")
    parser.add_argument("--checkpoints", default=",".join(map(str, CHECKPOINTS)),
                        help="step counts at which every neural fit is meshed and scored")
    parser.add_argument("--anchor-weight", type=float,
                        help="FitConfig.prior_anchor_weight for the prior methods (default: the engine's)")
    parser.add_argument("--prior-setting", action="append", default=[], metavar="NAME=VALUE",
                        help="a FitConfig number for the prior methods, e.g. prior_learning_rate_scale=0.5 "
                             "(repeatable; use another --results file to keep runs apart)")
    parser.add_argument("--section", default="priors",
                        help="the BENCHMARKS.md section the report goes to ('none': no docs)")
    parser.add_argument("--selection", type=int, default=0, metavar="N",
                        help="instead of the held-out shapes, N procedural shapes scanned the same way (proc/...): "
                             "a set to choose between priors on without tuning to the benchmark's shapes")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset of " + ",".join(METHODS))
    parser.add_argument("--shapes", help="comma-separated substrings: only shapes whose name contains one")
    parser.add_argument("--preset", default="default", help="fit preset of every neural method")
    parser.add_argument("--resolution", type=int, default=128, help="marching-cubes resolution")
    parser.add_argument("--results", default=str(ROOT / "docs" / "bench_priors.json"))
    parser.add_argument("--report", action="store_true", help="only write the docs from the results file")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    results_path = Path(args.results)
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}

    if not args.report:
        if not args.data and not args.selection:
            parser.error("--data is required unless --report or --selection is given")
        methods = args.methods.split(",")
        unknown = set(methods) - set(METHODS)
        if unknown:
            parser.error(f"unknown methods {sorted(unknown)}; choose from {', '.join(METHODS)}")
        for method in ("reptile", "candidate"):
            if method in methods and not getattr(args, method):
                parser.error(f"method '{method}' needs --{method} PRIOR_FILE")
        checkpoints = tuple(int(s) for s in args.checkpoints.split(","))
        prior_settings = {} if args.anchor_weight is None else {"prior_anchor_weight": args.anchor_weight}
        for item in args.prior_setting:
            name, _, value = item.partition("=")
            kind = type(getattr(FitConfig(), name, None))
            try:
                prior_settings[name] = kind(value) if kind in (int, float, str) and value else None
            except ValueError:
                prior_settings[name] = None
            if prior_settings[name] is None:
                parser.error(f"--prior-setting {item!r}: give NAME=VALUE with NAME a FitConfig field "
                             "that holds a number or a word")
        patterns = args.shapes.split(",") if args.shapes else [""]
        cases = [case for case in (selection_cases(args.selection) if args.selection
                                   else held_out_cases(args.data, held_out_meshes(args)))
                 if any(p in case.name for p in patterns)]
        priors = {"default": Path(args.default_prior), "reptile": Path(args.reptile) if args.reptile else None,
                  "candidate": Path(args.candidate) if args.candidate else None}
        for method in methods:
            for case in cases:
                name = case.name
                clock = time.perf_counter()
                rows = (run_poisson(case) if method == "poisson"
                        else run_neural(method, case, priors.get(method), args.preset, args.resolution, checkpoints,
                                        **(prior_settings if method in PRIOR_METHODS else {})))
                # Re-read before writing: several benchmark processes may share the results file.
                results = json.loads(results_path.read_text()) if results_path.is_file() else {}
                results.setdefault(method, {})[name] = rows
                results_path.write_text(json.dumps(results, indent=1))
                print(f"{method:8s} {name:28s} {time.perf_counter() - clock:6.0f} s  "
                      + "  ".join(f"{k} {rows[-1].get(k, float('nan')):.4f}" for k, _ in METRICS), flush=True)
    command = ("python scripts/bench_priors.py --data ../shared/data --candidate PRIOR --methods M [--shapes S], "
               "several processes at once; results merge by method and shape")
    (ROOT / "docs" / "img").mkdir(parents=True, exist_ok=True)
    if results and args.section != "none":
        write_section(ROOT / "docs" / "BENCHMARKS.md", args.section,
                      report(results, ROOT / "docs" / "img", command, args.preset))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
