"""Where on a source surface each point of a result lies, to carry the source's UVs, colours and materials over.

Each result face takes its corner values from one source triangle, the one nearest its centre, so a face
never straddles a seam of the source's UV layout; point values come from the nearest point of the surface.
"""

from __future__ import annotations

import numpy as np

CANDIDATES = 16
"""Source triangles (nearest by centre) among which each query's nearest surface point is sought."""


def closest_points(points: np.ndarray, triangles: np.ndarray, candidates: int = CANDIDATES
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For ``points`` [N, 3] and ``triangles`` [T, 3, 3]: the triangle holding each point's nearest
    surface point (int [N], among the ``candidates`` nearest by centre), its barycentric coordinates there
    (float [N, 3], each in [0, 1]) and the distance (float [N])."""
    from scipy.spatial import cKDTree  # not at import time: Blender loads this before the dependencies

    points = np.asarray(points, dtype=np.float64)
    triangles = np.asarray(triangles, dtype=np.float64)
    k = min(candidates, len(triangles))
    _, near = cKDTree(triangles.mean(axis=1)).query(points, k=k)
    near = near.reshape(len(points), k)
    best = np.zeros(len(points), dtype=np.int64)
    best_weights = np.zeros((len(points), 3))
    best_distance = np.full(len(points), np.inf)
    for column in near.T:
        weights = _closest_on_triangle(points, triangles[column])
        distance = np.linalg.norm(np.einsum("nj,njk->nk", weights, triangles[column]) - points, axis=1)
        better = distance < best_distance
        best[better], best_weights[better], best_distance[better] = column[better], weights[better], \
            distance[better]
    return best, best_weights, best_distance


def plane_weights(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Barycentric coordinates float [N, 3] of ``points`` [N, 3] projected on the planes of their own
    ``triangles`` [N, 3, 3], not clamped: a corner outside its triangle extends the triangle's linear map."""
    a, b, c = triangles[:, 0], triangles[:, 1], triangles[:, 2]
    ab, ac, ap = b - a, c - a, points - a
    d00, d01, d11 = (np.einsum("ij,ij->i", x, y) for x, y in ((ab, ab), (ab, ac), (ac, ac)))
    d20, d21 = np.einsum("ij,ij->i", ap, ab), np.einsum("ij,ij->i", ap, ac)
    denominator = d00 * d11 - d01 * d01
    safe = np.where(np.abs(denominator) > 1e-300, denominator, 1.0)
    v = np.where(np.abs(denominator) > 1e-300, (d11 * d20 - d01 * d21) / safe, 0.0)
    w = np.where(np.abs(denominator) > 1e-300, (d00 * d21 - d01 * d20) / safe, 0.0)
    return np.stack([1.0 - v - w, v, w], axis=1)


def face_sources(vertices: np.ndarray, faces: np.ndarray, triangles: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """For a result mesh (``vertices`` [V, 3], ``faces`` [F, 3]) over source ``triangles`` [T, 3, 3]: the
    source triangle nearest each face's centre (int [F]) and each corner's weights in that triangle's
    plane (float [F, 3, 3], corners in ``faces`` order)."""
    corners = np.asarray(vertices, dtype=np.float64)[faces]
    source, _, _ = closest_points(corners.mean(axis=1), triangles)
    weights = plane_weights(corners.reshape(-1, 3), np.repeat(triangles[source], 3, axis=0))
    return source, weights.reshape(-1, 3, 3)


def interpolate(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Values at triangle corners [N, 3, C] weighted by ``weights`` [N, 3]: [N, C]."""
    return np.einsum("nj,njc->nc", weights, values)


def corner_values(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Values at each face's source triangle corners [F, 3, C] at the face's corners, weighted by
    ``face_sources``' weights [F, 3, 3]: [F, 3, C]."""
    return np.einsum("fcj,fjk->fck", weights, values)


def _closest_on_triangle(p: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Barycentric coordinates [N, 3] of the point of each triangle [N, 3, 3] nearest to ``p`` [N, 3]
    (Ericson, Real-Time Collision Detection, 5.1.5)."""
    a, b, c = triangles[:, 0], triangles[:, 1], triangles[:, 2]
    ab, ac = b - a, c - a
    dot = lambda x, y: np.einsum("ij,ij->i", x, y)  # noqa: E731
    ap, bp, cp = p - a, p - b, p - c
    d1, d2, d3, d4, d5, d6 = dot(ab, ap), dot(ac, ap), dot(ab, bp), dot(ac, bp), dot(ab, cp), dot(ac, cp)
    va, vb, vc = d3 * d6 - d5 * d4, d5 * d2 - d1 * d6, d1 * d4 - d3 * d2
    with np.errstate(divide="ignore", invalid="ignore"):
        total = va + vb + vc
        v_in, w_in = np.where(total != 0, vb / total, 1 / 3), np.where(total != 0, vc / total, 1 / 3)
        weights = np.stack([1 - v_in - w_in, v_in, w_in], axis=1)
        t = np.clip(np.nan_to_num((d4 - d3) / ((d4 - d3) + (d5 - d6))), 0, 1)
        regions = [  # the later rows win where several hold, as in Ericson's order of tests
            ((va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0), np.stack([0 * t, 1 - t, t], axis=1)),
            ((vb <= 0) & (d2 >= 0) & (d6 <= 0), _edge(np.nan_to_num(d2 / (d2 - d6)), 2)),
            ((d6 >= 0) & (d5 <= d6), _corner(len(p), 2)),
            ((vc <= 0) & (d1 >= 0) & (d3 <= 0), _edge(np.nan_to_num(d1 / (d1 - d3)), 1)),
            ((d3 >= 0) & (d4 <= d3), _corner(len(p), 1)),
            ((d1 <= 0) & (d2 <= 0), _corner(len(p), 0)),
        ]
    for region, values in regions:
        weights = np.where(region[:, None], values, weights)
    return weights


def _corner(count: int, index: int) -> np.ndarray:
    weights = np.zeros((count, 3))
    weights[:, index] = 1.0
    return weights


def _edge(t: np.ndarray, index: int) -> np.ndarray:
    """Weights along the edge from corner 0 to corner ``index`` at fraction ``t``."""
    t = np.clip(t, 0.0, 1.0)
    weights = np.zeros((len(t), 3))
    weights[:, 0], weights[:, index] = 1 - t, t
    return weights
