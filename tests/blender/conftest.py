"""Real Blender (the bpy module) with NeuRep built into its zip and installed by Blender's own extension
installer into a fresh, temporary user directory, then enabled as ``bl_ext.user_default.neurep``."""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

USER_RESOURCES = tempfile.mkdtemp(prefix="neurep_blender_user_")
os.environ["BLENDER_USER_RESOURCES"] = USER_RESOURCES  # must be set before bpy is imported

import bpy  # noqa: E402  (bmesh and the rest need bpy first)
import bmesh  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tests import helpers  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "bl_ext.user_default.neurep"
TINY_FIT = dict(preset="fast", prior="DEFAULT", steps=30, resolution=32, device="cpu")
"""Operator settings that keep one fit to about a second on two CPU cores and still give the right shape.

Thirty steps from the shipped prior land within 2% of a test sphere's size on every seed tried; a few steps
from random weights do not (they leave noise that fills the box, and which noise depends on the CPU)."""


def load_build_script():
    spec = importlib.util.spec_from_file_location("build_extension", ROOT / "scripts" / "build_extension.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def extension_zip(tmp_path_factory) -> Path:
    return load_build_script().build(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="session")
def addon(extension_zip):
    """The installed and enabled extension's Blender layer (``<package>.neurep_addon.blender``)."""
    result = bpy.ops.extensions.package_install_files(filepath=str(extension_zip), repo="user_default",
                                                      enable_on_install=True)
    assert result == {"FINISHED"}
    assert PACKAGE in bpy.context.preferences.addons
    yield importlib.import_module(f"{PACKAGE}.neurep_addon.blender")
    shutil.rmtree(USER_RESOURCES, ignore_errors=True)


def addon_module(name: str):
    """A module of the installed extension's package, e.g. ``jobs.job`` (once the ``addon`` fixture ran)."""
    return importlib.import_module(f"{PACKAGE}.neurep_addon.{name}")


@pytest.fixture
def scene(addon):
    """An empty scene; the add-on stays enabled (``read_factory_settings`` would unload it)."""
    bpy.ops.wm.read_homefile(use_empty=True)
    return bpy.context.scene


def link(ob, scene=None):
    (scene or bpy.context.scene).collection.objects.link(ob)
    return ob


def select_only(*objects) -> None:
    for ob in bpy.context.view_layer.objects:
        ob.select_set(False)
    for ob in objects:
        ob.select_set(True)
    bpy.context.view_layer.objects.active = objects[0] if objects else None


def holed_sphere(name="Scan", location=(2.0, 0.0, 1.0), scale=1.5):
    """A UV sphere (radius 1 before ``scale``) with its top cap removed: an open, holed scan."""
    mesh = bpy.data.meshes.new(name)
    work = bmesh.new()
    bmesh.ops.create_uvsphere(work, u_segments=32, v_segments=16, radius=1.0)
    bmesh.ops.delete(work, geom=[f for f in work.faces if f.calc_center_median().z > 0.7], context="FACES")
    work.to_mesh(mesh)
    work.free()
    ob = link(bpy.data.objects.new(name, mesh))
    ob.location, ob.scale = location, (scale,) * 3
    bpy.context.view_layer.update()
    return ob


def sphere_points(count=2000, radius=1.0, seed=0) -> np.ndarray:
    """Uniform points [count, 3] on a sphere (``helpers.sphere_points`` without the normals)."""
    return helpers.sphere_points(count, radius, seed)[0]


def vertex_mesh(name, points):
    mesh = bpy.data.meshes.new(name)
    mesh.vertices.add(len(points))
    mesh.vertices.foreach_set("co", np.asarray(points, dtype=np.float32).ravel())
    return link(bpy.data.objects.new(name, mesh))


def point_cloud(name, points):
    """A POINTCLOUD object (the Python API cannot add points, so a vertex mesh is converted)."""
    ob = vertex_mesh(name, points)
    select_only(ob)
    bpy.ops.object.convert(target="POINTCLOUD")
    return bpy.context.active_object


def vertex_positions(ob) -> np.ndarray:
    values = np.empty(len(ob.data.vertices) * 3, dtype=np.float32)
    ob.data.vertices.foreach_get("co", values)
    return values.reshape(-1, 3)


def scene_state() -> dict:
    """Names of every object and mesh, and a checksum of each mesh's positions (to prove nothing changed)."""
    return {"objects": sorted(bpy.data.objects.keys()),
            "meshes": {m.name: float(vertex_positions_of_mesh(m).sum()) for m in bpy.data.meshes},
            "selected": sorted(ob.name for ob in bpy.context.selected_objects)}


def vertex_positions_of_mesh(mesh) -> np.ndarray:
    values = np.empty(len(mesh.vertices) * 3, dtype=np.float32)
    mesh.vertices.foreach_get("co", values)
    return values
