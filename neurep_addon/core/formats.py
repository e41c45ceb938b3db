"""File formats without the file system: a file's bytes to an observation or a mesh, and a mesh to bytes.

Readable: PLY (points, points + normals, or a mesh), OBJ, OFF, STL, and point tables in XYZ text or NPY
(``x y z``, ``x y z nx ny nz``, ``x y z r g b``, ``x y z nx ny nz r g b`` or ``x y z r g b nx ny nz``; colours
are recognised and ignored). Meshes contribute area-weighted surface samples carrying their face normals
(``observation.sample_mesh``). plyfile parses PLY and trimesh OFF and STL; the checks they do not make
(nothing after the declared rows, face indices, finite coordinates) are made here. OBJ is read here, since
trimesh misreads relative (negative) face indices. A format is named by its suffix (``".ply"``); a parser
returns finite N x 3 points or raises ``InputError`` saying what is wrong and where, each message starting
with ``source`` (the file's name).

Writable: PLY (binary, double precision) and OBJ (17 significant digits), so coordinates round-trip
exactly. A mesh read for hole filling is written back with the patches appended (``filled_mesh_bytes``): a
PLY keeps each element, property, type and value and gains the face property ``neurep_invented``; an OBJ
keeps its text verbatim (``vt``, ``vn``, groups, materials, comments) and gains a group ``neurep_invented``.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from typing import BinaryIO

import numpy as np
import trimesh
from plyfile import PlyData, PlyElement, PlyElementParseError, PlyHeaderParseError, PlyListProperty, PlyParseError

from .errors import InputError
from .observation import Observation, sample_mesh

INVENTED = "neurep_invented"
"""Name of the PLY face property and the OBJ group that mark the faces hole filling added."""

TRIANGLE_LISTS = {"face": {"vertex_indices": 3, "vertex_index": 3}}
"""Lets plyfile map a binary triangle mesh's faces at once; other faces it reads row by row."""


def parse_observation(data: bytes, suffix: str, source: str, seed: int, mesh_samples: int,
                      stream: BinaryIO | None = None) -> Observation:
    """The observation a file of format ``suffix`` holds in ``data``; a mesh gives ``mesh_samples`` surface
    samples drawn with ``seed``. ``stream``: the same bytes as an open file, whose rows plyfile then
    memory-maps (reading a binary PLY row by row from memory is far slower)."""
    if suffix in (".npy", ".xyz"):
        return _from_table(_parse_table(data, suffix, source), source)
    if suffix == ".obj":
        vertices, faces = _parse_obj(data, source)
        return _from_geometry(vertices, faces, source, seed, mesh_samples)
    if suffix == ".ply":
        ply, vertices, faces = _read_ply(data, source, stream)
        vertex = ply["vertex"].data
        normals = None
        if all(c in vertex.dtype.names and vertex.dtype[c] != object for c in ("nx", "ny", "nz")):
            normals = np.stack([vertex[c] for c in ("nx", "ny", "nz")], axis=1).astype(np.float64)
        return _from_geometry(vertices, faces, source, seed, mesh_samples, normals)
    try:
        loaded = trimesh.load(io.BytesIO(data), file_type=suffix[1:], process=False)
    except Exception as exc:  # every parser failure becomes one clear message
        raise InputError(f"{source}: cannot be read as {suffix[1:].upper()} ({exc})") from exc
    return _from_trimesh(loaded, source, seed, mesh_samples)


def parse_mesh(data: bytes, suffix: str, source: str,
               stream: BinaryIO | None = None) -> tuple[np.ndarray, np.ndarray, PlyData | None]:
    """The mesh a file of format ``suffix`` (PLY, OBJ, OFF or STL) holds in ``data``: vertices float64 [V, 3]
    exactly as stored, triangles int64 [F, 3] (polygons fanned in file order) and, for a PLY, the file as
    plyfile reads it (every element, property, type, value and comment); ``InputError`` if it is not a usable
    mesh. STL stores each triangle's corners apart, so its equal corners are merged into shared vertices.
    ``stream``: as for ``parse_observation``."""
    ply = None
    if suffix == ".obj":
        vertices, faces = _parse_obj(data, source)
    elif suffix == ".ply":
        ply, vertices, faces = _read_ply(data, source, stream)
    else:
        try:
            loaded = trimesh.load(io.BytesIO(data), file_type=suffix[1:], force="mesh", process=suffix == ".stl")
        except Exception as exc:  # every parser failure becomes one clear message
            raise InputError(f"{source}: cannot be read as {suffix[1:].upper()} ({exc})") from exc
        vertices = np.asarray(getattr(loaded, "vertices", np.zeros((0, 3))), dtype=np.float64).reshape(-1, 3)
        faces = np.asarray(getattr(loaded, "faces", np.zeros((0, 3))), dtype=np.int64).reshape(-1, 3)
    if len(vertices) == 0:
        raise InputError(f"{source}: the file holds no points or faces")
    _check_finite(vertices, "vertex", source)
    if len(faces) == 0:
        raise InputError(f"{source}: holds {len(vertices):,} points but no faces; hole filling keeps a mesh's "
                         "faces and adds what is missing, so it needs a mesh. To make a surface from points, "
                         "use the complete mode")
    _check_faces(faces, len(vertices), source)
    return vertices, faces, ply


def mesh_bytes(suffix: str, vertices: np.ndarray, faces: np.ndarray) -> bytes:
    """A ``.ply`` or ``.obj`` file of vertices float64 [V, 3] and triangles int [F, 3], coordinates exact."""
    return _obj_text(vertices, faces) if suffix == ".obj" else _ply_bytes(_plain_ply(vertices, faces))


def filled_mesh_bytes(suffix: str, vertices: np.ndarray, faces: np.ndarray, new_vertices: np.ndarray,
                      new_faces: np.ndarray, text: bytes | None = None, ply: PlyData | None = None) -> bytes:
    """A ``.ply`` or ``.obj`` file of a mesh (vertices [V, 3], triangles [F, 3]) with patches appended (new
    vertices [N, 3], new triangles [P, 3] numbered after the mesh's vertices).

    ``text`` (the OBJ file the mesh was read from) or ``ply`` (the PLY file, ``parse_mesh``) is kept as it is:
    a PLY keeps every element and property and its faces gain ``neurep_invented`` (1 on the patches); an OBJ
    keeps its text and the patches follow in the group and material ``neurep_invented``. Without them the
    geometry is written with that mark.
    """
    if suffix == ".obj":
        text = _obj_text(vertices, faces) if text is None else text
        return text + (b"" if text.endswith(b"\n") else b"\n") + _obj_text(new_vertices, new_faces, len(vertices))
    return _ply_bytes(_with_patches(_plain_ply(vertices, faces) if ply is None else ply, new_vertices, new_faces))


def _parse_table(data: bytes, suffix: str, source: str) -> np.ndarray:
    """The numbers of an NPY or XYZ file as a 2-D float64 array."""
    try:
        if suffix == ".npy":
            array = np.load(io.BytesIO(data), allow_pickle=False)
        else:
            with warnings.catch_warnings():  # a file of comments only is reported below, not warned about
                warnings.simplefilter("ignore", UserWarning)
                array = np.loadtxt(io.BytesIO(data), dtype=np.float64, comments="#", ndmin=2)
    except Exception as exc:  # every parser failure becomes one clear message
        raise InputError(f"{source}: cannot be read as {suffix[1:].upper()} ({exc})") from exc
    if not isinstance(array, np.ndarray):
        raise InputError(f"{source}: holds several arrays (an .npz archive?); save one N x 3 array with np.save")
    if array.dtype.kind not in "iuf":
        raise InputError(f"{source}: holds values of type {array.dtype}; coordinates must be real numbers "
                         "(float or int)")
    if array.size == 0:
        raise InputError(f"{source}: the file holds no points")
    if array.ndim != 2:
        raise InputError(f"{source}: expected a table of N rows, got an array of shape {array.shape}")
    return array.astype(np.float64)


def _from_table(table: np.ndarray, source: str) -> Observation:
    """Points, normals and ignored colours from 3, 6 or 9 columns (see the module docstring)."""
    if table.shape[1] not in (3, 6, 9):
        raise InputError(f"{source}: expected 3 columns (x y z), 6 (plus nx ny nz, or r g b) or 9 (plus both), "
                         f"got {table.shape[1]}")
    points, triples = table[:, :3], [table[:, start:start + 3] for start in range(3, table.shape[1], 3)]
    _check_finite(points, "point", source)
    colour = [_looks_like_colour(triple) for triple in triples]
    if len(triples) == 2 and colour.count(True) != 1:
        raise InputError(f"{source}: 9 columns need one triple of unit normals and one of colours (0-255); "
                         "columns 4-6 and 7-9 cannot be told apart")
    notes = tuple(f"columns {3 * i + 4}-{3 * i + 6} look like colours (0-255, not unit normals); "
                  "they were ignored" for i, is_colour in enumerate(colour) if is_colour)
    normals = next((triple for triple, is_colour in zip(triples, colour) if not is_colour), None)
    return Observation(points, normals, notes)


def _looks_like_colour(triple: np.ndarray) -> bool:
    """Colour values lie in [0, 255] and, unlike normals, are mostly not unit vectors."""
    unit = np.abs(np.linalg.norm(triple, axis=1) - 1.0) < 1e-2
    return bool(((triple >= 0) & (triple <= 255)).all() and unit.mean() < 0.9)


def _parse_obj(data: bytes, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Vertices [V, 3] and triangles [F, 3] (polygons fanned) of an OBJ file; other records are ignored.

    A face refers to vertices defined before it: ``i`` counts from the first (1), ``-i`` back from the last
    (-1), the OBJ rule that trimesh breaks for files that interleave vertices and faces.
    """
    vertices: list[list[float]] = []
    faces: list[tuple[int, int, int]] = []
    text = data.decode("utf-8", errors="replace").replace("\\\n", " ")
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.split()
        if not words or words[0] not in ("v", "f"):
            continue
        if words[0] == "v":
            try:
                vertices.append([float(w) for w in words[1:4]])
            except ValueError:
                raise InputError(f"{source}: line {number}: {line.strip()!r} is not a vertex 'v X Y Z'") from None
            if len(vertices[-1]) != 3:
                raise InputError(f"{source}: line {number}: a vertex needs three coordinates, got {line.strip()!r}")
            continue
        corners = [_obj_index(word, len(vertices), number, source) for word in words[1:]]
        if len(corners) < 3:
            raise InputError(f"{source}: line {number}: a face needs at least 3 vertices, got {line.strip()!r}")
        faces += [(corners[0], a, b) for a, b in zip(corners[1:], corners[2:])]
    return np.array(vertices, dtype=np.float64).reshape(-1, 3), np.array(faces, dtype=np.int64).reshape(-1, 3)


def _obj_index(word: str, defined: int, line: int, source: str) -> int:
    """The 0-based vertex of a face corner ``i``, ``i/t``, ``i//n`` or ``i/t/n``."""
    try:
        index = int(word.split("/")[0])
    except ValueError:
        raise InputError(f"{source}: line {line}: face corner {word!r} is not a vertex number") from None
    if index == 0:
        raise InputError(f"{source}: line {line}: vertex number 0 is invalid; OBJ counts from 1 (or back from -1)")
    if not -defined <= index <= defined:
        raise InputError(f"{source}: line {line}: a face refers to vertex {index}, but only {defined} vertices "
                         "are defined before it")
    return index - 1 if index > 0 else defined + index


def _read_ply(data: bytes, source: str, stream: BinaryIO | None) -> tuple[PlyData, np.ndarray, np.ndarray]:
    """A PLY file's elements, its vertices float64 [V, 3] and its faces int64 [F, 3] (polygons fanned in file
    order), or ``InputError``. plyfile reads ``stream`` (default: ``data``, the file's bytes); what plyfile does
    not check, that nothing follows the rows the header declares, is checked here."""
    try:
        with contextlib.nullcontext(stream) if stream is not None else io.BytesIO(data) as stream:
            stream.seek(0)
            try:
                ply = PlyData.read(stream, known_list_len=TRIANGLE_LISTS)
            except PlyElementParseError as exc:
                if exc.message != "unexpected list length":
                    raise
                stream.seek(0)
                ply = PlyData.read(stream, mmap=False)
            left = 0 if ply.text else len(data) - stream.tell()
    except PlyParseError as exc:
        raise InputError(_ply_error(exc, source)) from None
    except (ValueError, OverflowError, MemoryError) as exc:
        raise InputError(f"{source}: cannot be read as PLY ({exc or 'out of memory'}); the file is damaged or its "
                         "header declares more rows than it holds") from None
    declared = ", ".join(f"{element.count:,} {element.name}" for element in ply.elements) or "no"
    if ply.text:
        rows = sum(1 for line in data.partition(b"end_header")[2].splitlines()[1:] if line.strip())
        if rows != sum(element.count for element in ply.elements):
            raise InputError(f"{source}: the header declares {declared} rows, but {rows:,} rows follow it")
    elif left:
        raise InputError(f"{source}: {left:,} bytes follow the {declared} rows the header declares; the header is "
                         "wrong or the file damaged")
    vertex = ply["vertex"].data if "vertex" in ply else None
    if vertex is None or not all(c in vertex.dtype.names and vertex.dtype[c] != object for c in "xyz"):
        raise InputError(f"{source}: the file has no vertex element with x, y and z properties")
    vertices = np.stack([vertex[c] for c in "xyz"], axis=1).astype(np.float64)
    index_list = _face_index_list(ply)
    if index_list is None:
        return ply, vertices, np.zeros((0, 3), dtype=np.int64)
    corners = ply["face"][index_list]
    if corners.dtype == object:  # lists of varying lengths
        lengths = np.array([len(face) for face in corners], dtype=np.int64)
        corners = np.concatenate([face.ravel() for face in corners] or [np.zeros(0)])
    else:  # [F, k], read at once when every face is a triangle
        lengths = np.full(len(corners), corners.shape[1], dtype=np.int64)
    short = np.flatnonzero(lengths < 3)
    if len(short):
        raise InputError(f"{source}: face {short[0]} has {lengths[short[0]]} corners; a face needs at least 3")
    return ply, vertices, _fans(lengths, corners.ravel().astype(np.int64))


def _ply_error(exc: PlyParseError, source: str) -> str:
    """The message for a PLY file plyfile refuses."""
    if isinstance(exc, PlyHeaderParseError):
        return f"{source}: not a PLY file, or its header is malformed (header line {exc.line}: {exc.message})"
    element, row = exc.element, exc.row
    if exc.message == "early end-of-file":
        return (f"{source}: the header declares {element.count:,} {element.name} rows, but only {row:,} follow; "
                "the file is truncated or its header is wrong")
    where = f"{element.name} {row}" + (f" ({exc.prop.name})" if exc.prop else "")
    return f"{source}: cannot be read as PLY ({where}: {exc.message})"


def _face_index_list(ply: PlyData) -> str | None:
    """The name of the face element's corner list: ``vertex_indices``, else its first list property."""
    face = ply["face"] if "face" in ply else None
    lists = [p.name for p in (face.properties if face else ()) if isinstance(p, PlyListProperty)]
    return "vertex_indices" if "vertex_indices" in lists else next(iter(lists), None)


def _from_trimesh(loaded, source: str, seed: int, mesh_samples: int) -> Observation:
    parts = list(loaded.geometry.values()) if isinstance(loaded, trimesh.Scene) else [loaded]
    parts = [p for p in parts if isinstance(p, (trimesh.Trimesh, trimesh.PointCloud))]
    if not parts:
        raise InputError(f"{source}: the file holds no points or faces")
    meshes = [p for p in parts if isinstance(p, trimesh.Trimesh) and len(p.faces)]
    if not meshes:
        cloud = parts[0]
        return _from_geometry(np.asarray(cloud.vertices, dtype=np.float64).reshape(-1, 3), np.zeros((0, 3), int),
                              source, seed, mesh_samples)
    offsets = np.cumsum([0] + [len(m.vertices) for m in meshes[:-1]])
    vertices = np.concatenate([np.asarray(m.vertices, dtype=np.float64) for m in meshes])
    faces = np.concatenate([np.asarray(m.faces, dtype=np.int64) + offset for m, offset in zip(meshes, offsets)])
    return _from_geometry(vertices, faces, source, seed, mesh_samples)


def _from_geometry(vertices: np.ndarray, faces: np.ndarray, source: str, seed: int, mesh_samples: int,
                   normals: np.ndarray | None = None) -> Observation:
    """Surface samples of a mesh, or the vertices themselves when there are no faces."""
    if len(vertices) == 0:
        raise InputError(f"{source}: the file holds no points or faces")
    _check_finite(vertices, "vertex", source)
    if len(faces) == 0:
        return Observation(vertices, normals)
    _check_faces(faces, len(vertices), source)
    try:
        return sample_mesh(vertices, faces, mesh_samples, seed)
    except InputError as exc:
        raise InputError(f"{source}: {exc}") from None


def _check_finite(points: np.ndarray, what: str, source: str) -> None:
    bad = np.flatnonzero(~np.isfinite(points).all(axis=1))
    if len(bad):
        raise InputError(f"{source}: {what} {bad[0]} is not finite ({', '.join(map(str, points[bad[0]]))}); "
                         f"{len(bad)} of {len(points)} {what} rows hold NaN or Inf")
    with np.errstate(over="ignore"):
        extent = np.ptp(points, axis=0)
    if not np.isfinite(extent).all():
        raise InputError(f"{source}: the coordinates span more than a double can hold; rescale the input")


def _check_faces(faces: np.ndarray, vertex_count: int, source: str) -> None:
    bad = np.flatnonzero(((faces < 0) | (faces >= vertex_count)).any(axis=1))
    if len(bad):
        face = faces[bad[0]]
        vertex = face[(face < 0) | (face >= vertex_count)][0]
        raise InputError(f"{source}: face {bad[0]} refers to vertex {vertex}, but the file has {vertex_count:,} "
                         f"vertices (numbered 0 to {vertex_count - 1:,})")


def _obj_text(vertices: np.ndarray, faces: np.ndarray, first_index: int | None = None) -> bytes:
    """OBJ lines for vertices [V, 3] and faces [F, 3]; with ``first_index`` (vertices already in the file) they
    are the patches: the group and material ``INVENTED``, faces numbered after those vertices."""
    text = io.StringIO()
    if first_index is not None:
        text.write(f"g {INVENTED}\nusemtl {INVENTED}\n")
    np.savetxt(text, vertices, fmt="v %.17g %.17g %.17g")
    np.savetxt(text, faces + 1, fmt="f %d %d %d")
    return text.getvalue().encode("ascii")


def _fans(lengths: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Triangles int64 [sum(lengths - 2), 3]: each polygon (corners in ``items``, ``lengths`` [F] each) as a fan
    (c0, ci, ci+1), in polygon order."""
    starts = np.cumsum(lengths) - lengths
    polygon = np.repeat(np.arange(len(lengths)), lengths - 2)
    corner = np.arange(len(polygon)) - np.repeat(np.cumsum(lengths - 2) - (lengths - 2), lengths - 2) + 1
    first = starts[polygon]
    return np.stack([items[first], items[first + corner], items[first + corner + 1]], axis=1)


def _plain_ply(vertices: np.ndarray, faces: np.ndarray) -> PlyData:
    """A PLY of double vertices [V, 3] and int triangles [F, 3]."""
    vertex = np.zeros(len(vertices), dtype=[(c, "f8") for c in "xyz"])
    face = np.zeros(len(faces), dtype=[("vertex_indices", "i4", (3,))])
    for i, c in enumerate("xyz"):
        vertex[c] = vertices[:, i]
    face["vertex_indices"] = faces
    return PlyData([PlyElement.describe(vertex, "vertex"), PlyElement.describe(face, "face")], byte_order="<")


def _with_patches(ply: PlyData, new_vertices: np.ndarray, new_faces: np.ndarray) -> PlyData:
    """``ply`` with the patches' vertices [N, 3] and triangles [P, 3] appended as new rows.

    New rows get their coordinates (in the file's coordinate type) and corners, 0 in the other properties and
    empty other lists; faces get ``INVENTED`` (uchar, 1 on the new rows) if they do not have it yet. A corner
    list whose type cannot number every vertex is widened to int.
    """
    index_list, vertex_count = _face_index_list(ply), ply["vertex"].count + len(new_vertices)
    elements = []
    for element in ply.elements:
        rows, added, values = element.data, 0, {}
        lists = {p.name: p for p in element.properties if isinstance(p, PlyListProperty)}
        val_types = {name: p.val_dtype for name, p in lists.items()}
        fields = [(name, rows.dtype[name].newbyteorder("=")) for name in rows.dtype.names]
        if element.name == "vertex":
            added, values = len(new_vertices), {c: new_vertices[:, i] for i, c in enumerate("xyz")}
        elif element.name == "face":
            added, values = len(new_faces), {index_list: new_faces, INVENTED: 1}
            fields += [] if INVENTED in rows.dtype.names else [(INVENTED, np.dtype("u1"))]
            kind = np.dtype(val_types[index_list])
            if kind.kind in "iu" and np.iinfo(kind).max < vertex_count:
                val_types[index_list] = "i4"
                fields = [(n, np.dtype(("i4", t.shape)) if n == index_list and t != object else t) for n, t in fields]
        grown = np.zeros(len(rows) + added, dtype=fields)
        for name in rows.dtype.names:
            grown[name][:len(rows)] = rows[name]
        for name, dtype in fields:
            new = grown[name][len(rows):]
            if dtype != object:
                new[...] = values.get(name, 0)
                continue
            for row in range(added):  # each row holds its own list
                new[row] = values[name][row] if name in values else np.zeros(0)
        elements.append(PlyElement.describe(grown, element.name, {n: p.len_dtype for n, p in lists.items()},
                                            val_types, element.comments))
    return PlyData(elements, byte_order="<", comments=ply.comments, obj_info=ply.obj_info)


def _ply_bytes(ply: PlyData) -> bytes:
    """The bytes of a PLY file."""
    stream = io.BytesIO()
    ply.write(stream)
    return stream.getvalue()
