"""Train Prior from a collection in real Blender: the prior joins the Prior menu and completes a scan; Cancel
leaves no file; removing it from the preferences deletes it."""

from __future__ import annotations

import json
import os
import time

import bmesh
import bpy
import pytest

from .conftest import PACKAGE, addon_module, link, select_only
from .test_ui import draw

PROPORTIONS = [(1.0, 1.0, 1.0), (2.0, 1.0, 1.0), (1.0, 2.0, 0.5), (1.5, 1.5, 0.7), (0.6, 1.0, 2.0)]


def box(name, size, location=(0.0, 0.0, 0.0), open_top=False):
    """A cube of edge 1 scaled by ``size`` through its transform (the training reads world space)."""
    mesh = bpy.data.meshes.new(name)
    work = bmesh.new()
    bmesh.ops.create_cube(work, size=1.0)
    if open_top:
        bmesh.ops.delete(work, geom=[f for f in work.faces if f.normal.z > 0.5], context="FACES")
    work.to_mesh(mesh)
    work.free()
    ob = bpy.data.objects.new(name, mesh)
    ob.location, ob.scale = location, size
    return ob


def boxes_collection(scene):
    collection = bpy.data.collections.new("Boxes")
    scene.collection.children.link(collection)
    for index, size in enumerate(PROPORTIONS):
        collection.objects.link(box(f"Box{index}", size, location=(3.0 * index, 0.0, 0.0)))
    bpy.context.view_layer.update()
    return collection


def menu_identifiers(addon, scene):
    """The Prior menu as Blender asks for it (a dynamic enum: RNA lists no items)."""
    return [item[0] for item in addon.priors.menu_items(scene.neurep_settings, bpy.context)]


def leftovers(folder) -> list[str]:
    return [name for name in os.listdir(folder) if name.startswith(".training-")] if folder.is_dir() else []


def test_a_prior_trained_from_a_collection_completes_a_scan_and_is_removed_from_the_preferences(addon, scene):
    settings = scene.neurep_training
    settings.collection, settings.prior_name, settings.minutes = boxes_collection(scene), "boxes, v1", 0.3
    assert ("operator", "neurep.train_prior") in draw(bpy.types.NEUREP_PT_train_prior, bpy.context)

    assert bpy.ops.neurep.train_prior() == {"FINISHED"}

    folder = addon.priors.folder()
    path = folder / "boxes, v1.safetensors"
    assert path.is_file() and not leftovers(folder)
    menu = menu_identifiers(addon, scene)
    assert menu[:2] == ["DEFAULT", "NONE"] and "USER:boxes, v1" in menu and menu[-1] == "FILE"
    scan = link(box("Scan", (1.2, 0.8, 0.6), location=(0.0, 5.0, 0.0), open_top=True))
    select_only(scan)
    scene.neurep_settings.prior = "USER:boxes, v1"  # the panel offers it
    # the name's comma is no list of priors
    assert bpy.ops.neurep.complete(preset="fast", prior="USER:boxes, v1", device="cpu", resolution=32) == {"FINISHED"}
    assert len(bpy.data.objects["Scan_completed"].data.polygons) > 0
    notes = json.loads(bpy.context.window_manager.neurep_job.last_result)["results"][0]["notes"]
    assert any("the shape space boxes, v1" in note for note in notes), notes  # used, or said why not

    preferences = bpy.context.preferences.addons[PACKAGE].preferences
    shown = draw(type(preferences), bpy.context, bl_rna=preferences.bl_rna)
    assert ("label", "boxes, v1") in shown and ("operator", "neurep.remove_prior") in shown
    assert bpy.ops.neurep.remove_prior(name="boxes, v1") == {"FINISHED"}
    assert ("label", "boxes, v1") not in draw(type(preferences), bpy.context, bl_rna=preferences.bl_rna)
    assert not path.exists() and "USER:boxes, v1" not in menu_identifiers(addon, scene)
    with pytest.raises(TypeError):
        scene.neurep_settings.prior = "USER:boxes, v1"
    assert scene.neurep_settings.prior == ""  # the panel's choice left the menu: no silent fallback
    errors = addon_module("core.errors")
    with pytest.raises(errors.ConfigError, match="removed"):
        scene.neurep_settings.fit_settings()


def start_training(addon, scene, name):
    """A long run of ``name``, once it has taken its first steps."""
    meshes = addon.priors.meshes_of(boxes_collection(scene), bpy.context.evaluated_depsgraph_get())
    state = bpy.context.window_manager.neurep_training_job
    job = addon_module("jobs.job").TrainJob(meshes, addon.priors.folder(create=True), name, minutes=5.0, device="cpu")
    live = addon.priors.TrainingRun(job).start()
    assert addon.priors.active_training() is live
    while state.progress == 0.0:
        assert live.tick(state) == "RUNNING" and time.monotonic() < DEADLINE[0]
        time.sleep(0.05)
    return live, state


def finish(live, state) -> str:
    while (outcome := live.tick(state)) == "RUNNING":
        assert time.monotonic() < DEADLINE[0]
        time.sleep(0.05)
    return outcome


DEADLINE = [0.0]


@pytest.fixture
def deadline():
    DEADLINE[0] = time.monotonic() + 120


def test_cancel_during_training_leaves_no_file(addon, scene, deadline):
    live, state = start_training(addon, scene, "cancelled")
    assert state.status.startswith("Training 'cancelled': ") and "left, step " in state.status
    shown = draw(bpy.types.NEUREP_PT_train_prior, bpy.context)
    assert ("operator", "neurep.cancel_training") in shown and ("operator", "neurep.train_prior") not in shown
    assert not bpy.ops.neurep.train_prior.poll()
    assert bpy.ops.neurep.cancel_training() == {"FINISHED"}
    assert finish(live, state) == "CANCELLED" and live.error.startswith("cancelled")
    folder = addon.priors.folder()
    assert not (folder / "cancelled.safetensors").exists() and not leftovers(folder)
    assert "USER:cancelled" not in menu_identifiers(addon, scene) and addon.priors.active_training() is None


def test_a_training_whose_process_dies_leaves_no_file(addon, scene, deadline):
    live, state = start_training(addon, scene, "killed")
    folder = addon.priors.folder()
    assert leftovers(folder)  # the run's temporary folder, which the killed process cannot remove
    live.job.kill()
    assert finish(live, state) == "FAILED" and "ended unexpectedly" in live.error
    assert not (folder / "killed.safetensors").exists() and not leftovers(folder)
    assert state.status.startswith("Training failed")
