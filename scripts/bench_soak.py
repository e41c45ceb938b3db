"""Soak benchmark: many completions in one Blender process, and what they leave behind.

    python scripts/bench_soak.py [--runs 50] [--out docs]

Builds the extension zip, installs and enables it in a fresh temporary Blender user directory (the ``bpy``
module), then completes a holed sphere ``--runs`` times with the operator, deleting each result as an
artist would. After every run it records the resident memory of Blender's process and of the fit's worker
process, and the counts of objects, meshes, materials and handlers. Writes ``OUT/bench_soak.json`` and the
"soak" section of ``OUT/BENCHMARKS.md``.
The target: both memories after the last run within 50 MB of after the first, and no object, mesh,
material or handler left behind.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
USER_RESOURCES = tempfile.mkdtemp(prefix="neurep_soak_user_")
os.environ["BLENDER_USER_RESOURCES"] = USER_RESOURCES  # before bpy is imported
sys.path.insert(0, str(ROOT))

import bpy  # noqa: E402  (bmesh needs bpy first)
import bmesh  # noqa: E402

from scripts.build_extension import build  # noqa: E402
from scripts.docsection import write_section  # noqa: E402

SETTINGS = dict(preset="fast", prior="DEFAULT", steps=30, resolution=48, device="cpu")
"""A short fit from the shipped prior: the soak tests repetition, not quality."""


def resident_mb(pid: int | str = "self") -> float:
    """Resident memory of a process (this one by default) in MB (Linux /proc; 0 elsewhere)."""
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except OSError:
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def holed_sphere() -> bpy.types.Object:
    mesh = bpy.data.meshes.new("Scan")
    shape = bmesh.new()
    bmesh.ops.create_uvsphere(shape, u_segments=48, v_segments=24, radius=1.0)
    bmesh.ops.delete(shape, geom=[f for f in shape.faces if f.calc_center_median().z > 0.7], context="FACES")
    shape.to_mesh(mesh)
    shape.free()
    scan = bpy.data.objects.new("Scan", mesh)
    bpy.context.scene.collection.objects.link(scan)
    bpy.context.view_layer.update()
    return scan


def worker_pid() -> int | None:
    """The fit's worker process kept between jobs by the installed extension (``job._idle``)."""
    job = next(module for name, module in sys.modules.items() if name.endswith(".neurep_addon.jobs.job"))
    return job._idle[0].pid if job._idle is not None else None


def counts() -> dict[str, int]:
    handlers = sum(len(getattr(bpy.app.handlers, name)) for name in dir(bpy.app.handlers)
                   if isinstance(getattr(bpy.app.handlers, name), list))
    return {"objects": len(bpy.data.objects), "meshes": len(bpy.data.meshes),
            "materials": len(bpy.data.materials), "handlers": handlers}


def soak(runs: int) -> dict:
    result = bpy.ops.extensions.package_install_files(filepath=str(build(Path(USER_RESOURCES) / "dist")),
                                                      repo="user_default", enable_on_install=True)
    assert result == {"FINISHED"}, result
    bpy.ops.wm.read_homefile(use_empty=True)
    scan = holed_sphere()
    rows = []
    for run in range(runs):
        for ob in bpy.context.view_layer.objects:
            ob.select_set(ob == scan)
        bpy.context.view_layer.objects.active = scan
        clock = time.perf_counter()
        outcome = bpy.ops.neurep.complete(**SETTINGS)
        seconds = time.perf_counter() - clock
        made = [ob for ob in bpy.data.objects if ob != scan]
        for ob in made:  # the artist deletes the result (and its mesh data and materials with it)
            data, materials = ob.data, [slot.material for slot in ob.material_slots if slot.material]
            bpy.data.objects.remove(ob)
            if data is not None and data.users == 0:
                bpy.data.meshes.remove(data)
            for material in materials:
                if material.users == 0:
                    bpy.data.materials.remove(material)
        bpy.context.view_layer.update()
        pid = worker_pid()
        rows.append({"run": run + 1, "ok": outcome == {"FINISHED"}, "results": len(made), "seconds": seconds,
                     "resident_mb": resident_mb(), "worker_pid": pid, "worker_mb": resident_mb(pid) if pid else 0.0,
                     **counts()})
        print(f"run {run + 1:3d}: {outcome}, {seconds:5.1f} s, {rows[-1]['resident_mb']:7.1f} MB, "
              f"worker {pid} {rows[-1]['worker_mb']:7.1f} MB, "
              f"objects {rows[-1]['objects']}, meshes {rows[-1]['meshes']}, handlers {rows[-1]['handlers']}",
              flush=True)
    return {"settings": SETTINGS, "runs": rows}


def report(results: dict) -> str:
    rows = results["runs"]
    first, last = rows[0], rows[-1]
    growth = last["resident_mb"] - first["resident_mb"]
    worker_growth = last["worker_mb"] - first["worker_mb"]
    workers = len({row["worker_pid"] for row in rows})
    left = {k: last[k] - first[k] for k in ("objects", "meshes", "materials", "handlers")}
    lines = ["## Soak: completions in one Blender process (`scripts/bench_soak.py`)", "",
             f"{len(rows)} completions of a holed sphere in one `bpy` process (operator settings "
             f"{', '.join(f'{k}={v}' for k, v in results['settings'].items())}), each result deleted after it "
             "was made.", "",
             "| | after run 1 | after the last run | change |", "|---|---:|---:|---:|",
             f"| resident memory (MB) | {first['resident_mb']:.0f} | {last['resident_mb']:.0f} | {growth:+.0f} |",
             f"| the fit's worker process: resident memory (MB) | {first['worker_mb']:.0f} | {last['worker_mb']:.0f} "
             f"| {worker_growth:+.0f} |"]
    for key in ("objects", "meshes", "materials", "handlers"):
        lines.append(f"| {key} | {first[key]} | {last[key]} | {left[key]:+d} |")
    ok = sum(row["ok"] for row in rows)
    verdict = ("met" if growth <= 50 and worker_growth <= 50 and not any(left.values()) and ok == len(rows)
               else "NOT met")
    seconds = [row["seconds"] for row in rows]
    lines += ["", f"{ok} of {len(rows)} completions finished; the first {seconds[0]:.1f} s (it starts the worker "
              f"process), the others {sum(seconds[1:]) / max(1, len(seconds) - 1):.1f} s each on average; "
              f"{workers} worker process{'es' if workers != 1 else ''} served them. Target (memory of Blender and of "
              f"the worker within 50 MB of the first run, nothing left behind): **{verdict}**."]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench_soak.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--out", default=str(ROOT / "docs"))
    args = parser.parse_args(argv)
    try:
        results = soak(args.runs)
    finally:
        shutil.rmtree(USER_RESOURCES, ignore_errors=True)
    out = Path(args.out)
    (out / "bench_soak.json").write_text(json.dumps(results, indent=1))
    write_section(out / "BENCHMARKS.md", "soak", report(results))
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
