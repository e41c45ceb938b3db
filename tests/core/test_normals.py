import numpy as np

from neurep_addon.core.normals import estimate_normals
from neurep_addon.tasks.synth import depth_scan


def test_estimated_normals_on_a_sphere_point_outwards(holed_sphere):
    points, truth = holed_sphere
    normals = estimate_normals(points, k=16)
    agreement = np.einsum("ij,ij->i", normals, truth)
    assert (agreement > 0.9).mean() > 0.99


def test_estimated_normals_of_a_two_view_torus_scan_are_consistent(torus_mesh):
    scan = depth_scan(torus_mesh, np.array([[0, 0.3, 1.0], [0.2, -0.4, -1.0]]), np.random.default_rng(0),
                      resolution=128, with_normals=True)
    normals = estimate_normals(scan.points, k=16)
    agreement = np.einsum("ij,ij->i", normals, scan.normals)
    assert (agreement > 0.5).mean() > 0.97
