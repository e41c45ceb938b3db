"""Two CPU processes (gloo) train together for a few iterations and stay identical."""

import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from neurep_addon.core.config import NetworkConfig
from neurep_addon.meta.learner import MetaConfig, MetaLearner
from neurep_addon.meta.training import TaskPool
from neurep_addon.tasks.tasks import ShapeDistribution, TaskConfig


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, results: dict, algorithm: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        config = MetaConfig(algorithm=algorithm, iterations=3, inner_steps=2, inner_points=64, outer_points=64,
                            meta_batch=1, pool_size=2 * world, refresh_every=0, seed=0,
                            network=NetworkConfig(width=16, depth=2))
        learner = MetaLearner(config)
        shapes = ShapeDistribution({}, TaskConfig(procedural_fraction=1.0, scan_probability=0.0,
                                                  observed_points=256, target_points=512, field_points=256))
        pool = TaskPool(shapes, config, learner.device)
        first_task = pool.slots[0].points.sum().item()
        losses = [learner.step(pool.draw(i)) for i in range(config.iterations)]
        results[rank] = {"params": {k: v.detach().clone() for k, v in learner.params.items()},
                         "lrs": {k: v.detach().clone() for k, v in learner.inner_lrs.items()},
                         "first_task": first_task, "losses": losses}
    finally:
        dist.destroy_process_group()


def _run(algorithm: str) -> dict:
    manager = mp.Manager()
    results = manager.dict()
    mp.spawn(_worker, args=(2, _free_port(), results, algorithm), nprocs=2, join=True)
    return dict(results)


def test_two_gloo_processes_stay_in_sync():
    for algorithm in ("metasdf", "reptile"):
        results = _run(algorithm)
        zero, one = results[0], results[1]
        # Each rank trained on its own tasks...
        assert zero["first_task"] != one["first_task"] and zero["losses"] != one["losses"]
        # ...and the averaged updates kept the meta-parameters bit-identical.
        for key in ("params", "lrs"):
            assert zero[key].keys() == one[key].keys()
            for name in zero[key]:
                assert torch.equal(zero[key][name], one[key][name]), f"{algorithm}: {key} {name} differs"
