"""The signed-distance objective, and the batches it is computed on.

Terms (weights in ``config.LossWeights``):

- surface     |f(p)|                         observed points p lie on the zero level set
- normal      1 - cos(grad f(p), n(p))       the gradient follows the oriented normals
- eikonal     | |grad f(x)| - 1 |            f has unit gradient (a distance function), at all samples
- off_surface exp(-alpha |f(x)|)             no zero crossings at random points of the box (SIREN, Eq. 6)
- near_band   |f(p + d n) - d|               the sign on both sides of every observed patch
- outside     relu(-f(x)) on the box shell   the far field is outside, so the surface closes
- hint        |f(x) - s(x) d(x)|             free points that face observed patches head-on take their
                                             signed distance to the nearest observed point (averaged
                                             over the points that have a hint)
- curvature   |grad f(x + h u) - grad f(x)| / h   at free points away from the data: a finite-difference
                                             |H u| (H the Hessian of f, u a random unit vector), so
                                             the gradient turns smoothly across holes and the surface
                                             continues the curvature around a hole instead of spanning it
                                             with the flattest lid and a crease at its rim
- curvature_variation |g(x+Hu) - 2g(x) + g(x-Hu)| / H^2   at the same points, H a wider step: how fast the curvature
                                             changes; zero for a constant Hessian, so a hole's fill keeps
                                             the curvature around it (on by default; fill-holes raises it)

The first four are the SIREN paper's SDF loss; the next three are what points-only and partial scans need.
``hint`` follows Hoppe et al.'s signed distance to an oriented point set: a free point x gets a sign
s(x) = +1 or -1 only when its nearest observed points all agree on the side of x and x lies along their
normals (within ``SIGN_HINT_CONE``), and d(x) is its distance to the nearest observed point; points
beside a hole, where the sign is unknown, get no hint (s(x) = 0), and neither do inside points deeper
than ``SIGN_HINT_INSIDE_DEPTH`` unless the ray going on from them, away from their patch, leaves the
object through another observed patch (its far side was seen, so the point is enclosed).
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
FREE_SCATTER = 0.1
"""Standard deviation of the offsets of the free points drawn around the data, in box units."""
SIGN_HINT_NEIGHBOURS = 4
SIGN_HINT_CONE = 0.8
"""A free point gets a sign hint when |(x - p) . n| >= this times |x - p| for all its nearest points p."""
SIGN_HINT_INSIDE_DEPTH = 0.1
"""Inside hints deeper than this (box units) behind their patch need the object's far side to be observed
(``SIGN_HINT_RAY_RADIUS``): behind a single scanned shell the thickness is unknown, and unbounded inside
hints grew a 2-view scan of fandisk into a bag that filled the box (Chamfer-L1 0.146 after 500 steps from
random init; 0.022 with this rule, while a sphere with two holes still fills its inside)."""
SIGN_HINT_RAY_RADIUS = 0.08
"""A deep inside point keeps its hint when the ray from it, away from its patch, passes within this
distance (box units) of an observed point whose normal faces along the ray: the wall the ray leaves by."""
CURVATURE_STEP = 0.02
"""Finite-difference step h of the curvature term, in box units."""
CURVATURE_VARIATION_STEP = 0.1
"""Finite-difference step of the curvature-variation term, in box units: the curvature around a hole is
carried across it at this scale (holed unit sphere, fill-holes, patches' largest distance from the sphere over
seeds 0-4: 0.035-0.063 at 0.02, 0.034-0.043 at 0.06, 0.029-0.037 at 0.1)."""
CURVATURE_MIN_DISTANCE = 0.04
"""The curvature term applies at free points at least this far from the data (box units): at the data the
field follows the observed normals, creases included."""
SIGN_HINT_REFERENCES = 4096
"""Observed points drawn per step as the reference set of the sign hints (bounds the cost of a step)."""


@dataclass
class Batch:
    """One step's samples, all in box coordinates.

    surface: [P, 3] observed points;        normals: [P, 3] their unit normals
    band:    [B, 3] points near the data;   band_distance: [B] their signed offsets
    free:    [F, 3] points in the box (uniform, and scattered around the data);  hint_sign: [F] their sign hints in {-1, 0, +1}, hint_distance: [F] their distance to the data
    shell:   [S, 3] points on the box boundary
    curvature_index: [C] indices into ``free`` of the points that carry the curvature term;
    curvature_offset: [C, 3] their finite-difference offsets h u
    """

    surface: torch.Tensor
    normals: torch.Tensor
    band: torch.Tensor
    band_distance: torch.Tensor
    free: torch.Tensor
    hint_sign: torch.Tensor
    hint_distance: torch.Tensor
    shell: torch.Tensor
    curvature_index: torch.Tensor
    curvature_offset: torch.Tensor


def sample_batch(points: torch.Tensor, normals: torch.Tensor, count: int,
                 generator: torch.Generator) -> Batch:
    """Draw ``count`` observed points, as many band and free points, and count/8 shell points."""
    device = points.device
    idx = torch.randint(len(points), (count,), generator=generator, device=device)
    surface, surface_normals = points[idx], normals[idx]

    band_idx = torch.randint(len(points), (count // 2,), generator=generator, device=device)
    offset = (torch.rand(count // 2, generator=generator, device=device) * 2 - 1) * NEAR_BAND_WIDTH
    band = points[band_idx] + offset[:, None] * normals[band_idx]

    # Free points: half uniform in the box, half scattered around the data, where ghost surfaces and
    # tunnels form and where the sign hints are most often confident.
    uniform = (torch.rand(count // 4, 3, generator=generator, device=device) * 2 - 1) * BOX_HALF_SIZE
    near_idx = torch.randint(len(points), (count // 2 - count // 4,), generator=generator, device=device)
    scatter = torch.randn(len(near_idx), 3, generator=generator, device=device) * FREE_SCATTER
    free = torch.cat([uniform, (points[near_idx] + scatter).clamp(-BOX_HALF_SIZE, BOX_HALF_SIZE)])

    shell = (torch.rand(count // 8, 3, generator=generator, device=device) * 2 - 1) * BOX_HALF_SIZE
    axis = torch.randint(3, (count // 8,), generator=generator, device=device)
    side = torch.randint(2, (count // 8,), generator=generator, device=device).to(shell.dtype) * 2 - 1
    shell[torch.arange(len(shell), device=device), axis] = side * BOX_HALF_SIZE
    hint_sign, hint_distance = sign_hints(free, points, normals, generator)
    # Curvature pairs: a quarter of the batch's count, from the free points away from the data.
    away = torch.nonzero(hint_distance > CURVATURE_MIN_DISTANCE)[:, 0][: count // 4]
    direction = torch.randn(len(away), 3, generator=generator, device=device)
    curvature_offset = CURVATURE_STEP * direction / direction.norm(dim=1, keepdim=True).clamp(min=1e-12)
    return Batch(surface, surface_normals, band, offset, free, hint_sign, hint_distance, shell, away,
                 curvature_offset)


def sign_hints(x: torch.Tensor, points: torch.Tensor, normals: torch.Tensor,
               generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Sign hints [M] in {-1, 0, +1} and distances [M] to the nearest observed point, for query points
    x [M, 3] and oriented observed points [N, 3] (see the module docstring)."""
    refs = torch.randint(len(points), (min(SIGN_HINT_REFERENCES, len(points)),), generator=generator,
                         device=points.device)
    ref_points, ref_normals = points[refs], normals[refs]
    k = min(SIGN_HINT_NEIGHBOURS, len(refs))
    all_distances = torch.cdist(x, ref_points)  # [M, R]
    distances, nearest = all_distances.topk(k, largest=False)  # [M, k], ascending
    offset = x[:, None, :] - ref_points[nearest]  # [M, k, 3]
    along = (offset * ref_normals[nearest]).sum(-1)  # [M, k]
    head_on = along.abs() >= SIGN_HINT_CONE * offset.norm(dim=-1)
    agree = (along > 0).all(dim=1) | (along < 0).all(dim=1)
    confident = head_on.all(dim=1) & agree
    deep = (along[:, 0] < 0) & (distances[:, 0] > SIGN_HINT_INSIDE_DEPTH)
    if deep.any():
        confident[deep] &= _far_wall_seen(x[deep], -ref_normals[nearest[deep, 0]], ref_points, ref_normals,
                                          all_distances[deep])
    sign = torch.where(confident, torch.sign(along[:, 0]), torch.zeros_like(along[:, 0]))
    return sign, distances[:, 0]


def _far_wall_seen(x: torch.Tensor, inward: torch.Tensor, ref_points: torch.Tensor, ref_normals: torch.Tensor,
                   distances: torch.Tensor) -> torch.Tensor:
    """bool [D]: whether the ray from each deep inside point x [D, 3] along ``inward`` [D, 3] (away from the
    patch that put it inside) meets an observed patch that it leaves through, i.e. whether the object's
    far side is observed there, so that x is enclosed and not just behind a single scanned shell.
    ``distances`` [D, R] are those from x to the reference points [R, 3]."""
    ahead = inward @ ref_points.T - (x * inward).sum(dim=1, keepdim=True)  # [D, R] along the ray
    beside = distances.square() - ahead.square()  # squared distance from the ray
    leaving = inward @ ref_normals.T >= SIGN_HINT_CONE  # the patch faces along the ray: the ray exits there
    return ((ahead > 0) & (beside < SIGN_HINT_RAY_RADIUS ** 2) & leaving).any(dim=1)


def curvature_penalty(gradient: torch.Tensor, shifted_gradient: torch.Tensor,
                      offset: torch.Tensor) -> torch.Tensor:
    """Mean finite-difference |H u| (scalar): gradients [C, 3] at points x and [C, 3] at x + offset [C, 3]
    (offset = h u, u a unit vector). Zero for a linear field (a plane), 1/r times the tangential part of u
    for the distance to a sphere of radius r."""
    return ((shifted_gradient - gradient).norm(dim=-1) / offset.norm(dim=-1)).mean()


def curvature_variation_penalty(gradient: torch.Tensor, plus: torch.Tensor, minus: torch.Tensor,
                                offset: torch.Tensor) -> torch.Tensor:
    """Mean second difference of the gradient, |g(x + h u) - 2 g(x) + g(x - h u)| / h^2 (scalar), from the
    gradients [C, 3] at x, x + offset and x - offset (offset = h u): |d(H u)/du|, how fast the curvature
    changes along u. Zero for a quadratic field (a constant Hessian: a plane, or a sphere's osculating
    paraboloid), large across a crease."""
    return ((plus - 2 * gradient + minus).norm(dim=-1) / offset.square().sum(dim=-1)).mean()


@dataclass
class _Layout:
    """Where each kind of sample sits in the rows ``_loss_inputs`` stacks for one network evaluation."""

    surface: int
    band: int
    free: int
    shell: int
    shifted: int
    centre: torch.Tensor
    wide: torch.Tensor
    use_curvature: bool
    use_variation: bool


def _loss_inputs(batch: Batch, weights: LossWeights) -> tuple[torch.Tensor, _Layout]:
    """The points [M, 3] ``sdf_loss`` evaluates the network and its gradient at, and where each kind sits."""
    use_curvature = weights.curvature > 0 and len(batch.curvature_index) > 0
    use_variation = weights.curvature_variation > 0 and len(batch.curvature_index) > 0
    centre = batch.free[batch.curvature_index]
    wide = batch.curvature_offset * (CURVATURE_VARIATION_STEP / CURVATURE_STEP)
    shifted = torch.cat(([centre + batch.curvature_offset] if use_curvature else [])
                        + ([centre + wide, centre - wide] if use_variation else []) + [batch.free[:0]])
    x = torch.cat([batch.surface, batch.band, batch.free, batch.shell, shifted])
    return x, _Layout(len(batch.surface), len(batch.band), len(batch.free), len(batch.shell), len(shifted),
                      centre, wide, use_curvature, use_variation)


def _loss_terms(values: torch.Tensor, gradient: torch.Tensor, batch: Batch, weights: LossWeights,
                layout: _Layout) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Total loss and weighted terms from the network's values [M] and gradients [M, 3] at ``_loss_inputs``."""
    n_surface, n_band, n_free = layout.surface, layout.band, layout.free
    v_surface, v_band, v_free, v_shell, _ = torch.split(values, [n_surface, n_band, n_free, layout.shell,
                                                                 layout.shifted])
    g_surface = gradient[:n_surface]
    g_sampled = gradient[: n_surface + n_band + n_free]
    g_free = gradient[n_surface + n_band: n_surface + n_band + n_free]
    g_shifted = gradient[len(values) - layout.shifted:]
    g_near, g_plus, g_minus = torch.split(g_shifted, [len(layout.centre) if layout.use_curvature else 0]
                                         + [len(layout.centre) if layout.use_variation else 0] * 2)

    terms = {
        "surface": weights.surface * v_surface.abs().mean(),
        "normal": weights.normal * (1 - torch.nn.functional.cosine_similarity(
            g_surface, batch.normals, dim=-1)).mean(),
        "eikonal": weights.eikonal * (g_sampled.norm(dim=-1) - 1).abs().mean(),
        "off_surface": weights.off_surface * torch.exp(-SIREN_OFF_SURFACE_ALPHA * v_free.abs()).mean(),
        "near_band": weights.near_band * (v_band - batch.band_distance).abs().mean(),
        "outside": weights.outside * torch.relu(-v_shell).mean(),
        "hint": weights.hint * (batch.hint_sign.abs() * (v_free - batch.hint_sign * batch.hint_distance).abs()
                                ).sum() / batch.hint_sign.abs().sum().clamp(min=1),
    }
    if layout.use_curvature:
        terms["curvature"] = weights.curvature * curvature_penalty(g_free[batch.curvature_index], g_near,
                                                                   batch.curvature_offset)
    if layout.use_variation:
        terms["curvature_variation"] = weights.curvature_variation * curvature_variation_penalty(
            g_free[batch.curvature_index], g_plus, g_minus, layout.wide)
    return sum(terms.values()), terms


def sdf_loss(f: Callable[[torch.Tensor], torch.Tensor], batch: Batch, weights: LossWeights,
             create_graph: bool = True) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Total loss (scalar) and its weighted terms for network ``f`` on ``batch``."""
    x, layout = _loss_inputs(batch, weights)
    x.requires_grad_(True)
    values = f(x)[..., 0]
    (gradient,) = torch.autograd.grad(values.sum(), x, create_graph=create_graph)
    return _loss_terms(values, gradient, batch, weights, layout)


def sdf_losses(f: Callable[[torch.Tensor], torch.Tensor], batches: list[Batch], weights: LossWeights,
               create_graph: bool = True) -> list[tuple[torch.Tensor, dict[str, torch.Tensor]]]:
    """``sdf_loss`` of T independent fields at once, one batch each: ``f`` maps points [T, M, 3] to values
    [T, M, 1], row t through field t (e.g. ``torch.func.vmap`` over stacked weights). One network evaluation
    and one backward pass serve all T, which is what makes a meta-batch of tasks cheap; each loss is exactly
    the one ``sdf_loss`` gives on its own (the rows of shorter batches are padded and not scored)."""
    inputs = [_loss_inputs(batch, weights) for batch in batches]
    rows = max(len(x) for x, _ in inputs)
    x = torch.stack([torch.cat([xi, xi.new_zeros(rows - len(xi), 3)]) for xi, _ in inputs]).requires_grad_(True)
    values = f(x)[..., 0]
    (gradient,) = torch.autograd.grad(values.sum(), x, create_graph=create_graph)
    return [_loss_terms(values[t, :len(xi)], gradient[t, :len(xi)], batch, weights, layout)
            for t, ((xi, layout), batch) in enumerate(zip(inputs, batches))]
