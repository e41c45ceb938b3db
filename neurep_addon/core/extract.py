"""Zero-level-set extraction: coarse-to-fine evaluation, then marching cubes (scikit-image).

Dense extraction at 256^3 asks the network for 17 million values; almost all of them are far from the
surface. ``sparse_grid`` evaluates a coarse grid, keeps only the cells whose corner values say the
surface may pass through them (|f| below the cell diagonal times a safety factor, since f is close to
1-Lipschitz), evaluates the grid nodes of those cells at twice the resolution, and repeats. Nodes never
evaluated take the trilinear upsampling of the coarser grid: they lie in cells the surface does not
cross, so their sign is right, and marching cubes never makes a triangle between two of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import trimesh
from scipy.spatial import cKDTree
from skimage.measure import marching_cubes

from .config import BOX_HALF_SIZE

SdfFunction = Callable[[np.ndarray], np.ndarray]
"""Maps box points float32 [M, 3] to signed distances float32 [M]."""

LIPSCHITZ_SAFETY = 1.25
"""A cell is refined when min |f| at its corners is below this many cell diagonals."""
COARSEST_RESOLUTION = 32


@dataclass
class Grid:
    """Signed distances on the (resolution + 1)^3 nodes spanning [-1, 1]^3, and how many were evaluated."""

    values: np.ndarray  # float32 [R+1, R+1, R+1]
    evaluations: int

    @property
    def resolution(self) -> int:
        return self.values.shape[0] - 1


def node_coordinates(resolution: int, index: np.ndarray) -> np.ndarray:
    """Box coordinates float32 [M, 3] of integer grid nodes ``index`` [M, 3]."""
    return (index.astype(np.float32) * (2 * BOX_HALF_SIZE / resolution) - BOX_HALF_SIZE).astype(np.float32)


def dense_grid(sdf: SdfFunction, resolution: int) -> Grid:
    """Evaluate every node (the reference the sparse grid is checked against)."""
    axis = np.arange(resolution + 1)
    index = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)
    values = sdf(node_coordinates(resolution, index)).reshape((resolution + 1,) * 3)
    return Grid(values.astype(np.float32), index.shape[0])


def sparse_grid(sdf: SdfFunction, resolution: int) -> Grid:
    """Coarse-to-fine evaluation that only refines cells which may contain the surface."""
    levels = [resolution]
    while levels[-1] % 2 == 0 and levels[-1] // 2 >= COARSEST_RESOLUTION:
        levels.append(levels[-1] // 2)
    levels.reverse()
    grid = dense_grid(sdf, levels[0])
    evaluations = grid.evaluations
    for fine in levels[1:]:
        coarse = grid.values
        cell = 2 * BOX_HALF_SIZE / (fine // 2)
        active = _cells_near_surface(coarse, LIPSCHITZ_SAFETY * cell * np.sqrt(3))
        values = _upsample(coarse)
        nodes = _fine_nodes_of_cells(np.argwhere(active), fine)
        values[tuple(nodes.T)] = sdf(node_coordinates(fine, nodes))
        evaluations += len(nodes)
        grid = Grid(values, evaluations)
    return grid


def _cells_near_surface(values: np.ndarray, threshold: float) -> np.ndarray:
    """Boolean [R, R, R]: cells with a sign change or with min |f| at their corners below threshold."""
    corners = [values[i:values.shape[0] - 1 + i, j:values.shape[1] - 1 + j, k:values.shape[2] - 1 + k]
               for i in (0, 1) for j in (0, 1) for k in (0, 1)]
    stack = np.stack(corners)
    return (np.abs(stack).min(axis=0) < threshold) | ((stack.min(axis=0) < 0) & (stack.max(axis=0) > 0))


def _upsample(values: np.ndarray) -> np.ndarray:
    """Trilinear upsampling from (R+1)^3 to (2R+1)^3 nodes; coarse nodes keep their values exactly."""
    tensor = torch.from_numpy(np.ascontiguousarray(values))[None, None]
    size = 2 * (values.shape[0] - 1) + 1
    up = torch.nn.functional.interpolate(tensor, size=(size,) * 3, mode="trilinear", align_corners=True)
    return up[0, 0].numpy().copy()


def _fine_nodes_of_cells(cells: np.ndarray, fine_resolution: int) -> np.ndarray:
    """Unique fine-grid node indices [M, 3] of the given coarse cells (3^3 fine nodes per coarse cell)."""
    offsets = np.stack(np.meshgrid(*([np.arange(3)] * 3), indexing="ij"), axis=-1).reshape(-1, 3)
    nodes = (2 * cells[:, None, :] + offsets[None]).reshape(-1, 3)
    side = fine_resolution + 1
    flat = np.unique((nodes[:, 0] * side + nodes[:, 1]) * side + nodes[:, 2])
    return np.stack(np.unravel_index(flat, (side,) * 3), axis=1)


def mesh_from_grid(grid: Grid, close_at_box: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Marching cubes at level 0 on ``grid``; vertices float64 [V, 3] in box coordinates, faces int64 [F, 3].

    With ``close_at_box`` the outermost nodes are forced outside, so a surface that leaves the box is
    capped there and the mesh is always closed. Faces are oriented with normals pointing outwards.
    """
    values = grid.values
    spacing = 2 * BOX_HALF_SIZE / grid.resolution
    if close_at_box:
        values = values.copy()
        for axis in range(3):
            for end in (0, -1):
                index = [slice(None)] * 3
                index[axis] = end
                values[tuple(index)] = np.maximum(values[tuple(index)], spacing)
    # A node at (or within float32 rounding of) 0 makes marching cubes put several vertices on that very
    # node, and merging them pinches the surface there (not watertight once saved): keep every node at
    # least a thousandth of a cell away from the level set.
    margin = np.float32(1e-3 * spacing)
    values = np.where(np.abs(values) < margin, np.where(values < 0, -margin, margin), values)
    if not (values.min() < 0 < values.max()):
        return np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64)
    vertices, faces, _, _ = marching_cubes(values, level=0.0, spacing=(spacing,) * 3,
                                           gradient_direction="descent")
    return vertices.astype(np.float64) - BOX_HALF_SIZE, faces.astype(np.int64)


def drop_small_components(vertices: np.ndarray, faces: np.ndarray, min_fraction: float,
                          observed_points: np.ndarray | None = None,
                          min_observed_share: float = 0.0) -> tuple[np.ndarray, np.ndarray, int]:
    """Remove the connected components that are not part of the observed object.

    A component goes when it has less than ``min_fraction`` of the total surface area or, given the
    observed points [N, 3] (the mesh's coordinates), when it carries less than ``min_observed_share`` of
    them (each point counts for the component of its nearest vertex): one object gives one part, several
    clearly separate objects keep a part each, and blobs the data do not support go. The component with
    the most observed points (or the most area) always stays. ``min_fraction`` 0 keeps everything.
    Returns the kept vertices, faces and how many components were dropped.
    """
    if len(faces) == 0 or min_fraction <= 0:
        return vertices, faces, 0
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    labels = trimesh.graph.connected_component_labels(mesh.face_adjacency, node_count=len(faces))
    count = labels.max() + 1
    if count <= 1:
        return vertices, faces, 0
    areas = np.bincount(labels, weights=mesh.area_faces, minlength=count)
    keep = areas >= min_fraction * areas.sum()
    if observed_points is not None and len(observed_points) and min_observed_share > 0:
        vertex_label = np.empty(len(vertices), dtype=np.int64)
        vertex_label[faces.ravel()] = np.repeat(labels, 3)
        used = np.unique(faces.ravel())
        _, nearest = cKDTree(vertices[used]).query(observed_points, workers=-1)
        share = np.bincount(vertex_label[used][nearest], minlength=count) / len(observed_points)
        keep &= share >= min_observed_share
        keep[np.argmax(share)] = True
    else:
        keep[np.argmax(areas)] = True
    if keep.all():
        return vertices, faces, 0
    kept_faces = faces[keep[labels]]
    used, remapped = np.unique(kept_faces.ravel(), return_inverse=True)
    return vertices[used], remapped.reshape(-1, 3).astype(np.int64), int(count - keep.sum())
