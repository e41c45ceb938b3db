"""The one fitting loop. The command line, the Blender operator, the benchmarks and the validation of
prior training all fit through ``FitSession``; its learned first steps (``learned_step``) are also the
inner loop of meta-training.

A session owns the network, the optimiser and the sampling RNG. ``step()`` takes one optimisation
step; ``run()`` loops with progress and preview callbacks and cooperative cancellation (another thread
may call ``request_cancel()``). Everything is seeded: two sessions with the same inputs and seed give
the same weights on the CPU.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import threading
import time
from typing import Callable

import numpy as np
import torch
from torch.func import functional_call

from .config import DEVICES, FitConfig, LossWeights
from .errors import DeviceError, FitCancelled, FitError
from .extract import dense_grid, mesh_from_grid, sparse_grid
from .losses import Batch, sample_batch, sdf_loss, sdf_losses
from .networks import build_network
from .prior import Prior
from .results import StepInfo

Params = dict[str, torch.Tensor]
"""A network's parameters by name, as ``named_parameters()`` gives them."""


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then the CPU; other names must be available (``DeviceError``)."""
    name = name.lower()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if mps else "cpu")
    if name not in DEVICES:
        raise DeviceError(f"{name!r} is unknown; choose one of {', '.join(DEVICES)}")
    if name == "cuda" and not torch.cuda.is_available():
        raise DeviceError("'cuda' was requested but PyTorch sees no CUDA GPU; choose auto or cpu")
    if name == "mps" and not mps:
        raise DeviceError("'mps' was requested but Apple MPS is not available; choose auto or cpu")
    return torch.device(name)


def learned_step(network: torch.nn.Module, params: Params, step_sizes: Params, points: torch.Tensor,
                 normals: torch.Tensor, count: int, generator: torch.Generator, weights: LossWeights,
                 create_graph: bool = False) -> tuple[Params, torch.Tensor, dict[str, torch.Tensor]]:
    """One learned step (MetaSDF): p <- p - alpha * grad sdf_loss(p), on a fresh batch of the observation.

    points, normals: [N, 3] the observation in box coordinates; count: observed points in the batch.
    params: the weights the step starts from (``network``'s own, or functional ones); step_sizes: the
    elementwise alpha of each. Returns the new weights, the loss and its terms. With ``create_graph`` the
    new weights stay differentiable through the gradients themselves (second-order meta-learning).
    ``FitSession`` takes its first steps from a prior with it; meta-training takes the same step for a
    whole meta-batch of tasks at once (``learned_steps``, which this is the one-task case of).
    """
    stepped, losses, terms = learned_steps(network, {name: p[None] for name, p in params.items()}, step_sizes,
                                           [(points, normals)], count, [generator], weights, create_graph)
    return {name: p[0] for name, p in stepped.items()}, losses[0], terms[0]


def stacked_field(network: torch.nn.Module, params: Params) -> Callable[[torch.Tensor], torch.Tensor]:
    """T fields as one function: params stacked [T, ...] (field t's weights at index t); the function maps
    points [T, M, 3] to values [T, M, 1], row t through field t, in one vectorised evaluation."""
    field = torch.func.vmap(lambda p, x: functional_call(network, p, (x,)))
    return lambda x: field(params, x)


def learned_steps(network: torch.nn.Module, params: Params, step_sizes: Params,
                  observations: list[tuple[torch.Tensor, torch.Tensor]], count: int,
                  generators: list[torch.Generator], weights: LossWeights, create_graph: bool = False,
                  ) -> tuple[Params, list[torch.Tensor], list[dict[str, torch.Tensor]]]:
    """``learned_step`` for T independent fields at once, each on its own observation (points, normals) with
    its own generator; params are stacked [T, ...]. One vectorised network evaluation and one backward pass
    serve all T (``losses.sdf_losses``), so a meta-batch costs little more than one task.
    The step leaves out the curvature terms of ``weights`` (they are for the Adam steps that follow): step
    sizes are meta-learned without them, and with them the default prior's learned steps diverged to NaN
    by the fourth step (curvature variation 0.08).
    """
    weights = dataclasses.replace(weights, curvature=0.0, curvature_variation=0.0)
    batches = [sample_batch(points, normals, count, generator)
               for (points, normals), generator in zip(observations, generators)]
    results = sdf_losses(stacked_field(network, params), batches, weights)
    losses = [loss for loss, _ in results]
    grads = torch.autograd.grad(sum(losses), list(params.values()), create_graph=create_graph)
    stepped = {name: value - step_sizes[name] * grad for (name, value), grad in zip(params.items(), grads)}
    return stepped, losses, [terms for _, terms in results]


MIN_BATCH = 256
"""Smallest batch a step retries with on the GPU before the fit moves to the CPU."""
MIN_CHUNK = 1024
"""Smallest evaluation chunk on the GPU before the session moves to the CPU."""


def _out_of_memory(exc: RuntimeError) -> bool:
    """Whether ``exc`` says a device ran out of memory (CUDA raises its own type; MPS a RuntimeError)."""
    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()


def anchor_loss(network: torch.nn.Module, anchor: torch.nn.Module, batch: Batch, config: FitConfig) -> torch.Tensor:
    """config.prior_anchor_weight * mean of w(x) |f(x) - f_K(x)| over the batch's free points x, where f_K is
    the ``anchor`` field and w(x) ramps from 0 at ``prior_anchor_distance`` from the data to 1 at twice it."""
    near = config.prior_anchor_distance
    fade = ((batch.hint_distance - near) / near).clamp(0.0, 1.0)
    with torch.no_grad():
        target = anchor(batch.free)[:, 0]
    return config.prior_anchor_weight * (fade * (network(batch.free)[:, 0] - target).abs()).mean()


ProgressCallback = Callable[[StepInfo], None]
PreviewCallback = Callable[[np.ndarray, np.ndarray, int], None]
"""Called with box-space vertices [V, 3], faces [F, 3] and the step index."""


class FitSession:
    """Fit a signed-distance network to observed points (box coordinates) with oriented normals.

    points, normals: float [N, 3] in the [-1, 1]^3 box (see ``observation.Normalization``).
    prior: initial weights (and learned first steps); ``None`` is the network's random initialisation.
           A fit from a prior starts Adam at ``config.prior_learning_rate_scale`` times the learning rate
           and ramps up to the full rate over ``config.prior_warmup_steps`` Adam steps.
    cancel: an event another thread may set to stop the fit (one is made if none is given).

    Out of GPU memory, a step halves its batch and an evaluation halves its chunk, and retries; at
    ``MIN_BATCH`` / ``MIN_CHUNK`` the session moves to the CPU and goes on there. ``notes`` says so.
    """

    def __init__(self, points: np.ndarray, normals: np.ndarray, config: FitConfig,
                 prior: Prior | None = None, device: str = "auto", seed: int = 0,
                 cancel: threading.Event | None = None, network: torch.nn.Module | None = None,
                 parameter_groups: Callable[[torch.nn.Module], list[dict]] | None = None,
                 penalty: Callable[[torch.nn.Module], torch.Tensor] | None = None,
                 anchor: torch.nn.Module | None = None, candidates: int = 1) -> None:
        self.config = config
        self.device = resolve_device(device)
        torch.manual_seed(seed)
        if network is not None and prior is not None:
            raise ValueError("give a prior or a network, not both")
        self.network = (network if network is not None else build_network(config.network)).to(self.device)
        self.prior = prior
        if prior is not None:
            prior.check_matches(config.network)
            self.network.load_state_dict(prior.state_dict)
        self._step_sizes = ({name: lr.to(self.device) for name, lr in prior.inner_lrs.items()}
                            if prior is not None else {})
        self._learned_steps = prior.inner_steps if prior is not None and prior.inner_lrs else 0
        self._anchor: torch.nn.Module | None = anchor.to(self.device) if anchor is not None else None
        """The field the anchor holds away from the data: the one right after a prior's learned steps, or the
        ``anchor`` given (a shape space's completion, which a refinement must keep)."""
        self._penalty = penalty
        self.candidates = candidates
        """Independent fields the network holds (points [K, M, 3] -> values [K, M, 1] when K > 1), each fitted to
        the same observation; their losses add up, so each gets exactly its own gradient."""
        self.points = torch.as_tensor(points, dtype=torch.float32, device=self.device)
        self.normals = torch.as_tensor(normals, dtype=torch.float32, device=self.device)
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        groups = (parameter_groups(self.network) if parameter_groups is not None
                  else [{"params": [p for p in self.network.parameters() if p.requires_grad]}])
        self.optimizer = torch.optim.Adam(groups, lr=config.learning_rate)
        # Cosine decay to 1% of the rate: large early steps reshape the field, small late ones refine it.
        # From a prior, the rate starts lower and ramps up (see ``FitConfig.prior_learning_rate_scale``).
        total = max(1, config.steps)
        start, warmup = ((config.prior_learning_rate_scale, config.prior_warmup_steps) if prior is not None
                         else (1.0, 0))

        def factor(step: int) -> float:
            cosine = 0.01 + 0.99 * (1 + math.cos(math.pi * min(step, total) / total)) / 2
            ramp = min(1.0, step / warmup) if warmup else 0.0
            return cosine * (start + (1 - start) * ramp)

        self.schedule = torch.optim.lr_scheduler.LambdaLR(self.optimizer, factor)
        self.steps_done = 0
        self.last_evaluations = 0
        """Network evaluations made by the latest ``mesh()`` call."""
        self._cancel = cancel if cancel is not None else threading.Event()
        self.batch_points = config.points_per_step
        """Observed points per step: ``config.points_per_step`` unless GPU memory ran out."""
        self.chunk_size = config.chunk_size
        """Points per network evaluation: ``config.chunk_size`` unless GPU memory ran out."""
        self._notes: dict[str, str] = {}
        self._seed = seed
        self._started: float | None = None

    def request_cancel(self) -> None:
        """Ask a running ``run()`` to stop after the current step (safe from any thread)."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def step(self) -> StepInfo:
        """One optimisation step on a fresh batch (retried smaller, or on the CPU, when GPU memory runs out)."""
        while True:
            try:
                return self._step()
            except RuntimeError as exc:
                if not _out_of_memory(exc):
                    raise
                self.optimizer.zero_grad(set_to_none=True)
                if self.batch_points // 2 >= MIN_BATCH:
                    self.batch_points //= 2
                    self._note("batch", f"the GPU ran out of memory; steps now use {self.batch_points} points")
                else:
                    self._move_to_cpu()

    def _step(self) -> StepInfo:
        if self._started is None:
            self._started = time.perf_counter()
        if self.steps_done < self._learned_steps:
            params = dict(self.network.named_parameters())
            stepped, loss, terms = learned_step(self.network, params, self._step_sizes, self.points, self.normals,
                                                self.batch_points, self.generator, self.config.loss_weights)
            with torch.no_grad():
                for name, param in params.items():
                    param.copy_(stepped[name])
        else:
            batch = sample_batch(self.points, self.normals, self.batch_points, self.generator)
            loss, terms = self._loss(batch)
            if self._anchor is not None:
                terms["anchor"] = anchor_loss(self.network, self._anchor, batch, self.config)
                loss = loss + terms["anchor"]
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.schedule.step()
        self.steps_done += 1
        if self.steps_done == self._learned_steps and self.config.prior_anchor_weight > 0:
            self._anchor = copy.deepcopy(self.network).requires_grad_(False)
        elapsed = time.perf_counter() - self._started
        total = max(self.config.steps, self.steps_done)
        return StepInfo(self.steps_done, total, float(loss.detach()),
                        {k: float(v.detach()) for k, v in terms.items()},
                        elapsed, elapsed / self.steps_done * (total - self.steps_done))

    def data_loss(self, seed: int = 0) -> float:
        """The fit objective of the current field on one fixed batch of the observation (lower: the field
        explains the data better); the same ``seed`` draws the same batch in every session."""
        generator = torch.Generator(device=self.device).manual_seed(seed)
        batch = sample_batch(self.points, self.normals, self.batch_points, generator)
        loss, _ = sdf_loss(self.network, batch, self.config.loss_weights, create_graph=False)
        return float(loss.detach())

    def candidate_losses(self, seed: int = 0) -> list[float]:
        """The objective of each of the ``candidates`` fields (penalty included) on one fixed batch."""
        generator = torch.Generator(device=self.device).manual_seed(seed)
        batch = sample_batch(self.points, self.normals, self.batch_points, generator)
        losses = self._candidate_losses(batch, create_graph=False)
        return [float(loss.detach()) for loss in losses]

    def _candidate_losses(self, batch: Batch, create_graph: bool = True) -> list[torch.Tensor]:
        results = sdf_losses(self.network, [batch] * self.candidates, self.config.loss_weights, create_graph)
        penalty = self._penalty(self.network) if self._penalty is not None else None
        return [loss + (penalty[k] if penalty is not None else 0.0) for k, (loss, _) in enumerate(results)]

    def _loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The objective of one step on ``batch``: the signed-distance loss (summed over candidate fields) and
        the penalty, with its terms."""
        if self.candidates > 1:
            losses = self._candidate_losses(batch)
            total = sum(losses)
            return total, {"candidates": total}
        loss, terms = sdf_loss(self.network, batch, self.config.loss_weights)
        if self._penalty is not None:
            terms["penalty"] = self._penalty(self.network).sum()
            loss = loss + terms["penalty"]
        return loss, terms

    def run(self, progress: ProgressCallback | None = None, preview: PreviewCallback | None = None) -> list[StepInfo]:
        """Take the remaining ``config.steps`` steps; raises ``FitCancelled`` if cancelled."""
        history = []
        every = self.config.preview_every
        while self.steps_done < self.config.steps:
            if self.cancelled:
                raise FitCancelled(f"cancelled after {self.steps_done} of {self.config.steps} steps")
            info = self.step()
            history.append(info)
            if progress is not None:
                progress(info)
            if preview is not None and every and info.step % every == 0 and info.step < self.config.steps:
                preview(*self.mesh(self.config.preview_resolution, sparse=False), info.step)
        if self.cancelled:
            raise FitCancelled(f"cancelled after {self.steps_done} of {self.config.steps} steps")
        return history

    def sdf(self, points: np.ndarray) -> np.ndarray:
        """Network values float32 [M] at box points [M, 3], evaluated in chunks of ``chunk_size`` points."""
        with torch.no_grad():
            (values,) = self._in_chunks(points, lambda chunk: (self.network(chunk)[:, 0],), "surface extraction")
        return values.astype(np.float32)

    def sdf_and_gradient(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Network values float64 [M] and their gradients [M, 3] (autograd) at box points [M, 3], in chunks."""
        def value_and_gradient(chunk: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            chunk = chunk.requires_grad_(True)
            value = self.network(chunk)[:, 0]
            (gradient,) = torch.autograd.grad(value.sum(), chunk)
            return value.detach(), gradient

        values, gradients = self._in_chunks(points, value_and_gradient, "hole filling")
        return values.astype(np.float64), gradients.astype(np.float64)

    def _in_chunks(self, points: np.ndarray, compute, what: str) -> list[np.ndarray]:
        """``compute`` (float32 tensor [C, 3] -> tensors [C, ...]) over ``points`` [M, 3], ``chunk_size`` at a time,
        concatenated per output. Out of GPU memory, the chunk halves and the chunk is retried; at ``MIN_CHUNK``
        the session moves to the CPU. Cancelling stops it with ``FitCancelled``."""
        self.network.eval()
        parts: list[tuple[np.ndarray, ...]] = []
        start = 0
        while start < len(points) or not parts:  # an empty query still gives empty outputs of the right shape
            chunk = torch.as_tensor(points[start:start + self.chunk_size], dtype=torch.float32, device=self.device)
            try:
                parts.append(tuple(t.float().cpu().numpy() for t in compute(chunk)))
            except RuntimeError as exc:
                if not _out_of_memory(exc):
                    raise
                if self.chunk_size // 2 >= MIN_CHUNK:
                    self.chunk_size //= 2
                    self._note("chunk", "the GPU ran out of memory; the surface is evaluated "
                                        f"{self.chunk_size} points at a time")
                else:
                    self._move_to_cpu()
                continue
            start += len(chunk)
            if self.cancelled:
                raise FitCancelled(f"cancelled during {what}")
        self.network.train()
        return [np.concatenate(outputs) for outputs in zip(*parts)]

    @property
    def notes(self) -> list[str]:
        """Remarks for the user: a smaller batch or chunk, a move to the CPU (the latest of each kind)."""
        return list(self._notes.values())

    def _note(self, kind: str, message: str) -> None:
        self._notes[kind] = message

    def _move_to_cpu(self) -> None:
        """Go on with the fit on the CPU (weights, optimiser state, data, anchor; a new sampling RNG)."""
        if self.device.type == "cpu":
            raise FitError("out of memory on the CPU; try a lower resolution or fewer points per step")
        self._note("device", f"the GPU ({self.device}) ran out of memory even with small batches; "
                             "the fit went on on the CPU")
        self.device = torch.device("cpu")
        self.network.to(self.device)
        if self._anchor is not None:
            self._anchor.to(self.device)
        for state in self.optimizer.state.values():
            for key, value in state.items():
                if torch.is_tensor(value):
                    state[key] = value.to(self.device)
        self._step_sizes = {name: lr.to(self.device) for name, lr in self._step_sizes.items()}
        self.points, self.normals = self.points.to(self.device), self.normals.to(self.device)
        self.generator = torch.Generator().manual_seed(self._seed + self.steps_done)
        self.batch_points, self.chunk_size = self.config.points_per_step, self.config.chunk_size

    def mesh(self, resolution: int, sparse: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """The zero level set in box coordinates, closed at the box."""
        grid = (sparse_grid if sparse else dense_grid)(self.sdf, resolution)
        self.last_evaluations = grid.evaluations
        return mesh_from_grid(grid)
