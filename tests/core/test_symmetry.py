import numpy as np
import trimesh

from neurep_addon.core.normals import estimate_normals
from neurep_addon.core.observation import Normalization
from neurep_addon.core.symmetry import (MIN_FAR_SUPPORT, Observed, detect_plane, detect_planes, far_support,
                                        mirrored_evidence, planes_for)
from neurep_addon.evaluation.suite import (ABOVE_AND_SIDE, QUALITY_VIEWS, asymmetric_blob, cut_case, cut_shape,
                                           mirrored_animal)
from neurep_addon.tasks.synth import depth_scan
from tests.helpers import icosphere_samples

def scanned(mesh: trimesh.Trimesh) -> tuple[np.ndarray, np.ndarray, Normalization]:
    scan = depth_scan(mesh, QUALITY_VIEWS, np.random.default_rng(0), resolution=128)
    normalization = Normalization.fit(scan.points)
    points = normalization.to_box(scan.points)
    return points, estimate_normals(points), normalization


def test_the_mirror_plane_of_a_symmetric_shape_seen_from_one_side_is_found():
    points, normals, normalization = scanned(mirrored_animal())
    plane = detect_plane(points, normals)
    assert plane is not None
    assert abs(plane.normal[0]) > 0.99
    in_input_units = plane.to_dict(normalization.center, normalization.scale)
    assert abs(in_input_units["offset"]) < 0.03  # the plane x = 0, in the input's units
    mirrored, _ = mirrored_evidence(points, normals, plane)
    assert len(mirrored) > 0.1 * len(points)
    assert (normalization.to_world(mirrored)[:, 0] * np.sign(plane.normal[0]) < 0.05).mean() > 0.9  # unseen half


def test_an_asymmetric_shape_has_no_confident_plane():
    points, normals, _ = scanned(asymmetric_blob())
    assert detect_plane(points, normals) is None
    assert planes_for("auto", points, normals) == []
    assert planes_for("off", points, normals) == []
    assert [plane.normal.tolist() for plane in planes_for("y", points, normals)] == [[0.0, 1.0, 0.0]]


def test_walls_crossing_a_plane_do_not_pin_it():
    """The sides of an extrusion along y mirror onto themselves across every plane y = c, so they support any
    of them; with its ends unseen no such plane may be detected (a 2-view scan of fandisk got one this way)."""
    profile = np.array([[0.0, 0.0], [1.0, 0.0], [0.2, 0.7]])  # a scalene triangle: no mirror plane in x-z
    rng = np.random.default_rng(0)
    points, normals = [], []
    for a, b in zip(profile, np.roll(profile, -1, axis=0)):
        t, y = rng.random(4000), rng.uniform(-1.0, 1.0, 4000)
        xz = a + t[:, None] * (b - a)
        points.append(np.column_stack([xz[:, 0], y, xz[:, 1]]))
        outward = np.array([b[1] - a[1], -(b[0] - a[0])]) / np.linalg.norm(b - a)
        normals.append(np.tile([outward[0], 0.0, outward[1]], (4000, 1)))
    points, normals = np.concatenate(points), np.concatenate(normals)
    points = Normalization.fit(points).to_box(points)
    assert detect_plane(points, normals) is None


def test_a_sphere_missing_its_top_gets_the_plane_across_that_carries_the_bottom_into_the_hole():
    points, normals = icosphere_samples(15000, subdivisions=4)
    keep = points[:, 2] < 0.72
    normalization = Normalization.fit(points[keep])
    box, normals = normalization.to_box(points[keep]), normals[keep]
    planes = detect_planes(box, normals)
    assert len(planes) == 2 and abs(planes[0].normal[2]) < 0.2  # the best supported: a vertical plane
    across = planes[1]
    assert abs(across.normal[2]) > 0.99
    assert abs(across.to_dict(normalization.center, normalization.scale)["offset"]) < 0.03  # z = 0
    mirrored = normalization.to_world(mirrored_evidence(box, normals, across)[0])
    assert np.abs(np.linalg.norm(mirrored, axis=1) - 1).max() < 0.01  # on the sphere
    assert (mirrored[:, 2] > 0.72).sum() > 0.5 * len(mirrored) > 300  # mostly in the hole


def test_shapes_with_one_plane_get_one():
    points, normals, _ = scanned(mirrored_animal())
    assert len(detect_planes(points, normals)) == 1
    points, normals, _ = scanned(asymmetric_blob())
    assert detect_planes(points, normals) == []


def in_box(observation) -> tuple[np.ndarray, np.ndarray]:
    normalization = Normalization.fit(observation.points)
    points = normalization.to_box(observation.points)
    return points, estimate_normals(points)


def test_a_scan_that_ends_at_a_plane_gets_no_plane_parallel_to_the_cut():
    """The torus and the mirror-symmetric animal, 60% kept below a cut across z: no plane normal to z has
    observed data on both sides (the torus's equator lies 0.03 below its cut, the animal has none), so none
    may be detected; the points near the cut mirror onto themselves and supported such planes before (the
    animal's at confidence 0.92)."""
    for shape in ("torus", "animal"):
        points, normals = in_box(cut_case(shape, "z").observation)
        planes = detect_planes(points, normals)
        assert all(abs(plane.normal[2]) < 0.5 for plane in planes), shape


def test_a_box_cut_through_its_middle_keeps_the_planes_across_the_cut():
    """The box's planes y = 0 and z = 0 are not bounded by a cut across x + z: both are still found."""
    observation = cut_case("box", "xz").observation
    normalization = Normalization.fit(observation.points)
    points, normals = in_box(observation)
    planes = [plane.to_dict(normalization.center, normalization.scale) for plane in detect_planes(points, normals)]
    assert sorted(int(np.argmax(np.abs(plane["normal"]))) for plane in planes) == [1, 2]
    assert all(abs(plane["offset"]) < 0.02 for plane in planes)


def test_the_far_support_of_a_true_plane_is_high_and_of_the_cut_plane_none():
    """The torus seen from above and from one side: its equator (data on both sides) has far support; the
    plane of a half torus cut at z = 0, at the end of its data, has none."""
    torus = cut_shape("torus")
    scan = depth_scan(torus, ABOVE_AND_SIDE, np.random.default_rng(0), resolution=128)
    half = cut_case("torus", "z", 0.5).observation
    far = []
    for observation in (scan, half):
        normalization = Normalization.fit(observation.points)
        points, normals = in_box(observation)
        offset = float(normalization.to_box(np.zeros((1, 3)))[0, 2])  # z = 0 in the box
        sample = np.random.default_rng(0).choice(len(points), 1500, replace=False)
        far.append(far_support(np.array([0.0, 0.0, 1.0]), offset, Observed.of(points, normals), sample))
    assert far[0] > 2 * MIN_FAR_SUPPORT and far[1] < 0.2 * MIN_FAR_SUPPORT
