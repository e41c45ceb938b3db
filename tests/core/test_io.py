import os
import re
from pathlib import Path

import numpy as np
import pytest
import trimesh

from neurep_addon.core.errors import InputError, OutputError
from neurep_addon.core.io import read_observation, write_mesh

from tests.helpers import sphere_points


@pytest.mark.parametrize("suffix", [".ply", ".obj", ".off", ".stl"])
def test_meshes_give_area_weighted_samples_with_face_normals(tmp_path, suffix):
    box = trimesh.creation.box(extents=[2.0, 1.0, 1.0])
    path = tmp_path / f"box{suffix}"
    box.export(path)
    obs = read_observation(path, mesh_samples=6000)
    assert obs.points.shape == (6000, 3) and obs.has_normals
    # Every sample is on the surface and its normal is the face's outward normal.
    assert np.abs(np.abs(obs.points) - [1.0, 0.5, 0.5]).min(axis=1).max() < 1e-6
    assert np.allclose(np.abs(obs.normals).max(axis=1), 1.0)
    assert np.all(np.einsum("ij,ij->i", obs.points, obs.normals) > 0)
    # The two 2x1 faces hold twice the area of the 1x1 ones: area-weighted sampling.
    share = (np.abs(obs.points[:, 0]) > 1 - 1e-9).mean()
    assert share == pytest.approx(2 * 1.0 / box.area, abs=0.02)


def test_ply_point_cloud_with_and_without_normals(tmp_path):
    points, normals = sphere_points(300)
    header = ["ply", "format ascii 1.0", "element vertex 300", "property float x", "property float y",
              "property float z"]
    plain = tmp_path / "plain.ply"
    plain.write_text("\n".join(header + ["end_header"] + [" ".join(map(str, p)) for p in points]) + "\n")
    with_n = tmp_path / "normals.ply"
    with_n.write_text("\n".join(header + ["property float nx", "property float ny", "property float nz",
                                          "end_header"]
                                + [" ".join(map(str, r)) for r in np.c_[points, normals]]) + "\n")
    assert read_observation(plain).normals is None
    obs = read_observation(with_n)
    np.testing.assert_allclose(obs.points, points, atol=1e-6)
    np.testing.assert_allclose(obs.normals, normals, atol=1e-6)


def test_xyz_and_npy_with_three_or_six_columns(tmp_path):
    points, normals = sphere_points(200)
    np.savetxt(tmp_path / "a.xyz", points)
    np.savetxt(tmp_path / "b.xyz", np.c_[points, normals])
    np.save(tmp_path / "c.npy", points)
    np.save(tmp_path / "d.npy", np.c_[points, normals])
    for name, has_normals in (("a.xyz", False), ("b.xyz", True), ("c.npy", False), ("d.npy", True)):
        obs = read_observation(tmp_path / name)
        np.testing.assert_allclose(obs.points, points, atol=1e-9)
        assert obs.has_normals == has_normals


@pytest.mark.parametrize("suffix", [".ply", ".obj"])
def test_written_meshes_read_back_identically(tmp_path, suffix):
    mesh = trimesh.creation.icosphere(subdivisions=2)
    path = write_mesh(tmp_path / f"out{suffix}", mesh.vertices, mesh.faces)
    back = trimesh.load(path, process=False)
    np.testing.assert_allclose(back.vertices, mesh.vertices, atol=1e-6)
    np.testing.assert_array_equal(back.faces, mesh.faces)
    assert [p.name for p in tmp_path.iterdir()] == [f"out{suffix}"]


def test_read_errors_are_specific(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_observation(tmp_path / "missing.ply")
    (tmp_path / "scan.las").write_bytes(b"\0" * 10)
    with pytest.raises(InputError, match="unknown format '.las'"):
        read_observation(tmp_path / "scan.las")
    (tmp_path / "broken.ply").write_text("this is not a ply file\n")
    with pytest.raises(InputError, match="not a PLY file"):
        read_observation(tmp_path / "broken.ply")
    np.save(tmp_path / "wide.npy", np.zeros((10, 4)))
    with pytest.raises(InputError, match=r"expected 3 columns .* got 4"):
        read_observation(tmp_path / "wide.npy")


def test_write_errors_leave_no_file(tmp_path, monkeypatch):
    mesh = trimesh.creation.icosphere(subdivisions=1)
    with pytest.raises(OutputError, match="cannot write '.fbx'"):
        write_mesh(tmp_path / "out.fbx", mesh.vertices, mesh.faces)
    with pytest.raises(OutputError, match="the folder .* does not exist"):
        write_mesh(tmp_path / "nope" / "out.ply", mesh.vertices, mesh.faces)
    def interrupted(*args):
        raise KeyboardInterrupt
    monkeypatch.setattr("neurep_addon.core.io.os.replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_mesh(tmp_path / "out.ply", mesh.vertices, mesh.faces)
    assert list(tmp_path.iterdir()) == []


def test_binary_ply_point_cloud_with_normals(tmp_path):
    points, normals = sphere_points(200)
    columns = ("x", "y", "z", "nx", "ny", "nz")
    vertex = np.zeros(200, dtype=[(c, "<f4") for c in columns])
    for i, c in enumerate(columns):
        vertex[c] = np.c_[points, normals][:, i]
    header = "ply\nformat binary_little_endian 1.0\nelement vertex 200\n"
    header += "".join(f"property float {c}\n" for c in columns) + "end_header\n"
    (tmp_path / "scan.ply").write_bytes(header.encode() + vertex.tobytes())
    obs = read_observation(tmp_path / "scan.ply")
    np.testing.assert_allclose(obs.normals, normals, atol=1e-6)


@pytest.mark.parametrize("suffix", [".ply", ".obj"])
@pytest.mark.parametrize("offset, scale", [(1e6, 1.0), (1e300, 1e299), (0.0, 1e-300)])
def test_written_coordinates_round_trip_exactly(tmp_path, suffix, offset, scale):
    mesh = trimesh.creation.icosphere(subdivisions=2)
    vertices = mesh.vertices * scale + offset
    write_mesh(tmp_path / f"out{suffix}", vertices, mesh.faces)
    back = read_observation(tmp_path / f"out{suffix}", mesh_samples=100)
    assert back.points.min() >= vertices.min() and back.points.max() <= vertices.max()
    loaded = trimesh.load(tmp_path / f"out{suffix}", process=False)
    np.testing.assert_array_equal(np.asarray(loaded.vertices, dtype=np.float64), vertices)


def test_write_refuses_non_finite_vertices_and_leaves_no_file(tmp_path):
    mesh = trimesh.creation.icosphere(subdivisions=1)
    vertices = mesh.vertices.copy()
    vertices[7] = np.inf
    with pytest.raises(OutputError, match="vertex 7 of the mesh is not finite"):
        write_mesh(tmp_path / "out.ply", vertices, mesh.faces)
    assert list(tmp_path.iterdir()) == []


def test_temporary_file_is_visible_beside_the_output_and_honours_the_umask(tmp_path, monkeypatch):
    mesh = trimesh.creation.icosphere(subdivisions=1)
    seen = []
    replace = os.replace
    monkeypatch.setattr("neurep_addon.core.io.os.replace",
                        lambda source, target: seen.append(Path(source).name) or replace(source, target))
    old = os.umask(0o027)
    try:
        write_mesh(tmp_path / "out.ply", mesh.vertices, mesh.faces)
    finally:
        os.umask(old)
    assert re.fullmatch(r"out\.ply\.[0-9a-f]{8}\.part", seen[0])
    assert (tmp_path / "out.ply").stat().st_mode & 0o777 == 0o640
