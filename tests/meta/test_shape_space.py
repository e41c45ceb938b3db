"""Training a shape space from a folder of meshes, and completing scans from it: the pose is found, the gate
passes what the space explains and falls back on what it does not."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import torch
import trimesh

from neurep_addon.core.config import NetworkConfig
from neurep_addon.core.errors import InputError
from neurep_addon.core.observation import Observation
from neurep_addon.core.fit_settings import settings
from neurep_addon.core.completion import complete
from neurep_addon.core.prior_io import load_prior
from neurep_addon.core.shape_space import ShapeSpace
from neurep_addon.evaluation.metrics import evaluate
from neurep_addon.meta.shape_space import chamfer_l1, train_shape_space, winding_numbers
from neurep_addon.tasks.synth import depth_scan

TINY = NetworkConfig(width=32, depth=2)
BOXES = [(1.0, 0.6, 0.4), (1.0, 0.55, 0.45), (1.0, 0.65, 0.35), (1.0, 0.6, 0.3), (1.0, 0.5, 0.4)]


def box_folder(folder):
    folder.mkdir()
    for index, extents in enumerate(BOXES):
        trimesh.creation.box(np.array(extents) * (index + 1)).export(folder / f"box{index}.ply")  # any scale
    (folder / "broken.obj").write_text("v 0 0 0\nf 1 2 3\n")
    return folder


@pytest.fixture(scope="module")
def box_space(tmp_path_factory):
    folder = box_folder(tmp_path_factory.mktemp("data") / "boxes")
    out = tmp_path_factory.mktemp("prior") / "boxes.safetensors"
    messages = []
    train_shape_space(sorted(folder.iterdir()), out, minutes=30, log=messages.append, network=TINY, max_steps=400)
    return out, messages


def test_winding_numbers_tell_inside_from_outside_of_a_sphere_with_a_hole():
    sphere = trimesh.creation.icosphere(4)
    keep = sphere.triangles_center[:, 2] < 0.8  # a cap cut away
    points, faces = sphere.triangles_center[keep], np.nonzero(keep)[0]
    areas = torch.as_tensor(sphere.area_faces[faces], dtype=torch.float32)
    normals = torch.as_tensor(sphere.face_normals[faces], dtype=torch.float32)
    queries = torch.tensor([[0.0, 0.0, 0.0], [0.3, -0.2, 0.1], [0.0, 0.0, 0.5], [1.5, 0.0, 0.0], [0.0, 0.0, 1.4]])
    numbers = winding_numbers(queries, torch.as_tensor(points, dtype=torch.float32), normals, areas)
    assert (numbers[:3] > 0.5).all() and (numbers[3:] < 0.5).all()
    # At the centre the missing cap would subtend (1 - 0.8) / 2 of the sphere's solid angle.
    assert numbers[0] == pytest.approx(0.9, abs=0.01)


def test_training_writes_the_prior_its_curve_and_its_state_and_skips_bad_files(box_space):
    out, messages = box_space
    assert any("skipped" in m and "broken.obj" in m for m in messages)
    space = load_prior(out)
    assert isinstance(space, ShapeSpace) and space.network == TINY
    held_out = space.provenance["validation_shapes"].split(", ")
    assert len(held_out) == 1 and len(space.codes) == len(BOXES) - 1
    assert 0 < space.threshold < 0.5
    curve = json.loads(out.with_name(out.name + ".curve.json").read_text())
    assert curve and all(point["validation"] > 0 for point in curve)
    assert out.with_name(out.name + ".ckpt").is_file()


def test_a_run_resumes_from_its_state(box_space, tmp_path):
    out, _ = box_space
    folder = box_folder(tmp_path / "boxes")
    before = torch.load(out.with_name(out.name + ".ckpt"), weights_only=False)["state"]["step"]
    copy = tmp_path / out.name
    for suffix in ("", ".ckpt"):
        (tmp_path / (out.name + suffix)).write_bytes(out.with_name(out.name + suffix).read_bytes())
    messages = []
    train_shape_space(sorted(folder.iterdir()), copy, minutes=30, resume=True, log=messages.append, network=TINY,
                      max_steps=before + 20)
    assert before == 400 and any(f"resumed from {copy.name}.ckpt at step {before}" in m for m in messages)
    assert torch.load(copy.with_name(copy.name + ".ckpt"), weights_only=False)["state"]["step"] == before + 20


def test_a_cancelled_run_stops_at_once_and_keeps_what_it_has(tmp_path):
    folder = box_folder(tmp_path / "boxes")
    cancel = threading.Event()
    steps = []

    def progress(info):
        steps.append(info.step)
        if info.step == 3:
            cancel.set()

    out = train_shape_space(sorted(folder.iterdir()), tmp_path / "b.safetensors", minutes=5, cancel=cancel,
                            progress=progress, log=lambda _: None, network=TINY)
    assert max(steps) == 3 and isinstance(load_prior(out), ShapeSpace)


def test_a_collection_of_one_usable_mesh_is_refused(tmp_path):
    folder = tmp_path / "one"
    folder.mkdir()
    trimesh.creation.box((1, 1, 1)).export(folder / "box.ply")
    (folder / "bad.stl").write_bytes(b"not a mesh")
    with pytest.raises(InputError, match="at least two usable meshes"):
        train_shape_space(sorted(folder.iterdir()), tmp_path / "p.safetensors", minutes=0.1,
                          log=lambda _: None, network=TINY)


def test_a_scan_in_another_pose_is_completed_from_the_space_in_the_scans_frame(box_space):
    out, _ = box_space
    box = trimesh.creation.box(BOXES[0])
    turn = trimesh.transformations.rotation_matrix(np.pi / 2, [0, 0, 1]) @ \
        trimesh.transformations.rotation_matrix(0.3, [1, 0, 0])
    box.apply_transform(trimesh.transformations.scale_matrix(40.0) @ turn)
    box.apply_translation([500.0, -200.0, 30.0])
    rng = np.random.default_rng(0)
    scan = depth_scan(box, np.array([[1.0, 0.4, 0.5], [0.6, 1.0, 0.3]]), rng, resolution=96)
    config, prior = settings("fast", str(out))
    result = complete(Observation(scan.points), config, prior, device="cpu")
    report = result.stats.prior
    assert report["used"] and report["residual"] <= report["threshold"] and "explains" in report["reason"]
    scores = evaluate(result.vertices, result.faces, box.vertices, box.faces, scan.points, samples=20_000)
    generic = complete(Observation(scan.points), settings("fast", "none")[0], None, device="cpu")
    without = evaluate(generic.vertices, generic.faces, box.vertices, box.faces, scan.points, samples=20_000)
    # Measured with the tiny space: Chamfer-L1 0.019-0.021 against 0.046, missing recall 0.08-0.18 against 0.06.
    assert scores["chamfer_l1"] < 0.6 * without["chamfer_l1"]
    assert scores["missing_recall_1"] > without["missing_recall_1"]


def test_a_scan_of_another_kind_falls_back_to_the_generic_fit(box_space):
    out, _ = box_space
    torus = trimesh.creation.torus(1.0, 0.3)
    scan = depth_scan(torus, 2, np.random.default_rng(1), resolution=96)
    config, prior = settings("fast", str(out))
    result = complete(Observation(scan.points), config, prior, device="cpu")
    report = result.stats.prior
    assert not report["used"] and report["residual"] > report["threshold"]
    assert "does not explain" in report["reason"] and any("does not explain" in n for n in result.notes)
    assert result.stats.steps == config.steps  # the generic fit ran in full


def test_the_validation_chamfer_distance_sees_a_shape_too_large_and_no_shape_at_all():
    sphere = trimesh.creation.icosphere(subdivisions=3)
    assert chamfer_l1(sphere.vertices, sphere.faces, sphere.vertices, sphere.faces) < 0.005
    # A sphere of radius 1.2 around the unit sphere: every point 0.2 away, a tenth of the unit sphere's side.
    assert chamfer_l1(1.2 * sphere.vertices, sphere.faces, sphere.vertices, sphere.faces) == pytest.approx(0.1, abs=0.01)
    assert chamfer_l1(np.zeros((0, 3)), np.zeros((0, 3), dtype=int), sphere.vertices, sphere.faces) == np.inf
