"""``bpy.ops.neurep.complete`` run blocking, as scripts and background mode run it."""

from __future__ import annotations

import json

import bpy
import numpy as np
import pytest

from .conftest import TINY_FIT, holed_sphere, point_cloud, scene_state, select_only, sphere_points, vertex_positions


def world_positions(ob) -> np.ndarray:
    matrix = np.array(ob.matrix_world)
    return vertex_positions(ob) @ matrix[:3, :3].T + matrix[:3, 3]


def check_result(name: str, centre, radius: float, source=None):
    result = bpy.data.objects[name]
    assert result.type == "MESH" and len(result.data.polygons) > 100
    if source is not None:  # the result has its source's transform: its mesh data is in the source's space
        assert np.allclose(np.array(result.matrix_world), np.array(source.matrix_world))
    positions = world_positions(result)
    bounds_centre = (positions.min(axis=0) + positions.max(axis=0)) / 2
    assert np.allclose(bounds_centre, centre, atol=0.2 * radius)
    assert 0.85 * radius < (positions.max(axis=0) - positions.min(axis=0)).max() / 2 < 1.25 * radius
    distance = np.empty(len(positions), dtype=np.float32)
    result.data.attributes["neurep_distance"].data.foreach_get("value", distance)
    assert np.isfinite(distance).all() and distance.min() >= 0
    assert "neurep_distance_color" in result.data.color_attributes
    summary = {s["object"]: s for s in json.loads(bpy.context.window_manager.neurep_job.last_result)["results"]}[name]
    assert summary["object"] == name and summary["watertight"] and summary["faces"] == len(result.data.polygons)
    assert result.select_get() and not any(ob.name.endswith("_preview") for ob in bpy.data.objects)
    return result


def test_completes_a_holed_mesh_next_to_it_and_leaves_it_unchanged(scene):
    collection = bpy.data.collections.new("Scans")
    scene.collection.children.link(collection)
    scan = holed_sphere(location=(2.0, 0.0, 1.0), scale=1.5)
    scene.collection.objects.unlink(scan)
    collection.objects.link(scan)
    select_only(scan)
    before = vertex_positions(scan).copy(), scan.matrix_world.copy(), len(scan.data.polygons)

    assert bpy.ops.neurep.complete(**TINY_FIT) == {"FINISHED"}

    result = check_result("Scan_completed", centre=(2.0, 0.0, 1.0), radius=1.5, source=scan)
    assert result.users_collection[0] == collection
    assert np.array_equal(vertex_positions(scan), before[0])
    assert scan.matrix_world == before[1] and len(scan.data.polygons) == before[2]


def test_completes_a_point_cloud(scene):
    cloud = point_cloud("Cloud", sphere_points(1500, radius=0.8) + np.array([0.0, -3.0, 0.0]))
    select_only(cloud)
    assert bpy.ops.neurep.complete(**TINY_FIT) == {"FINISHED"}
    check_result("Cloud_completed", centre=(0.0, -3.0, 0.0), radius=0.8, source=cloud)


def two_scans():
    from .test_results import two_scans

    return list(two_scans())


@pytest.mark.parametrize("make, results", [(lambda: [holed_sphere()], ["Scan_completed"]),
                                           (two_scans, ["Left_completed", "Right_completed"])])
def test_one_undo_step_removes_every_result_of_a_run(scene, make, results):
    """Operators called from Python push no undo step themselves (only UI calls do, for {'UNDO'} operators),
    so the test pushes the steps Blender would push around the operator and then really undoes."""
    assert bpy.types.NEUREP_OT_complete.bl_options == {"UNDO"}  # no redo panel: F9 could only block
    select_only(*make())
    window = bpy.context.window_manager.windows[0]
    with bpy.context.temp_override(window=window):
        bpy.ops.ed.undo_push(message="before")
        before = scene_state()
        assert bpy.ops.neurep.complete(**TINY_FIT) == {"FINISHED"}
        bpy.ops.ed.undo_push(message="Complete Scan")
        assert set(results) <= set(bpy.data.objects.keys())
        bpy.ops.ed.undo()
    assert scene_state() == before


@pytest.mark.parametrize("setup, message", [
    (lambda: [], "Nothing is selected"),
    (lambda: [bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))], "The selection holds no mesh or point cloud"),
    (lambda: [bpy.data.objects.new("Empty", None)], "The selection holds no mesh or point cloud"),
    (lambda: [point_cloud("Few", sphere_points(12))], "12 points; at least 100 are needed"),
    (lambda: [point_cloud("Flat", np.c_[np.random.default_rng(0).random((500, 2)), np.zeros(500)])], "plane"),
])
def test_bad_selections_report_a_specific_error_and_change_nothing(scene, setup, message):
    objects = setup()
    for ob in objects:
        if ob.name not in scene.collection.objects:
            scene.collection.objects.link(ob)
    select_only(*objects)
    before = scene_state()
    with pytest.raises(RuntimeError, match=message) as error:
        bpy.ops.neurep.complete(**TINY_FIT)
    assert "Traceback" not in str(error.value)
    assert scene_state() == before


def test_bad_settings_are_reported(scene):
    select_only(holed_sphere())
    with pytest.raises(RuntimeError, match="no prior file is chosen"):
        bpy.ops.neurep.complete(**{**TINY_FIT, "prior": "FILE"})
    with pytest.raises(RuntimeError, match="prior file not found"):
        bpy.ops.neurep.complete(**{**TINY_FIT, "prior": "FILE", "prior_path": "/nonexistent/prior.safetensors"})
    with pytest.raises(RuntimeError, match="Resolution must be between 16 and 1024"):
        bpy.ops.neurep.complete(**{**TINY_FIT, "resolution": 8})


def test_operator_is_in_the_object_menu(scene):
    menu_entries = bpy.types.VIEW3D_MT_object._dyn_ui_initialize()
    assert any(getattr(entry, "__name__", "") == "draw_object_menu_entry" for entry in menu_entries)


def test_a_script_or_background_call_fits_as_the_panel_saved_in_the_blend_says(scene, tmp_path):
    """``blender -b file.blend`` then ``bpy.ops.neurep.complete()``: the settings come from the saved panel."""
    holed_sphere()
    settings = scene.neurep_settings
    for name, value in TINY_FIT.items():
        setattr(settings, name, value)
    settings.mode, settings.mark_invented = "FILL_HOLES", False
    path = tmp_path / "panel.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    bpy.ops.wm.open_mainfile(filepath=str(path))
    assert bpy.app.background
    select_only(bpy.data.objects["Scan"])
    assert bpy.ops.neurep.complete() == {"FINISHED"}
    assert "Scan_filled" in bpy.data.objects and "Scan_completed" not in bpy.data.objects  # the panel's mode
    filled = bpy.data.objects["Scan_filled"]
    assert "NeuRep: invented" not in [m.name for m in filled.data.materials if m is not None]  # its switch too


@pytest.mark.parametrize("setup, reason", [
    (lambda: [], "Nothing is selected; select the scan"),
    (lambda: [bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))],
     "The selection holds no mesh or point cloud: 'Camera' (camera)"),
])
def test_complete_is_off_with_the_reason_when_nothing_usable_is_selected(scene, setup, reason):
    for ob in setup():
        scene.collection.objects.link(ob)
        ob.select_set(True)
    assert not bpy.ops.neurep.complete.poll()
    with pytest.raises(RuntimeError, match=r"poll\(\) " + reason.replace("(", r"\(").replace(")", r"\)")):
        bpy.ops.neurep.complete(**TINY_FIT)
    select_only(holed_sphere())
    assert bpy.ops.neurep.complete.poll()


def test_complete_is_off_with_the_reason_when_a_package_is_missing(addon, scene, monkeypatch):
    """A requirement that is really not installed (torch is, here): the button says what to install."""
    from .conftest import addon_module

    dependencies = addon_module("setup.dependencies")
    select_only(holed_sphere())
    assert bpy.ops.neurep.complete.poll()
    monkeypatch.setitem(dependencies.MODULE_REQUIREMENTS, "neurep_not_a_module", "neurep-not-a-module==1.0")
    assert not bpy.ops.neurep.complete.poll()
    with pytest.raises(RuntimeError, match=r"poll\(\) neurep-not-a-module not installed; install with the panel"):
        bpy.ops.neurep.complete(**TINY_FIT)
    assert [ob.name for ob in bpy.data.objects] == ["Scan"]
