"""The signed-distance objective, and the batches it is computed on.

Terms (weights in ``config.LossWeights``):

- surface     |f(p)|                         observed points p lie on the zero level set
- normal      1 - cos(grad f(p), n(p))       the gradient follows the oriented normals
- eikonal     | |grad f(x)| - 1 |            f has unit gradient (a distance function), at all samples
- off_surface exp(-alpha |f(x)|)             no zero crossings at random points of the box (SIREN, Eq. 6)
- near_band   |f(p + d n) - d|               the sign on both sides of every observed patch
- outside     relu(-f(x)) on the box shell   the far field is outside, so the surface closes

The first four are the SIREN paper's SDF loss; the last two are what points-only and partial scans need.
``sdf_loss`` takes the network as a plain callable so the meta-learning inner loop can use it with
functional parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from .config import BOX_HALF_SIZE, SIREN_OFF_SURFACE_ALPHA, LossWeights

NEAR_BAND_WIDTH = 0.02
"""Half width of the signed band around the data, in box units (the box is [-1, 1]^3)."""


@dataclass
class Batch:
    """One step's samples, all in box coordinates.

    surface: [P, 3] observed points;        normals: [P, 3] their unit normals
    band:    [B, 3] points near the data;   band_distance: [B] their signed offsets
    free:    [F, 3] uniform points in the box
    shell:   [S, 3] points on the box boundary
    """

    surface: torch.Tensor
    normals: torch.Tensor
    band: torch.Tensor
    band_distance: torch.Tensor
    free: torch.Tensor
    shell: torch.Tensor


def sample_batch(points: torch.Tensor, normals: torch.Tensor, count: int,
                 generator: torch.Generator) -> Batch:
    """Draw ``count`` observed points, as many band and free points, and count/8 shell points."""
    device = points.device
    idx = torch.randint(len(points), (count,), generator=generator, device=device)
    surface, surface_normals = points[idx], normals[idx]

    band_idx = torch.randint(len(points), (count // 2,), generator=generator, device=device)
    offset = (torch.rand(count // 2, generator=generator, device=device) * 2 - 1) * NEAR_BAND_WIDTH
    band = points[band_idx] + offset[:, None] * normals[band_idx]

    free = (torch.rand(count // 2, 3, generator=generator, device=device) * 2 - 1) * BOX_HALF_SIZE

    shell = (torch.rand(count // 8, 3, generator=generator, device=device) * 2 - 1) * BOX_HALF_SIZE
    axis = torch.randint(3, (count // 8,), generator=generator, device=device)
    side = torch.randint(2, (count // 8,), generator=generator, device=device).to(shell.dtype) * 2 - 1
    shell[torch.arange(len(shell), device=device), axis] = side * BOX_HALF_SIZE
    return Batch(surface, surface_normals, band, offset, free, shell)


def sdf_loss(f: Callable[[torch.Tensor], torch.Tensor], batch: Batch, weights: LossWeights,
             create_graph: bool = True) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Total loss (scalar) and its weighted terms for network ``f`` on ``batch``."""
    n_surface, n_band, n_free = len(batch.surface), len(batch.band), len(batch.free)
    x = torch.cat([batch.surface, batch.band, batch.free, batch.shell]).requires_grad_(True)
    values = f(x)[..., 0]
    (gradient,) = torch.autograd.grad(values.sum(), x, create_graph=create_graph)

    v_surface, v_band, v_free, v_shell = torch.split(values, [n_surface, n_band, n_free, len(batch.shell)])
    g_surface = gradient[:n_surface]
    g_sampled = gradient[: n_surface + n_band + n_free]

    terms = {
        "surface": weights.surface * v_surface.abs().mean(),
        "normal": weights.normal * (1 - torch.nn.functional.cosine_similarity(
            g_surface, batch.normals, dim=-1)).mean(),
        "eikonal": weights.eikonal * (g_sampled.norm(dim=-1) - 1).abs().mean(),
        "off_surface": weights.off_surface * torch.exp(-SIREN_OFF_SURFACE_ALPHA * v_free.abs()).mean(),
        "near_band": weights.near_band * (v_band - batch.band_distance).abs().mean(),
        "outside": weights.outside * torch.relu(-v_shell).mean(),
    }
    return sum(terms.values()), terms
