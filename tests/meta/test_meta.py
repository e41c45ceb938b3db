import dataclasses

import numpy as np
import pytest
import torch
import trimesh

from neurep_addon.core.config import FitConfig
from neurep_addon.core.errors import ConfigError, PriorError
from neurep_addon.core.fit import FitSession, stacked_field
from neurep_addon.meta.learner import (MetaLearner, TaskTensors, completion_loss, completion_losses,
                                       conjugate_gradient)
from neurep_addon.meta.training import train, validate
from neurep_addon.core.prior_io import load_prior
from neurep_addon.tasks.tasks import make_task, task_seed
from tests.helpers import icosphere_samples


def sphere_observation(count: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    points, normals = icosphere_samples(count, radius=0.6)
    return points.astype(np.float32), normals.astype(np.float32)


def test_inner_loop_is_the_engines_learned_steps(tiny_meta):
    """The meta-training inner loop and a fit from the prior take the same learned steps (same weights)."""
    learner = MetaLearner(tiny_meta())
    with torch.no_grad():
        for lr in learner.inner_lrs.values():
            lr.uniform_(0, 2e-4)  # elementwise step sizes, as after meta-training
    points, normals = sphere_observation()
    steps = learner.config.inner_steps
    fit = FitConfig(steps=steps, points_per_step=128, network=learner.config.network)
    session = FitSession(points, normals, fit, prior=learner.prior(), device="cpu", seed=7)
    session.run()
    learner = MetaLearner(dataclasses.replace(learner.config, inner_points=128), init=learner.prior())
    adapted = learner.adapt([(torch.from_numpy(points), torch.from_numpy(normals))], [torch.Generator().manual_seed(7)],
                            second_order=False)
    for name, weight in session.network.named_parameters():
        torch.testing.assert_close(adapted[name][0].detach(), weight.detach(), rtol=0, atol=1e-6)


@pytest.mark.parametrize("first_order", [False, True])
def test_a_meta_batch_runs_as_one_computation_with_each_tasks_own_result(tiny_meta, procedural_shapes,
                                                                         first_order):
    """The vectorised meta step (tasks stacked) gives each task the adaptation and outer loss it gets alone,
    and the meta-gradient is the mean of the tasks' own: batching changes the cost, not the result."""
    learner = MetaLearner(tiny_meta(first_order=first_order, inner_points=128, outer_points=256))
    with torch.no_grad():
        for lr in learner.inner_lrs.values():
            lr.uniform_(0, 2e-4)
    tasks = [TaskTensors.of(procedural_shapes.task(task_seed(3, i)), learner.device) for i in range(3)]
    c = learner.config

    def run(batch: list[TaskTensors], seeds: list[int]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        generators = [torch.Generator().manual_seed(s) for s in seeds]
        adapted = learner.adapt([(t.points, t.normals) for t in batch], generators, second_order=not first_order)
        losses = completion_losses(stacked_field(learner.network, adapted), batch, c.outer_points, generators,
                                   c.weights, c.field_weight)
        return losses, list(torch.autograd.grad(sum(losses), learner.meta_tensors()))

    together, together_grads = run(tasks, [10, 11, 12])
    alone = [run([task], [seed]) for task, seed in zip(tasks, [10, 11, 12])]
    torch.testing.assert_close(torch.stack(together), torch.stack([losses[0] for losses, _ in alone]),
                               rtol=1e-4, atol=1e-5)
    for i, grad in enumerate(together_grads):
        torch.testing.assert_close(grad, sum(grads[i] for _, grads in alone), rtol=1e-3, atol=1e-6)
    assert len({round(float(loss.detach()), 4) for loss in together}) == 3  # three different tasks, not one repeated


@pytest.mark.parametrize("first_order", [False, True])
def test_meta_steps_reduce_the_completion_loss_on_a_toy_task(tiny_meta, tiny_tasks, first_order):
    config = tiny_meta(first_order=first_order, outer_lr=1e-3, inner_lr_lr=1e-4, inner_points=128,
                       outer_points=256)
    learner = MetaLearner(config)
    box = trimesh.creation.box((1.0, 0.7, 0.5))
    task = TaskTensors.of(make_task(box, tiny_tasks, np.random.default_rng(1)), learner.device)

    def loss_after_adaptation() -> float:
        adapted = learner.adapt([(task.points, task.normals)], [torch.Generator().manual_seed(0)], second_order=False)
        f = lambda x: stacked_field(learner.network, adapted)(x[None])[0]  # noqa: E731
        return float(completion_loss(f, task, 1024, torch.Generator().manual_seed(1), config.weights,
                                     config.field_weight).detach())

    before = loss_after_adaptation()
    initial = {k: v.detach().clone() for k, v in learner.params.items()}
    initial_lrs = {k: v.detach().clone() for k, v in learner.inner_lrs.items()}
    for _ in range(15):
        learner.step([task])
    assert learner.iteration == 15
    assert any(not torch.equal(initial[k], v) for k, v in learner.params.items())
    assert any(not torch.equal(initial_lrs[k], v) for k, v in learner.inner_lrs.items())
    assert all((lr >= 0).all() for lr in learner.inner_lrs.values())
    assert loss_after_adaptation() < 0.9 * before


def test_the_implicit_meta_gradient_is_the_gradient_through_a_proximal_fit():
    """iMAML's meta-gradient, (I + H / lambda)^-1 g by conjugate gradients, equals autograd's gradient through the
    exact solution of a proximal fit, phi*(theta) = argmin 1/2 phi'Q phi - b'phi + lambda/2 |phi - theta|^2,
    for an outer loss of phi*; with fewer iterations than dimensions it is only an approximation."""
    generator = torch.Generator().manual_seed(0)
    m = torch.randn(8, 8, generator=generator, dtype=torch.float64)
    q = m @ m.T + 0.1 * torch.eye(8, dtype=torch.float64)
    b, target = torch.randn(8, generator=generator, dtype=torch.float64), torch.randn(8, generator=generator,
                                                                                        dtype=torch.float64)
    theta = torch.randn(8, generator=generator, dtype=torch.float64, requires_grad=True)
    lam = 2.0

    def outer(phi: torch.Tensor) -> torch.Tensor:
        return ((phi - target) ** 2).sum() + torch.sin(phi).sum()

    phi = torch.linalg.solve(q + lam * torch.eye(8, dtype=torch.float64), b + lam * theta)
    (exact,) = torch.autograd.grad(outer(phi), theta)
    at = phi.detach().requires_grad_(True)
    g = list(torch.autograd.grad(outer(at), at))
    proximal = lambda v: [v[0] + q @ v[0] / lam]  # noqa: E731
    (implicit,) = conjugate_gradient(proximal, g, steps=8)
    torch.testing.assert_close(implicit, exact, rtol=1e-6, atol=1e-8)
    (rough,) = conjugate_gradient(proximal, g, steps=2)
    assert not torch.allclose(rough, exact, rtol=1e-3)
    assert torch.dot(rough, exact) > 0.9 * rough.norm() * exact.norm()  # already pointing the right way
    (first_order,) = g
    assert torch.dot(first_order, exact) < 0.9 * first_order.norm() * exact.norm()  # the Hessian matters here


def test_conjugate_gradient_stops_at_negative_curvature():
    """A Hessian need not be positive definite: the solver stops with the solution so far, never NaN, and
    falls back to b (first order) when the very first direction has no positive curvature."""
    indefinite = torch.diag(torch.tensor([2.0, 1.0, -3.0]))
    apply = lambda v: [indefinite @ v[0]]  # noqa: E731
    # Step 1 along b = (1, 0, 0.5) has curvature 1.25 and lands on x = b; the next direction, (3, 0, 4), has -30.
    (x,) = conjugate_gradient(apply, [torch.tensor([1.0, 0.0, 0.5])], steps=3)
    torch.testing.assert_close(x, torch.tensor([1.0, 0.0, 0.5]))
    (x,) = conjugate_gradient(apply, [torch.tensor([1.0, 1.0, 1.0])], steps=3)  # b'Ab = 0
    torch.testing.assert_close(x, torch.tensor([1.0, 1.0, 1.0]))


def test_imaml_learns_the_init_through_the_engines_whole_fit_and_keeps_the_learned_steps(tiny_meta, tiny_tasks):
    """iMAML meta-steps lower the completion loss after the engine's own fit (learned steps, then Adam), which
    they never differentiate through; the init prior's learned step sizes stay as they were."""
    base = MetaLearner(tiny_meta())
    with torch.no_grad():
        for lr in base.inner_lrs.values():
            lr.uniform_(0, 2e-4)
    start = base.prior()
    config = tiny_meta(algorithm="imaml", fit_steps=6, outer_lr=1e-3, inner_points=128, outer_points=256,
                       imaml_lambda=100.0)
    learner = MetaLearner(config, init=start)
    box = trimesh.creation.box((1.0, 0.7, 0.5))
    task = TaskTensors.of(make_task(box, tiny_tasks, np.random.default_rng(1)), learner.device)
    assert config.validation_steps == 6
    before = validate(learner.prior(), [task], config, config.validation_steps, learner.device)
    for _ in range(15):
        learner.step([task])
    prior = learner.prior()
    assert prior.inner_steps == config.inner_steps
    for name, lr in start.inner_lrs.items():
        torch.testing.assert_close(prior.inner_lrs[name], lr, rtol=0, atol=0)
    assert any(not torch.equal(start.state_dict[k], v) for k, v in prior.state_dict.items())
    assert validate(prior, [task], config, config.validation_steps, learner.device) < 0.9 * before


def test_reptile_moves_the_init_and_has_no_learned_steps(tiny_meta, procedural_shapes):
    learner = MetaLearner(tiny_meta(algorithm="reptile"))
    task = TaskTensors.of(procedural_shapes.task(task_seed(0, 0)), learner.device)
    initial = {k: v.detach().clone() for k, v in learner.params.items()}
    learner.step([task])
    assert any(not torch.equal(initial[k], v) for k, v in learner.params.items())
    prior = learner.prior()
    assert prior.inner_steps == 0 and prior.inner_lrs == {}


@pytest.mark.parametrize("algorithm", ["metasdf", "imaml"])
def test_train_writes_prior_curve_checkpoint_and_resumes_exactly(tmp_path, tiny_meta, procedural_shapes, algorithm):
    config = tiny_meta(iterations=4, checkpoint_every=2, refresh_every=1, algorithm=algorithm, fit_steps=3)
    straight = tmp_path / "straight.safetensors"
    train(config, procedural_shapes, procedural_shapes, straight, {"data": "procedural"}, log=lambda m: None)
    for suffix in ("", ".ckpt", ".png"):
        assert straight.with_name(straight.name + suffix).is_file()
    prior = load_prior(straight)
    learned_steps = config.inner_steps if algorithm == "metasdf" else 0  # iMAML from scratch learns no step sizes
    assert prior.inner_steps == learned_steps and prior.provenance["data"] == "procedural"

    resumed = tmp_path / "resumed.safetensors"
    train(tiny_meta(iterations=2, algorithm=algorithm, fit_steps=3), procedural_shapes, procedural_shapes, resumed, {}, log=lambda m: None)
    messages = []
    history = train(config, procedural_shapes, procedural_shapes, resumed, {}, resume=True, log=messages.append)
    assert "resumed" in messages[0] and history.train[-1][0] == 4
    straight_state = torch.load(straight.with_name(straight.name + ".ckpt"), weights_only=True)
    resumed_state = torch.load(resumed.with_name(resumed.name + ".ckpt"), weights_only=True)
    assert resumed_state["iteration"] == straight_state["iteration"] == 4
    for key in ("params", "inner_lrs"):
        for name, tensor in straight_state[key].items():
            torch.testing.assert_close(resumed_state[key][name], tensor, rtol=0, atol=0)


def test_resume_takes_this_runs_learning_rates(tiny_meta):
    """A resumed run can lower its rates (the saved optimiser state must not bring the old ones back)."""
    learner = MetaLearner(tiny_meta(outer_lr=1e-4, inner_lr_lr=1e-5))
    state = learner.state()
    slower = MetaLearner(tiny_meta(outer_lr=3e-5, inner_lr_lr=2e-6))
    slower.load_state(state)
    assert [group["lr"] for group in slower.optimizer.param_groups] == [3e-5, 2e-6]


def test_resume_refuses_another_network(tmp_path, tiny_meta, procedural_shapes):
    out = tmp_path / "p.safetensors"
    with pytest.raises(PriorError, match="no checkpoint"):
        train(tiny_meta(), procedural_shapes, procedural_shapes, out, {}, resume=True, log=lambda m: None)
    train(tiny_meta(iterations=2), procedural_shapes, procedural_shapes, out, {}, log=lambda m: None)
    with pytest.raises(PriorError, match="start a new run"):
        train(tiny_meta(algorithm="reptile"), procedural_shapes, procedural_shapes, out, {}, resume=True,
              log=lambda m: None)


def test_fine_tuning_starts_from_the_given_prior(tiny_meta):
    """``MetaLearner(init=...)`` (train_prior.py --init): a studio fine-tunes an existing prior."""
    base = MetaLearner(tiny_meta())
    with torch.no_grad():
        for lr in base.inner_lrs.values():
            lr.uniform_(1e-5, 1e-3)
    start = base.prior()
    tuned = MetaLearner(tiny_meta(seed=7), init=start)
    for name, tensor in start.state_dict.items():
        torch.testing.assert_close(tuned.params[name].detach(), tensor, rtol=0, atol=0)
        torch.testing.assert_close(tuned.inner_lrs[name].detach(), start.inner_lrs[name], rtol=0, atol=0)
    fresh = MetaLearner(tiny_meta(seed=7))  # the same run without init starts elsewhere
    assert not all(torch.equal(fresh.params[name], tensor) for name, tensor in start.state_dict.items())
    with pytest.raises(PriorError, match="different network.*width"):
        MetaLearner(tiny_meta(network=dataclasses.replace(start.network, width=32)), init=start)


def test_a_clamped_field_term_scores_only_the_sign_far_from_the_surface(tiny_meta):
    """With ``field_clamp`` the outer loss's |f - sdf| term ignores distance errors beyond the clamp (DeepSDF's
    truncation): a field right near a sphere and six times too steep far from it scores as the exact one."""
    points, normals = sphere_observation()
    rng = np.random.default_rng(0)
    box = rng.uniform(-1, 1, (4000, 3)).astype(np.float32)
    sdf = (np.linalg.norm(box, axis=1) - 0.6).astype(np.float32)
    task = TaskTensors(*(torch.from_numpy(a) for a in (points, normals, points, normals, box, sdf)))
    exact = lambda x: x.norm(dim=-1, keepdim=True) - 0.6  # noqa: E731
    steep = lambda x: exact(x) + 5 * torch.relu(exact(x).abs() - 0.2) * exact(x).sign()  # noqa: E731
    weights = tiny_meta().weights

    def field_term(f, clamp: float) -> float:
        loss = [float(completion_loss(f, task, 512, torch.Generator().manual_seed(3), weights, w,
                                      field_clamp=clamp).detach()) for w in (1.0, 0.0)]
        return loss[0] - loss[1]

    assert field_term(exact, 0.1) == pytest.approx(0.0, abs=1e-5)
    assert field_term(steep, 0.1) == pytest.approx(0.0, abs=1e-5)
    assert field_term(steep, 0.0) > 0.2
    with pytest.raises(ConfigError, match="field_clamp"):
        tiny_meta(field_clamp=-0.1)
