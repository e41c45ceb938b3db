"""Formats without the file system: bytes in, arrays out, and meshes to bytes."""

import numpy as np
import pytest

from neurep_addon.core.errors import InputError
from neurep_addon.core.formats import INVENTED, filled_mesh_bytes, mesh_bytes, parse_mesh, parse_observation
from tests.helpers import holed_icosphere


@pytest.mark.parametrize("suffix", [".ply", ".obj"])
def test_mesh_bytes_parse_back_exactly(suffix):
    vertices, faces = holed_icosphere()
    vertices = vertices * np.pi + 1e5
    parsed, parsed_faces, ply = parse_mesh(mesh_bytes(suffix, vertices, faces), suffix, "mesh")
    assert np.array_equal(parsed, vertices) and np.array_equal(parsed_faces, faces)
    assert (ply is not None) == (suffix == ".ply")


def test_a_binary_ply_reads_the_same_from_bytes_and_from_its_file(tmp_path):
    vertices, faces = holed_icosphere()
    data = mesh_bytes(".ply", vertices, faces)
    (tmp_path / "m.ply").write_bytes(data)
    with open(tmp_path / "m.ply", "rb") as stream:
        mapped = parse_observation(data, ".ply", "m.ply", 0, 500, stream)
    in_memory = parse_observation(data, ".ply", "m.ply", 0, 500)
    assert np.array_equal(mapped.points, in_memory.points) and np.array_equal(mapped.normals, in_memory.normals)


def test_messages_name_the_source():
    with pytest.raises(InputError, match=r"^scan\.obj: line 2: a face refers to vertex 2, but only 1 vertices"):
        parse_observation(b"v 0 0 0\nf 1 2 7\n", ".obj", "scan.obj", 0, 100)
    with pytest.raises(InputError, match=r"^cloud\.xyz: expected 3 columns"):
        parse_observation(b"1 2\n3 4\n", ".xyz", "cloud.xyz", 0, 100)


def test_filled_obj_keeps_the_text_and_appends_the_patches_in_their_group():
    text = b"# scanned\nv 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nf 1 2 3\n"
    vertices, faces, _ = parse_mesh(text, ".obj", "open.obj")
    data = filled_mesh_bytes(".obj", vertices, faces, np.array([[0.0, 0.0, 1.0]]), np.array([[0, 1, 3]]), text)
    assert data.startswith(text) and f"g {INVENTED}\n".encode() in data
    filled, filled_faces, _ = parse_mesh(data, ".obj", "filled.obj")
    assert len(filled) == 4 and filled_faces.tolist() == [[0, 1, 2], [0, 1, 3]]


def test_filled_ply_marks_the_patches():
    vertices, faces = holed_icosphere()
    new_vertices, new_faces = np.array([[0.0, 0.0, 1.0]]), np.array([[0, 1, len(vertices)]])
    data = filled_mesh_bytes(".ply", vertices, faces, new_vertices, new_faces)
    parsed, parsed_faces, ply = parse_mesh(data, ".ply", "filled.ply")
    assert np.array_equal(parsed, np.r_[vertices, new_vertices])
    assert np.array_equal(parsed_faces, np.r_[faces, new_faces])
    assert ply["face"][INVENTED].tolist() == [0] * len(faces) + [1]
