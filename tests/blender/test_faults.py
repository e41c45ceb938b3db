"""Faults on the Blender side: the scene changing under a live run, a second start, awkward meshes.

Live runs are driven as in ``test_live.py``: ``CompletionRun.tick()`` between the changes, as the modal
operator's timer calls it. Each case checks the message the user reads and what the scene holds afterwards:
object, mesh and material counts, no preview left, the source as the user left it.
"""

from __future__ import annotations

import json

import bmesh
import bpy
import numpy as np
import pytest

from .conftest import TINY_FIT, holed_sphere, link, select_only, sphere_points, vertex_mesh, vertex_positions
from .test_live import make_request, run_ticks, wait_for_preview


def counts() -> dict[str, int]:
    return {"objects": len(bpy.data.objects), "meshes": len(bpy.data.meshes),
            "materials": len(bpy.data.materials)}


def no_preview(addon) -> bool:
    return not any(addon.scene_io.PREVIEW_TAG in ob for ob in bpy.data.objects) and \
        not any(name.endswith("_preview") for name in bpy.data.meshes.keys())


def start_live(addon, scan, steps=40):
    live = addon.run.CompletionRun(make_request(addon, scan, steps=steps, preview_every=2)).start()
    wait_for_preview(live, f"{scan.name}_preview")
    return live


def last_summaries() -> list[dict]:
    return json.loads(bpy.context.window_manager.neurep_job.last_result)["results"]


def in_collection(scene, name="Scans"):
    collection = bpy.data.collections.new(name)
    scene.collection.children.link(collection)
    scan = holed_sphere()
    scene.collection.objects.unlink(scan)
    collection.objects.link(scan)
    select_only(scan)
    return scan, collection


def test_source_deleted_during_the_fit_result_kept_in_the_scene(addon, scene):
    scan, _ = in_collection(scene)
    live = start_live(addon, scan)
    mesh = scan.data
    bpy.data.objects.remove(scan)
    bpy.data.meshes.remove(mesh)
    assert run_ticks(live) == "FINISHED"
    assert sorted(bpy.data.objects.keys()) == ["Scan_completed"] and no_preview(addon)
    assert bpy.data.objects["Scan_completed"].users_collection[0] == scene.collection
    warning = live.summary["warnings"][0]
    assert "'Scan' was deleted during the fit" in warning and "as it was when the fit started" in warning
    assert "in the scene's main collection" in live.summary["warnings"][1]
    assert counts() == {"objects": 1, "meshes": 1, "materials": 1}  # the result, its mesh, the invented material


def test_source_renamed_during_the_fit_result_goes_next_to_it_under_the_new_name(addon, scene):
    scan, collection = in_collection(scene)
    positions = vertex_positions(scan).copy()
    live = start_live(addon, scan)
    scan.name = "Bust"
    assert run_ticks(live) == "FINISHED"
    assert sorted(bpy.data.objects.keys()) == ["Bust", "Bust_completed"] and no_preview(addon)
    result = bpy.data.objects["Bust_completed"]
    assert result.users_collection[0] == collection and result.matrix_basis == scan.matrix_world
    assert live.summary["object"] == "Bust_completed"
    assert "'Scan' was renamed 'Bust' during the fit" in live.summary["warnings"][0]
    assert np.array_equal(vertex_positions(scan), positions)


def test_source_edited_during_the_fit_result_completes_it_as_it_was(addon, scene):
    scan = holed_sphere(location=(0.0, 0.0, 0.0), scale=1.0)
    select_only(scan)
    live = start_live(addon, scan)
    edited = vertex_positions(scan) * 3.0  # the user scales the mesh data while the fit runs
    scan.data.vertices.foreach_set("co", edited.ravel())
    scan.data.update()
    assert run_ticks(live) == "FINISHED" and no_preview(addon)
    assert "'Scan' was moved or edited during the fit" in live.summary["warnings"][0]
    assert np.array_equal(vertex_positions(scan), edited)  # the user's edit is kept, the source untouched
    result = vertex_positions(bpy.data.objects["Scan_completed"])
    assert 0.8 < np.ptp(result, axis=0).max() / 2 < 1.25  # the sphere of radius 1 it was at the start


def test_loading_a_file_stops_the_fit_and_says_why(addon, scene, capsys):
    scan = holed_sphere()
    select_only(scan)
    live = start_live(addon, scan, steps=5000)
    bpy.ops.wm.read_homefile(use_empty=True)  # load_pre stops the run, as opening a file does
    assert live.job.wait(timeout=1.0) and addon.run.active_completion() is None
    assert live.error == "cancelled: another file was loaded; nothing was added to the file that was open"
    assert "another file was loaded" in capsys.readouterr().out
    assert live.tick(bpy.context.window_manager) == "CANCELLED"  # a late timer event is harmless
    assert counts() == {"objects": 0, "meshes": 0, "materials": 0}


def test_undo_during_the_fit_the_result_still_lands_next_to_the_source(addon, scene):
    scan = holed_sphere()
    select_only(scan)
    start = vertex_positions(scan).copy(), scan.matrix_world.copy()
    window = bpy.context.window_manager.windows[0]
    with bpy.context.temp_override(window=window):
        bpy.ops.ed.undo_push(message="before")
        live = start_live(addon, scan)
        scan.location.x += 5.0
        bpy.ops.ed.undo_push(message="a move while fitting")
        bpy.ops.ed.undo()  # frees and re-reads every object: the run finds its source by session id
        assert run_ticks(live) == "FINISHED"
    scan = bpy.data.objects["Scan"]
    assert sorted(bpy.data.objects.keys()) == ["Scan", "Scan_completed"] and no_preview(addon)
    assert live.summary["warnings"] == []  # the undo put the source back as it was at the start
    assert np.array_equal(vertex_positions(scan), start[0]) and scan.matrix_world == start[1]
    assert bpy.data.objects["Scan_completed"].matrix_basis == start[1]


def test_a_second_start_is_refused_while_one_runs(addon, scene):
    scan = holed_sphere()
    select_only(scan)
    before = counts()
    live = addon.run.CompletionRun(make_request(addon, scan, steps=5000)).start()
    try:
        with pytest.raises(RuntimeError, match="A completion is already running"):
            bpy.ops.neurep.complete(**TINY_FIT)
        with pytest.raises(RuntimeError, match="A completion is already running"):
            bpy.ops.neurep.complete_files(filepath="scan.ply")
    finally:
        live.cancel()
    assert run_ticks(live) == "CANCELLED" and addon.run.active_completion() is None
    assert counts() == before and no_preview(addon)


def test_a_mesh_without_faces_completes_as_points(scene):
    dots = vertex_mesh("Dots", sphere_points(1500, radius=0.8))
    select_only(dots)
    positions = vertex_positions(dots).copy()
    assert bpy.ops.neurep.complete(**TINY_FIT) == {"FINISHED"}
    result = bpy.data.objects["Dots_completed"]
    assert len(result.data.polygons) > 100 and last_summaries()[0]["watertight"]
    assert np.array_equal(vertex_positions(dots), positions) and len(dots.data.polygons) == 0


def with_extra(name, build):
    """A holed sphere's mesh with ``build(bmesh)`` applied, as a new selected object."""
    scan = holed_sphere(name)
    work = bmesh.new()
    work.from_mesh(scan.data)
    build(work)
    work.to_mesh(scan.data)
    work.free()
    select_only(scan)
    return scan


def test_non_manifold_edges_complete(scene):
    def fin(work):  # a third face on an edge two faces already share
        work.edges.ensure_lookup_table()
        edge = next(e for e in work.edges if len(e.link_faces) == 2)
        tip = work.verts.new(edge.verts[0].co * 1.6)
        work.faces.new((edge.verts[0], edge.verts[1], tip))

    scan = with_extra("Fin", fin)
    positions = vertex_positions(scan).copy()
    assert bpy.ops.neurep.complete(**TINY_FIT) == {"FINISHED"}
    assert last_summaries()[0]["object"] == "Fin_completed"
    assert np.array_equal(vertex_positions(scan), positions)


def test_loose_vertices_are_named_as_ignored(scene):
    def loose(work):
        for x in range(5):
            work.verts.new((3.0 + x, 0.0, 0.0))

    with_extra("Loose", loose)
    assert bpy.ops.neurep.complete(**TINY_FIT) == {"FINISHED"}
    assert "ignored 5 loose vertices of 'Loose' (on no face)" in last_summaries()[0]["notes"]


def blow_up_modifier(ob):
    """Geometry nodes that move every vertex by position x (1e30 x 1e30): infinite coordinates."""
    tree = bpy.data.node_groups.new("Blow up", "GeometryNodeTree")
    tree.interface.new_socket("Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
    tree.interface.new_socket("Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
    nodes, links = tree.nodes, tree.links
    group_in, group_out = nodes.new("NodeGroupInput"), nodes.new("NodeGroupOutput")
    move, scale, huge = nodes.new("GeometryNodeSetPosition"), nodes.new("ShaderNodeVectorMath"), \
        nodes.new("ShaderNodeMath")
    scale.operation, huge.operation = "SCALE", "MULTIPLY"
    huge.inputs[0].default_value = huge.inputs[1].default_value = 1e30
    links.new(group_in.outputs[0], move.inputs["Geometry"])
    links.new(move.outputs[0], group_out.inputs[0])
    links.new(nodes.new("GeometryNodeInputPosition").outputs[0], scale.inputs[0])
    links.new(huge.outputs[0], scale.inputs["Scale"])
    links.new(scale.outputs[0], move.inputs["Offset"])
    ob.modifiers.new("Blow up", "NODES").node_group = tree


@pytest.mark.parametrize("mode", ["COMPLETE", "FILL_HOLES"])
def test_a_modifier_that_makes_infinite_coordinates_is_named(scene, mode):
    scan = holed_sphere()
    blow_up_modifier(scan)
    select_only(scan)
    before, positions = counts(), vertex_positions(scan).copy()
    with pytest.raises(RuntimeError, match=r"'Scan': 385 of 385 vertices have NaN or infinite coordinates "
                                           r"after its modifiers \(Blow up\).*nothing was created"):
        bpy.ops.neurep.complete(mode=mode, **TINY_FIT)
    assert counts() == before and np.array_equal(vertex_positions(scan), positions)


def test_points_with_nan_coordinates_are_named(scene):
    points = sphere_points(500)
    points[7] = np.nan
    dots = link(bpy.data.objects.new("Dots", bpy.data.meshes.new("Dots")))
    dots.data.vertices.add(len(points))
    dots.data.vertices.foreach_set("co", points.astype(np.float32).ravel())
    select_only(dots)
    with pytest.raises(RuntimeError, match=r"'Dots': 1 of 500 vertices have NaN or infinite coordinates in its data"):
        bpy.ops.neurep.complete(**TINY_FIT)
    assert counts() == {"objects": 1, "meshes": 1, "materials": 0}
