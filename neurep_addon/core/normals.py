"""Normals for points-only scans: local plane fits, then a consistent orientation.

Orientation follows Hoppe et al. 1992 ("Surface reconstruction from unorganized points"): propagate the
sign of one trusted normal along a minimum spanning tree of the k-nearest-neighbour graph whose edge
cost is 1 - |n_i . n_j|, so the sign crosses flat regions first and sharp creases last. Each connected
part of the scan is seeded at its point farthest from the centroid, oriented away from it, and is
flipped as a whole if most of its normals point inwards.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import breadth_first_order, connected_components, minimum_spanning_tree
from scipy.spatial import cKDTree

from .config import NORMAL_NEIGHBOURS


def estimate_normals(points: np.ndarray, k: int = NORMAL_NEIGHBOURS) -> np.ndarray:
    """Unit normals float64 [N, 3] for ``points`` [N, 3], consistently oriented outwards where possible."""
    k = min(k, len(points) - 1)
    tree = cKDTree(points)
    _, neighbours = tree.query(points, k=k + 1, workers=-1)  # [N, k+1], the point itself first
    unoriented = _plane_normals(points, neighbours)
    return _orient(points, unoriented, neighbours)


def _plane_normals(points: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    patches = points[neighbours]  # [N, k+1, 3]
    centred = patches - patches.mean(axis=1, keepdims=True)
    covariance = np.einsum("nki,nkj->nij", centred, centred)
    _, eigenvectors = np.linalg.eigh(covariance)  # ascending eigenvalues
    return eigenvectors[:, :, 0]  # direction of least variance


def _orient(points: np.ndarray, normals: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    n, k1 = neighbours.shape
    rows = np.repeat(np.arange(n), k1 - 1)
    cols = neighbours[:, 1:].ravel()
    cost = 1.0 - np.abs(np.einsum("ij,ij->i", normals[rows], normals[cols])) + 1e-6
    graph = coo_matrix((cost, (rows, cols)), shape=(n, n)).tocsr()
    graph = graph.maximum(graph.T)  # symmetric kNN graph
    tree = minimum_spanning_tree(graph)
    tree = tree + tree.T
    _, labels = connected_components(tree, directed=False)

    centroid = points.mean(axis=0)
    oriented = normals.copy()
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        seed = members[np.argmax(np.linalg.norm(points[members] - centroid, axis=1))]
        if np.dot(oriented[seed], points[seed] - centroid) < 0:
            oriented[seed] *= -1
        order, predecessors = breadth_first_order(tree, seed, directed=False)
        children = order[1:]
        # Sign of each tree edge (child vs its parent), then a running product down the tree.
        agree = np.einsum("ij,ij->i", normals[children], normals[predecessors[children]]) >= 0
        flip = dict(zip(children.tolist(), (~agree).tolist()))
        sign = {int(seed): np.dot(oriented[seed], normals[seed]) < 0}
        for child, parent in zip(children.tolist(), predecessors[children].tolist()):
            sign[child] = sign[parent] ^ flip[child]
        flipped = np.fromiter((sign[i] for i in order.tolist()), dtype=bool, count=len(order))
        oriented[order] = np.where(flipped[:, None], -normals[order], normals[order])
        outward = np.einsum("ij,ij->i", oriented[members], points[members] - centroid)
        if outward.sum() < 0:
            oriented[members] *= -1
    return oriented
