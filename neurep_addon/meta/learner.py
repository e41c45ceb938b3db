"""The meta-learner: MetaSDF-style MAML with learned step sizes, iMAML, and Reptile, one meta step at a time.

MetaSDF (Sitzmann et al. 2020), the default:
    inner  K steps  theta_k+1 = theta_k - alpha * grad L_fit(theta_k; partial observation)
           with L_fit = ``losses.sdf_loss`` on ``losses.sample_batch`` of the partial points: the engine's own
           ``fit.learned_step``, which ``FitSession`` takes from a prior;
    outer  L_complete(theta_K) = ``sdf_loss`` on a batch of the *complete* surface (surface, normal,
           eikonal, near-band, off-surface and shell terms) + ``field_weight`` * |f(q) - sdf(q)| at points q
           of the box with the complete shape's approximate signed distance (both clamped to
           +-``field_clamp`` when it is set);
    update Adam on the initial weights theta_0 and on the elementwise step sizes alpha, through the
           K inner steps (second order) or with the inner gradients held constant (first order).
The outer loss only sees the complete shape, so the initialisation and the step sizes learn to complete.

iMAML (Rajeswaran et al. 2019, implicit meta-gradients), through the whole fit:
    inner  the engine's own fit from theta (``FitSession``: the prior's learned steps, then Adam with its
           schedule), ``fit_steps`` steps, exactly as a user's fit takes them, to phi;
    outer  the same L_complete(phi);
    update if phi minimises L_fit(phi) + lambda/2 |phi - theta|^2, then d phi / d theta = (I + H / lambda)^-1
           with H the Hessian of L_fit at phi, so the meta-gradient is x = (I + H / lambda)^-1 grad L_complete(phi),
           solved by ``cg_steps`` of conjugate gradients with Hessian-vector products (no backward pass through
           the fit, so its cost does not grow with its steps). The fit has no proximal term; lambda stands for
           how far its few steps move from theta. The learned step sizes of an ``init`` prior are kept as they
           are (they get no implicit gradient).
    Directions in which the data pin the fit (large curvature) are damped; the prior learns in the others,
    which are where the data say nothing: the missing parts.

Reptile (Nichol et al. 2018; Tancik et al. 2021's recipe for coordinate networks), the comparison:
    K Adam steps of ``FitSession`` fitting the task's complete surface from theta, then
    theta += epsilon * (theta_K - theta), epsilon annealed linearly to 0. Reptile has no separate outer
    loss, so the complete shape is its fitting target; its prior has no learned steps.

Distributed training (``torch.distributed``, gloo or NCCL, started by torchrun): the meta-gradients
(MetaSDF) or weight deltas (Reptile) are averaged with ``all_reduce``, and every rank applies the same
update, so the ranks stay identical. The training loop around it is in ``training.py``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
from torch.func import functional_call

from ..core.config import FitConfig, LossWeights, NetworkConfig
from ..core.errors import ConfigError, PriorError
from ..core.fit import FitSession, Params, learned_steps, stacked_field
from ..core.losses import sample_batch, sdf_loss, sdf_losses
from ..core.networks import build_network
from ..core.prior import Prior
from ..tasks.tasks import Task

ALGORITHMS = ("metasdf", "imaml", "reptile")
CHECKPOINT_FORMAT = "neurep-meta-checkpoint/1"


@dataclass(frozen=True)
class MetaConfig:
    """Settings of one meta-training run (all of them go into the checkpoint and the prior's provenance)."""

    algorithm: str = "metasdf"
    iterations: int = 2000
    inner_steps: int = 5
    """K: learned steps of the fit (MetaSDF) or Adam steps per task (Reptile)."""
    inner_points: int = 512
    """Observed points per inner step (``sample_batch`` count)."""
    outer_points: int = 1024
    """Complete-surface points per outer loss evaluation."""
    meta_batch: int = 2
    """Tasks per iteration and per process."""
    first_order: bool = False
    outer_lr: float = 1e-4
    """Adam learning rate of the initial weights (MetaSDF)."""
    inner_lr_init: float = 1e-4
    """Initial value of every elementwise step size alpha (stable for the SIREN fit at K <= 10)."""
    inner_lr_lr: float = 1e-5
    """Adam learning rate of the step sizes."""
    field_weight: float = 10.0
    """Weight of |f(q) - sdf(q)| in the outer loss (the loss weights of ``LossWeights`` apply to the rest)."""
    field_clamp: float = 0.0
    """With > 0, the signed distances of that term are clamped to [-field_clamp, field_clamp] (DeepSDF's
    truncation, 0.1 there): far from the surface only the sign is scored, not the distance."""
    grad_clip: float = 10.0
    """Meta-gradients are clipped to this global norm (second-order gradients through SIREN can spike)."""
    fit_steps: int = 25
    """iMAML: the steps of the engine's fit in the inner loop (learned steps included; preset default's 25-step
    figure is what the benchmark scores), and what its validation scores after."""
    imaml_lambda: float = 100.0
    """iMAML: lambda of the proximal model; larger damps the Hessian less (infinity is first order). At the
    default network's 25-step fit the Hessian's largest eigenvalue is 2.6e4-5.4e4; 30 and 100 were measured
    (docs/priors.md)."""
    cg_steps: int = 5
    """iMAML: conjugate-gradient iterations (Hessian-vector products) per task."""
    reptile_epsilon: float = 1.0
    """Reptile's interpolation step at iteration 0 (annealed linearly to 0)."""
    reptile_lr: float = 1e-4
    """Adam learning rate of Reptile's inner fit (the engine's default)."""
    pool_size: int = 400
    """Tasks held in memory (split between the processes); drawing a task costs ~0.3 s, a meta step less."""
    refresh_every: int = 4
    """Every this many iterations, each process replaces one pool task with a new one (0: never)."""
    validation_tasks: int = 24
    validate_every: int = 100
    checkpoint_every: int = 200
    log_every: int = 20
    seed: int = 0
    network: NetworkConfig = field(default_factory=NetworkConfig)
    weights: LossWeights = field(default_factory=lambda: LossWeights(curvature_variation=0.0))
    """Loss weights of the inner steps and the outer loss. The fit-time curvature regularisers stay out: the
    learned steps never use them (``fit.learned_step``), and the outer loss scores against the complete shape."""

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ConfigError("algorithm", f"{self.algorithm!r} is unknown; choose one of {', '.join(ALGORITHMS)}")
        for name in ("iterations", "inner_steps", "inner_points", "outer_points", "meta_batch", "pool_size",
                     "validation_tasks", "validate_every", "checkpoint_every", "log_every", "fit_steps",
                     "cg_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(name, f"must be at least 1, got {getattr(self, name)}")
        if self.field_clamp < 0:
            raise ConfigError("field_clamp", f"must be >= 0, got {self.field_clamp}")
        for name in ("outer_lr", "inner_lr_init", "inner_lr_lr", "reptile_lr", "reptile_epsilon", "grad_clip",
                     "imaml_lambda"):
            if not getattr(self, name) > 0:
                raise ConfigError(name, f"must be positive, got {getattr(self, name)}")

    @property
    def validation_steps(self) -> int:
        """Steps of the engine's fit after which validation scores a prior: the inner loop's length."""
        return self.fit_steps if self.algorithm == "imaml" else self.inner_steps

    def inner_fit(self, steps: int) -> FitConfig:
        """The engine's fit as meta-training runs it (validation and iMAML's inner loop)."""
        return FitConfig(steps=steps, points_per_step=self.inner_points, network=self.network,
                         weights=self.weights, preview_every=0)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "MetaConfig":
        values = dict(values)
        values["network"] = NetworkConfig(**values["network"])
        values["weights"] = LossWeights(**values["weights"])
        return cls(**values)


@dataclass
class TaskTensors:
    """A ``Task`` as float32 tensors on the training device (shapes as in ``Task``)."""

    points: torch.Tensor
    normals: torch.Tensor
    target_points: torch.Tensor
    target_normals: torch.Tensor
    field_points: torch.Tensor
    field_sdf: torch.Tensor

    @classmethod
    def of(cls, task: Task, device: torch.device) -> "TaskTensors":
        return cls(*(torch.as_tensor(getattr(task, f.name), device=device) for f in dataclasses.fields(cls)))


def completion_loss(f: Callable[[torch.Tensor], torch.Tensor], task: TaskTensors, count: int,
                    generator: torch.Generator, weights: LossWeights, field_weight: float,
                    create_graph: bool = True, field_clamp: float = 0.0) -> torch.Tensor:
    """How well the field ``f`` represents the task's complete shape (a scalar; lower is better).

    The engine's own objective on a batch of the complete surface, plus the mean absolute error to the
    approximate signed distance at ``count / 2`` points of the box. With ``field_clamp`` > 0 both distances
    are clamped to [-field_clamp, field_clamp] first (DeepSDF's truncation): far from the surface only the
    sign counts.
    """
    return completion_losses(lambda x: f(x[0])[None], [task], count, [generator], weights, field_weight,
                             create_graph, field_clamp)[0]


def completion_losses(f: Callable[[torch.Tensor], torch.Tensor], tasks: list[TaskTensors], count: int,
                      generators: list[torch.Generator], weights: LossWeights, field_weight: float,
                      create_graph: bool = True, field_clamp: float = 0.0) -> list[torch.Tensor]:
    """``completion_loss`` of T fields at once, field t on task t with generator t: ``f`` maps points
    [T, M, 3] to values [T, M, 1] (``fit.stacked_field``), so the T evaluations are one."""
    batches = [sample_batch(task.target_points, task.target_normals, count, generator)
               for task, generator in zip(tasks, generators)]
    losses = [loss for loss, _ in sdf_losses(f, batches, weights, create_graph=create_graph)]
    picks = [torch.randint(len(task.field_points), (count // 2,), generator=generator,
                           device=task.field_points.device) for task, generator in zip(tasks, generators)]
    predicted = f(torch.stack([task.field_points[pick] for task, pick in zip(tasks, picks)]))[..., 0]
    target = torch.stack([task.field_sdf[pick] for task, pick in zip(tasks, picks)])
    if field_clamp > 0:
        predicted, target = predicted.clamp(-field_clamp, field_clamp), target.clamp(-field_clamp, field_clamp)
    errors = (predicted - target).abs().mean(dim=1)
    return [loss + field_weight * error for loss, error in zip(losses, errors)]


def conjugate_gradient(apply: Callable[[list[torch.Tensor]], list[torch.Tensor]], b: list[torch.Tensor],
                       steps: int) -> list[torch.Tensor]:
    """Approximately solve A x = b for a symmetric positive-definite A, given as ``apply`` (x -> A x on lists of
    tensors), by ``steps`` iterations of conjugate gradients from x = 0. Stops early when the residual is zero
    or A shows a direction of non-positive curvature (a Hessian need not be positive definite); x is then the
    solution so far, or b itself (A taken as the identity: first order) when that happens at once."""
    def dot(u: list[torch.Tensor], v: list[torch.Tensor]) -> torch.Tensor:
        return sum((a * c).sum() for a, c in zip(u, v))

    x = [torch.zeros_like(t) for t in b]
    r = [t.clone() for t in b]
    p = [t.clone() for t in b]
    rr = dot(r, r)
    for _ in range(steps):
        if rr == 0:
            break
        ap = apply(p)
        curvature = dot(p, ap)
        if not curvature > 0:
            return x if any(bool(xi.any()) for xi in x) else [t.clone() for t in b]
        alpha = rr / curvature
        x = [xi + alpha * pi for xi, pi in zip(x, p)]
        r = [ri - alpha * api for ri, api in zip(r, ap)]
        rr, previous = dot(r, r), rr
        p = [ri + (rr / previous) * pi for ri, pi in zip(r, p)]
    return x


def world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _average(tensors: list[torch.Tensor]) -> None:
    """In-place mean over the processes (no-op without torch.distributed)."""
    _, processes = world()
    if processes > 1:
        flat = torch.cat([t.reshape(-1) for t in tensors])
        dist.all_reduce(flat)
        flat /= processes
        offset = 0
        for t in tensors:
            t.copy_(flat[offset:offset + t.numel()].view_as(t))
            offset += t.numel()


class MetaLearner:
    """The meta-parameters (initial weights, step sizes), their optimiser, and one meta step.

    Every process builds the same network from ``config.seed``; rank 0's weights are then broadcast, so
    all ranks start (and, by averaging, stay) identical.
    """

    def __init__(self, config: MetaConfig, device: torch.device | str = "cpu", init: Prior | None = None) -> None:
        """``init``: start from this prior's weights (and learned step sizes, for MetaSDF) instead of a
        random initialisation, e.g. to fine-tune the default prior on a studio's own shapes."""
        self.config = config
        self.device = torch.device(device)
        torch.manual_seed(config.seed)
        self.network = build_network(config.network).to(self.device)
        if init is not None:
            init.check_matches(config.network)
            self.network.load_state_dict(init.state_dict)
        for p in self.network.parameters():
            p.requires_grad_(False)
        self.params: Params = {name: p.detach().clone().requires_grad_(True)
                               for name, p in self.network.named_parameters()}
        self.inner_lrs: Params = {}
        self.optimizer: torch.optim.Adam | None = None  # Reptile interpolates instead
        start = init.inner_lrs if init is not None and init.inner_lrs else {}
        if config.algorithm == "metasdf":
            self.inner_lrs = {name: (start[name].to(self.device, p.dtype).clone() if name in start
                                     else torch.full_like(p, config.inner_lr_init)).requires_grad_(True)
                              for name, p in self.params.items()}
            self.optimizer = torch.optim.Adam([
                {"params": list(self.params.values()), "lr": config.outer_lr},
                {"params": list(self.inner_lrs.values()), "lr": config.inner_lr_lr}])
        elif config.algorithm == "imaml":  # an init prior's learned steps are kept, unchanged
            self.inner_lrs = {name: lr.to(self.device, self.params[name].dtype).clone() for name, lr in start.items()}
            self.optimizer = torch.optim.Adam([{"params": list(self.params.values()), "lr": config.outer_lr}])
        self.iteration = 0
        _, processes = world()
        if processes > 1:
            for tensor in self.meta_tensors():
                dist.broadcast(tensor.data, src=0)

    def meta_tensors(self) -> list[torch.Tensor]:
        return list(self.params.values()) + list(self.inner_lrs.values())

    def _generator(self, *key: int) -> torch.Generator:
        seed = int(np.random.default_rng([self.config.seed, *key]).integers(2**62))
        return torch.Generator(device=self.device).manual_seed(seed)

    def adapt(self, observations: list[tuple[torch.Tensor, torch.Tensor]], generators: list[torch.Generator],
              second_order: bool) -> Params:
        """The inner loop for a meta-batch: K learned steps (``fit.learned_steps``) from the meta-parameters
        on each observation (points, normals [N, 3] in box coordinates), all tasks at once; returns the
        adapted weights stacked [T, ...] (task t's at index t), differentiable in the meta-parameters."""
        adapted = {name: p.expand(len(observations), *p.shape) for name, p in self.params.items()}
        for _ in range(self.config.inner_steps):
            adapted, _, _ = learned_steps(self.network, adapted, self.inner_lrs, observations,
                                          self.config.inner_points, generators, self.config.weights,
                                          create_graph=second_order)
        return adapted

    def step(self, tasks: list[TaskTensors]) -> float:
        """One meta update from this process's ``tasks``; returns their mean outer (or fit) loss."""
        rank, _ = world()
        if self.config.algorithm == "metasdf":
            loss = self._metasdf_step(tasks, [self._generator(1, rank, self.iteration, t) for t in range(len(tasks))])
        elif self.config.algorithm == "imaml":
            loss = self._imaml_step(tasks, [self._generator(1, rank, self.iteration, t) for t in range(len(tasks))])
        else:
            loss = self._reptile_step(tasks, self._generator(1, rank, self.iteration))
        self.iteration += 1
        return loss

    def _metasdf_step(self, tasks: list[TaskTensors], generators: list[torch.Generator]) -> float:
        """The tasks of the meta-batch run as one vectorised computation (stacked weights), not in a loop;
        task t draws its batches from generator t."""
        c = self.config
        adapted = self.adapt([(task.points, task.normals) for task in tasks], generators,
                             second_order=not c.first_order)
        losses = completion_losses(stacked_field(self.network, adapted), tasks, c.outer_points, generators,
                                   c.weights, c.field_weight, field_clamp=c.field_clamp)
        loss = sum(losses) / len(tasks)
        updated = self._update(self.meta_tensors(), list(torch.autograd.grad(loss, self.meta_tensors())))
        return float(loss.detach()) if updated else math.nan

    def _imaml_step(self, tasks: list[TaskTensors], generators: list[torch.Generator]) -> float:
        """Per task: the engine's fit from the current prior, the outer gradient there, and the implicit
        meta-gradient (I + H / lambda)^-1 g by conjugate gradients (module docstring). The Hessian is that of
        the fit objective without its curvature terms (as the learned steps use it), on one batch of the
        observation."""
        c = self.config
        fit, start = c.inner_fit(c.fit_steps), self.prior()
        hessian_weights = dataclasses.replace(c.weights, curvature=0.0, curvature_variation=0.0)
        grads = [torch.zeros_like(p) for p in self.params.values()]
        total = 0.0
        for task, generator in zip(tasks, generators):
            seed = int(torch.randint(2**31, (1,), generator=generator, device=self.device))
            session = FitSession(task.points, task.normals, fit, prior=start, device=self.device.type, seed=seed)
            session.run()
            adapted = {name: p.detach().requires_grad_(True) for name, p in session.network.named_parameters()}
            weights = list(adapted.values())

            def field(x: torch.Tensor) -> torch.Tensor:
                return functional_call(self.network, adapted, (x,))

            loss = completion_loss(field, task, c.outer_points, generator, c.weights, c.field_weight,
                                   field_clamp=c.field_clamp)
            outer = list(torch.autograd.grad(loss, weights))
            fit_loss, _ = sdf_loss(field, sample_batch(task.points, task.normals, c.inner_points, generator),
                                   hessian_weights)
            fit_grad = torch.autograd.grad(fit_loss, weights, create_graph=True)

            def proximal_hessian(v: list[torch.Tensor]) -> list[torch.Tensor]:
                hv = torch.autograd.grad(fit_grad, weights, grad_outputs=v, retain_graph=True)
                return [vi + hvi / c.imaml_lambda for vi, hvi in zip(v, hv)]

            for g, x in zip(grads, conjugate_gradient(proximal_hessian, outer, c.cg_steps)):
                g += x.detach() / len(tasks)
            total += float(loss.detach()) / len(tasks)
        return total if self._update(list(self.params.values()), grads) else math.nan

    def _update(self, tensors: list[torch.Tensor], grads: list[torch.Tensor]) -> bool:
        """Average ``grads`` over the processes, clip them, and take the optimiser's step on ``tensors``;
        False (on every rank alike) when they are not finite and the step was skipped."""
        for p, g in zip(tensors, grads):
            p.grad = g
        _average(grads)
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
        if not torch.isfinite(norm):
            return False  # identical on every rank (the gradients were averaged): all skip the update
        torch.nn.utils.clip_grad_norm_(tensors, self.config.grad_clip)
        self.optimizer.step()
        with torch.no_grad():
            for lr in self.inner_lrs.values():
                lr.clamp_(min=0.0)
        return True

    def _reptile_step(self, tasks: list[TaskTensors], generator: torch.Generator) -> float:
        c = self.config
        fit = FitConfig(steps=c.inner_steps, points_per_step=c.inner_points, learning_rate=c.reptile_lr,
                        prior_learning_rate_scale=1.0, network=c.network, weights=c.weights, preview_every=0)
        start = self.prior()
        deltas = [torch.zeros_like(p) for p in self.params.values()]
        total = 0.0
        for task in tasks:
            seed = int(torch.randint(2**31, (1,), generator=generator))
            session = FitSession(task.target_points, task.target_normals, fit, prior=start,
                                 device=str(self.device.type), seed=seed)
            history = session.run()
            total += history[-1].loss / len(tasks)
            adapted = dict(session.network.named_parameters())
            for delta, (name, p) in zip(deltas, self.params.items()):
                delta += (adapted[name].detach() - p.detach()) / len(tasks)
        _average(deltas)
        epsilon = c.reptile_epsilon * (1 - self.iteration / c.iterations)
        with torch.no_grad():
            for p, delta in zip(self.params.values(), deltas):
                p += epsilon * delta
        return total

    def prior(self, provenance: dict[str, str] | None = None) -> Prior:
        """The current meta-parameters as a ``Prior`` (buffers such as Fourier frequencies included)."""
        state = {name: t.detach().clone() for name, t in self.network.state_dict().items()}
        state.update({name: p.detach().clone() for name, p in self.params.items()})
        return Prior(network=self.config.network, state_dict=state,
                     inner_lrs={name: lr.detach().clone() for name, lr in self.inner_lrs.items()},
                     inner_steps=self.config.inner_steps if self.inner_lrs else 0,
                     provenance=dict(provenance or {}))

    def state(self) -> dict:
        return {"format": CHECKPOINT_FORMAT, "config": self.config.to_dict(), "iteration": self.iteration,
                "params": {k: v.detach().cpu() for k, v in self.params.items()},
                "inner_lrs": {k: v.detach().cpu() for k, v in self.inner_lrs.items()},
                "optimizer": self.optimizer.state_dict() if self.optimizer else {}}

    def load_state(self, state: dict) -> None:
        """Restore a ``state()``; ``PriorError`` if it was made with another algorithm or network."""
        if state.get("format") != CHECKPOINT_FORMAT:
            raise PriorError(f"not a NeuRep meta-training checkpoint (format {state.get('format')!r})")
        theirs = MetaConfig.from_dict(state["config"])
        if (theirs.algorithm, theirs.network) != (self.config.algorithm, self.config.network):
            raise PriorError(f"the checkpoint was made for {theirs.algorithm} on {theirs.network}, "
                             f"not {self.config.algorithm} on {self.config.network}; start a new run")
        with torch.no_grad():
            for mine, saved in ((self.params, state["params"]), (self.inner_lrs, state["inner_lrs"])):
                for name, tensor in mine.items():
                    tensor.copy_(saved[name])
        if self.optimizer:
            self.optimizer.load_state_dict(state["optimizer"])
            # The saved state carries the rates it was made with; a resumed run takes this run's rates.
            for group, rate in zip(self.optimizer.param_groups, (self.config.outer_lr, self.config.inner_lr_lr)):
                group["lr"] = rate
        self.iteration = int(state["iteration"])
