"""A corpus of bad (and tricky valid) input files, generated at test time and given to the reader.

Each kind writes one file and says what must happen: an ``InputError`` whose message matches a regex
(the cause), a refusal by ``observation.validate`` (what every front end runs before fitting), or a valid
observation whose geometry is checked in the input's own units. Reading never leaves a file behind.
"""

import io
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
import trimesh

from neurep_addon.core.errors import InputError
from neurep_addon.core.io import read_observation
from neurep_addon.core.observation import validate

from tests.helpers import sphere_points

POINTS, NORMALS = sphere_points(300)
TETRA = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
TETRA_FACES = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
COLOURS = np.random.default_rng(1).integers(0, 256, size=(300, 3)).astype(float)


def rows(values) -> str:
    return "".join(" ".join(repr(float(v)) for v in row) + "\n" for row in values)


def ascii_ply(vertices, faces=(), columns="xyz", declared=None, body=None) -> str:
    header = ["ply", "format ascii 1.0", f"element vertex {len(vertices) if declared is None else declared}"]
    header += [f"property double {c}" for c in columns]
    if len(faces):
        header += [f"element face {len(faces)}", "property list uchar int vertex_indices"]
    faces_text = "".join(f"{len(f)} {' '.join(map(str, f))}\n" for f in faces)
    return "\n".join(header + ["end_header"]) + "\n" + (body if body is not None else rows(vertices) + faces_text)


def binary_ply(vertices, faces=(), endian="<", declared=None, cut=0, extra=b"") -> bytes:
    fmt = "binary_little_endian" if endian == "<" else "binary_big_endian"
    header = f"ply\nformat {fmt} 1.0\nelement vertex {len(vertices) if declared is None else declared}\n"
    header += "property double x\nproperty double y\nproperty double z\n"
    body = np.asarray(vertices, dtype=f"{endian}f8").tobytes()
    if len(faces):
        header += f"element face {len(faces)}\nproperty list uchar int vertex_indices\n"
        face_rows = np.zeros(len(faces), dtype=[("n", "u1"), ("i", f"{endian}i4", (3,))])
        face_rows["n"], face_rows["i"] = 3, faces
        body += face_rows.tobytes()
    data = (header + "end_header\n").encode() + body + extra
    return data[:len(data) - cut]


def obj(vertices, faces) -> str:
    return "".join(f"v {' '.join(map(repr, map(float, v)))}\n" for v in vertices) + \
        "".join(f"f {' '.join(str(i + 1) for i in f)}\n" for f in faces)


def npy(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def exported(mesh: trimesh.Trimesh, file_type: str, **options) -> bytes:
    data = mesh.export(file_type=file_type, **options)
    return data if isinstance(data, bytes) else data.encode()


def with_row(values, row: int, replacement) -> np.ndarray:
    values = np.array(values, dtype=float)
    values[row] = replacement
    return values


@dataclass
class Kind:
    """One corpus entry: a file named ``name`` holding ``content`` (None: not created; a callable makes it)."""

    name: str
    content: str | bytes | Callable | None
    refused: str | None = None
    """Regex of the ``InputError`` message when reading is refused."""
    invalid: str | None = None
    """Regex of the ``InputError`` message when the read observation is refused by ``validate``."""
    check: Callable | None = None
    """Checks on a valid observation."""


def points_exact(expected, normals=None):
    def check(obs):
        np.testing.assert_array_equal(obs.points, expected)
        assert (obs.normals is None) == (normals is None)
        if normals is not None:
            np.testing.assert_allclose(obs.normals, normals, atol=1e-12)
    return check


def colours_ignored(expected, normals=None):
    def check(obs):
        points_exact(expected, normals)(obs)
        assert any("look like colours" in note for note in obs.notes)
    return check


def surface_of(vertices, faces):
    """Samples lie on the given triangles (in the file's own units) and cover their bounding box."""
    def check(obs):
        mesh = trimesh.Trimesh(vertices, faces, process=False)
        lo, hi = mesh.bounds
        extent = (hi - lo).max()
        assert obs.has_normals and np.isfinite(obs.points).all()
        assert np.all(obs.points >= lo - 1e-9 * extent) and np.all(obs.points <= hi + 1e-9 * extent)
        np.testing.assert_allclose(obs.points.min(axis=0), lo, atol=0.05 * extent)
        np.testing.assert_allclose(obs.points.max(axis=0), hi, atol=0.05 * extent)
        # Every sample is on one of the faces: its distance to the nearest is tiny relative to the size.
        triangles = (np.asarray(vertices)[np.asarray(faces)] - lo) / extent
        sample = (obs.points[:: max(1, len(obs.points) // 200)] - lo) / extent
        nearest = trimesh.triangles.closest_point(np.repeat(triangles, len(sample), axis=0),
                                                  np.tile(sample, (len(triangles), 1)))
        distance = np.linalg.norm(nearest - np.tile(sample, (len(triangles), 1)), axis=1)
        assert distance.reshape(len(triangles), len(sample)).min(axis=0).max() < 1e-9
    return check


def two_tetrahedra_relative() -> str:
    """Two tetrahedra, each written as its vertices then faces with relative (negative) indices."""
    return relative_tetrahedron(0) + relative_tetrahedron(5)


def relative_tetrahedron(offset: float) -> str:
    return "".join(f"v {' '.join(map(str, v + offset))}\n" for v in TETRA) + \
        "".join(f"f {' '.join(str(i - 4) for i in f)}\n" for f in TETRA_FACES)


def folder(path):
    path.mkdir()


BOX = trimesh.creation.box(extents=[2.0, 1.0, 0.5])
FAR = BOX.vertices + 1e6
HUGE = BOX.vertices * 1e299 + 1e300
TINY = BOX.vertices * 1e-200
LINE = np.c_[np.linspace(0, 1, 200), np.linspace(0, 2, 200), np.linspace(0, 3, 200)]
PLANE = np.c_[np.random.default_rng(2).random((200, 2)), np.zeros(200)]
SAME = np.ones((200, 3))

KINDS = [
    # --- every format: missing, not a file, unknown, empty
    Kind("missing.ply", None, refused="no such file"),
    Kind("folder.ply", folder, refused="not a file"),
    Kind("scan.las", b"LASF" + b"\0" * 100, refused=r"unknown format '\.las'"),
    Kind("scan", rows(POINTS), refused=r"unknown format '\(no suffix\)'"),
    *[Kind(f"empty{s}", b"", refused="the file is empty") for s in (".ply", ".obj", ".off", ".stl", ".xyz", ".npy")],
    *[Kind(f"blank{s}", b" \n\n\t\n", refused="the file is empty") for s in (".ply", ".obj", ".off", ".xyz")],
    # --- PLY header
    Kind("not_ply.ply", "this is not a ply file\n", refused="not a PLY file"),
    Kind("no_end_header.ply", ascii_ply(POINTS).replace("end_header", "end"), refused="not a PLY file"),
    Kind("format.ply", ascii_ply(POINTS).replace("ascii", "binary_middle_endian"), refused="header line 2: don't understand format 'binary_middle_endian'"),
    Kind("no_format.ply", ascii_ply(POINTS).replace("format ascii 1.0\n", ""), refused="header line 2: expected one of {format"),
    Kind("count_word.ply", ascii_ply(POINTS, declared="many"), refused="header line 3: expected integer count"),
    Kind("count_negative.ply", ascii_ply(POINTS, declared=-3), refused="negative dimensions"),
    Kind("property_type.ply", ascii_ply(POINTS).replace("double x", "quaternion x"), refused="header line 4: field type 'quaternion' not in"),
    Kind("no_xyz.ply", ascii_ply(POINTS, columns="abc"), refused="no vertex element with x, y and z"),
    # --- PLY body: declared counts against what follows
    Kind("ascii_more_declared.ply", ascii_ply(POINTS, declared=310), refused="declares 310 vertex rows, but only 300 follow"),
    Kind("ascii_fewer_declared.ply", ascii_ply(POINTS, declared=290), refused="declares 290 vertex rows, but 300"),
    Kind("ascii_huge_declared.ply", ascii_ply(POINTS, declared=10**15), refused="Unable to allocate .*header declares more rows than it holds"),
    Kind("ascii_faces_missing.ply", ascii_ply(TETRA, TETRA_FACES).replace("3 1 2 3\n", ""),
         refused="declares 4 face rows, but only 3 follow"),
    Kind("ascii_face_cut.ply", ascii_ply(TETRA, TETRA_FACES)[:-4], refused=r"face 3 \(vertex_indices\): early end-of-line"),
    Kind("ascii_face_long.ply", ascii_ply(TETRA, TETRA_FACES).replace("3 1 2 3", "3 1 2 3 0"),
         refused="face 3: expected end-of-line"),
    Kind("ascii_face_no_length.ply", ascii_ply(TETRA, TETRA_FACES).replace("3 1 2 3", "x 1 2 3"),
         refused=r"face 3 \(vertex_indices\): malformed input"),
    Kind("ascii_vertex_short.ply", ascii_ply(TETRA, TETRA_FACES).replace("0.0 0.0 1.0", "0.0 1.0"),
         refused=r"vertex 3 \(z\): early end-of-line"),
    Kind("ascii_extra_rows.ply", ascii_ply(TETRA, TETRA_FACES) + "0 0 0\n", refused="but 9 rows follow"),
    Kind("ascii_text_value.ply", ascii_ply(TETRA, body="0 0 zero\n1 0 0\n0 1 0\n0 0 1\n"),
         refused="cannot be read as PLY"),
    Kind("binary_cut_1.ply", binary_ply(POINTS, cut=1), refused="truncated"),
    Kind("binary_cut_half.ply", binary_ply(POINTS, cut=1200), refused="declares 300 vertex rows, but only 250 follow"),
    Kind("binary_trailing.ply", binary_ply(POINTS, extra=b"\0" * 8), refused="8 bytes follow the 300 vertex rows the header declares"),
    Kind("binary_huge_declared.ply", binary_ply(POINTS, declared=10**12), refused="truncated"),
    Kind("binary_faces_cut.ply", binary_ply(TETRA, TETRA_FACES, cut=3), refused="cannot be read as PLY|truncated"),
    Kind("binary_faces_extra.ply", binary_ply(TETRA, TETRA_FACES, extra=b"\0" * 5), refused="5 bytes follow the 4 vertex, 4 face rows"),
    Kind("header_only.ply", ascii_ply(np.zeros((0, 3))), refused="holds no points or faces"),
    # --- PLY faces and coordinates
    Kind("face_past_end.ply", ascii_ply(TETRA, [[0, 1, 2], [1, 2, 7]]),
         refused="face 1 refers to vertex 7, but the file has 4 vertices"),
    Kind("face_past_end_binary.ply", binary_ply(TETRA, [[0, 1, 2], [1, 2, 4]]), refused="face 1 refers to vertex 4,"),
    Kind("face_negative.ply", ascii_ply(TETRA, [[0, 1, 2], [1, 2, -1]]), refused="face 1 refers to vertex -1,"),
    Kind("face_negative_binary.ply", binary_ply(TETRA, [[0, -2, 2]]), refused="face 0 refers to vertex -2,"),
    Kind("face_big_endian_past_end.ply", binary_ply(TETRA, [[0, 1, 900]], endian=">"), refused="vertex 900,"),
    Kind("mesh_nan_vertex.ply", ascii_ply(with_row(TETRA, 2, [np.nan, 1, 0]), TETRA_FACES),
         refused=r"vertex 2 is not finite \(nan, 1.0, 0.0\)"),
    Kind("mesh_inf_vertex.ply", binary_ply(with_row(TETRA, 3, np.inf), TETRA_FACES), refused="vertex 3 is not finite"),
    Kind("points_nan.ply", ascii_ply(with_row(POINTS, 5, np.nan)), refused="vertex 5 is not finite"),
    Kind("zero_area.ply", ascii_ply(np.ones((4, 3)), TETRA_FACES), refused="all 4 faces have zero area"),
    Kind("span_overflow.ply", ascii_ply(with_row(POINTS * 1e308, 0, [-1.7e308, 0, 0])),
         refused="span more than a double can hold"),
    # --- valid PLY: exact points, normals, meshes in their own units
    Kind("points.ply", ascii_ply(POINTS), check=points_exact(POINTS)),
    Kind("points_normals.ply", ascii_ply(np.c_[POINTS, NORMALS], columns=["x", "y", "z", "nx", "ny", "nz"]),
         check=points_exact(POINTS, NORMALS)),
    Kind("points_far.ply", binary_ply(POINTS + 1e6), check=points_exact(POINTS + 1e6)),
    Kind("points_big_endian.ply", binary_ply(POINTS, endian=">"), check=points_exact(POINTS)),
    Kind("crlf.ply", ascii_ply(POINTS).replace("\n", "\r\n"), check=points_exact(POINTS)),
    Kind("quads.ply", exported(BOX, "ply", encoding="ascii"), check=surface_of(BOX.vertices, BOX.faces)),
    Kind("mesh_far.ply", binary_ply(FAR, BOX.faces), check=surface_of(FAR, BOX.faces)),
    Kind("mesh_huge.ply", binary_ply(HUGE, BOX.faces), check=surface_of(HUGE, BOX.faces)),
    Kind("mesh_tiny.ply", binary_ply(TINY, BOX.faces), check=surface_of(TINY, BOX.faces)),
    # --- OBJ
    Kind("relative.obj", relative_tetrahedron(0), check=surface_of(TETRA, TETRA_FACES)),
    Kind("relative_interleaved.obj", two_tetrahedra_relative(),
         check=surface_of(np.r_[TETRA, TETRA + 5], np.r_[TETRA_FACES, TETRA_FACES + 4])),
    Kind("slashes.obj", "".join(f"v {' '.join(map(str, v))}\nvt 0 0\nvn 0 0 1\n" for v in TETRA)
         + "".join(f"f {' '.join(f'{i + 1}/{i + 1}/{i + 1}' for i in f)}\n" for f in TETRA_FACES)
         + "f 1//1 2//2 3//3\n", check=surface_of(TETRA, TETRA_FACES)),
    Kind("quads.obj", "".join(f"v {' '.join(map(str, v))}\n" for v in BOX.vertices)
         + "f 1 2 4 3\n" + "".join(f"f {' '.join(str(i + 1) for i in f)}\n" for f in BOX.faces),
         check=surface_of(BOX.vertices, BOX.faces)),
    Kind("continued.obj", obj(TETRA, TETRA_FACES).replace("f 1 3 2\n", "f 1 \\\n3 2\n"),
         check=surface_of(TETRA, TETRA_FACES)),
    Kind("groups_materials.obj", "mtllib x.mtl\no thing\ng part\nusemtl red\ns 1\n" + obj(TETRA, TETRA_FACES),
         check=surface_of(TETRA, TETRA_FACES)),
    Kind("colour_vertices.obj", obj(np.c_[TETRA, np.ones((4, 3))], TETRA_FACES), check=surface_of(TETRA, TETRA_FACES)),
    Kind("points_only.obj", obj(POINTS, []), check=points_exact(POINTS)),
    Kind("far.obj", obj(FAR, BOX.faces), check=surface_of(FAR, BOX.faces)),
    Kind("huge.obj", obj(HUGE, BOX.faces), check=surface_of(HUGE, BOX.faces)),
    Kind("index_zero.obj", obj(TETRA, []) + "f 0 1 2\n", refused="line 5: vertex number 0 is invalid"),
    Kind("index_past_end.obj", obj(TETRA, []) + "f 1 2 9\n", refused="line 5: a face refers to vertex 9, but only 4"),
    Kind("forward_reference.obj", "f 1 2 3\n" + obj(TETRA, []), refused="line 1: a face refers to vertex 1, but only 0"),
    Kind("relative_past_start.obj", obj(TETRA, []) + "f -1 -2 -9\n", refused="refers to vertex -9, but only 4"),
    Kind("two_corner_face.obj", obj(TETRA, []) + "f 1 2\n", refused="line 5: a face needs at least 3 vertices"),
    Kind("two_coordinates.obj", "v 1 2\n", refused="line 1: a vertex needs three coordinates"),
    Kind("text_coordinate.obj", "v 1 two 3\n", refused="line 1: 'v 1 two 3' is not a vertex"),
    Kind("text_corner.obj", obj(TETRA, []) + "f 1 b 3\n", refused="face corner 'b' is not a vertex number"),
    Kind("nan_vertex.obj", obj(with_row(TETRA, 2, np.nan), TETRA_FACES), refused="vertex 2 is not finite"),
    Kind("no_vertices.obj", "# just a comment\no empty\n", refused="holds no points or faces"),
    Kind("flat_faces.obj", obj(np.c_[TETRA[:, :2], np.zeros(4)] * [1, 1, 0] + [0, 0, 0], [[0, 1, 1], [2, 2, 2]]),
         refused="all 2 faces have zero area"),
    Kind("binary_junk.obj", bytes(range(256)) * 4, refused="holds no points or faces"),
    # --- OFF and STL (parsed by trimesh, checked here)
    Kind("mesh.off", exported(BOX, "off"), check=surface_of(BOX.vertices, BOX.faces)),
    Kind("not_off.off", "NOTOFF\n1 2 3\n", refused="cannot be read as OFF"),
    Kind("face_past_end.off", "OFF\n4 1 0\n0 0 0\n1 0 0\n0 1 0\n0 0 1\n3 0 1 9\n", refused="cannot be read as OFF"),
    Kind("face_negative.off", "OFF\n4 1 0\n0 0 0\n1 0 0\n0 1 0\n0 0 1\n3 0 1 -1\n", refused="cannot be read as OFF"),
    Kind("nan_vertex.off", "OFF\n4 2 0\n0 0 0\n1 0 0\nnan 1 0\n0 0 1\n3 0 1 3\n3 0 2 3\n",
         refused="vertex 2 is not finite"),
    Kind("binary.stl", exported(BOX, "stl"), check=surface_of(BOX.vertices, BOX.faces)),
    Kind("ascii.stl", exported(BOX, "stl_ascii"), check=surface_of(BOX.vertices, BOX.faces)),
    Kind("far.stl", exported(trimesh.Trimesh(FAR, BOX.faces), "stl_ascii"), check=surface_of(FAR, BOX.faces)),
    Kind("truncated.stl", exported(BOX, "stl")[:-30], refused="cannot be read as STL|holds no points"),
    Kind("garbage.stl", "solid x\nfacet nonsense\n", refused="holds no points or faces"),
    Kind("nan.stl", "solid s\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex nan 0 0\nvertex 0 1 0\n"
         "endloop\nendfacet\nendsolid s\n",
         refused="vertex .* is not finite"),
    # --- XYZ
    Kind("points.xyz", rows(POINTS), check=points_exact(POINTS)),
    Kind("normals.xyz", rows(np.c_[POINTS, NORMALS]), check=points_exact(POINTS, NORMALS)),
    Kind("colours.xyz", rows(np.c_[POINTS, COLOURS]), check=colours_ignored(POINTS)),
    Kind("unit_colours.xyz", rows(np.c_[POINTS, COLOURS / 255]), check=colours_ignored(POINTS)),
    Kind("normals_colours.xyz", rows(np.c_[POINTS, NORMALS, COLOURS]), check=colours_ignored(POINTS, NORMALS)),
    Kind("colours_normals.xyz", rows(np.c_[POINTS, COLOURS, NORMALS]), check=colours_ignored(POINTS, NORMALS)),
    Kind("two_colours.xyz", rows(np.c_[POINTS, COLOURS, COLOURS]), refused="columns 4-6 and 7-9 cannot be told apart"),
    Kind("two_normals.xyz", rows(np.c_[POINTS, NORMALS, NORMALS]), refused="cannot be told apart"),
    Kind("comments.xyz", "# x y z\n" + rows(POINTS) + "# end\n", check=points_exact(POINTS)),
    Kind("far.xyz", rows(POINTS + 1e6), check=points_exact(POINTS + 1e6)),
    Kind("huge.xyz", rows(POINTS * 1e300), check=points_exact(POINTS * 1e300)),
    Kind("four_columns.xyz", rows(np.c_[POINTS, COLOURS[:, 0]]), refused="expected 3 columns .* got 4"),
    Kind("two_columns.xyz", rows(POINTS[:, :2]), refused="got 2"),
    Kind("ragged.xyz", rows(POINTS) + "1 2\n", refused="cannot be read as XYZ"),
    Kind("text.xyz", rows(POINTS) + "1 two 3\n", refused="cannot be read as XYZ .*could not convert"),
    Kind("commas.xyz", "1,2,3\n4,5,6\n", refused="cannot be read as XYZ"),
    Kind("comments_only.xyz", "# nothing\n# here\n", refused="holds no points"),
    Kind("nan_row.xyz", rows(with_row(POINTS, 3, [0, np.nan, 0])), refused=r"point 3 is not finite \(0.0, nan"),
    Kind("inf_row.xyz", rows(with_row(POINTS, 7, [np.inf, 0, 0])), refused="point 7 is not finite"),
    Kind("overflow_row.xyz", rows(POINTS) + "1e400 0 0\n", refused="point 300 is not finite"),
    Kind("span_overflow.xyz", rows(np.r_[POINTS, [[-1.7e308, 0, 0], [1.7e308, 0, 0]]]), refused="span more than"),
    Kind("binary_junk.xyz", bytes(range(256)) * 4, refused="cannot be read as XYZ"),
    # --- NPY
    Kind("points.npy", npy(POINTS), check=points_exact(POINTS)),
    Kind("float32.npy", npy(POINTS.astype(np.float32)), check=points_exact(POINTS.astype(np.float32))),
    Kind("float16.npy", npy(POINTS.astype(np.float16)), check=points_exact(POINTS.astype(np.float16))),
    Kind("integers.npy", npy(np.rint(POINTS * 100).astype(np.int32)), check=points_exact(np.rint(POINTS * 100))),
    Kind("normals.npy", npy(np.c_[POINTS, NORMALS]), check=points_exact(POINTS, NORMALS)),
    Kind("colours.npy", npy(np.c_[POINTS, COLOURS]), check=colours_ignored(POINTS)),
    Kind("far.npy", npy(POINTS + 1e6), check=points_exact(POINTS + 1e6)),
    Kind("bool.npy", npy(POINTS > 0), refused="values of type bool; coordinates must be real numbers"),
    Kind("complex.npy", npy(POINTS + 1j), refused="values of type complex128"),
    Kind("strings.npy", npy(POINTS.astype(str)), refused="values of type <U"),
    Kind("structured.npy", npy(np.zeros(300, dtype=[("x", "f8"), ("y", "f8"), ("z", "f8")])), refused="values of type"),
    Kind("object.npy", npy(np.array([[1, 2, 3]] * 300, dtype=object)), refused="cannot be read as NPY .*pickle"),
    Kind("vector.npy", npy(POINTS.ravel()), refused=r"array of shape \(900,\)"),
    Kind("cube.npy", npy(POINTS.reshape(100, 3, 3)), refused=r"shape \(100, 3, 3\)"),
    Kind("four_columns.npy", npy(np.c_[POINTS, POINTS[:, 0]]), refused="got 4"),
    Kind("no_rows.npy", npy(np.zeros((0, 3))), refused="holds no points"),
    Kind("archive.npy", lambda path: np.savez(path.with_suffix(".npz"), a=POINTS) or
         path.with_suffix(".npz").rename(path), refused="holds several arrays"),
    Kind("truncated.npy", npy(POINTS)[:-10], refused="cannot be read as NPY"),
    Kind("text.npy", rows(POINTS), refused="cannot be read as NPY"),
    Kind("nan.npy", npy(with_row(POINTS, 9, np.nan)), refused="point 9 is not finite"),
    # --- read fine, refused before fitting (the README's list)
    Kind("99_points.xyz", rows(POINTS[:99]), invalid="the input has 99 points; at least 100 are needed"),
    Kind("1_point.npy", npy(POINTS[:1]), invalid="the input has 1 points; at least 100"),
    Kind("identical.xyz", rows(SAME), invalid="all points are at the same position"),
    Kind("identical_far.npy", npy(SAME * 1e6), invalid="all points are at the same position"),
    Kind("collinear.xyz", rows(LINE), invalid="all points lie on a line"),
    Kind("collinear.ply", ascii_ply(LINE + 1e6), invalid="all points lie on a line"),
    Kind("coplanar.xyz", rows(PLANE), invalid="all points lie on a plane"),
    Kind("coplanar_tilted.npy", npy(PLANE @ trimesh.transformations.random_rotation_matrix(
        rand=np.full(3, 0.3))[:3, :3].T), invalid="all points lie on a plane"),
    Kind("coplanar_mesh.obj", obj([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], [[0, 1, 2], [1, 3, 2]]),
         invalid="all points lie on a plane"),
]


def test_corpus_names_are_unique():
    assert len({kind.name for kind in KINDS}) == len(KINDS) >= 100


@pytest.mark.parametrize("kind", KINDS, ids=[kind.name for kind in KINDS])
def test_reader_on_corpus(tmp_path, kind):
    path = tmp_path / kind.name
    if callable(kind.content):
        kind.content(path)
    elif kind.content is not None:
        path.write_bytes(kind.content.encode() if isinstance(kind.content, str) else kind.content)
    before = sorted(tmp_path.iterdir())
    if kind.refused:
        with pytest.raises(InputError, match=kind.refused):
            read_observation(path, mesh_samples=20_000)
    else:
        obs = read_observation(path, mesh_samples=20_000)
        assert obs.points.ndim == 2 and obs.points.shape[1] == 3 and np.isfinite(obs.points).all()
        if kind.invalid:
            with pytest.raises(InputError, match=kind.invalid):
                validate(obs, np.random.default_rng(0))
        else:
            kind.check(obs)
    assert sorted(tmp_path.iterdir()) == before
