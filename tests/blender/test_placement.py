"""Objects artists have every day: mirrored (negative scale), joined from a half and its mirrored copy, and
far from the origin. Their results face outwards in world space and keep their detail."""

from __future__ import annotations

import bmesh
import bpy
import numpy as np
import pytest
from mathutils import Matrix

from .conftest import TINY_FIT, holed_sphere, link, select_only, vertex_positions


def observe(addon, objects):
    return addon.scene_io.observation_from_objects(objects, bpy.context.evaluated_depsgraph_get(), seed=0,
                                                   mesh_samples=5000)


def outward_share(observation, centre) -> float:
    return float(np.mean(np.einsum("ij,ij->i", observation.normals, observation.points - centre) > 0))


def triangles(mesh) -> np.ndarray:
    mesh.calc_loop_triangles()
    corners = np.empty(len(mesh.loop_triangles) * 3, dtype=np.int32)
    mesh.loop_triangles.foreach_get("vertices", corners)
    return corners.reshape(-1, 3)


def world_volume(ob) -> float:
    """The volume Blender's normals enclose in world space: the mesh's own (its winding is what Blender
    shows, in any transform) times the transform's volume scale."""
    local = vertex_positions(ob).astype(np.float64)[triangles(ob.data)]
    own = np.einsum("ij,ij->i", local[:, 0], np.cross(local[:, 1], local[:, 2])).sum() / 6.0
    return float(own * abs(np.linalg.det(np.array(ob.matrix_world)[:3, :3])))


def world_normals_outward(ob, centre) -> float:
    """Share of faces whose normal as Blender draws it (the local normal through the normal matrix) points
    away from ``centre`` in world space."""
    mesh = ob.data
    normals = np.empty(len(mesh.polygons) * 3, dtype=np.float32)
    mesh.polygons.foreach_get("normal", normals)
    centres = np.empty(len(mesh.polygons) * 3, dtype=np.float32)
    mesh.polygons.foreach_get("center", centres)
    matrix = np.array(ob.matrix_world)
    world_normals = normals.reshape(-1, 3) @ np.linalg.inv(matrix[:3, :3])  # (M^-T n) as rows
    world_centres = centres.reshape(-1, 3) @ matrix[:3, :3].T + matrix[:3, 3]
    return float(np.mean(np.einsum("ij,ij->i", world_normals, world_centres - centre) > 0))


def world_positions(ob) -> np.ndarray:
    matrix = np.array(ob.matrix_world)
    return vertex_positions(ob).astype(np.float64) @ matrix[:3, :3].T + matrix[:3, 3]


def complete(ob):
    select_only(ob)
    assert bpy.ops.neurep.complete(**TINY_FIT) == {"FINISHED"}
    return bpy.data.objects[f"{ob.name}_completed"]


def sphere_error(result, centre, radius) -> float:
    return float(np.median(np.abs(np.linalg.norm(world_positions(result) - centre, axis=1) - radius)))


def test_a_mirrored_object_reads_and_completes_facing_outwards(addon, scene):
    centre = np.array([2.0, 0.0, 1.0])
    scan = holed_sphere(location=tuple(centre), scale=1.5)
    scan.scale = (-1.5, 1.5, 1.5)
    bpy.context.view_layer.update()
    observation = observe(addon, [scan])
    assert outward_share(observation, centre) > 0.99  # 0.0 before the winding was reversed on read

    result = complete(scan)
    assert np.allclose(np.array(result.matrix_world), np.array(scan.matrix_world), atol=1e-6)
    assert world_volume(result) > 0.9 * 4 / 3 * np.pi * 1.5 ** 3  # a 1.5 sphere: 14.1
    assert world_normals_outward(result, centre) > 0.99
    assert sphere_error(result, centre, 1.5) < 0.03 * 1.5


def half_and_its_mirror_joined() -> bpy.types.Object:
    """Half a unit sphere (x >= 0) joined with its mirrored duplicate (scale x -1), as Ctrl+J leaves them:
    the copy's triangles keep their order, so they face inwards."""
    mesh = bpy.data.meshes.new("Half")
    work = bmesh.new()
    bmesh.ops.create_uvsphere(work, u_segments=32, v_segments=16, radius=1.0)
    bmesh.ops.delete(work, geom=[f for f in work.faces if f.calc_center_median().x < -1e-4], context="FACES")
    work.to_mesh(mesh)
    work.free()
    half = link(bpy.data.objects.new("Half", mesh))
    copy = link(bpy.data.objects.new("Copy", mesh.copy()))
    copy.scale = (-1.0, 1.0, 1.0)
    bpy.context.view_layer.update()
    with bpy.context.temp_override(active_object=half, selected_editable_objects=[half, copy],
                                   selected_objects=[half, copy]):
        assert bpy.ops.object.join() == {"FINISHED"}
    return half


def test_a_half_joined_with_its_mirrored_copy_completes_as_the_whole(addon, scene):
    scan = half_and_its_mirror_joined()
    select_only(scan)
    normals = np.empty(len(scan.data.polygons) * 3, dtype=np.float32)
    scan.data.polygons.foreach_get("normal", normals)
    assert np.mean(normals.reshape(-1, 3)[:, 0] < 0) < 0.02  # the stored mirrored half faces inwards

    observation = observe(addon, [scan])
    assert outward_share(observation, 0.0) > 0.99  # 0.5 as stored
    assert any("turned" in note for note in observation.notes)

    result = complete(scan)
    assert world_normals_outward(result, np.zeros(3)) > 0.99
    assert world_volume(result) > 0.9 * 4 / 3 * np.pi
    assert sphere_error(result, np.zeros(3), 1.0) < 0.03
    flags = np.empty(len(result.data.polygons), dtype=bool)
    result.data.attributes["neurep_invented"].data.foreach_get("value", flags)
    assert flags.mean() < 0.05  # the whole sphere was observed


def far_scan(name, offset) -> bpy.types.Object:
    """The test scan (radius 1.5) with its vertices moved by ``offset`` in its own data, object at the origin."""
    scan = holed_sphere(name=name, location=(0.0, 0.0, 0.0), scale=1.0)
    scan.data.transform(Matrix.Diagonal((1.5, 1.5, 1.5, 1.0)))
    scan.data.transform(Matrix.Translation(offset))
    bpy.context.view_layer.update()
    return scan


def test_a_far_scan_keeps_its_detail_as_at_the_origin(scene):
    offset = np.array([1e5, 0.0, 0.0])
    near = complete(far_scan("Near", (0.0, 0.0, 0.0)))
    far = complete(far_scan("Far", tuple(offset)))

    assert np.allclose(np.array(near.matrix_world), np.eye(4))  # near the origin: the source's own frame
    assert np.allclose(np.array(far.matrix_world.translation), offset, atol=0.1)
    assert np.abs(vertex_positions(far)).max() < 2.0  # the mesh data stays small
    distinct_near = len(np.unique(vertex_positions(near)[:, 0]))
    distinct_far = len(np.unique(vertex_positions(far)[:, 0]))
    assert distinct_far > 0.9 * distinct_near  # 254 distinct x values among 42,956 vertices before
    error_near = sphere_error(near, np.zeros(3), 1.5)
    error_far = sphere_error(far, offset, 1.5)
    assert error_far < 2 * error_near + 0.005 and error_far < 0.03 * 1.5


def test_a_far_preview_keeps_its_detail(addon, scene):
    sphere = bpy.data.meshes.new("Sphere")
    work = bmesh.new()
    bmesh.ops.create_icosphere(work, subdivisions=4, radius=1.0)
    work.to_mesh(sphere)
    work.free()
    vertices = vertex_positions_of(sphere) + 1e5
    faces = triangles(sphere)
    addon.scene_io.show_preview("Scan_preview", scene.collection, vertices, faces)
    preview = bpy.data.objects["Scan_preview"]
    bpy.context.view_layer.update()
    assert np.abs(vertex_positions(preview)).max() < 1.01
    assert np.abs(world_positions(preview) - vertices).max() < 1e-5  # 0.004 stored around the origin


def vertex_positions_of(mesh) -> np.ndarray:
    values = np.empty(len(mesh.vertices) * 3, dtype=np.float32)
    mesh.vertices.foreach_get("co", values)
    return values.reshape(-1, 3).astype(np.float64)



@pytest.mark.parametrize("mode, name", [("COMPLETE", "Scan_completed"), ("FILL_HOLES", "Scan_filled")])
def test_the_result_of_a_parented_scan_has_its_parent_and_stays_where_it_was(scene, mode, name):
    rig = link(bpy.data.objects.new("Rig", None))
    rig.location, rig.rotation_euler, rig.scale = (1.0, -2.0, 0.5), (0.3, 0.0, 0.8), (2.0, 2.0, 2.0)
    bpy.context.view_layer.update()
    scan = holed_sphere(location=(0.0, 0.0, 0.0), scale=1.0)
    scan.parent = rig
    scan.location = (0.5, 0.0, 0.0)
    bpy.context.view_layer.update()
    centre = np.array(scan.matrix_world.translation)
    select_only(scan)

    assert bpy.ops.neurep.complete(**TINY_FIT, mode=mode) == {"FINISHED"}

    result = bpy.data.objects[name]
    bpy.context.view_layer.update()
    assert result.parent == rig and result.parent_type == "OBJECT"
    positions = world_positions(result)
    assert np.allclose((positions.min(axis=0) + positions.max(axis=0)) / 2, centre, atol=0.4)
    assert 1.6 < (positions.max(axis=0) - positions.min(axis=0)).max() / 2 < 2.5  # radius 1, scaled by 2
    if mode == "FILL_HOLES":
        assert np.allclose(np.array(result.matrix_world), np.array(scan.matrix_world), atol=1e-5)
    before = world_positions(result)
    rig.location.x += 3.0
    bpy.context.view_layer.update()
    assert np.allclose(world_positions(result) - before, [3.0, 0.0, 0.0], atol=1e-4)  # moves with its scan
    assert scan.parent == rig and np.allclose(np.array(scan.matrix_world.translation), centre + [3.0, 0, 0])
