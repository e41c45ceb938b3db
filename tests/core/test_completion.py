"""End to end: partial generated shapes in, closed meshes out, within stated distances of the truth."""

import numpy as np
import pytest
import torch
import trimesh
from scipy.spatial import cKDTree

from neurep_addon.core.errors import ConfigError, FitCancelled, FitError, PriorError
from neurep_addon.core.observation import Observation
from neurep_addon.core.fit_settings import settings
from neurep_addon.core.completion import complete
from neurep_addon.core.prior import Prior
from neurep_addon.tasks.synth import depth_scan

from .conftest import DEVICE

SMALL = dict(steps=150, points_per_step=1024, resolution=64)


def two_sided_distances(vertices, truth_points):
    """Mean distance from the result to the truth, and from the truth to the result."""
    return cKDTree(truth_points).query(vertices)[0].mean(), cKDTree(vertices).query(truth_points)[0].mean()


def test_points_only_two_view_scan_of_a_torus_closes_into_one_torus(torus_mesh):
    scan = depth_scan(torus_mesh, np.array([[0.6, 0.3, 1.0], [-0.6, -0.4, -1.0]]), np.random.default_rng(0),
                      resolution=128)
    assert not scan.has_normals
    config, prior = settings("fast", "none", **SMALL)
    result = complete(scan, config, prior, device=DEVICE, seed=0)
    mesh = trimesh.Trimesh(result.vertices, result.faces)
    assert mesh.is_watertight and mesh.body_count == 1  # no ghost sheets
    assert mesh.euler_number == 0  # genus one: the hole stays open
    truth = trimesh.sample.sample_surface(torus_mesh, 20_000, seed=0)[0]
    to_truth, from_truth = two_sided_distances(result.vertices, truth)
    # Torus: outer diameter 2.8; stated bound 2% of it on both sides.
    assert to_truth < 0.056 and from_truth < 0.056
    assert result.stats.normals == "estimated" and result.stats.watertight


def test_sphere_with_two_holes_is_closed_near_the_sphere(holed_sphere):
    points, normals = holed_sphere
    config, prior = settings("fast", "none", **SMALL)
    # Far from the origin and in other units: the result comes back in the input's coordinates.
    offset, scale = np.array([100.0, -50.0, 20.0]), 0.01
    result = complete(Observation(points * scale + offset, normals), config, prior, device=DEVICE, seed=0)
    mesh = trimesh.Trimesh(result.vertices, result.faces)
    assert mesh.is_watertight and mesh.body_count == 1
    unit = (result.vertices - offset) / scale
    truth = np.random.default_rng(0).normal(size=(20_000, 3))
    truth /= np.linalg.norm(truth, axis=1, keepdims=True)
    to_truth, from_truth = two_sided_distances(unit, truth)
    # Unit sphere (diameter 2): within 5% of the diameter where observed plus hole fills.
    assert to_truth < 0.1 and from_truth < 0.1
    observed = cKDTree(points).query(unit)[0]
    np.testing.assert_allclose(result.distance, observed * scale, rtol=1e-6, atol=1e-9)


def test_preview_meshes_come_in_world_units_and_cancel_stops(holed_sphere):
    points, normals = holed_sphere
    config, _ = settings("fast", "none", steps=4, points_per_step=256, resolution=32, preview_every=2,
                         preview_resolution=24)
    previews = []
    complete(Observation(points * 10, normals), config, device=DEVICE,
             preview=lambda v, f, step: previews.append((np.abs(v).max(), step)))
    assert [step for _, step in previews] == [2]
    assert 7.0 < previews[0][0] < 14.0  # the radius-10 sphere, not the [-1, 1] box
    import threading
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(FitCancelled):
        complete(Observation(points, normals), config, device=DEVICE, cancel=cancel)


def test_settings_take_the_preset_and_refuse_conflicts_with_a_prior(tmp_path):
    config, prior = settings("quality", "none", steps=7)
    assert config.steps == 7 and config.resolution == 256 and prior is None
    with pytest.raises(ValueError, match="preset '.*' is unknown"):
        settings("ultra")
    with pytest.raises(PriorError, match="not found"):
        settings("default", str(tmp_path / "missing.safetensors"))


def test_empty_level_set_is_an_error_not_an_empty_file(holed_sphere):
    points, normals = holed_sphere
    config, _ = settings("fast", "none", steps=1, resolution=16, encoding="relu", width=8, depth=1)
    network = config.network
    # A prior whose field is +1 everywhere: no zero crossing, so nothing to extract.
    state = {"mlp.0.weight": torch.zeros(8, 3), "mlp.0.bias": torch.zeros(8),
             "mlp.2.weight": torch.zeros(1, 8), "mlp.2.bias": torch.ones(1)}
    with pytest.raises(FitError, match="fitted surface is empty"):
        complete(Observation(points, normals), config, Prior(network, state), device=DEVICE)


def test_a_fit_of_no_steps_is_refused_before_any_work(holed_sphere):
    points, normals = holed_sphere
    config, _ = settings("fast", "none", steps=0)
    with pytest.raises(ConfigError, match="steps must be at least 1") as caught:
        complete(Observation(points, normals), config, device=DEVICE)
    assert caught.value.setting == "steps"


def test_of_several_priors_the_fit_starts_from_the_one_that_explains_the_input(holed_sphere):
    points, normals = holed_sphere
    config, candidates = settings("fast", "default,default", steps=8, resolution=32)
    default = candidates[0]
    # A second candidate that cannot learn from the data: its learned steps have zero step sizes.
    frozen = Prior(default.network, default.state_dict, {k: torch.zeros_like(v) for k, v in default.inner_lrs.items()},
                   default.inner_steps, name="frozen")
    result = complete(Observation(points, normals), config, (frozen, default), device=DEVICE)
    chosen = next(note for note in result.notes if note.startswith("started from the prior"))
    assert "started from the prior default" in chosen and "frozen" in chosen
    assert result.stats.steps == 8 and result.stats.watertight
