import numpy as np
import pytest
import trimesh

from neurep_addon.core.errors import InputError
from neurep_addon.core.holes import (HoleFill, boundary_loops, boundary_of, fill_holes, fill_holes_minimal_area,
                                     find_holes, planarity)
from tests.helpers import holed_icosphere


def sphere_field(points):
    radius = np.linalg.norm(points, axis=1)
    return radius - 1.0, points / radius[:, None]


def torus_field(points, major=1.0, minor=0.4):
    ring = np.linalg.norm(points[:, :2], axis=1)
    offset = np.stack([(ring - major) * points[:, 0] / ring, (ring - major) * points[:, 1] / ring, points[:, 2]], axis=1)
    distance = np.linalg.norm(offset, axis=1)
    return distance - minor, offset / distance[:, None]


def cut(mesh, remove):
    """The mesh's vertices (all kept, so unused ones stay) and the faces not removed."""
    return np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces)[~remove]


@pytest.fixture(scope="module")
def holed_sphere():
    """A unit icosphere without its top cap (a 32-vertex loop) and a side window (a 30-vertex loop)."""
    return holed_icosphere()


@pytest.fixture(scope="module")
def sphere_fill(holed_sphere):
    return fill_holes(*holed_sphere, sphere_field)


def surface_samples(vertices, faces, count: int = 4000) -> np.ndarray:
    points, _ = trimesh.sample.sample_surface(trimesh.Trimesh(vertices, faces, process=False), count, seed=0)
    return points


def patch_samples(fill: HoleFill) -> np.ndarray:
    return surface_samples(fill.vertices, fill.faces[fill.input_faces:])


def closed_and_whole(fill: HoleFill) -> bool:
    mesh = trimesh.Trimesh(fill.vertices, fill.faces, process=False)
    return mesh.is_watertight and mesh.is_winding_consistent and len(mesh.split(only_watertight=False)) == 1


def test_the_scan_comes_back_bit_identical_in_front(holed_sphere, sphere_fill):
    vertices, faces = holed_sphere
    assert sphere_fill.vertices[:len(vertices)].tobytes() == vertices.tobytes()
    assert np.array_equal(sphere_fill.faces[:len(faces)], faces)
    assert sphere_fill.input_faces == len(faces)
    assert sphere_fill.added.sum() == len(sphere_fill.faces) - len(faces) > 0


def test_holes_close_watertight_on_the_fitted_surface(holed_sphere, sphere_fill):
    assert (sphere_fill.holes_closed, sphere_fill.holes_left_open) == (2, 0)
    assert sorted(len(hole.vertices) for hole in sphere_fill.holes) == [30, 32]
    assert closed_and_whole(sphere_fill)
    new_vertices = sphere_fill.vertices[len(holed_sphere[0]):]
    assert len(new_vertices) > 20
    assert np.abs(np.linalg.norm(new_vertices, axis=1) - 1).max() < 1e-6
    # Between their vertices flat triangles leave the sphere, the scan's as much as the patch's.
    scan_sag = np.abs(np.linalg.norm(surface_samples(*holed_sphere), axis=1) - 1).max()
    assert np.abs(np.linalg.norm(patch_samples(sphere_fill), axis=1) - 1).max() < 2 * scan_sag < 0.01
    assert sphere_fill.added_area == pytest.approx(sum(hole.added_area for hole in sphere_fill.holes))
    cap_area = 2 * np.pi * (1 - 0.72)  # the spherical cap's area, roughly what the top hole misses
    assert 0.8 * cap_area < max(hole.added_area for hole in sphere_fill.holes) < 1.3 * cap_area


def test_patch_triangles_match_the_scan_and_face_outwards(holed_sphere, sphere_fill):
    corners = sphere_fill.vertices[sphere_fill.faces[sphere_fill.added]]
    edges = np.linalg.norm(corners - np.roll(corners, 1, axis=1), axis=2)
    boundary_edge = np.mean([hole.perimeter / len(hole.vertices) for hole in sphere_fill.holes])
    assert 0.4 * boundary_edge < edges.min() and edges.max() < 2.5 * boundary_edge
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    _, gradients = sphere_field(corners.mean(axis=1))
    assert np.einsum("ij,ij->i", normals, gradients).min() > 0.98


def fold_across_loops(fill: HoleFill) -> float:
    """The largest angle (radians) between a scan face and the patch face across a side of a loop."""
    mesh = trimesh.Trimesh(fill.vertices, fill.faces, process=False)
    pairs = mesh.face_adjacency
    crossing = (pairs < fill.input_faces).sum(axis=1) == 1
    return float(mesh.face_adjacency_angles[crossing].max())


def test_the_patch_meets_the_scan_without_a_crease(holed_sphere, sphere_fill):
    scan = trimesh.Trimesh(*holed_sphere, process=False)
    assert fold_across_loops(sphere_fill) < 1.5 * scan.face_adjacency_angles.max()
    assert fold_across_loops(fill_holes_minimal_area(*holed_sphere)) > 3 * scan.face_adjacency_angles.max()


def test_max_size_leaves_the_cap_open_and_closes_the_window(holed_sphere):
    fill = fill_holes(*holed_sphere, sphere_field, max_size=1.6)
    by_length = {len(hole.vertices): hole for hole in fill.holes}
    cap, window = by_length[32], by_length[30]
    assert cap.size > 1.6 > window.size
    assert not cap.closed and "larger than max size" in cap.reason and cap.added_faces == 0
    assert window.closed and window.reason == "" and window.added_faces > 0
    assert (fill.holes_closed, fill.holes_left_open) == (1, 1)
    assert len(boundary_loops(fill.faces)) == 1


def test_only_the_selected_loops_are_filled(holed_sphere):
    window_vertex = next(hole.vertices[0] for hole in fill_holes_minimal_area(*holed_sphere).holes
                         if len(hole.vertices) == 30)
    fill = fill_holes(*holed_sphere, sphere_field, selected=[window_vertex, 0])
    assert {len(hole.vertices): (hole.closed, hole.reason) for hole in fill.holes} == {
        30: (True, ""), 32: (False, "not selected")}
    with pytest.raises(InputError, match="selected vertex 99999 does not exist"):
        fill_holes(*holed_sphere, sphere_field, selected=[99999])


def test_a_closed_mesh_comes_back_unchanged():
    sphere = trimesh.creation.icosphere(subdivisions=2)
    fill = fill_holes(sphere.vertices, sphere.faces, sphere_field)
    assert np.array_equal(fill.vertices, sphere.vertices) and np.array_equal(fill.faces, sphere.faces)
    assert fill.holes == [] and fill.holes_closed == 0 and fill.added_area == 0


def test_two_holes_touching_at_a_vertex_are_split_and_closed():
    sphere = trimesh.creation.icosphere(subdivisions=3)
    touch = np.asarray(sphere.vertices[0])
    side = np.cross(touch, [0.3, 0.2, 0.9])
    offset = sphere.triangles_center - touch
    along = offset @ side / np.linalg.norm(side)
    # Two wedges opposite each other across vertex 0, with the faces between them kept.
    remove = (np.linalg.norm(offset, axis=1) < 0.35) & (np.abs(along) > 0.75 * np.linalg.norm(offset, axis=1))
    vertices, faces = cut(sphere, remove)
    loops = boundary_loops(faces)
    assert len(loops) == 2 and set(loops[0].tolist()) & set(loops[1].tolist()) == {0}
    fill = fill_holes(vertices, faces, sphere_field)
    assert fill.holes_closed == 2
    assert closed_and_whole(fill)


def test_a_holed_torus_closes_watertight_on_the_torus():
    torus = trimesh.creation.torus(major_radius=1.0, minor_radius=0.4, major_sections=48, minor_sections=24)
    centre = torus.triangles_center
    remove = (np.linalg.norm(centre - [1.0, 0.0, 0.4], axis=1) < 0.35) | (np.linalg.norm(centre - [0, -1.4, 0], axis=1) < 0.3)
    vertices, faces = cut(torus, remove)
    fill = fill_holes(vertices, faces, torus_field)
    assert (fill.holes_closed, fill.holes_left_open) == (2, 0)
    assert closed_and_whole(fill)
    assert np.abs(torus_field(fill.vertices[len(vertices):])[0]).max() < 1e-6
    scan_sag = np.abs(torus_field(surface_samples(vertices, faces))[0]).max()
    assert np.abs(torus_field(patch_samples(fill))[0]).max() < 2 * scan_sag < 0.02


def test_loops_the_surface_cannot_span_stay_open_with_a_reason():
    torus = trimesh.creation.torus(major_radius=1.0, minor_radius=0.4, major_sections=48, minor_sections=24)
    centre = torus.triangles_center
    vertices, faces = cut(torus, (np.abs(centre[:, 1]) < 0.12) & (centre[:, 0] > 0))  # a band around the tube
    fill = fill_holes(vertices, faces, torus_field)
    assert len(fill.holes) == 2 and fill.holes_closed == 0
    assert all("spans no disk across this loop" in hole.reason for hole in fill.holes)
    assert np.array_equal(fill.faces, faces) and np.array_equal(fill.vertices, vertices)


def test_the_minimal_area_baseline_closes_but_leaves_the_surface(holed_sphere, sphere_fill):
    baseline = fill_holes_minimal_area(*holed_sphere)
    assert baseline.holes_closed == 2 and closed_and_whole(baseline)
    assert len(baseline.vertices) == len(holed_sphere[0])
    assert baseline.vertices.tobytes() == holed_sphere[0].tobytes()
    flat = np.abs(np.linalg.norm(patch_samples(baseline), axis=1) - 1).max()
    fitted = np.abs(np.linalg.norm(patch_samples(sphere_fill), axis=1) - 1).max()
    assert flat > 0.2 and flat > 20 * fitted


def test_a_patch_that_cannot_reach_the_surface_stays_open(holed_sphere):
    def flat_field(points):  # no zero crossing at all: the projection cannot converge
        return np.ones(len(points)), np.tile([0.0, 0.0, 1.0], (len(points), 1)) * 1e-9
    fill = fill_holes(*holed_sphere, flat_field)
    assert fill.holes_closed == 0 and len(fill.faces) == len(holed_sphere[1])
    assert all("did not converge" in hole.reason for hole in fill.holes)


def test_a_field_facing_the_wrong_way_somewhere_leaves_the_loop_open(holed_sphere):
    def twisted_field(points):  # the sphere, but inside out where x > 0.9 (the middle of the window)
        values, gradients = sphere_field(points)
        sign = np.where(points[:, 0] > 0.9, -1.0, 1.0)
        return sign * values, sign[:, None] * gradients
    fill = fill_holes(*holed_sphere, twisted_field)
    window = next(hole for hole in fill.holes if len(hole.vertices) == 30)
    assert not window.closed and "face against the fitted surface" in window.reason


@pytest.mark.parametrize("vertices, faces, message", [
    (np.zeros((3, 3)), np.zeros((0, 3), dtype=int), "no faces"),
    (np.zeros((4, 3)), np.array([[0, 1, 2, 3]]), "triangle mesh; the faces have 4 corners"),
    (np.array([[0, 0, 0], [1, 0, 0], [np.nan, 1, 0]]), np.array([[0, 1, 2]]), "the first is vertex 2"),
    (np.eye(3), np.array([[0, 1, 5]]), "faces refer to vertex 5, but the mesh has 3 vertices"),
    (np.eye(3), np.array([[0, 1, 1]]), "use a vertex twice"),
])
def test_unusable_meshes_are_rejected_with_a_reason(vertices, faces, message):
    with pytest.raises(InputError, match=message):
        fill_holes(vertices, faces, sphere_field)


def based_sphere_with_a_side_hole():
    """A level-3 icosphere cut flat below z = -0.5 (a statue's base) with a small hole in its side (the six
    faces around the vertex nearest (1, 0, 0))."""
    sphere = trimesh.creation.icosphere(subdivisions=3)
    centre = sphere.triangles_center
    side = int(np.argmin(np.linalg.norm(sphere.vertices - [1.0, 0.0, 0.0], axis=1)))
    return cut(sphere, (centre[:, 2] < -0.5) | (np.asarray(sphere.faces) == side).any(axis=1))


def test_holes_are_classified_by_size_share_and_planarity():
    vertices, faces = based_sphere_with_a_side_hole()
    base, side = sorted(find_holes(vertices, boundary_of(vertices, faces), keep_open="planar"),
                        key=lambda hole: -hole.size)
    assert base.planar and not side.planar
    assert base.reason.startswith("a planar cut (flat within") and "meets it at" in base.reason
    assert len(side.vertices) == 6 and side.share < 0.15 < base.share < 1
    assert base.share == pytest.approx(base.size / np.linalg.norm(np.ptp(vertices, axis=0)))
    flatness, angle = planarity(vertices[base.vertices], np.tile([0.0, 0.0, 1.0], (len(base.vertices), 1)),
                                np.ones(len(base.vertices)))
    assert angle == pytest.approx(0.0, abs=1e-6) and flatness < 0.05  # faces lying in the plane: a hole in a wall


@pytest.mark.parametrize("keep_open, open_reasons", [
    ("none", []),
    ("largest", ["the largest opening"]),
    ("planar", ["a planar cut"]),
])
def test_keep_open_leaves_the_base_open_and_closes_the_small_hole(keep_open, open_reasons):
    vertices, faces = based_sphere_with_a_side_hole()
    fill = fill_holes(vertices, faces, sphere_field, keep_open=keep_open)
    assert [hole.reason.split(" (")[0] for hole in fill.holes if not hole.closed] == open_reasons
    assert fill.holes_closed == 2 - len(open_reasons)
    assert len(boundary_loops(fill.faces)) == len(open_reasons)  # measured on the output mesh


def test_a_size_limit_and_a_selection_decide_before_keep_open():
    vertices, faces = based_sphere_with_a_side_hole()
    holes = find_holes(vertices, boundary_of(vertices, faces), keep_open="largest", max_percent=10.0)
    base, side = sorted(holes, key=lambda hole: -hole.size)
    assert base.reason == "the largest opening" and side.reason.startswith("larger than max percent (")
    picked = find_holes(vertices, boundary_of(vertices, faces), keep_open="largest",
                        selected=base.vertices[:1])
    assert {hole.reason for hole in picked} == {"", "not selected"}
    assert next(hole for hole in picked if not hole.reason).size == base.size  # picked: filled anyway
    with pytest.raises(ValueError, match="keep_open must be one of"):
        find_holes(vertices, boundary_of(vertices, faces), keep_open="all")


def test_the_boundary_normals_are_the_faces_along_it():
    vertices, faces = based_sphere_with_a_side_hole()
    boundary = boundary_of(vertices, faces)
    assert len(boundary.edges) == sum(len(loop) for loop in boundary_loops(faces))
    assert np.allclose(np.linalg.norm(boundary.normals, axis=1), 1.0)
    # every face here faces outwards, so its normal points away from the centre
    midpoints = vertices[boundary.edges].mean(axis=1)
    assert (np.einsum("ij,ij->i", boundary.normals, midpoints) > 0).all()
