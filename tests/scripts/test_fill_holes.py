"""``scripts/complete.py --mode fill-holes``: the scan comes back as it was, with its holes closed and marked."""

import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pytest
import trimesh

from neurep_addon.core.io import read_mesh
from tests.helpers import holed_icosphere

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("complete_cli", ROOT / "scripts" / "complete.py")
cli = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cli)

TINY = ["--mode", "fill-holes", "--steps", "40", "--points-per-step", "512", "--prior", "default", "--device", "cpu",
        "--quiet"]


def run(argv, capsys):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


@pytest.fixture(scope="module")
def holed():
    """A unit icosphere (level 3) without its top cap and a side window: vertices [V, 3], faces [F, 3].

    The coordinates carry a non-round offset, so that exact round trips are tested on full doubles.
    """
    vertices, faces = holed_icosphere()
    return vertices + np.pi / 10, faces


def coloured_ply(path: Path, vertices, faces) -> Path:
    """A binary PLY with double coordinates, vertex colours and a custom float vertex property."""
    count = len(vertices)
    header = (f"ply\nformat binary_little_endian 1.0\ncomment scanned\nelement vertex {count}\n"
              "property double x\nproperty double y\nproperty double z\nproperty uchar red\nproperty uchar green\n"
              f"property uchar blue\nproperty float confidence\nelement face {len(faces)}\n"
              "property list uchar int vertex_indices\nend_header\n")
    rows = np.zeros(count, dtype=[("xyz", "<f8", 3), ("rgb", "u1", 3), ("confidence", "<f4")])
    rows["xyz"], rows["rgb"] = vertices, np.arange(count * 3).reshape(-1, 3) % 256
    rows["confidence"] = np.linspace(0, 1, count)
    corners = np.zeros(len(faces), dtype=[("n", "u1"), ("v", "<i4", 3)])
    corners["n"], corners["v"] = 3, faces
    path.write_bytes(header.encode() + rows.tobytes() + corners.tobytes())
    return path


def textured_obj(path: Path, vertices, faces) -> Path:
    """An OBJ with a material library, texture coordinates, normals and v/vt/vn corners."""
    lines = ["# scanned", "mtllib scan.mtl", *(f"v {x!r} {y!r} {z!r}" for x, y, z in vertices.tolist()),
             *(f"vt {u:.6f} {v:.6f}" for u, v in vertices[:, :2] % 1), "vn 0 0 1", "usemtl skin",
             *(f"f {a + 1}/{a + 1}/1 {b + 1}/{b + 1}/1 {c + 1}/{c + 1}/1" for a, b, c in faces.tolist())]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_ply_keeps_every_vertex_face_and_property_and_marks_the_patches(tmp_path, holed, capsys):
    vertices, faces = holed
    source = coloured_ply(tmp_path / "scan.ply", vertices, faces)
    code, out, _ = run([source, "-o", tmp_path / "filled.ply", "--report", tmp_path / "r.json", *TINY], capsys)
    assert code == 0, out
    result = read_mesh(tmp_path / "filled.ply")
    assert result.vertices[:len(vertices)].tobytes() == vertices.tobytes()
    assert np.array_equal(result.faces[:len(faces)], faces) and len(result.faces) > len(faces)
    before, after = read_mesh(source).ply, result.ply
    for name in ("red", "green", "blue", "confidence"):
        assert after["vertex"][name].dtype == before["vertex"][name].dtype
        assert np.array_equal(after["vertex"][name][:len(vertices)], before["vertex"][name])
    assert after["vertex"]["x"].dtype == np.float64 and after["face"]["vertex_indices"].dtype.base == np.int32
    invented = after["face"]["neurep_invented"]
    assert invented.dtype == np.uint8 and not invented[:len(faces)].any() and invented[len(faces):].all()
    assert result.ply.comments == ["scanned"]
    record = json.loads((tmp_path / "r.json").read_text())[0]
    assert record["holes_closed"] >= 1 and record["holes_closed"] + record["holes_left_open"] == len(record["holes"]) == 2
    assert (f"{record['holes_closed']} hole(s) closed, {record['holes_left_open']} left open, "
            f"{record['added_faces']:,} faces added") in out
    # by default the largest hole, the top cap, stays open, and each hole is listed with its fate
    cap = max(record["holes"], key=lambda hole: hole["size"])
    assert not cap["closed"] and cap["reason"] == "the largest opening"
    assert re.search(r"note: hole 1 of 2: 32 edges, 2 across \(58% of the mesh\): left open: the largest opening", out)
    assert re.search(r"note: hole 2 of 2: 30 edges, 1\.4 across \(40% of the mesh\): (closed \([\d,]+ faces\)|left open)",
                     out)


def test_obj_keeps_its_text_and_puts_the_patches_in_their_own_group(tmp_path, holed, capsys):
    vertices, faces = holed
    source = textured_obj(tmp_path / "scan.obj", vertices, faces)
    code, out, _ = run([source, "-o", tmp_path / "out", *TINY], capsys)
    assert code == 0, out
    written = (tmp_path / "out" / "scan_filled.obj").read_text()
    original = source.read_text()
    assert written.startswith(original)
    assert written[len(original):].startswith("g neurep_invented\nusemtl neurep_invented\n")
    result = read_mesh(tmp_path / "out" / "scan_filled.obj")
    assert result.vertices[:len(vertices)].tobytes() == vertices.tobytes()
    assert np.array_equal(result.faces[:len(faces)], faces) and len(result.faces) > len(faces)


def test_max_hole_size_leaves_the_big_hole_open_and_says_so(tmp_path, holed, capsys):
    vertices, faces = holed
    source = coloured_ply(tmp_path / "scan.ply", vertices, faces)
    code, out, _ = run([source, "-o", tmp_path / "filled.ply", "--max-hole-size", "1.7", "--keep-open", "none",
                        "--report", tmp_path / "r.json", *TINY], capsys)
    assert code == 0
    assert re.search(r"hole 1 of 2: 32 edges, .*: left open: larger than max size \([\d.]+ > 1\.7\)", out)
    assert re.search(r"\d hole\(s\) closed, [12] left open", out)
    holes = json.loads((tmp_path / "r.json").read_text())[0]["holes"]
    big = max(holes, key=lambda hole: hole["size"])
    assert not big["closed"] and big["reason"].startswith("larger than max size")


def test_points_are_refused_with_a_pointer_to_complete(tmp_path, holed, capsys):
    vertices, _ = holed
    table = tmp_path / "scan.xyz"
    np.savetxt(table, vertices)
    code, _, err = run([table, "-o", tmp_path / "out.ply", *TINY], capsys)
    assert code == 2 and "use --mode complete" in err and not (tmp_path / "out.ply").exists()
    cloud = tmp_path / "cloud.ply"
    cloud.write_bytes(trimesh.PointCloud(vertices).export(file_type="ply"))
    code, _, err = run([cloud, "-o", tmp_path / "out.ply", *TINY], capsys)
    assert code == 1 and "no faces" in err and "complete mode" in err and not (tmp_path / "out.ply").exists()


@pytest.mark.parametrize("argv, message", [
    (["--max-hole-size", "0"], "--max-hole-size must be a positive size"),
    (["--mode", "complete", "--max-hole-size", "1"], "--max-hole-size applies to --mode fill-holes"),
    (["--mode", "complete", "--keep-open", "none"], "--keep-open applies to --mode fill-holes"),
    (["--keep-open", "all"], "invalid choice: 'all'"),
    (["--max-hole-percent", "0"], "--max-hole-percent must be in (0, 100], got 0.0"),
])
def test_bad_hole_options_exit_2(tmp_path, holed, capsys, argv, message):
    source = coloured_ply(tmp_path / "scan.ply", *holed)
    code, _, err = run([source, "-o", tmp_path / "out.ply", *TINY, *argv], capsys)
    assert code == 2 and message in err and not (tmp_path / "out.ply").exists()
