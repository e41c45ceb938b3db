"""Engine benchmark: step time per encoding and width, sparse vs dense extraction, seconds per preset.

    python scripts/bench_engine.py [--data ../shared/data] [--out docs] [--repeats 10]

Prints the figures, writes ``<out>/bench_engine.json`` and the "engine" section of
``<out>/BENCHMARKS.md``. The end-to-end scan is a 30,000-point, points-only, three-view depth scan of
the public-domain "spot" mesh from ``--data`` (or of a generated torus when the data is absent),
scored against the complete mesh with ``core.metrics``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import trimesh  # noqa: E402

from scripts.docsection import write_section  # noqa: E402
from neurep_addon.core.config import preset  # noqa: E402
from neurep_addon.core.extract import dense_grid, sparse_grid  # noqa: E402
from neurep_addon.core.fit import FitSession  # noqa: E402
from neurep_addon.evaluation.metrics import evaluate  # noqa: E402
from neurep_addon.core.normals import in_box  # noqa: E402
from neurep_addon.core.observation import Observation  # noqa: E402
from neurep_addon.core.fit_settings import settings  # noqa: E402
from neurep_addon.core.completion import complete  # noqa: E402
from neurep_addon.core.prior_io import DEFAULT_PRIOR_PATH  # noqa: E402
from neurep_addon.tasks.synth import depth_scan  # noqa: E402

SCAN_POINTS = 30_000
SCAN_VIEWS = np.array([[1.0, 0.3, 0.5], [-0.6, -0.2, 0.8], [0.1, 0.9, -0.6]])


def scan_case(data: Path) -> tuple[str, trimesh.Trimesh, Observation]:
    """The benchmark scan: (name, complete mesh, 30k-point points-only observation)."""
    spot = data / "meshes" / "odedstein_spot_low_resolution.obj"
    if spot.is_file():
        mesh = trimesh.load(spot, process=False)
        mesh.merge_vertices()
        name = "spot (3-view scan)"
    else:
        mesh = trimesh.creation.torus(major_radius=1.0, minor_radius=0.4)
        name = "torus (3-view scan, generated)"
    rng = np.random.default_rng(0)
    scan = depth_scan(mesh, SCAN_VIEWS, rng, resolution=256)
    keep = rng.choice(len(scan.points), size=min(SCAN_POINTS, len(scan.points)), replace=False)
    return name, mesh, Observation(scan.points[keep])


def synchronize(device: str) -> None:
    """Wait for queued GPU work, so that a timing covers it."""
    if device == "cuda":
        torch.cuda.synchronize()


def step_times(observation: Observation, repeats: int, device: str = "cpu") -> list[dict]:
    """Median seconds per optimisation step (default batch size) for each encoding and width."""
    _, points, normals = in_box(observation)
    rows = []
    for encoding in ("siren", "fourier", "relu"):
        for width in (64, 128, 256):
            config = preset("default", encoding=encoding, width=width)
            session = FitSession(points, normals, config, device=device, seed=0)
            session.step()  # warm-up
            times = []
            for _ in range(repeats):
                synchronize(device)
                clock = time.perf_counter()
                session.step()
                synchronize(device)
                times.append(time.perf_counter() - clock)
            rows.append({"encoding": encoding, "width": width, "depth": config.network.depth,
                         "points_per_step": config.points_per_step, "seconds_per_step": float(np.median(times))})
            print(f"step  {encoding:8s} width {width:4d}: {rows[-1]['seconds_per_step'] * 1000:7.1f} ms")
    return rows


def extraction(observation: Observation, device: str = "cpu") -> list[dict]:
    """Sparse vs dense extraction of a network fitted to the scan (default preset, random init)."""
    _, points, normals = in_box(observation)
    session = FitSession(points, normals, preset("default"), device=device, seed=0)
    session.run()
    rows = []
    for resolution in (128, 256):
        result = {"resolution": resolution}
        for name, build in (("sparse", sparse_grid), ("dense", dense_grid)):
            clock = time.perf_counter()
            grid = build(session.sdf, resolution)
            result[f"{name}_seconds"] = time.perf_counter() - clock
            result[f"{name}_evaluations"] = grid.evaluations
            result[f"{name}_negative"] = int((grid.values < 0).sum())
        result["fraction"] = result["sparse_evaluations"] / result["dense_evaluations"]
        rows.append(result)
        print(f"extract {resolution}: sparse {result['sparse_evaluations']:,} evals {result['sparse_seconds']:.1f} s, "
              f"dense {result['dense_evaluations']:,} evals {result['dense_seconds']:.1f} s "
              f"({result['fraction']:.1%})")
    return rows


def end_to_end(name: str, mesh: trimesh.Trimesh, observation: Observation, device: str = "cpu") -> list[dict]:
    """Scan -> mesh seconds and quality per preset, with the default prior and with random init."""
    priors = ["default", "none"] if DEFAULT_PRIOR_PATH.is_file() else ["none"]
    rows = []
    for preset_name in ("fast", "default", "quality"):
        for prior_spec in priors:
            config, prior = settings(preset_name, prior_spec)
            clock = time.perf_counter()
            result = complete(observation, config, prior, device=device, seed=0)
            seconds = time.perf_counter() - clock
            scores = evaluate(result.vertices, result.faces, mesh.vertices, mesh.faces,
                              observed_points=observation.points)
            rows.append({"case": name, "preset": preset_name, "prior": prior_spec, "seconds": seconds,
                         "phases": result.stats.seconds, "steps": result.stats.steps,
                         "vertices": result.stats.vertices, "components": result.stats.components,
                         "watertight": result.stats.watertight,
                         **{k: scores[k] for k in ("chamfer_l1", "fscore_1", "missing_recall_1")}})
            print(f"e2e   {preset_name:8s} prior {prior_spec:8s}: {seconds:6.1f} s  chamfer-L1 "
                  f"{scores['chamfer_l1']:.4f}  F@1% {scores['fscore_1']:.3f}  components {rows[-1]['components']}")
    return rows


def markdown(results: dict) -> str:
    env = results["environment"]
    lines = [
        f"Written by `scripts/bench_engine.py --device {env.get('device', 'cpu')}`. "
        f"{env.get('gpu') or 'CPU'}: {env['cpu_count']} CPU cores, torch {env['torch']} ({env['threads']} threads), "
        f"measured {env['date']}. "
        "Step times are medians; machines here are shared, so compare rows of one run.",
        "", "**Seconds per optimisation step** (default batch: "
        f"{results['steps'][0]['points_per_step']} observed + as many band/free points, depth 3)", "",
        "| encoding | width 64 | width 128 | width 256 |", "|---|---:|---:|---:|"]
    for encoding in ("siren", "fourier", "relu"):
        cells = [f"{r['seconds_per_step'] * 1000:.1f} ms" for r in results["steps"] if r["encoding"] == encoding]
        lines.append(f"| {encoding} | " + " | ".join(cells) + " |")
    lines += ["", "**Extraction: sparse coarse-to-fine vs dense** (a SIREN fitted to the scan)", "",
              "| resolution | sparse evaluations | dense evaluations | fraction | sparse s | dense s |",
              "|---:|---:|---:|---:|---:|---:|"]
    for r in results["extraction"]:
        lines.append(f"| {r['resolution']} | {r['sparse_evaluations']:,} | {r['dense_evaluations']:,} | "
                     f"{r['fraction']:.1%} | {r['sparse_seconds']:.1f} | {r['dense_seconds']:.1f} |")
    case = results["end_to_end"][0]["case"]
    lines += ["", f"**Scan -> mesh, {SCAN_POINTS:,}-point points-only scan: {case}** "
              "(seconds include normal estimation, fit and extraction; quality by `core.metrics`)", "",
              "| preset | prior | steps | seconds | fit s | extract s | chamfer-L1 | F-score 1% | missing recall 1% | components | watertight |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in results["end_to_end"]:
        lines.append(f"| {r['preset']} | {r['prior']} | {r['steps']} | {r['seconds']:.1f} | {r['phases']['fit']:.1f} | "
                     f"{r['phases']['extract']:.1f} | {r['chamfer_l1']:.4f} | {r['fscore_1']:.3f} | "
                     f"{r['missing_recall_1']:.3f} | {r['components']} | {r['watertight']} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parent.parent.parent / "shared" / "data"))
    parser.add_argument("--out", default="docs")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--skip", nargs="*", default=[], choices=["steps", "extraction", "end_to_end"])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                        help="cuda writes bench_engine_cuda.json and the 'engine-cuda' section")
    args = parser.parse_args()
    suffix = "" if args.device == "cpu" else f"_{args.device}"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name, mesh, observation = scan_case(Path(args.data))
    print(f"scan: {name}, {len(observation.points):,} points")
    results_path = out / f"bench_engine{suffix}.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    results["environment"] = {"cpu_count": os.cpu_count(), "torch": torch.__version__,
                              "threads": torch.get_num_threads(), "python": platform.python_version(),
                              "date": time.strftime("%Y-%m-%d"), "device": args.device,
                              "gpu": torch.cuda.get_device_name() if args.device == "cuda" else None}
    if "steps" not in args.skip:
        results["steps"] = step_times(observation, args.repeats, args.device)
    if "extraction" not in args.skip:
        results["extraction"] = extraction(observation, args.device)
    if "end_to_end" not in args.skip:
        results["end_to_end"] = end_to_end(name, mesh, observation, args.device)
    results_path.write_text(json.dumps(results, indent=2))
    write_section(out / "BENCHMARKS.md", f"engine{suffix.replace('_', '-')}", markdown(results))
    print(f"wrote {results_path} and the engine section of {out / 'BENCHMARKS.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
