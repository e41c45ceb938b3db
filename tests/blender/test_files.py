"""``neurep.complete_files``: scan files in, completed files out, the scene untouched."""

from __future__ import annotations

import bpy
import numpy as np
import pytest

from .conftest import TINY_FIT, holed_sphere, scene_state, select_only, sphere_points


def read_ply_vertices(addon, path) -> np.ndarray:
    import trimesh

    return np.asarray(trimesh.load(str(path), process=False).vertices)


def test_two_files_give_two_outputs_and_the_scene_is_unchanged(addon, scene, tmp_path):
    select_only(holed_sphere())
    before = scene_state()
    inputs = tmp_path / "scans"
    inputs.mkdir()
    np.savetxt(inputs / "left.xyz", sphere_points(1500, radius=0.8) + [0.0, 0.0, 0.0])
    np.save(inputs / "right.npy", sphere_points(1500, radius=0.5, seed=3) + [5.0, 0.0, 0.0])
    out = tmp_path / "completed"
    out.mkdir()

    result = bpy.ops.neurep.complete_files(files=[{"name": "left.xyz"}, {"name": "right.npy"}],
                                           directory=str(inputs), output_directory=str(out), **TINY_FIT)

    assert result == {"FINISHED"}
    assert sorted(p.name for p in out.iterdir()) == ["left_completed.ply", "right_completed.ply"]
    for name, centre, radius in (("left", (0, 0, 0), 0.8), ("right", (5, 0, 0), 0.5)):
        vertices = read_ply_vertices(addon, out / f"{name}_completed.ply")
        assert len(vertices) > 100
        assert np.median(np.abs(np.linalg.norm(vertices - centre, axis=1) - radius)) < 0.05 * radius
    assert scene_state() == before
    assert not any(ob.name.endswith("_completed") for ob in bpy.data.objects)


def test_bad_inputs_are_refused_before_any_work(addon, scene, tmp_path):
    (tmp_path / "scan.txt").write_text("1 2 3\n")
    with pytest.raises(RuntimeError, match="not an existing folder"):
        bpy.ops.neurep.complete_files(files=[{"name": "scan.txt"}], directory=str(tmp_path),
                                      output_directory=str(tmp_path / "missing"), **TINY_FIT)
    with pytest.raises(RuntimeError, match=r"cannot read \.txt"):
        bpy.ops.neurep.complete_files(files=[{"name": "scan.txt"}], directory=str(tmp_path),
                                      output_directory=str(tmp_path), **TINY_FIT)
    with pytest.raises(RuntimeError, match="no files are chosen"):
        bpy.ops.neurep.complete_files(directory=str(tmp_path), output_directory=str(tmp_path), **TINY_FIT)


def test_a_failing_file_is_reported_and_the_others_are_written(addon, scene, tmp_path):
    np.savetxt(tmp_path / "good.xyz", sphere_points(1500, radius=0.8))
    np.savetxt(tmp_path / "few.xyz", sphere_points(12))
    out = tmp_path / "out"
    out.mkdir()
    assert bpy.ops.neurep.complete_files(files=[{"name": "few.xyz"}, {"name": "good.xyz"}],
                                         directory=str(tmp_path), output_directory=str(out),
                                         **TINY_FIT) == {"FINISHED"}
    assert [p.name for p in out.iterdir()] == ["good_completed.ply"]
