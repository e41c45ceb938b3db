"""Where geometry goes between world space and an object's own frame: mirrors, precise storage, outward parts.

- A transform with a negative determinant (a negative scale, Blender's Mirror operator) mirrors: a
  triangle keeps its corner order but its normal turns over, so the corner order is reversed on the way
  through to keep every face facing out.
- Blender stores positions and matrices in float32: a mesh 1e5 units from its origin keeps about 0.008
  units of detail. A result whose vertices would lie that far from its object's origin is stored around its
  own centre, with the offset moved into its object's matrix.
- Scans joined from a half and its mirrored copy hold parts wound opposite ways. ``outward_faces`` makes
  each connected part consistently wound and facing outwards (bulging outwards; a flat part away from
  the whole mesh's centre).
"""

from __future__ import annotations

import numpy as np

FLOAT32_ULP = 2.0 ** -23
"""float32's spacing of numbers next to 1 (a value v is stored to within |v| * this / 2)."""
STORAGE_PRECISION = 1e-5
"""Vertices stay in the source's frame while float32 keeps them to this fraction of the mesh's size."""
ORIENTATION_MARGIN = 0.1
"""A part faces clearly one way from a point when its signed volume seen from there is beyond this share
of its unsigned volume: parts that face both ways about equally (a flat patch through the point) do not."""


def mirrors(matrix: np.ndarray) -> bool:
    """True when the 4x4 (or 3x3) ``matrix`` mirrors space: its linear part has a negative determinant."""
    return bool(np.linalg.det(np.asarray(matrix, dtype=np.float64)[:3, :3]) < 0)


def oriented(faces: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Triangles int [F, 3] wound for the other side of ``matrix``: reversed when it mirrors, else as given."""
    faces = np.asarray(faces)
    return faces[:, ::-1].copy() if mirrors(matrix) else faces


def transform(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``points`` [N, 3] mapped by the 4x4 affine ``matrix``."""
    matrix = np.asarray(matrix, dtype=np.float64)
    return np.asarray(points, dtype=np.float64) @ matrix[:3, :3].T + matrix[:3, 3]


def to_local(vertices: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """World-space ``vertices`` [V, 3] in the local space of an object whose (invertible) matrix is ``matrix``."""
    return transform(vertices, np.linalg.inv(np.asarray(matrix, dtype=np.float64)))


def as_stored(matrix: np.ndarray) -> np.ndarray:
    """``matrix`` as Blender keeps it (float32), back in float64: what vertices must be placed against."""
    return np.asarray(matrix, dtype=np.float32).astype(np.float64)


def storage_offset(local: np.ndarray) -> np.ndarray:
    """Where, in its own frame, a mesh with vertices ``local`` [V, 3] should have its origin: (0, 0, 0) while
    float32 keeps every vertex to ``STORAGE_PRECISION`` of the mesh's size, else its bounding-box centre."""
    if not len(local):
        return np.zeros(3)
    lo, hi = local.min(axis=0), local.max(axis=0)
    size = float((hi - lo).max())
    if np.abs(local).max() * FLOAT32_ULP <= STORAGE_PRECISION * size:
        return np.zeros(3)
    return (lo + hi) / 2.0


def storage(vertices: np.ndarray, faces: np.ndarray, matrix: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """How to store world-space ``vertices`` [V, 3] and outward ``faces`` [F, 3] in an object placed like
    ``matrix`` (4x4, the source's; None or singular: the world frame).

    Returns (the object's matrix float64 [4, 4], as float32 keeps it; the vertices in that frame [V, 3];
    the faces wound so they face out in world space). The matrix is ``matrix`` itself unless the vertices
    would lie too far from its origin for float32 (``storage_offset``): then it is moved to their centre.
    """
    matrix = np.eye(4) if matrix is None else np.asarray(matrix, dtype=np.float64)
    if abs(np.linalg.det(matrix[:3, :3])) < 1e-12:  # a source scaled to zero: keep world coordinates
        matrix = np.eye(4)
    offset = storage_offset(to_local(vertices, as_stored(matrix)))
    if offset.any():
        shift = np.eye(4)
        shift[:3, 3] = offset
        matrix = matrix @ shift
    stored = as_stored(matrix)
    return stored, to_local(vertices, stored), oriented(faces, stored)


def outward_faces(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, int]:
    """``faces`` int [F, 3] with every connected part of the mesh wound one way and facing out; and how many
    faces were turned over.

    Within a part (faces joined by edges that two faces share), each face takes the winding of the face it
    is reached from. Then a part is turned over when it clearly faces inwards (``ORIENTATION_MARGIN``) seen
    from its own area-weighted centre (a curved part bulges outwards), or, for a part that faces neither
    way clearly from there (a flat one), seen from the centre of the whole mesh. A mirrored half joined to
    its original comes back facing out like the original.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    if not len(faces):
        return faces, 0
    flip, parts = consistent_winding(faces, len(vertices))
    triangles = vertices[np.where(flip[:, None], faces[:, ::-1], faces)]
    normals = np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0])  # 2 x area
    areas = np.linalg.norm(normals, axis=1)
    weighted = triangles.sum(axis=1) * (areas / 3.0)[:, None]
    part_areas = np.maximum(np.bincount(parts, weights=areas), 1e-300)
    part_centres = np.stack([np.bincount(parts, weights=weighted[:, axis]) for axis in range(3)], axis=1)
    whole_centre = part_centres.sum(axis=0) / part_areas.sum()
    part_centres /= part_areas[:, None]
    from_origin = np.einsum("ij,ij->i", triangles[:, 0], normals)

    def facing(volumes: np.ndarray) -> np.ndarray:
        """Per part: +1 clearly outwards, -1 clearly inwards, else 0, from the volumes (times 6) of the
        tetrahedra from a point to each face, against the margin times their unsigned sum."""
        signed = np.bincount(parts, weights=volumes)
        unsigned = np.bincount(parts, weights=np.abs(volumes))
        return (signed > ORIENTATION_MARGIN * unsigned).astype(int) - (signed < -ORIENTATION_MARGIN * unsigned)

    whole = facing(from_origin - normals @ whole_centre)
    own = whole if len(part_areas) == 1 else facing(from_origin - np.einsum("ij,ij->i", part_centres[parts], normals))
    turn = np.where(own != 0, own, whole) < 0
    reverse = flip ^ turn[parts]
    return np.where(reverse[:, None], faces[:, ::-1], faces), int(np.count_nonzero(reverse))


def consistent_winding(faces: np.ndarray, vertex_count: int) -> tuple[np.ndarray, np.ndarray]:
    """(bool [F]: faces to reverse so that two faces sharing an edge run along it in opposite directions,
    as far as a spanning tree of each part can tell, the part's first face kept; part label int [F]).

    Parts are the faces joined by edges that exactly two faces use."""
    from scipy.sparse import coo_matrix  # not at import time: Blender loads this before the dependencies
    from scipy.sparse.csgraph import breadth_first_order, connected_components

    faces = np.asarray(faces, dtype=np.int64)
    count = len(faces)
    starts, ends = faces.reshape(-1), faces[:, [1, 2, 0]].reshape(-1)
    key = np.minimum(starts, ends) * vertex_count + np.maximum(starts, ends)
    order = np.argsort(key, kind="stable")
    run_starts = np.r_[0, np.flatnonzero(np.diff(key[order])) + 1]
    first = run_starts[np.diff(np.r_[run_starts, len(key)]) == 2]  # edges that exactly two faces use
    one, other = order[first], order[first + 1]
    keep = one // 3 != other // 3
    one, other = one[keep], other[keep]
    a, b = np.minimum(one // 3, other // 3), np.maximum(one // 3, other // 3)
    same_direction = starts[one] == starts[other]  # the two faces disagree on the winding
    labels = connected_components(coo_matrix((np.ones(len(a)), (a, b)), shape=(count, count)),
                                  directed=False)[1]
    if not same_direction.any():
        return np.zeros(count, dtype=bool), labels
    _, unique = np.unique(a * count + b, return_index=True)  # one edge a pair of faces (duplicate faces)
    a, b, same_direction = a[unique], b[unique], same_direction[unique]
    # one search from an extra node linked to a face of every part: each face's parent in a spanning forest
    _, roots = np.unique(labels, return_index=True)
    rows = np.concatenate([a, b, np.full(len(roots), count)])
    cols = np.concatenate([b, a, roots])
    values = np.concatenate([same_direction, same_direction, np.zeros(len(roots), dtype=bool)]) + 1.0
    graph = coo_matrix((values, (rows, cols)), shape=(count + 1, count + 1)).tocsr()
    reached, parent = breadth_first_order(graph, count, directed=True)
    parent[count] = count
    parent[roots] = roots
    children = reached[1:][~np.isin(reached[1:], roots)]
    flip = np.zeros(count + 1, dtype=bool)
    flip[children] = np.asarray(graph[children, parent[children]]).ravel() == 2.0
    # parity of the disagreeing steps up to the part's first face, by pointer doubling
    while (parent[parent] != parent).any():
        flip, parent = flip ^ flip[parent], parent[parent]
    return flip[:count], labels
