"""Complete partial scans into closed meshes from the command line.

    python scripts/complete.py INPUT [INPUT ...] -o OUTPUT [options]
    blender -b -P scripts/complete.py -- INPUT [INPUT ...] -o OUTPUT [options]
    blender -b -P scripts/complete.py -- --blend FILE.blend --object NAME --save OUT.blend [options]

OUTPUT is a ``.ply`` / ``.obj`` file for one input, or a folder for several (``<name>_completed.ply``).
Exit status: 0 when every input was completed, 1 when any failed, 2 for invalid options.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

# Set before torch loads OpenMP: spinning worker threads make fits many times slower on a busy machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from neurep_addon.core.config import DEVICES, ENCODINGS, PRESETS  # noqa: E402
from neurep_addon.core.errors import NeuRepError  # noqa: E402
from neurep_addon.core.io import READ_SUFFIXES, WRITE_SUFFIXES, read_observation, write_mesh  # noqa: E402
from neurep_addon.core.pipeline import complete, settings  # noqa: E402


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="complete.py", description="Complete partial 3D scans into closed meshes (NeuRep).",
        epilog=f"Readable inputs: {' '.join(READ_SUFFIXES)}. Writable outputs: {' '.join(WRITE_SUFFIXES)}.")
    parser.add_argument("inputs", nargs="*", metavar="INPUT", help="scan or mesh files to complete")
    parser.add_argument("-o", "--output", help="output mesh file (one input) or folder (several inputs)")
    parser.add_argument("--preset", choices=list(PRESETS), default="default",
                        help="speed/quality trade-off (default: %(default)s)")
    parser.add_argument("--prior", default="default", metavar="{default,none,PATH}",
                        help="initialisation: the shipped prior, random weights, or a prior file "
                             "(default: %(default)s)")
    parser.add_argument("--encoding", choices=ENCODINGS, help="network type (default: the prior's, or siren)")
    parser.add_argument("--width", type=int, help="hidden units per layer")
    parser.add_argument("--depth", type=int, help="hidden layers")
    parser.add_argument("--steps", type=int, help="optimisation steps (overrides the preset)")
    parser.add_argument("--points-per-step", type=int, help="observed points drawn per step")
    parser.add_argument("--resolution", type=int, help="marching-cubes grid resolution")
    parser.add_argument("--keep-small-parts", action="store_true",
                        help="keep small floating components instead of dropping them")
    parser.add_argument("--device", default="auto", choices=DEVICES,
                        help="where to fit (default: %(default)s = CUDA, then MPS, then CPU)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    parser.add_argument("--report", metavar="FILE.json", help="write per-input figures to this JSON file")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    blend = parser.add_argument_group("inside a .blend file (needs Blender: bpy or blender -b)")
    blend.add_argument("--blend", metavar="FILE", help="open this .blend file")
    blend.add_argument("--object", action="append", metavar="NAME",
                       help="object(s) to complete, merged into one observation (repeatable)")
    blend.add_argument("--save", metavar="OUT.blend", help="save the file with the completed object here")
    args = parser.parse_args(argv)

    if args.blend:
        if args.inputs or args.output:
            parser.error("--blend completes objects inside a .blend file; give no INPUT/-o with it")
        if not args.object or not args.save:
            parser.error("--blend needs --object NAME and --save OUT.blend")
    else:
        if not args.inputs:
            parser.error("give at least one INPUT file (or --blend FILE)")
        if not args.output:
            parser.error("give -o OUTPUT (a .ply/.obj file, or a folder for several inputs)")
        output = Path(args.output)
        if len(args.inputs) > 1 and output.suffix.lower() in WRITE_SUFFIXES:
            parser.error(f"{len(args.inputs)} inputs need an output folder, not the file {output}")
        if len(args.inputs) == 1 and output.suffix and output.suffix.lower() not in WRITE_SUFFIXES:
            parser.error(f"cannot write {output.suffix!r}; use one of {', '.join(WRITE_SUFFIXES)}")
    return args


def output_paths(inputs: list[str], output: str) -> list[Path]:
    """Where each input's result goes: the file itself, or ``<folder>/<stem>_completed.ply``."""
    out = Path(output)
    if len(inputs) == 1 and out.suffix.lower() in WRITE_SUFFIXES:
        return [out]
    return [out / f"{Path(i).stem}_completed.ply" for i in inputs]


class ProgressBar:
    """A one-line progress bar on a terminal; silent when stderr is not a terminal."""

    def __init__(self, label: str, enabled: bool) -> None:
        self.label, self.enabled = label, enabled and sys.stderr.isatty()

    def __call__(self, info) -> None:
        if not self.enabled:
            return
        filled = int(30 * info.step / info.total_steps)
        sys.stderr.write(f"\r{self.label} [{'#' * filled}{'.' * (30 - filled)}] {info.step}/{info.total_steps} "
                         f"loss {info.loss:.4f} eta {info.eta:4.0f}s ")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def summary_line(name: str, destination: str, stats: dict) -> str:
    seconds = sum(stats["seconds"].values())
    closed = "watertight" if stats["watertight"] else "NOT watertight"
    return (f"{name} -> {destination}: {stats['points']:,} points ({stats['normals']} normals), "
            f"{stats['steps']} steps, {seconds:.1f} s, {stats['vertices']:,} vertices, "
            f"{stats['faces']:,} faces, {stats['components']} component(s), {closed}")


def run_files(args: argparse.Namespace, config, prior) -> list[dict]:
    results = []
    destinations = output_paths(args.inputs, args.output)
    if len(args.inputs) > 1:
        Path(args.output).mkdir(parents=True, exist_ok=True)
    for source, destination in zip(args.inputs, destinations):
        record = {"input": source, "output": str(destination), "ok": False}
        bar = ProgressBar(Path(source).name, not args.quiet)
        try:
            clock = time.perf_counter()
            observation = read_observation(source, seed=args.seed)
            read_seconds = time.perf_counter() - clock
            result = complete(observation, config, prior, device=args.device, seed=args.seed, progress=bar)
            bar.close()
            clock = time.perf_counter()
            write_mesh(destination, result.vertices, result.faces)
            stats = result.stats.to_dict()
            stats["seconds"] = {"read": round(read_seconds, 3), **stats["seconds"],
                                "write": round(time.perf_counter() - clock, 3)}
            record.update(ok=True, notes=list(result.notes), **stats)
            for note in result.notes:
                print(f"  note: {note}")
            print(summary_line(Path(source).name, str(destination), stats))
        except NeuRepError as exc:
            bar.close()
            record["error"] = str(exc)
            print(f"{Path(source).name}: error: {exc}", file=sys.stderr)
        results.append(record)
    return results


def run_blend(args: argparse.Namespace, config, prior) -> list[dict]:
    from neurep_addon.blender.batch import complete_objects_in_blend

    bar = ProgressBar(Path(args.blend).name, not args.quiet)
    record = {"input": args.blend, "objects": args.object, "output": args.save, "ok": False}
    try:
        stats = complete_objects_in_blend(args.blend, args.object, args.save, config, prior,
                                          device=args.device, seed=args.seed, progress=bar)
        bar.close()
        record.update(ok=True, **stats)
        print(summary_line(Path(args.blend).name, f"{args.save} ({stats.get('object', '?')})", stats))
    except NeuRepError as exc:
        bar.close()
        record["error"] = str(exc)
        print(f"{Path(args.blend).name}: error: {exc}", file=sys.stderr)
    return [record]


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        config, prior = settings(
            args.preset, args.prior, encoding=args.encoding, width=args.width, depth=args.depth,
            steps=args.steps, points_per_step=args.points_per_step, resolution=args.resolution,
            min_component_fraction=0.0 if args.keep_small_parts else None)
    except (ValueError, NeuRepError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    results = run_blend(args, config, prior) if args.blend else run_files(args, config, prior)
    if args.report:
        Path(args.report).write_text(json.dumps(results, indent=2))
    failed = sum(not r["ok"] for r in results)
    if len(results) > 1:
        print(f"{len(results) - failed} of {len(results)} completed" + (f", {failed} failed" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
    sys.exit(main(argv))
