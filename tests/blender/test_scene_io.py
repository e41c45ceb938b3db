"""Selected objects -> one world-space observation; the result object and its attributes."""

from __future__ import annotations

import bpy
import numpy as np
import pytest

from .conftest import addon_module, holed_sphere, point_cloud, select_only, sphere_points, vertex_mesh


def observe(addon, objects):
    return addon.scene_io.observation_from_objects(objects, bpy.context.evaluated_depsgraph_get(), seed=0,
                                                   mesh_samples=5000)


def test_mesh_faces_give_world_space_samples_with_outward_normals(addon, scene):
    scan = holed_sphere(location=(2.0, 0.0, 1.0), scale=1.5)
    observation = observe(addon, [scan])
    centre = np.array([2.0, 0.0, 1.0])
    radii = np.linalg.norm(observation.points - centre, axis=1)
    assert observation.points.shape == (5000, 3)
    assert radii.min() > 1.4 and radii.max() < 1.51  # on the scaled sphere, in world space
    assert observation.has_normals
    assert np.mean(np.einsum("ij,ij->i", observation.normals, observation.points - centre) > 0) > 0.99
    assert observation.points[:, 2].max() < 1.0 + 0.75 * 1.5  # the hole stays a hole



def test_a_mesh_is_sampled_as_the_command_line_samples_its_file(addon, scene, tmp_path):
    """The same triangles give the same samples in Blender and from a file (one sampler, one seed rule)."""
    scan = holed_sphere(location=(2.0, 0.0, 1.0), scale=1.5)
    mesh = scan.data
    local = np.empty(len(mesh.vertices) * 3, dtype=np.float32)
    mesh.vertices.foreach_get("co", local)
    matrix = np.array(scan.matrix_world, dtype=np.float64)
    vertices = local.reshape(-1, 3).astype(np.float64) @ matrix[:3, :3].T + matrix[:3, 3]
    mesh.calc_loop_triangles()
    triangles = np.empty(len(mesh.loop_triangles) * 3, dtype=np.int32)
    mesh.loop_triangles.foreach_get("vertices", triangles)
    io = addon_module("core.io")
    path = io.write_mesh(tmp_path / "scan.obj", vertices, triangles.reshape(-1, 3))
    from_file = io.read_observation(path, seed=0, mesh_samples=5000)
    in_blender = observe(addon, [scan])
    np.testing.assert_allclose(in_blender.points, from_file.points, rtol=0, atol=1e-12)
    np.testing.assert_allclose(in_blender.normals, from_file.normals, rtol=0, atol=1e-12)

def test_modifiers_are_evaluated(addon, scene):
    scan = holed_sphere(location=(0.0, 0.0, 0.0), scale=1.0)
    mirror_offset = scan.modifiers.new("Array", "ARRAY")
    mirror_offset.count, mirror_offset.relative_offset_displace = 2, (3.0, 0.0, 0.0)
    observation = observe(addon, [scan])
    assert observation.points[:, 0].max() > 6.5  # the second copy exists only after the modifier


def test_vertex_only_mesh_and_point_cloud_are_points_without_normals(addon, scene):
    vertices = vertex_mesh("Verts", sphere_points(300))
    vertices.location = (0.0, 0.0, 5.0)
    cloud = point_cloud("Cloud", sphere_points(200, seed=1))
    observation = observe(addon, [vertices, cloud])
    assert len(observation) == 500 and not observation.has_normals
    assert np.isclose(observation.points[:300, 2].mean(), 5.0, atol=0.2)


def test_geometry_nodes_point_output_is_read(addon, scene):
    source = holed_sphere(location=(0.0, 0.0, 0.0), scale=1.0)
    tree = bpy.data.node_groups.new("ToPoints", "GeometryNodeTree")
    tree.interface.new_socket("Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
    tree.interface.new_socket("Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
    group_in, group_out = tree.nodes.new("NodeGroupInput"), tree.nodes.new("NodeGroupOutput")
    to_points = tree.nodes.new("GeometryNodeMeshToPoints")
    tree.links.new(group_in.outputs[0], to_points.inputs["Mesh"])
    tree.links.new(to_points.outputs["Points"], group_out.inputs[0])
    source.modifiers.new("Points", "NODES").node_group = tree
    observation = observe(addon, [source])
    assert len(observation) == len(source.data.vertices) and not observation.has_normals


@pytest.mark.parametrize("make, message", [
    (lambda: [], "nothing is selected"),
    (lambda: [bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))], "'Camera' (camera)"),
    (lambda: [bpy.data.objects.new("Empty", None)], "'Empty' (empty)"),
    (lambda: [vertex_mesh("Empty mesh", np.zeros((0, 3)))], "no points after modifiers"),
])
def test_unusable_selections_are_named(addon, scene, make, message):
    with pytest.raises(addon.scene_io.InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        observe(addon, make())


def test_other_object_types_are_skipped_with_a_note(addon, scene):
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    observation = observe(addon, [camera, vertex_mesh("Verts", sphere_points(300))])
    assert len(observation) == 300 and any("Camera" in note for note in observation.notes)


def test_result_object_carries_distance_and_colour(addon, scene):
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float64) + 10.0
    faces = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    distance = np.array([0.0, 0.01, 0.5, 1.0])
    ob = addon.scene_io.create_result_object("Result", scene.collection, vertices, faces, distance)
    select_only(ob)
    assert len(ob.data.polygons) == 4 and tuple(ob.location) == (0.0, 0.0, 0.0)
    stored = np.empty(4, dtype=np.float32)
    ob.data.attributes["neurep_distance"].data.foreach_get("value", stored)
    assert np.allclose(stored, distance)
    colours = np.empty(16, dtype=np.float32)
    ob.data.color_attributes["neurep_distance_color"].data.foreach_get("color", colours)
    colours = colours.reshape(4, 4)
    assert colours[0, 2] > colours[3, 2]  # observed (grey) is bluer than invented (orange)
    assert ob.data.color_attributes.active_color.name == "neurep_distance_color"
