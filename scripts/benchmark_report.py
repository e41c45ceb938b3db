"""The "evaluation" section of BENCHMARKS.md and its curve plot, from ``benchmark.py``'s results.

results: {case name: {method: {"seconds", "scores", "curve"} or {"error"}}}.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from docsection import write_section
from neurep_addon.evaluation import suite as evaluation
from neurep_addon.evaluation.metrics import MISSING_DISTANCE, missing_fraction

HEADLINE = (("chamfer_l1", "CD-L1 ↓", "{:.4f}"), ("chamfer_l2", "CD-L2 ↓", "{:.2e}"),
            ("fscore_0.5", "F@0.5% ↑", "{:.3f}"), ("fscore_1", "F@1% ↑", "{:.3f}"),
            ("fscore_2", "F@2% ↑", "{:.3f}"), ("normal_consistency", "NC ↑", "{:.3f}"),
            ("hausdorff", "Hausdorff ↓", "{:.3f}"), ("missing_recall_1", "missing recall @1% ↑", "{:.3f}"),
            ("watertight", "watertight", "{:.0%}"), ("components", "components", "{:.1f}"),
            ("wrong_facing", "wrong-facing normals ↓", "{:.1%}"))
PER_CASE = (("chamfer_l1", "Chamfer-L1 (lower is better)", "{:.4f}"),
            ("fscore_1", "F-score @1% (higher is better)", "{:.3f}"),
            ("missing_recall_1", "recall @1% of the missing regions (higher is better)", "{:.3f}"),
            ("wrong_facing", "wrong-facing estimated normals, points-only inputs (lower is better)", "{:.1%}"),
            ("seconds", "seconds (CPU)", "{:.1f}"))
CURVES = (("chamfer_l1", "Chamfer-L1 (lower is better)"), ("fscore_1", "F-score @1% (higher is better)"))


def _methods(results: dict) -> list[str]:
    present = {m for per_case in results.values() for m in per_case}
    return [m for m in evaluation.METHODS if m in present]


def _value(entry: dict, key: str):
    if "error" in entry:
        return None
    return entry["seconds"] if key == "seconds" else entry["scores"].get(key)


def _mean(values: list) -> float | None:
    values = [float(v) for v in values if v is not None]
    return float(np.mean(values)) if values else None


def complete_cases(results: dict) -> dict:
    """The cases on which every method was run (a benchmark stopped early leaves some half done)."""
    methods = set(_methods(results))
    return {case: per_case for case, per_case in results.items() if methods <= set(per_case)}


def headline_table(results: dict) -> list[str]:
    """Means over the cases each method completed, among ``complete_cases``."""
    results = complete_cases(results)
    methods = _methods(results)
    lines = ["| method | cases | " + " | ".join(h for _, h, _ in HEADLINE) + " | seconds |",
             "|---|---|" + "---|" * (len(HEADLINE) + 1)]
    for method in methods:
        entries = [per_case[method] for per_case in results.values() if method in per_case]
        done = [e for e in entries if "error" not in e]
        cells = []
        for key, _, fmt in HEADLINE:
            mean = _mean([_value(e, key) for e in done])
            cells.append("–" if mean is None else fmt.format(mean))
        seconds = _mean([e["seconds"] for e in done])
        cells.append("–" if seconds is None else f"{seconds:.1f}")
        label = evaluation.METHODS[method][0]
        lines.append(f"| {label} | {len(done)}/{len(entries)} | " + " | ".join(cells) + " |")
    return lines


def per_case_tables(results: dict) -> list[str]:
    methods = _methods(results)
    lines = []
    for key, title, fmt in PER_CASE:
        lines += ["", f"**{title}**", "", "| case | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
        for case, per_case in results.items():
            cells = []
            for method in methods:
                entry = per_case.get(method)
                value = None if entry is None else _value(entry, key)
                cells.append("failed" if entry is not None and "error" in entry
                             else "–" if value is None else fmt.format(value))
            lines.append(f"| {case} | " + " | ".join(cells) + " |")
    errors = [(case, m, e["error"]) for case, per_case in results.items() for m, e in per_case.items() if "error" in e]
    if errors:
        lines += ["", "Failed runs:", ""] + [f"- `{case}` / {m}: {err}" for case, m, err in errors]
    return lines


def plot_curves(results: dict, path: Path) -> None:
    """Mean quality against steps and against seconds, per method (Poisson as a reference)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(len(CURVES), 2, figsize=(9, 6.4), dpi=80)
    for method in _methods(results):
        runs = [per_case[method] for per_case in results.values() if "error" not in per_case.get(method, {"error": 1})]
        if not runs:
            continue
        label = evaluation.METHODS[method][0]
        for row, (key, title) in enumerate(CURVES):
            if method == "poisson":
                value, seconds = _mean([r["scores"][key] for r in runs]), _mean([r["seconds"] for r in runs])
                axes[row, 0].axhline(value, color="black", linestyle="--", linewidth=1, label=label)
                axes[row, 1].plot([seconds], [value], "k*", markersize=10, label=label)
                continue
            length = min(len(r["curve"]) for r in runs)
            steps = [np.mean([r["curve"][i]["step"] for r in runs]) for i in range(length)]
            seconds = [np.mean([r["curve"][i]["seconds"] for r in runs]) for i in range(length)]
            values = [np.mean([r["curve"][i][key] for r in runs]) for i in range(length)]
            axes[row, 0].plot(steps, values, "o-", label=label)
            axes[row, 1].plot(seconds, values, "o-", label=label)
        for row, (key, title) in enumerate(CURVES):
            axes[row, 0].set_ylabel(title, fontsize=8)
    axes[-1, 0].set_xlabel("optimisation steps")
    axes[-1, 1].set_xlabel("seconds (CPU, fit + extraction)")
    for axis in axes.flat:
        axis.grid(alpha=0.3)
        axis.tick_params(labelsize=7)
    for axis in axes[0]:
        axis.set_yscale("log")
    axes[0, 1].legend(fontsize=7)
    figure.suptitle(f"Mean over cases; intermediate points are coarse previews (dense {evaluation.CURVE_RESOLUTION}³ "
                    f"grid, {evaluation.CURVE_SAMPLES // 1000}k samples), the last one the final mesh", fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def _load(results: dict) -> str:
    loads = [e["load"] for per_case in results.values() for e in per_case.values() if "load" in e]
    return f"{np.mean(loads):.1f}" if loads else "unknown"


def write_report(results: dict, cases: list, out: Path, img: Path, renders: list[Path], command: str,
                 threads: int, samples: int) -> None:
    """Write the "evaluation" section of ``out/BENCHMARKS.md`` and ``img/eval_curves.png``."""
    curves = img / "eval_curves.png"
    plot_curves(results, curves)
    by_name = {c.name: c for c in cases}
    lines = [
        "## Completion quality (`scripts/benchmark.py`)", "",
        f"Written by `{command}` on {time.strftime('%Y-%m-%d')}; CPU, {threads} PyTorch thread(s). "
        "Metrics as defined in `neurep_addon/core/metrics.py` and described in [evaluation.md](evaluation.md): "
        f"ground truth scaled to longest side 1, {samples // 1000}k samples per surface. "
        "↓ lower is better, ↑ higher is better. "
        f"The missing regions are the ground-truth samples farther than {MISSING_DISTANCE:.0%} from every input "
        "point. Seconds are wall-clock per case (normals, fit, extraction) on a CPU shared with other jobs "
        f"(mean load average {_load(results)} on {os.cpu_count()} cores during the runs): "
        "compare them between methods, not with other machines.", "",
        "| case | kind | input points | normals | missing (share of the true surface) |", "|---|---|---|---|---|"]
    for name in results:
        case = by_name.get(name)
        if case is not None:
            missing = missing_fraction(case.gt_vertices, case.gt_faces, case.observation.points)
            lines.append(f"| {name} | {case.kind} | {len(case.observation.points):,} | "
                         f"{'given' if case.observation.has_normals else 'estimated'} | {missing:.1%} |")
    lines += ["", "Missing-region recall is noisy where the missing share is small (a few hundred samples)."]
    complete = complete_cases(results)
    lines += ["", f"**Mean over the {len(complete)} case(s) on which every method was run** (over the cases "
              "each method completed: see the cases column; failed runs are listed below)", ""]
    lines += headline_table(results)
    lines += per_case_tables(results)
    lines += ["", f"![quality against steps and seconds]({curves.relative_to(out).as_posix()})", ""]
    for render in renders:
        lines.append(f"![{render.stem}]({render.relative_to(out).as_posix()})")
    write_section(out / "BENCHMARKS.md", "evaluation", "\n".join(lines))
