"""Reconstruction quality against a ground-truth mesh: the one set of metrics of NeuRep.

Convention (Occupancy Networks / Convolutional Occupancy Networks, Points2Surf): both meshes are mapped
by the similarity that takes the ground truth's bounding box to a box with longest side 1 (so every
distance is a fraction of the object's size), then ``samples`` area-weighted points are drawn on each
surface and matched by nearest neighbour (scipy cKDTree).

- ``chamfer_l1``: (mean |p - gt| over prediction samples + mean over ground-truth samples) / 2.
- ``chamfer_l2``: the same with squared distances.
- ``fscore_<t>``: harmonic mean of precision (prediction samples within t% of the ground truth) and
  recall (ground-truth samples within t% of the prediction), for t = 0.5, 1, 2.
- ``normal_consistency``: mean |cos| between the face normals of nearest-neighbour pairs, both ways.
- ``hausdorff``: the largest of all those nearest-neighbour distances (symmetric Hausdorff).
- ``missing_recall_1``: recall at 1% restricted to ground-truth samples farther than
  ``MISSING_DISTANCE`` from every observed point, i.e. how much of what the input lacked was recovered.
- ``components``: connected components of the prediction; ``watertight``: every edge has two faces.

``wrong_facing`` scores the input's normals instead of a prediction: the share of oriented normals that
face away from the ground truth's surface there.

An empty prediction (no faces or zero area) gets the worst values: infinite distances, zero scores.
"""

from __future__ import annotations

import numpy as np
import trimesh
from scipy.spatial import cKDTree

from ..core.observation import sample_surface

FSCORE_THRESHOLDS = {"0.5": 0.005, "1": 0.01, "2": 0.02}
"""F-score thresholds tau as fractions of the ground truth's longest side."""
MISSING_DISTANCE = 0.02
"""A ground-truth sample farther than this (fraction of the longest side) from the input was missing."""
MISSING_TAU = 0.01
"""Threshold of the recall measured on the missing region."""

METRIC_KEYS = ("chamfer_l1", "chamfer_l2", "fscore_0.5", "fscore_1", "fscore_2", "normal_consistency",
               "hausdorff", "missing_recall_1", "components", "watertight")


def unit_transform(gt_vertices: np.ndarray) -> tuple[np.ndarray, float]:
    """Offset [3] and scale s with x' = (x - offset) * s mapping the ground-truth box to longest side 1."""
    lo, hi = gt_vertices.min(axis=0), gt_vertices.max(axis=0)
    longest = float((hi - lo).max())
    if not longest > 0:
        raise ValueError("the ground-truth mesh has zero extent")
    return lo, 1.0 / longest


def _missing(gt_points: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """bool [S]: ground-truth samples [S, 3] farther than ``MISSING_DISTANCE`` from all observed points [N, 3]."""
    if not len(observed):
        return np.ones(len(gt_points), dtype=bool)
    return cKDTree(observed).query(gt_points, workers=-1)[0] > MISSING_DISTANCE


def missing_fraction(gt_vertices: np.ndarray, gt_faces: np.ndarray, observed_points: np.ndarray,
                     samples: int = 100_000, seed: int = 0) -> float:
    """Fraction of the ground-truth surface ([W, 3], [G, 3]) that the input [N, 3] lacks, i.e. the share
    of ground-truth samples that ``missing_recall_1`` is measured on (the same samples as ``evaluate``)."""
    gt_vertices = np.asarray(gt_vertices, dtype=np.float64)
    offset, scale = unit_transform(gt_vertices)
    gt = trimesh.Trimesh((gt_vertices - offset) * scale, np.asarray(gt_faces), process=False)
    gt_points, _ = sample_surface(gt, samples, seed)
    observed = (np.asarray(observed_points, dtype=np.float64).reshape(-1, 3) - offset) * scale
    return float(_missing(gt_points, observed).mean())


def wrong_facing(points: np.ndarray, normals: np.ndarray, gt_vertices: np.ndarray, gt_faces: np.ndarray,
                 samples: int = 400_000, seed: int = 0) -> float:
    """Share of the oriented normals [N, 3] at ``points`` [N, 3] that face away from the ground truth
    ([W, 3], [G, 3], same coordinates): a negative dot product with the face normal of the nearest of
    ``samples`` ground-truth surface samples."""
    gt = trimesh.Trimesh(np.asarray(gt_vertices, dtype=np.float64), np.asarray(gt_faces), process=False)
    gt_points, gt_normals = sample_surface(gt, samples, seed)
    nearest = cKDTree(gt_points).query(np.asarray(points, dtype=np.float64).reshape(-1, 3), workers=-1)[1]
    return float((np.einsum("ij,ij->i", np.asarray(normals, dtype=np.float64), gt_normals[nearest]) < 0).mean())


def _worst(pred: trimesh.Trimesh, observed: bool) -> dict:
    scores = {
        "chamfer_l1": float("inf"), "chamfer_l2": float("inf"),
        **{f"fscore_{name}": 0.0 for name in FSCORE_THRESHOLDS},
        "normal_consistency": 0.0, "hausdorff": float("inf"),
        "missing_recall_1": 0.0 if observed else None,
        "components": int(pred.body_count) if len(pred.faces) else 0, "watertight": False,
    }
    return scores


def evaluate(pred_vertices: np.ndarray, pred_faces: np.ndarray, gt_vertices: np.ndarray,
             gt_faces: np.ndarray, observed_points: np.ndarray | None = None,
             samples: int = 100_000, seed: int = 0) -> dict:
    """Scores of a predicted mesh (vertices [V, 3], faces [F, 3]) against the ground truth ([W, 3], [G, 3]).

    observed_points: the input [N, 3] in the same coordinates, for ``missing_recall_1`` (``None`` skips
    it; it is also ``None`` when no ground-truth sample is farther than ``MISSING_DISTANCE`` from the input).
    Returns the keys of ``METRIC_KEYS`` (floats, ``components`` int, ``watertight`` bool).
    """
    gt_vertices = np.asarray(gt_vertices, dtype=np.float64)
    offset, scale = unit_transform(gt_vertices)
    gt = trimesh.Trimesh((gt_vertices - offset) * scale, np.asarray(gt_faces), process=False)
    pred_vertices = np.asarray(pred_vertices, dtype=np.float64).reshape(-1, 3)
    pred_faces = np.asarray(pred_faces, dtype=np.int64).reshape(-1, 3)
    pred = trimesh.Trimesh((pred_vertices - offset) * scale, pred_faces, process=True)
    if gt.area <= 0:
        raise ValueError("the ground-truth mesh has zero surface area")
    if len(pred.faces) == 0 or pred.area <= 0:
        return _worst(pred, observed_points is not None)

    gt_points, gt_normals = sample_surface(gt, samples, seed)
    pred_points, pred_normals = sample_surface(pred, samples, seed + 1)
    to_gt, gt_index = cKDTree(gt_points).query(pred_points, workers=-1)
    to_pred, pred_index = cKDTree(pred_points).query(gt_points, workers=-1)

    scores: dict = {
        "chamfer_l1": 0.5 * float(to_gt.mean() + to_pred.mean()),
        "chamfer_l2": 0.5 * float((to_gt ** 2).mean() + (to_pred ** 2).mean()),
    }
    for name, tau in FSCORE_THRESHOLDS.items():
        precision, recall = float((to_gt < tau).mean()), float((to_pred < tau).mean())
        total = precision + recall
        scores[f"fscore_{name}"] = 2 * precision * recall / total if total > 0 else 0.0
    cos_pred = np.abs(np.einsum("ij,ij->i", pred_normals, gt_normals[gt_index]))
    cos_gt = np.abs(np.einsum("ij,ij->i", gt_normals, pred_normals[pred_index]))
    scores["normal_consistency"] = 0.5 * float(cos_pred.mean() + cos_gt.mean())
    scores["hausdorff"] = float(max(to_gt.max(), to_pred.max()))

    scores["missing_recall_1"] = None
    if observed_points is not None:
        missing = _missing(gt_points, (np.asarray(observed_points, dtype=np.float64).reshape(-1, 3) - offset) * scale)
        if missing.any():
            scores["missing_recall_1"] = float((to_pred[missing] < MISSING_TAU).mean())

    scores["components"] = int(pred.body_count)
    scores["watertight"] = bool(pred.is_watertight)
    return scores
