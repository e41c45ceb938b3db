"""Completing objects inside a .blend file: ``batch.complete_objects_in_blend`` and
``scripts/complete.py --blend`` (which imports it as plain ``neurep_addon.blender.batch``)."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import bpy
import pytest

from .conftest import holed_sphere, vertex_positions


@pytest.fixture
def scan_blend(scene, tmp_path):
    holed_sphere(name="Scan", location=(0.0, 0.0, 3.0), scale=1.0)
    path = tmp_path / "scan.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    bpy.ops.wm.read_homefile(use_empty=True)
    return path


@pytest.fixture
def batch(addon):
    return importlib.import_module(f"{addon.__name__}.batch")


def tiny_config(batch):
    fit_settings = importlib.import_module(batch.__name__.replace(".blender.batch", ".core.fit_settings"))
    return fit_settings.settings("fast", "default", steps=30, resolution=32)


def installed_script(addon) -> str:
    """``scripts/complete.py`` as the extension's zip installed it (what artists run with ``blender -b -P``)."""
    path = Path(addon.__file__).resolve().parents[2] / "scripts" / "complete.py"
    assert path.is_file()
    return str(path)


def test_completes_an_object_inside_a_blend_file(batch, scan_blend, tmp_path):
    saved = tmp_path / "completed.blend"
    stats = batch.complete_objects_in_blend(scan_blend, ["Scan"], saved, *tiny_config(batch), device="cpu")
    assert stats["object"] == "Scan_completed" and stats["watertight"] and saved.is_file()

    bpy.ops.wm.open_mainfile(filepath=str(saved))
    result = bpy.data.objects["Scan_completed"]
    assert len(result.data.polygons) == stats["faces"] and "neurep_distance" in result.data.attributes
    assert abs(vertex_positions(result)[:, 2].mean() + result.location.z - 3.0) < 0.5
    assert tuple(result.location) == tuple(bpy.data.objects["Scan"].location)
    assert len(bpy.data.objects["Scan"].data.polygons) > 0


def test_unknown_object_and_bad_file_are_input_errors(batch, scan_blend, tmp_path):
    with pytest.raises(batch.InputError, match="no object named 'Nope'.*objects in the file: Scan"):
        batch.complete_objects_in_blend(scan_blend, ["Nope"], tmp_path / "out.blend", *tiny_config(batch))
    not_blend = tmp_path / "not.blend"
    not_blend.write_text("hello")
    with pytest.raises(batch.InputError, match="cannot be opened"):
        batch.complete_objects_in_blend(not_blend, ["Scan"], tmp_path / "out.blend", *tiny_config(batch))


def test_command_line_blend_mode_from_the_installed_extension(addon, scan_blend, tmp_path):
    saved, report = tmp_path / "cli.blend", tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, installed_script(addon), "--blend", str(scan_blend), "--object", "Scan",
         "--save", str(saved), "--preset", "fast", "--prior", "default", "--steps", "30", "--resolution", "32",
         "--device", "cpu", "--quiet", "--report", str(report)],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "BLENDER_USER_RESOURCES": str(tmp_path / "user")})
    assert done.returncode == 0, done.stdout + done.stderr
    record = json.loads(report.read_text())[0]
    assert record["ok"] and record["object"] == "Scan_completed" and saved.is_file()


def test_a_wrong_object_name_exits_2_before_any_work(addon, scan_blend, tmp_path):
    saved = tmp_path / "cli.blend"
    done = subprocess.run(
        [sys.executable, installed_script(addon), "--blend", str(scan_blend), "--object", "Nope", "--save",
         str(saved), "--prior", "none", "--quiet"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "BLENDER_USER_RESOURCES": str(tmp_path / "user")})
    assert done.returncode == 2, done.stdout + done.stderr
    assert "no object named 'Nope' (objects in the file: Scan)" in done.stderr and "step" not in done.stderr
    assert not saved.exists()
