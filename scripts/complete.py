"""Complete partial scans into closed meshes, or fill a mesh's holes only, from the command line.

    python scripts/complete.py INPUT [INPUT ...] -o OUTPUT [options]
    python scripts/complete.py --mode fill-holes MESH [MESH ...] -o OUTPUT [--keep-open {largest,planar,none}]
        [--max-hole-size SIZE] [--max-hole-percent PERCENT] [options]
    blender -b -P scripts/complete.py -- INPUT [INPUT ...] -o OUTPUT [options]
    blender -b -P scripts/complete.py -- --blend FILE.blend --object NAME --save OUT.blend [options]

OUTPUT is a ``.ply`` / ``.obj`` file for one input, or a folder for several (``<name>_completed.ply``;
inputs that share a name get ``<name>_2_completed.ply``, ...; with ``--mode fill-holes``
``<name>_filled.ply`` or ``.obj``, the input's format). Every option and path is checked before
any work. Exit status: 0 when every input was completed, 1 when any failed, 2 for invalid options or
paths, 130 when interrupted by Ctrl-C (SIGINT), 143 when stopped by SIGTERM.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import sys
from pathlib import Path

# Set before torch loads OpenMP: spinning worker threads make fits many times slower on a busy machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Inside Blender (blender -b -P), also look where NeuRep's Install PyTorch button put torch; name what is missing.
from neurep_addon.setup.dependencies import require_for_script  # noqa: E402  (needs neither bpy nor torch)

require_for_script()

from neurep_addon.core.config import (PRESETS, SETTINGS, FitConfig, NetworkConfig, check_seed,  # noqa: E402
                                      flag, settings_of)
from neurep_addon.core.errors import ConfigError, InputError, NeuRepError, OutputError  # noqa: E402
from neurep_addon.core.fit import resolve_device  # noqa: E402
from neurep_addon.core.io import (MESH_SUFFIXES, READ_SUFFIXES, WRITE_SUFFIXES, check_writable,  # noqa: E402
                                  write_json)
from neurep_addon.core.fit_settings import settings  # noqa: E402
from neurep_addon.core.completion import check_steps  # noqa: E402
from neurep_addon.jobs import wording  # noqa: E402
from neurep_addon.jobs.cases import file_case  # noqa: E402
from neurep_addon.jobs.kinds import Mode  # noqa: E402
from neurep_addon.jobs.naming import LABELS, result_file_names  # noqa: E402

FLAGS = {name: flag(name) for name, declared in SETTINGS.items() if declared.cli}
"""The command-line flag of each core setting a ``ConfigError`` may name."""
FIT_OPTIONS = {name: default for config, default in ((FitConfig, "the preset's"),
                                                      (NetworkConfig, "the prior's, or the preset's"))
               for name, declared in settings_of(config).items() if declared.cli}
"""The config fields on the command line (those with ``Setting.cli``), each with what it defaults to."""


FILL_ONLY = ("max_hole_size", "keep_open", "max_hole_percent")
"""The settings only ``--mode fill-holes`` reads."""


def add_setting(parser, name: str, more_help: str = "", **options) -> None:
    """The option of the setting ``name``: its flag, help and choices from ``config.SETTINGS``."""
    declared = SETTINGS[name]
    parser.add_argument(flag(name), help=declared.help + more_help, choices=declared.choices or None, **options)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="complete.py", description="Complete partial 3D scans into closed meshes (NeuRep).",
        epilog=f"Readable inputs: {' '.join(READ_SUFFIXES)}. Writable outputs: {' '.join(WRITE_SUFFIXES)}.")
    parser.add_argument("inputs", nargs="*", metavar="INPUT", help="scan or mesh files to complete")
    parser.add_argument("-o", "--output", help="output mesh file (one input) or folder (several inputs)")
    parser.add_argument("--mode", choices=[mode.value for mode in Mode], default=Mode.COMPLETE.value,
                        help="complete: a new closed mesh from the scan; fill-holes: keep every face of a mesh "
                             "and add patches where it is open (default: %(default)s)")
    add_setting(parser, "max_hole_size", " (the input's units)", type=float, metavar="SIZE")
    add_setting(parser, "preset", " (default: %(default)s)", default="default")
    add_setting(parser, "prior", "; several, comma-separated, are candidates and each input starts from the one "
                "that suits it best (default: %(default)s)", default="default", metavar="{default,none,PATH}[,...]")
    defaults = {field.name: field.default for config in (FitConfig, NetworkConfig)
                for field in dataclasses.fields(config)}
    for name, default in FIT_OPTIONS.items():
        if name in FitConfig.__dataclass_fields__ and len({getattr(c, name) for c in PRESETS.values()}) == 1:
            default = getattr(PRESETS["default"], name)  # no preset changes it
        add_setting(parser, name, f" (default: {default})", type=type(defaults[name]))
    parser.add_argument("--keep-small-parts", action="store_true",
                        help="keep small floating components instead of dropping them")
    add_setting(parser, "device", " (default: %(default)s)", default="auto")
    add_setting(parser, "seed", " (default: %(default)s)", type=int, default=0)
    parser.add_argument("--report", metavar="FILE.json", help="write per-input figures to this JSON file")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    blend = parser.add_argument_group("inside a .blend file (needs Blender: bpy or blender -b)")
    blend.add_argument("--blend", metavar="FILE", help="open this .blend file")
    blend.add_argument("--object", action="append", metavar="NAME",
                       help="object(s) to complete, merged into one observation (repeatable)")
    blend.add_argument("--save", metavar="OUT.blend", help="save the file with the completed object here")
    args = parser.parse_args(argv)
    args.mode = Mode(args.mode)

    for name in FILL_ONLY:
        if getattr(args, name) is not None and args.mode is not Mode.FILL_HOLES:
            parser.error(f"{flag(name)} applies to --mode fill-holes")
    if args.blend:
        if args.mode is Mode.FILL_HOLES:
            parser.error("--mode fill-holes reads mesh files; inside a .blend file only --mode complete runs")
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
        if len(args.inputs) > 1 and output.suffix.lower() in READ_SUFFIXES:  # res.stl: a file, not a folder
            parser.error(f"{len(args.inputs)} inputs need an output folder, not the file {output}")
        if len(args.inputs) == 1 and output.suffix and output.suffix.lower() not in WRITE_SUFFIXES:
            parser.error(f"cannot write {output.suffix!r}; use one of {', '.join(WRITE_SUFFIXES)}")
    return args


def check_options(args: argparse.Namespace):
    """The fit settings and prior, once every option is valid (``ConfigError``, ``PriorError``)."""
    if args.steps is not None:
        check_steps(args.steps)
    if args.max_hole_size is not None and not args.max_hole_size > 0:  # NaN too
        raise ConfigError("max_hole_size", f"must be a positive size in the input's units, got {args.max_hole_size}")
    check_seed(args.seed)
    resolve_device(args.device)
    return settings(args.preset, args.prior, **{name: getattr(args, name) for name in FIT_OPTIONS},
                    min_component_fraction=0.0 if args.keep_small_parts else None)


def output_paths(inputs: list[str], output: str, mode: Mode = Mode.COMPLETE) -> list[Path]:
    """Where each input's result goes, checked before any work (``InputError``, ``OutputError``).

    One input and a ``.ply``/``.obj`` OUTPUT: that file. Otherwise the folder OUTPUT, with the names of
    ``naming.result_file_names``; it is made if its parent exists. An input given twice, an input that is
    not a mesh format when filling holes, or an output that would overwrite an input, is refused.
    """
    sources = [Path(i) for i in inputs]
    if mode is Mode.FILL_HOLES:
        for source in sources:
            if source.suffix.lower() not in MESH_SUFFIXES:
                raise InputError(f"{source}: --mode fill-holes keeps a mesh's faces, so it needs a mesh "
                                 f"({', '.join(MESH_SUFFIXES)}); for points, use --mode complete")
    for later, source in enumerate(sources):
        for earlier in sources[:later]:
            if same_file(source, earlier):
                also = f" (also as {earlier})" if str(earlier) != str(source) else ""
                raise InputError(f"{source} is given twice{also}; give each input once")
    out = Path(output)
    if len(sources) == 1 and out.suffix.lower() in WRITE_SUFFIXES:
        destinations = [check_writable(out)]
    elif out.exists() and not out.is_dir():
        raise OutputError(f"{out}: exists and is not a folder; {len(sources)} input(s) need an output folder")
    else:
        destinations = [out / name for name in result_file_names(sources, mode)]
        if out.is_dir():
            for destination in destinations:
                check_writable(destination)
        else:  # a new folder, made once every check has passed
            check_writable(out, suffixes=None)
    for destination in destinations:
        for source in sources:
            if same_file(destination, source):
                raise OutputError(f"{destination}: is the input {source}; writing it would overwrite the scan")
    return destinations


def check_report(report: str, inputs: list[str], outputs: list[Path], new_folder: Path | None) -> None:
    """``OutputError`` unless the report can be written without overwriting an input or an output.

    A report inside ``new_folder``, the output folder about to be made, needs only that folder's check.
    """
    if new_folder is None or Path(report).parent.resolve() != new_folder.resolve():
        check_writable(report, suffixes=None)
    for other in [*map(Path, inputs), *outputs]:
        if same_file(Path(report), other):
            raise OutputError(f"{report}: is also {other}; give the report its own file")


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file (through links, ``..`` or a second hard link)."""
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


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


def say_result(name: str, destination: str, stats: dict) -> None:
    """The remarks (mirror plane, notes), then the result line."""
    for remark in wording.remarks(stats):
        print(f"  note: {remark}")
    print(f"{name} -> {destination}: {wording.result_line(stats)}")


def run_files(args: argparse.Namespace, destinations: list[Path], config, prior) -> list[dict]:
    """Complete (or fill) every input in turn; a failure is recorded and the batch goes on."""
    results = []
    for source, destination in zip(args.inputs, destinations):
        record = {"input": source, "output": str(destination), "ok": False}
        bar = ProgressBar(Path(source).name, not args.quiet)
        try:
            case = file_case(args.mode, source, destination, config, prior, args.device, args.seed,
                             args.max_hole_size)
            figures = case.run(progress=bar)
            bar.close()
            record.update(ok=True, **figures)
            say_result(Path(source).name, str(destination), figures)
        except Exception as exc:  # noqa: BLE001 - one input's failure, expected or not, must not end the batch
            bar.close()
            record["error"] = failure(exc)
            print(f"{Path(source).name}: error: {record['error']}", file=sys.stderr)
        results.append(record)
    return results


def run_blend(args: argparse.Namespace, objects: list, config, prior) -> list[dict]:
    """Complete ``objects`` of the open .blend file (``batch.open_objects``) and save the copy."""
    from neurep_addon.blender.batch import complete_objects

    bar = ProgressBar(Path(args.blend).name, not args.quiet)
    record = {"input": args.blend, "objects": args.object, "output": args.save, "ok": False}
    try:
        stats = complete_objects(objects, args.save, config, prior, device=args.device, seed=args.seed,
                                 progress=bar)
        bar.close()
        record.update(ok=True, **stats)
        say_result(Path(args.blend).name, f"{args.save} ({stats.get('object', '?')})", stats)
    except Exception as exc:  # noqa: BLE001 - reported like a batch input's failure
        bar.close()
        record["error"] = failure(exc)
        print(f"{Path(args.blend).name}: error: {record['error']}", file=sys.stderr)
    return [record]


def failure(exc: Exception) -> str:
    """The message for a failed input: the core's own words, or the unexpected exception named as a bug."""
    if isinstance(exc, NeuRepError):
        return str(exc)
    return f"unexpected {type(exc).__name__}: {exc} (a bug in NeuRep; please report it with the input)"


def prepare(args: argparse.Namespace):
    """Settings, prior, output paths and, with ``--blend``, the file's objects (the file is opened), every one
    checked before any work; raises ``NeuRepError``. Returns (config, prior, destinations, objects)."""
    config, prior = check_options(args)
    objects = None
    if args.blend:
        from neurep_addon.blender.batch import open_objects

        destinations = [check_writable(args.save, (".blend",))]
        if same_file(Path(args.save), Path(args.blend)):
            raise OutputError(f"{args.save}: is the input {args.blend}; save the result to another file")
        objects = open_objects(args.blend, args.object)
        inputs = [args.blend]
    else:
        destinations, inputs = output_paths(args.inputs, args.output, args.mode), args.inputs
    new_folder = None if destinations[0].parent.is_dir() else destinations[0].parent
    if args.report:
        check_report(args.report, inputs, destinations, new_folder)
    if new_folder is not None:
        new_folder.mkdir()
    return config, prior, destinations, objects


def main(argv: list[str]) -> int:
    try:
        args = parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage and the problem
        return exc.code
    try:
        try:
            config, prior, destinations, objects = prepare(args)
        except ConfigError as exc:
            print(f"error: {exc.describe(FLAGS.get(exc.setting, exc.setting))}", file=sys.stderr)
            return 2
        except (NeuRepError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        results = run_blend(args, objects, config, prior) if args.blend else run_files(args, destinations, config, prior)
        failed = sum(not r["ok"] for r in results)
        if len(results) > 1:
            print(f"{len(results) - failed} of {len(results)} {LABELS[args.mode]}"
                  + (f", {failed} failed" if failed else ""))
        if args.report:
            write_json(args.report, results)
    except OutputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        print("interrupted: the input in progress was not written, nor the report", file=sys.stderr)
        return 128 + getattr(exc, "signum", signal.SIGINT)
    return 1 if failed else 0


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would be, so that temporary files are removed on the way out; the exit
    status is then 128 + ``signum`` (143), as a shell reports a process the signal ended."""

    signum = signal.SIGTERM


def stop(signum: int, frame) -> None:
    raise Terminated


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, stop)
    argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
    code = main(argv)
    if code in (128 + signal.SIGINT, 128 + signal.SIGTERM):
        # Interrupted inside the numeric libraries, the interpreter's teardown could crash (SIGSEGV, seen
        # one time in four when the signal came while normals were being estimated). Everything is cleaned
        # up and said by now, so leave without that teardown.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
