"""Validate the extension and build its installable zip (what Blender's "Install from Disk" takes).

    python scripts/build_extension.py [--output-dir dist] [--blender BLENDER] [--split-platforms]

The zip holds ``__init__.py``, ``blender_manifest.toml``, ``LICENSE`` and ``neurep_addon/`` (see the
manifest's ``[build]``). It uses Blender's own extension tool: ``BLENDER --command extension ...`` when
``--blender`` is given, else the same tool shipped inside the ``bpy`` module, run with this Python.
``--split-platforms`` builds one zip per platform of the manifest (``neurep-<version>-linux_x64.zip``, ...),
each declaring only its own platform, so Blender offers each user the right one.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def extension_tool(blender: str | None) -> list[str]:
    """The command line prefix of Blender's extension tool (``... validate`` / ``... build``)."""
    if blender:
        return [blender, "--factory-startup", "--command", "extension"]
    spec = importlib.util.find_spec("bpy")
    if spec is None or spec.origin is None:
        raise SystemExit("error: neither --blender nor the bpy module is available")
    tools = sorted(Path(spec.origin).parent.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    if not tools:
        raise SystemExit(f"error: Blender's extension tool was not found under {Path(spec.origin).parent}")
    return [sys.executable, str(tools[-1])]


def build(output_dir: str | Path = ROOT / "dist", blender: str | None = None) -> Path:
    """Validate the manifest, build the zip for all platforms into ``output_dir`` and return its path."""
    output_dir = Path(output_dir).resolve()
    output_dir.mkdir(parents=True, exist_ok=True)
    manifest = tomllib.loads((ROOT / "blender_manifest.toml").read_text())
    archive = output_dir / f"{manifest['id']}-{manifest['version']}.zip"
    tool = extension_tool(blender)
    subprocess.run([*tool, "validate", str(ROOT)], check=True)
    subprocess.run([*tool, "build", "--source-dir", str(ROOT), "--output-filepath", str(archive)], check=True)
    return archive


def build_per_platform(output_dir: str | Path = ROOT / "dist", blender: str | None = None) -> list[Path]:
    """Validate, then Blender's ``build --split-platforms``: one zip per platform; returns their paths."""
    output_dir = Path(output_dir).resolve()
    output_dir.mkdir(parents=True, exist_ok=True)  # the tool fails if the folder is missing
    manifest = tomllib.loads((ROOT / "blender_manifest.toml").read_text())
    tool = extension_tool(blender)
    subprocess.run([*tool, "validate", str(ROOT)], check=True)
    subprocess.run([*tool, "build", "--source-dir", str(ROOT), "--output-dir", str(output_dir),
                    "--split-platforms"], check=True)
    return [output_dir / f"{manifest['id']}-{manifest['version']}-{platform.replace('-', '_')}.zip"
            for platform in manifest["platforms"]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", default=str(ROOT / "dist"), help="where the zip goes (default: dist/)")
    parser.add_argument("--blender", help="a Blender executable to build with (default: the bpy module's tool)")
    parser.add_argument("--split-platforms", action="store_true",
                        help="one zip per platform in the manifest (what `make extension` builds)")
    args = parser.parse_args()
    try:
        if args.split_platforms:
            for archive in build_per_platform(args.output_dir, args.blender):
                print(archive)
        else:
            print(build(args.output_dir, args.blender))
    except subprocess.CalledProcessError as exc:
        print(f"error: the extension tool failed (exit code {exc.returncode})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
