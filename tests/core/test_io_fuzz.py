"""Fuzzing the readers: random bytes and mutated valid files give a valid observation or an ``InputError``."""

import io
import tempfile
from pathlib import Path

import numpy as np
import trimesh
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurep_addon.core.errors import InputError
from neurep_addon.core.io import read_observation

BOX = trimesh.creation.box(extents=[2.0, 1.0, 0.5])
POINTS = np.random.default_rng(0).normal(size=(40, 6))


def _npy(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


VALID = {
    ".ply": [BOX.export(file_type="ply"), BOX.export(file_type="ply", encoding="ascii")],
    ".obj": [BOX.export(file_type="obj").encode()],
    ".off": [BOX.export(file_type="off").encode()],
    ".stl": [BOX.export(file_type="stl"), BOX.export(file_type="stl_ascii").encode()],
    ".xyz": ["".join(" ".join(map(str, row)) + "\n" for row in POINTS).encode()],
    ".npy": [_npy(POINTS), _npy(POINTS[:, :3].astype(np.float32))],
}


@st.composite
def mutated(draw, suffix: str) -> bytes:
    """A valid file with a few bytes flipped, inserted, deleted, or the file cut short."""
    data = bytearray(draw(st.sampled_from(VALID[suffix])))
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["flip", "insert", "delete", "cut", "digit"]))
        if action == "flip" and position < len(data):
            data[position] = draw(st.integers(0, 255))
        elif action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=8))
        elif action == "delete":
            del data[position:position + draw(st.integers(1, 16))]
        elif action == "cut":
            del data[position:]
        elif action == "digit" and position < len(data):
            data[position] = ord(draw(st.sampled_from("0123456789-.e n")))
    return bytes(data)


def _read(data: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"fuzz{suffix}"
        path.write_bytes(data)
        try:
            obs = read_observation(path, mesh_samples=200)
        except InputError:
            return
        assert obs.points.ndim == 2 and obs.points.shape[1] == 3 and len(obs.points) > 0
        assert np.isfinite(obs.points).all()
        assert obs.normals is None or obs.normals.shape == obs.points.shape
        assert sorted(p.name for p in Path(folder).iterdir()) == [path.name]


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(suffix=st.sampled_from(sorted(VALID)), data=st.data())
def test_mutated_valid_files(suffix, data):
    _read(data.draw(mutated(suffix)), suffix)


@FUZZ
@given(suffix=st.sampled_from(sorted(VALID)), data=st.binary(max_size=512))
def test_random_bytes(suffix, data):
    _read(data, suffix)


@FUZZ
@given(suffix=st.sampled_from([".ply", ".obj", ".off", ".xyz"]),
       lines=st.lists(st.sampled_from(["ply", "format ascii 1.0", "format binary_little_endian 1.0",
                                       "element vertex 3", "element face 1", "property float x",
                                       "property float y", "property float z",
                                       "property list uchar int vertex_indices", "end_header", "OFF", "3 1 0",
                                       "v 0 0 0", "v 1 0 0", "v 0 1 0", "f 1 2 3", "f -1 -2 -3", "0 0 0", "1 0 0",
                                       "0 1 0", "3 0 1 2", "3 0 1 5", "nan 0 0", "1e400 1 1"]), max_size=20))
def test_plausible_lines(suffix, lines):
    _read("\n".join(lines).encode(), suffix)
