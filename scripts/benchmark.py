"""Evaluation benchmark: NeuRep against screened Poisson and neural baselines, on the same inputs.

    python scripts/benchmark.py --data ../shared/data --out docs/      # the development data
    python scripts/benchmark.py --quick --out /tmp/bench                # generated shapes, for CI
    python scripts/benchmark.py --fill-holes --data ../shared/data      # fill holes only, on the hole pairs
    python scripts/benchmark.py --categories --category-priors priors/ --out docs/   # the category benchmark
    python scripts/benchmark.py --cuts --preset fast --out docs/       # scans cut by a plane: symmetry auto vs off

Cases and runners are ``neurep_addon.core.evaluation``; scores are ``neurep_addon.evaluation.metrics``.
Results go to ``OUT/benchmark_results.json`` after every run (a failing case is recorded with its error
and the others go on; ``--resume`` skips what is already there), then the "evaluation" section of
``OUT/BENCHMARKS.md``, curves in ``OUT/img/eval_curves.png`` and renders in ``OUT/img/eval_render_*.png``.
``--fill-holes`` instead runs the fill-holes methods on the real hole pairs and writes
``OUT/fill_results.json`` and the "fill-holes" section of ``OUT/BENCHMARKS.md``.
``--categories [NAME ...]`` instead runs the category benchmark (``neurep_addon.evaluation.categories``):
it prints a table per category and the targets of issue 27, and writes ``OUT/category_results.json``,
the "categories" section of ``OUT/BENCHMARKS.md`` and renders ``OUT/img/category_render_<category>.png``
(or, when OUT ends in ``.json``, that results file only).
``--cuts`` instead fits the cut cases (``evaluation.cut_cases``) with ``--symmetry auto`` and ``off`` at
``--preset`` (prior none), prints both per case, and writes ``OUT/cut_results.json`` and the "cuts" section.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from neurep_addon.evaluation import suite as evaluation  # noqa: E402
from neurep_addon.core.errors import InputError  # noqa: E402
from neurep_addon.evaluation import categories as category_bench  # noqa: E402
from neurep_addon.tasks.categories import CATEGORIES  # noqa: E402

QUICK_OVERRIDES = {"steps": 40, "points_per_step": 1024, "resolution": 64}
"""``--quick`` shortens every neural fit so the whole run takes a minute or two on a CPU..."""
QUICK_SAMPLES = 20_000
"""... and scores with fewer surface samples (the full benchmark uses 100k)."""
QUICK_METHODS = ("poisson", "siren", "fourier", "neurep", "neurep-prior")
RENDER_CASES = ("scan2/odedstein_spot_low_resolution", "holes/odedstein_bunny", "abc/00010009")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"),
                        help="development data folder (meshes/, pairs/, scans/abc/)")
    parser.add_argument("--out", default=str(ROOT / "docs"),
                        help="folder for BENCHMARKS.md, img/ and results (with --categories also a .json file)")
    parser.add_argument("--quick", action="store_true", help="generated shapes and short fits (CI)")
    parser.add_argument("--methods", nargs="+", default=None,
                        help=f"methods to run, from: {', '.join(evaluation.METHODS)} (default: "
                             f"{' '.join(evaluation.DEFAULT_METHODS)}; with --quick {' '.join(QUICK_METHODS)})")
    parser.add_argument("--cases", nargs="+", default=None, help="run only cases whose name contains one of these")
    parser.add_argument("--resume", action="store_true", help="keep results already in OUT and skip those runs")
    parser.add_argument("--report", action="store_true",
                        help="run nothing: rewrite the report from OUT/benchmark_results.json (implies --resume)")
    parser.add_argument("--no-render", action="store_true",
                        help="skip the bpy renders (the report keeps those already in OUT/img)")
    parser.add_argument("--work", default=None,
                        help="folder for the meshes behind the renders (default: a temporary one); "
                             "pass the same one to --resume runs")
    parser.add_argument("--threads", type=int, default=1, help="PyTorch CPU threads (default 1)")
    parser.add_argument("--cuts", action="store_true",
                        help="scans cut by a plane: --symmetry auto against off at --preset (prior none)")
    parser.add_argument("--fill-holes", action="store_true",
                        help=f"fill holes only, on the hole pairs: {', '.join(evaluation.FILL_METHODS)}")
    categories = parser.add_argument_group("category benchmark")
    categories.add_argument("--categories", nargs="*", default=None, metavar="NAME",
                            help=f"run the category benchmark on these categories (none named: all of "
                                 f"{', '.join(CATEGORIES)}); --methods from {', '.join(category_bench.METHODS)}")
    categories.add_argument("--category-priors", default=None, metavar="DIR",
                            help="folder of <category>.safetensors priors for the collection method "
                                 "(a category without one skips it)")
    categories.add_argument("--train-count", type=int, default=40,
                            help="training instances per category, for retrieval (default 40)")
    categories.add_argument("--test-count", type=int, default=4, help="test instances per category (default 4)")
    categories.add_argument("--preset", default="default", help="preset of the neural methods (default default)")
    categories.add_argument("--views", type=int, default=category_bench.VIEWS, choices=(1, 2),
                            help=f"depth views per scan, all from one side (default {category_bench.VIEWS})")
    return parser.parse_args(argv)


def run_all(cases: list, methods: list[str], results: dict, results_path: Path, samples: int,
            overrides: dict, work: Path) -> None:
    """Run every missing (case, method) pair, saving results and render inputs as they come."""
    for case in cases:
        for method in methods:
            if method in results.get(case.name, {}):
                continue
            print(f"[{time.strftime('%H:%M:%S')}] {case.name}: {method} ...", flush=True)
            try:
                run = evaluation.run_method(method, case, samples=samples,
                                            **({} if method == "poisson" else overrides))
            except Exception as exc:  # one failing run must not lose the others
                entry = {"error": f"{type(exc).__name__}: {exc}"}
            else:
                entry = {"seconds": run.seconds, "scores": run.scores, "curve": run.curve,
                         "load": round(os.getloadavg()[0], 1)}
                np.savez(work / f"{_slug(case.name)}__{method}.npz", vertices=run.vertices, faces=run.faces)
            results.setdefault(case.name, {})[method] = entry
            print(f"    {_summary(entry)}", flush=True)
            results_path.write_text(json.dumps(results, indent=1))


def _slug(name: str) -> str:
    return name.replace("/", "_")


def _summary(entry: dict) -> str:
    if "error" in entry:
        return f"FAILED {entry['error']}"
    s = entry["scores"]
    return f"CD-L1 {s['chamfer_l1']:.4f}  F@1% {s['fscore_1']:.3f}  {entry['seconds']:.1f} s"


def render(cases: list, names: tuple[str, ...], work: Path, img: Path) -> list[Path]:
    """Before/after renders of the cases in ``names``: NeuRep and screened Poisson."""
    written = []
    for case in cases:
        out = img / f"eval_render_{_slug(case.name)}.png"
        if case.name in names and render_case(case, ("neurep", "poisson"), work, out):
            written.append(out)
    return written


def render_case(case, methods: tuple[str, ...], work: Path, out: Path, **panels) -> bool:
    """Render ``case`` with the meshes of ``methods`` (``WORK/<case>__<method>.npz``) into ``out`` by
    ``render_cases.py`` in a subprocess, so bpy stays out of this process; ``panels`` go into its input
    (``panels``, ``labels``, ``view``). False, with the error printed, when it fails."""
    panels |= {"points": case.observation.points, "title": f"{case.name} ({case.kind})",
               "gt_vertices": case.gt_vertices, "gt_faces": case.gt_faces}
    for method in methods:
        mesh = work / f"{_slug(case.name)}__{method}.npz"
        if mesh.exists():
            stored = np.load(mesh)
            panels[f"{method}_vertices"], panels[f"{method}_faces"] = stored["vertices"], stored["faces"]
    case_file = work / f"render_{_slug(case.name)}.npz"
    np.savez(case_file, **panels)
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "render_cases.py"), str(case_file), str(out)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        print(f"render of {case.name} failed:\n{done.stderr[-2000:]}", flush=True)
    return done.returncode == 0


FILL_COLUMNS = (("holes_closed", "holes closed", "{}"), ("holes_left_open", "left open", "{}"),
                ("invented_mean", "invented → truth, mean ↓", "{:.4f}"),
                ("invented_max", "invented → truth, max ↓", "{:.4f}"),
                ("missing_mean", "missing region → result, mean ↓", "{:.4f}"),
                ("missing_recall_1", "missing recall @1% ↑", "{:.3f}"), ("watertight", "watertight", "{}"),
                ("seconds", "seconds (CPU)", "{:.1f}"))


def fill_holes_section(data: str, out: Path) -> None:
    """Run every fill method on every hole pair; write ``fill_results.json`` and the "fill-holes" section."""
    from docsection import write_section

    results = {}
    for case in evaluation.fill_cases(data):
        for method in evaluation.FILL_METHODS:
            print(f"[{time.strftime('%H:%M:%S')}] {case.name}: {method} ...", flush=True)
            results.setdefault(case.name, {})[method] = evaluation.run_fill_method(method, case)
    (out / "fill_results.json").write_text(json.dumps(results, indent=1))
    lines = ["## Fill holes only (`scripts/benchmark.py --fill-holes`)", "",
             "The real hole pairs of the development data (`pairs/`): the partial mesh is kept and its holes "
             "closed. Distances are fractions of the ground truth's longest side, between 100k area-weighted "
             "samples: what a method invented (the added faces; for `neurep`, which remeshes everything, the part "
             f"of its surface farther than {evaluation.MISSING_DISTANCE} from the partial mesh) to the ground truth, "
             "and the ground truth's missing region (farther than that from the partial mesh) to the result. "
             "n/a: nothing to measure (the plane's holes are all narrower than that distance). One CPU thread, "
             "seed 0.", "",
             "| case | method | " + " | ".join(label for _, label, _ in FILL_COLUMNS) + " |",
             "|---|---|" + "---:|" * len(FILL_COLUMNS)]
    for name, per_method in results.items():
        for method, entry in per_method.items():
            cells = ["n/a" if entry[key] is None else form.format(entry[key]) for key, _, form in FILL_COLUMNS]
            lines.append(f"| {name} | `{method}` | " + " | ".join(cells) + " |")
    lines += ["", *(f"- `{method}`: {label}" for method, label in evaluation.FILL_METHODS.items())]
    write_section(out / "BENCHMARKS.md", "fill-holes", "\n".join(lines))


CUT_SETTINGS = ("auto", "off")


def cuts_section(out: Path, preset: str, quick: bool, resume: bool = False, threads: int = 1) -> None:
    """Fit every cut case with each of ``CUT_SETTINGS``; print and write ``cut_results.json`` and the "cuts"
    section: F@1% per setting, the planes auto used, and the largest loss of auto against off. ``resume``
    keeps the cases already in ``cut_results.json``."""
    from docsection import write_section

    overrides = QUICK_OVERRIDES if quick else {}
    samples = QUICK_SAMPLES if quick else 100_000
    path = out / "cut_results.json"
    kept = json.loads(path.read_text()) if resume and path.exists() else {}
    results = {}
    for case in evaluation.cut_cases():
        if case.name in kept:
            results[case.name] = kept[case.name]
            continue
        entry = results.setdefault(case.name, {"kind": case.kind})
        for setting in CUT_SETTINGS:
            config, prior = evaluation.settings(preset, "none", symmetry=setting, **overrides)
            run = evaluation.run_fit(config, prior, case, samples=samples)
            entry[setting] = {"scores": run.scores, "seconds": run.seconds}
            if setting == "auto":
                entry["planes"] = _planes(evaluation.prepare(case.observation, config).symmetry)
        print(f"{case.name}: F@1% auto {entry['auto']['scores']['fscore_1']:.3f}  off "
              f"{entry['off']['scores']['fscore_1']:.3f}  planes: {entry['planes'] or 'none'}", flush=True)
        path.write_text(json.dumps(results, indent=1))
    worst = min(e["auto"]["scores"]["fscore_1"] - e["off"]["scores"]["fscore_1"] for e in results.values())
    print(f"largest loss of auto against off: {-worst:.3f} F@1% (target at most 0.01)")
    quick_flag = " --quick" if quick else ""
    lines = ["## Scans cut by a plane (`scripts/benchmark.py --cuts`)", "",
             f"`python scripts/benchmark.py --cuts --preset {preset}{quick_flag}`, prior none, seed 0, "
             f"{threads} CPU thread(s), {samples:,} samples per surface. Symmetry `auto` against `off` on the same case. Cases: "
             f"{evaluation.CUT_SAMPLES:,} surface samples (points only) of a torus, a box, a mirror-symmetric "
             f"animal and an asymmetric blob, {evaluation.CUT_KEEP:.0%} kept below a plane across x, z and "
             "x+z (and half the torus below z = 0 and half the box below y = 0: cut at a mirror plane), and the "
             "torus seen only from above and from one side (2 depth views, points only). Planes: the planes "
             "`auto` used (normal, confidence).", "",
             "| case | F@1% auto | F@1% off | auto − off | planes used by auto |", "|---|---:|---:|---:|---|"]
    for name, entry in results.items():
        auto, off = entry["auto"]["scores"]["fscore_1"], entry["off"]["scores"]["fscore_1"]
        lines.append(f"| {name} | {auto:.3f} | {off:.3f} | {auto - off:+.3f} | {entry['planes'] or 'none'} |")
    lines += ["", f"Largest loss of `auto` against `off`: {max(0.0, -worst):.3f} F@1% (target: at most 0.01)."]
    write_section(out / "BENCHMARKS.md", "cuts", "\n".join(lines))


def _planes(symmetry: dict | None) -> str:
    """The planes of a ``Prepared.symmetry``, worded: normal (rounded) and confidence."""
    if not symmetry:
        return ""
    return "; ".join(f"n = ({', '.join(f'{v:.2f}' for v in plane['normal'])}), {plane['confidence']:.2f}"
                     for plane in [symmetry] + symmetry["more_planes"])


RENDER_PANELS = (("input", "input points"), ("none", "prior none"), ("collection", "collection prior"),
                 ("gt", "ground truth"))
"""Panels of the category renders: the first test instance of each category, in the collection's pose."""
RENDER_VIEW = np.array([-0.9, 1.4, 0.8])
"""The category renders look from behind and above: at the side the scans never saw."""


def categories_main(args: argparse.Namespace) -> int:
    """The category benchmark: run, print the tables and targets, write the results (and the report)."""
    import torch

    names = args.categories or list(CATEGORIES)
    methods = args.methods or list(category_bench.METHODS)
    unknown = [n for n in names if n not in CATEGORIES]
    problem = (f"unknown category {', '.join(unknown)}; choose from {', '.join(CATEGORIES)}" if unknown
               else f"--test-count must be at least 1, got {args.test_count}" if args.test_count < 1
               else f"--train-count must be at least 1, got {args.train_count}" if args.train_count < 1 else None)
    try:
        if problem:
            raise ValueError(problem)
        category_bench.methods_for(methods, names[0], args.category_priors)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    report = out.suffix != ".json"
    results_path = out / "category_results.json" if report else out
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results = (json.loads(results_path.read_text()) if (args.resume or args.report) and results_path.exists()
               else {})
    results["settings"] = {"preset": args.preset, "quick": args.quick, "train_count": args.train_count,
                           "test_count": args.test_count, "views": args.views, "threads": args.threads,
                           "collection_priors": {name: found.name for name in names
                                                 if (found := category_bench.prior_file(args.category_priors, name))}}
    overrides = QUICK_OVERRIDES if args.quick else {}
    samples = QUICK_SAMPLES if args.quick else 100_000
    render = report and not args.no_render and (not args.report or args.work is not None)
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(args.work or temporary)
        work.mkdir(parents=True, exist_ok=True)

        def keep(case, method: str, run) -> None:
            if render and case.variant == "plain" and case.seed == category_bench.TEST_FIRST_SEED:
                np.savez(work / f"{_slug(case.name)}__{method}.npz", vertices=run.vertices, faces=run.faces)

        def save(results: dict) -> None:
            results_path.write_text(json.dumps(results, indent=1))

        try:
            if args.report:
                results["summary"] = category_bench.summary(results)
                results["targets"] = category_bench.targets(results)
                save(results)
            else:
                category_bench.run_benchmark(
                    names, methods, results, save, args.category_priors, args.train_count, args.test_count,
                    args.preset, samples, lambda line: print(line, flush=True), keep, args.views, **overrides)
        except (InputError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        tables = category_bench.tables(results)
        print("\n".join(tables))
        renders = (render_categories(names, args.views, work, out / "img") if render else
                   [path for name in names if (path := out / "img" / f"category_render_{name}.png").exists()])
    if report:
        write_categories_section(out, tables, renders, args)
    print(f"wrote {results_path}")
    return 0


def render_categories(names: list[str], views: int, work: Path, img: Path) -> list[Path]:
    """``RENDER_PANELS`` of the first test instance of each category."""
    img.mkdir(parents=True, exist_ok=True)
    written = []
    for case in (category_bench.category_cases(name, 1, views)[0] for name in names):
        out = img / f"category_render_{case.category}.png"
        if render_case(case, ("none", "collection"), work, out, panels=np.array([k for k, _ in RENDER_PANELS]),
                       labels=np.array([label for _, label in RENDER_PANELS]), view=RENDER_VIEW):
            written.append(out)
    return written


def write_categories_section(out: Path, tables: list[str], renders: list[Path], args: argparse.Namespace) -> None:
    """The "categories" section of ``OUT/BENCHMARKS.md``."""
    from docsection import write_section

    quick = " --quick" if args.quick else ""
    lines = ["## Category benchmark (`scripts/benchmark.py --categories`)", "",
             f"`python scripts/benchmark.py --categories --category-priors DIR --preset {args.preset}"
             f" --train-count {args.train_count} --test-count {args.test_count} --views {args.views}{quick}`. "
             f"Test instances (seeds from {category_bench.TEST_FIRST_SEED}) of each procedural category, "
             f"never a training seed (0 .. {args.train_count - 1}), scanned as users scan: "
             f"{args.views} depth view(s) from the front and above, points only, so the back and the "
             "underside are never seen. `posed`: the same scans rotated (uniformly at random, at least "
             f"{category_bench.MIN_ROTATION:.0f}°), scaled ({category_bench.SCALES[0]}-{category_bench.SCALES[1]}x) "
             "and moved against the collection's pose, scored back in the collection's frame. Means over the "
             "test instances; distances are fractions of the ground truth's longest side; missing recall: the "
             "share of the ground truth farther than 2% from every observed point that the result comes within "
             f"1% of. {args.threads} CPU thread(s) per fit.", "",
             *tables,
             *(f"![{path.stem}](img/{path.name})" for path in renders), "",
             *(f"- `{method}`: {label}" for method, label in category_bench.METHODS.items())]
    write_section(out / "BENCHMARKS.md", "categories", "\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.categories is not None:
        return categories_main(args)
    if args.cuts:
        import torch

        torch.set_num_threads(args.threads)
        Path(args.out).mkdir(parents=True, exist_ok=True)
        cuts_section(Path(args.out), args.preset, args.quick, args.resume, args.threads)
        return 0
    if args.fill_holes:
        import torch

        torch.set_num_threads(args.threads)
        try:
            fill_holes_section(args.data, Path(args.out))
        except InputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0
    try:
        methods = evaluation.available_methods(
            args.methods or (QUICK_METHODS if args.quick else evaluation.DEFAULT_METHODS))
        cases = evaluation.generated_cases() if args.quick else evaluation.data_cases(args.data)
    except (InputError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.cases:
        cases = [c for c in cases if any(part in c.name for part in args.cases)]
    import torch

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    img = out / "img"
    img.mkdir(parents=True, exist_ok=True)
    results_path = out / "benchmark_results.json"
    resume = args.resume or args.report
    results = json.loads(results_path.read_text()) if resume and results_path.exists() else {}
    overrides = QUICK_OVERRIDES if args.quick else {}
    samples = QUICK_SAMPLES if args.quick else 100_000
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(args.work or temporary)
        work.mkdir(parents=True, exist_ok=True)
        if not args.report:
            run_all(cases, methods, results, results_path, samples, overrides, work)
        shown = tuple(c.name for c in cases) if args.quick else RENDER_CASES
        shown = tuple(n for n in shown if n in results)
        renders = ([p for n in shown if (p := img / f"eval_render_{_slug(n)}.png").exists()] if args.no_render
                   else render(cases, shown, work, img))

    from benchmark_report import write_report

    command = "python scripts/benchmark.py " + ("--quick" if args.quick else "--data DATA --out docs/")
    write_report(results, cases, out, img, renders, command, args.threads, samples)
    failures = sum("error" in entry for per_case in results.values() for entry in per_case.values())
    print(f"wrote {out / 'BENCHMARKS.md'} ({failures} failed run(s))")
    return 0


if __name__ == "__main__":
    sys.exit(main())
