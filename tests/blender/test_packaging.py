"""The extension as users get it: a validated manifest, a zip with only the add-on, installed by
Blender's own installer into a fresh user directory, registered without importing torch."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import zipfile

from .conftest import PACKAGE, ROOT


def test_zip_holds_only_the_add_on_and_the_command_line(extension_zip):
    names = zipfile.ZipFile(extension_zip).namelist()
    assert {"__init__.py", "blender_manifest.toml", "LICENSE"} <= set(names)
    assert all(name in {"__init__.py", "blender_manifest.toml", "LICENSE", "scripts/complete.py"}
               or name.startswith("neurep_addon/") for name in names), names
    assert not any("__pycache__" in name for name in names)
    assert "neurep_addon/blender/operators.py" in names and "neurep_addon/core/completion.py" in names
    assert "neurep_addon/meta/learner.py" in names and "neurep_addon/tasks/tasks.py" in names
    assert "neurep_addon/setup/dependencies.py" in names and "neurep_addon/jobs/job.py" in names
    assert not any(name.startswith("neurep_addon/evaluation/") for name in names), "the evaluation is not shipped"


def test_install_and_enable_in_fresh_blender_registers_without_torch(extension_zip, tmp_path):
    """A separate process, so nothing imported by other tests can hide an import made at registration."""
    script = textwrap.dedent(f"""
        import os, sys
        os.environ["BLENDER_USER_RESOURCES"] = {str(tmp_path / "user")!r}
        import bpy
        assert bpy.ops.extensions.package_install_files(
            filepath={str(extension_zip)!r}, repo="user_default", enable_on_install=True) == {{"FINISHED"}}
        assert {PACKAGE!r} in bpy.context.preferences.addons
        assert hasattr(bpy.ops.neurep, "complete") and bpy.ops.neurep.complete.poll()
        prefs = bpy.context.preferences.addons[{PACKAGE!r}].preferences
        assert prefs.device == "auto"
        heavy = sorted(m for m in ("torch", "trimesh", "scipy", "skimage", "safetensors") if m in sys.modules)
        assert not heavy, f"imported at registration: {{heavy}}"
        dependencies = sys.modules[{PACKAGE!r} + ".neurep_addon.setup.dependencies"]
        assert dependencies.user_site_packages().endswith(os.path.join("neurep", "site-packages"))
        assert dependencies.missing_modules() == []
        print("OK")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": ""})
    assert done.returncode == 0 and done.stdout.strip().endswith("OK"), done.stdout + done.stderr


def test_the_panel_a_completion_and_a_fill_leave_torch_out_of_blenders_process(extension_zip, tmp_path):
    """Everything Blender's process does for the panel and a Complete or Fill Holes click (settings, the
    default prior, the selection read, the worker's progress and results, placing) imports no torch: the
    worker alone loads it (importing it here blocked the interface 2.2 s and doubled Blender's memory)."""
    script = textwrap.dedent(f"""
        import os, sys
        from types import SimpleNamespace
        os.environ["BLENDER_USER_RESOURCES"] = {str(tmp_path / "user")!r}
        import bpy
        import bmesh
        assert bpy.ops.extensions.package_install_files(
            filepath={str(extension_zip)!r}, repo="user_default", enable_on_install=True) == {{"FINISHED"}}
        mesh = bpy.data.meshes.new("Scan")
        work = bmesh.new()
        bmesh.ops.create_uvsphere(work, u_segments=32, v_segments=16, radius=1.0)
        bmesh.ops.delete(work, geom=[f for f in work.faces if f.calc_center_median().z > 0.7], context="FACES")
        work.to_mesh(mesh)
        work.free()
        scan = bpy.data.objects.new("Scan", mesh)
        bpy.context.scene.collection.objects.link(scan)
        scan.select_set(True)
        bpy.context.view_layer.objects.active = scan

        class AnyLayout:  # panels cannot be drawn headless: their draw runs against this
            def __getattr__(self, name):
                return lambda *args, **kwargs: AnyLayout()

        for panel in (bpy.types.NEUREP_PT_complete, bpy.types.NEUREP_PT_train_prior):
            panel.draw(SimpleNamespace(layout=AnyLayout()), bpy.context)
        settings = bpy.context.scene.neurep_settings
        tiny = dict(preset="fast", prior="DEFAULT", steps=30, resolution=32, device="cpu")
        assert bpy.ops.neurep.complete(**tiny) == {{"FINISHED"}}
        assert len(bpy.data.objects["Scan_completed"].data.polygons) > 100
        bpy.types.NEUREP_PT_last_result.draw(SimpleNamespace(layout=AnyLayout()), bpy.context)
        scan.select_set(True)
        bpy.context.view_layer.objects.active = scan
        assert bpy.ops.neurep.complete(mode="FILL_HOLES", keep_open="NONE", **tiny) == {{"FINISHED"}}
        assert len(bpy.data.objects["Scan_filled"].data.polygons) > len(mesh.polygons)
        print("torch" in sys.modules, "safetensors" in sys.modules)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": ""})
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == "False False", done.stdout + done.stderr


def test_add_on_disables_and_enables_cleanly(addon):
    import addon_utils
    import bpy

    addon_utils.disable(PACKAGE, default_set=True)
    assert not hasattr(bpy.types.Scene, "neurep_settings")
    assert addon.run.stop_before_load not in bpy.app.handlers.load_pre
    assert addon_utils.enable(PACKAGE, default_set=True) is not None
    assert hasattr(bpy.types.Scene, "neurep_settings") and hasattr(bpy.ops.neurep, "complete")


def test_manifest_passes_blenders_validator():
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_extension", ROOT / "scripts" / "build_extension.py")
    build_extension = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build_extension)
    done = subprocess.run([*build_extension.extension_tool(None), "validate", str(ROOT)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_one_zip_per_platform(tmp_path):
    import importlib.util
    import tomllib

    spec = importlib.util.spec_from_file_location("build_extension", ROOT / "scripts" / "build_extension.py")
    build_extension = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build_extension)
    archives = build_extension.build_per_platform(tmp_path)
    assert [a.name for a in archives] == ["neurep-0.1.0-windows_x64.zip", "neurep-0.1.0-linux_x64.zip",
                                          "neurep-0.1.0-macos_arm64.zip"]
    for archive, platform in zip(archives, ["windows-x64", "linux-x64", "macos-arm64"]):
        manifest = tomllib.loads(zipfile.ZipFile(archive).read("blender_manifest.toml").decode())
        assert manifest["build"]["generated"]["platforms"] == [platform]  # what Blender reads first
