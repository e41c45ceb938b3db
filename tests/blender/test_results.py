"""One result per selected object, lined up with its source (transform, collection, materials), and the
invented region in its own material slot."""

from __future__ import annotations

import math

import bpy
import numpy as np
from scipy.spatial import cKDTree

from .conftest import TINY_FIT, holed_sphere, select_only, sphere_points, vertex_mesh, vertex_positions


def world_positions(ob) -> np.ndarray:
    matrix = np.array(ob.matrix_world)
    return vertex_positions(ob) @ matrix[:3, :3].T + matrix[:3, 3]


def material(name, rgba):
    mat = bpy.data.materials.new(name)
    mat.diffuse_color = rgba
    return mat


def two_scans():
    left = holed_sphere(name="Left", location=(0.0, 0.0, 0.0), scale=1.0)
    right = holed_sphere(name="Right", location=(4.0, 1.0, 0.5), scale=0.8)
    right.rotation_euler = (0.3, 0.0, math.pi / 5)
    left.data.materials.append(material("Clay", (0.6, 0.5, 0.4, 1.0)))
    right.data.materials.append(material("Stone", (0.3, 0.3, 0.3, 1.0)))
    bpy.context.view_layer.update()
    return left, right


def test_two_scans_give_two_results_that_line_up_with_their_sources(scene):
    left, right = two_scans()
    collection = bpy.data.collections.new("Right scans")
    scene.collection.children.link(collection)
    scene.collection.objects.unlink(right)
    collection.objects.link(right)
    select_only(left, right)

    assert bpy.ops.neurep.complete(**TINY_FIT) == {"FINISHED"}

    assert {"Left_completed", "Right_completed"} <= set(bpy.data.objects.keys())
    for source, radius in ((left, 1.0), (right, 0.8)):
        result = bpy.data.objects[f"{source.name}_completed"]
        assert np.allclose(np.array(result.matrix_world), np.array(source.matrix_world), atol=1e-6)
        assert result.users_collection[0] == source.users_collection[0]
        assert result.data.materials[0] == source.data.materials[0]
        assert result.data.materials[-1].name == "NeuRep: invented" and len(result.data.materials) == 2
        assert len(result.data.polygons) > 100 and len(result.data.vertices) > 0
        centre = np.array(source.matrix_world.translation)
        distance_to_sphere = np.abs(np.linalg.norm(world_positions(result) - centre, axis=1) - radius)
        assert np.median(distance_to_sphere) < 0.03 * radius
        # every scanned vertex has the result's surface right next to it, in world space
        gaps, _ = cKDTree(world_positions(result)).query(world_positions(source))
        assert gaps.max() < 0.1 * radius
        local = vertex_positions(result)  # the mesh data is in the source's local space (unit sphere)
        assert np.median(np.abs(np.linalg.norm(local, axis=1) - 1.0)) < 0.03
        assert result.select_get()


def test_merge_selected_gives_one_result(scene):
    left, right = two_scans()
    select_only(left, right)
    assert bpy.ops.neurep.complete(**TINY_FIT, merge_selected=True) == {"FINISHED"}
    results = [ob for ob in bpy.data.objects if ob.name.endswith("_completed")]
    assert [ob.name for ob in results] == ["Left_completed"]
    assert np.allclose(np.array(results[0].matrix_world), np.array(left.matrix_world))


def test_faces_far_from_the_scan_use_the_invented_slot(scene):
    scan = holed_sphere(location=(1.0, 2.0, 3.0), scale=1.5)  # its top cap (local z > 0.7) is missing
    select_only(scan)
    assert bpy.ops.neurep.complete(**TINY_FIT) == {"FINISHED"}
    result = bpy.data.objects["Scan_completed"]
    mesh = result.data
    assert [m.name if m else None for m in mesh.materials] == [None, "NeuRep: invented"]
    slots = np.empty(len(mesh.polygons), dtype=np.int32)
    mesh.polygons.foreach_get("material_index", slots)
    centres = np.empty(len(mesh.polygons) * 3, dtype=np.float32)
    mesh.polygons.foreach_get("center", centres)
    centres = centres.reshape(-1, 3)  # local space: around the unit sphere's centre
    height = centres[:, 2] / np.linalg.norm(centres, axis=1)  # direction: the hole is the cone above 0.7
    invented = slots == 1
    assert invented.sum() > 10 and np.percentile(height[invented], 5) > 0.6  # the missing cap is invented
    assert not invented[height < 0.3].any()  # the scanned surface keeps the first slot
    assert invented[height > 0.95].all()  # the middle of the hole is all invented
    flags = np.empty(len(mesh.polygons), dtype=bool)
    mesh.attributes["neurep_invented"].data.foreach_get("value", flags)
    assert np.array_equal(flags, invented) and result["neurep_invented_threshold"] > 0
    shown = bpy.data.materials["NeuRep: invented"]
    assert np.allclose(tuple(shown.diffuse_color)[:3], (1.0, 0.35, 0.05))  # Solid mode: material colour


def test_marking_can_be_switched_off(scene):
    select_only(holed_sphere())
    assert bpy.ops.neurep.complete(**TINY_FIT, mark_invented=False) == {"FINISHED"}
    mesh = bpy.data.objects["Scan_completed"].data
    assert len(mesh.materials) == 0 and "neurep_invented" not in mesh.attributes


def planar(local: np.ndarray) -> np.ndarray:
    """The test's UV layout and colours: linear in the object's own coordinates."""
    return local[:, :2] * 0.25 + 0.5


def textured_scan():
    """The holed test sphere with a planar UV map, a corner and a point colour, and two materials (x < 0:
    the second one)."""
    scan = holed_sphere(location=(1.0, -2.0, 0.5), scale=1.2)
    mesh = scan.data
    corners = np.empty(len(mesh.loops), dtype=np.int32)
    mesh.loops.foreach_get("vertex_index", corners)
    local = vertex_positions(scan).astype(np.float64)
    mesh.uv_layers.new(name="Scan UV").data.foreach_set("uv", planar(local[corners]).astype(np.float32).ravel())
    point_colours = np.concatenate([planar(local), np.full((len(local), 2), [0.5, 1.0])], axis=1)
    mesh.color_attributes.new("Albedo", "FLOAT_COLOR", "POINT").data.foreach_set(
        "color", point_colours.astype(np.float32).ravel())
    mesh.color_attributes.new("Tint", "BYTE_COLOR", "CORNER")
    mesh.color_attributes.active_color = mesh.color_attributes["Albedo"]
    mesh.color_attributes.render_color_index = mesh.color_attributes.find("Albedo")
    mesh.materials.append(material("Left", (0.2, 0.2, 0.8, 1.0)))
    mesh.materials.append(material("Right", (0.8, 0.2, 0.2, 1.0)))
    centres = np.empty(len(mesh.polygons) * 3, dtype=np.float32)
    mesh.polygons.foreach_get("center", centres)
    mesh.polygons.foreach_set("material_index", (centres.reshape(-1, 3)[:, 0] < 0).astype(np.int32))
    bpy.context.view_layer.update()
    return scan


def test_a_textured_scan_gives_its_uvs_colours_and_materials_to_the_result(scene):
    scan = textured_scan()
    select_only(scan)
    assert bpy.ops.neurep.complete(**TINY_FIT) == {"FINISHED"}
    mesh = bpy.data.objects["Scan_completed"].data
    assert mesh.uv_layers.active.name == "Scan UV" and mesh.uv_layers["Scan UV"].active_render
    assert mesh.color_attributes.active_color.name == "Albedo"
    assert mesh.color_attributes[mesh.color_attributes.render_color_index].name == "Albedo"
    assert {"Tint", "neurep_distance_color"} <= set(mesh.color_attributes.keys())

    local = vertex_positions(bpy.data.objects["Scan_completed"]).astype(np.float64)
    corners = np.empty(len(mesh.loops), dtype=np.int32)
    mesh.loops.foreach_get("vertex_index", corners)
    uv = np.empty(len(mesh.loops) * 2, dtype=np.float32)
    mesh.uv_layers["Scan UV"].data.foreach_get("uv", uv)
    invented = np.empty(len(mesh.polygons), dtype=bool)
    mesh.attributes["neurep_invented"].data.foreach_get("value", invented)
    observed_corners = np.repeat(~invented, 3)  # triangles: three loops a face
    uv_error = np.abs(uv.reshape(-1, 2) - planar(local[corners]))
    assert np.isfinite(uv).all() and np.median(uv_error[observed_corners]) < 0.005
    colours = np.empty(len(mesh.vertices) * 4, dtype=np.float32)
    mesh.color_attributes["Albedo"].data.foreach_get("color", colours)
    colour_error = np.abs(colours.reshape(-1, 4)[:, :2] - planar(local))
    assert np.median(colour_error) < 0.005 and np.allclose(colours.reshape(-1, 4)[:, 2:], [0.5, 1.0])

    slots = np.empty(len(mesh.polygons), dtype=np.int32)
    mesh.polygons.foreach_get("material_index", slots)
    centres = np.empty(len(mesh.polygons) * 3, dtype=np.float32)
    mesh.polygons.foreach_get("center", centres)
    x = centres.reshape(-1, 3)[:, 0]
    clear = ~invented & (np.abs(x) > 0.1)
    assert [m.name for m in mesh.materials] == ["Left", "Right", "NeuRep: invented"]
    assert np.mean(slots[clear] == (x[clear] < 0)) > 0.99 and (slots[invented] == 2).all()


def test_a_coloured_point_scan_gives_its_colours_to_the_result(scene):
    points = sphere_points(3000) * 1.2
    points = points[points[:, 2] < 0.8]  # an open scan
    scan = vertex_mesh("Points", points)
    scan.location = (0.0, 3.0, 0.0)
    colours = np.concatenate([planar(points), np.ones((len(points), 2))], axis=1)
    layer = scan.data.color_attributes.new("Col", "BYTE_COLOR", "POINT")
    layer.data.foreach_set("color", colours.astype(np.float32).ravel())
    bpy.context.view_layer.update()
    select_only(scan)
    assert bpy.ops.neurep.complete(**TINY_FIT) == {"FINISHED"}
    mesh = bpy.data.objects["Points_completed"].data
    assert mesh.color_attributes.active_color.name == "Col"
    received = np.empty(len(mesh.vertices) * 4, dtype=np.float32)
    mesh.color_attributes["Col"].data.foreach_get("color", received)
    local = vertex_positions(bpy.data.objects["Points_completed"]).astype(np.float64)
    invented = np.asarray(_invented_vertices(mesh))
    error = np.abs(received.reshape(-1, 4)[:, :2] - planar(local))[~invented]
    assert np.median(error) < 0.01  # 8-bit colours and the points' spacing


def _invented_vertices(mesh) -> np.ndarray:
    flags = np.empty(len(mesh.polygons), dtype=bool)
    mesh.attributes["neurep_invented"].data.foreach_get("value", flags)
    corners = np.empty(len(mesh.loops), dtype=np.int32)
    mesh.loops.foreach_get("vertex_index", corners)
    invented = np.zeros(len(mesh.vertices), dtype=bool)
    invented[corners[np.repeat(flags, 3)]] = True
    return invented
