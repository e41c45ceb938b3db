"""Completing objects inside a .blend file: ``batch.complete_objects_in_blend`` and
``scripts/complete.py --blend`` (which imports it as plain ``neurep_addon.blender.batch``)."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

import bpy
import pytest

from .conftest import ROOT, holed_sphere, vertex_positions


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
    pipeline = importlib.import_module(batch.__name__.replace(".blender.batch", ".core.pipeline"))
    return pipeline.settings("fast", "default", steps=30, resolution=32)


def test_completes_an_object_inside_a_blend_file(batch, scan_blend, tmp_path):
    config, prior = tiny_config(batch)
    saved = tmp_path / "completed.blend"
    stats = batch.complete_objects_in_blend(scan_blend, ["Scan"], saved, config, prior, device="cpu")
    assert stats["object"] == "Scan_completed" and stats["watertight"] and saved.is_file()

    bpy.ops.wm.open_mainfile(filepath=str(saved))
    result = bpy.data.objects["Scan_completed"]
    assert len(result.data.polygons) == stats["faces"] and "neurep_distance" in result.data.attributes
    assert abs(vertex_positions(result)[:, 2].mean() + result.location.z - 3.0) < 0.5
    assert tuple(result.location) == tuple(bpy.data.objects["Scan"].location)
    assert len(bpy.data.objects["Scan"].data.polygons) > 0


def test_unknown_object_and_bad_file_are_input_errors(batch, scan_blend, tmp_path):
    config, prior = tiny_config(batch)
    with pytest.raises(batch.InputError, match="no object named 'Nope'.*objects in the file: Scan"):
        batch.complete_objects_in_blend(scan_blend, ["Nope"], tmp_path / "out.blend", config, prior)
    not_blend = tmp_path / "not.blend"
    not_blend.write_text("hello")
    with pytest.raises(batch.InputError, match="cannot be opened"):
        batch.complete_objects_in_blend(not_blend, ["Scan"], tmp_path / "out.blend", config, prior)


def test_command_line_blend_mode(scan_blend, tmp_path):
    saved, report = tmp_path / "cli.blend", tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "complete.py"), "--blend", str(scan_blend), "--object", "Scan",
         "--save", str(saved), "--preset", "fast", "--prior", "default", "--steps", "30", "--resolution", "32",
         "--device", "cpu", "--quiet", "--report", str(report)],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "BLENDER_USER_RESOURCES": str(tmp_path / "user")})
    assert done.returncode == 0, done.stdout + done.stderr
    record = json.loads(report.read_text())[0]
    assert record["ok"] and record["object"] == "Scan_completed" and saved.is_file()
