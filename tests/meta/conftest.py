"""Small, fast meta-learning settings (the task fixtures are in tests/conftest.py)."""

from __future__ import annotations

import pytest
import torch

from neurep_addon.core.config import NetworkConfig
from neurep_addon.meta.learner import MetaConfig


@pytest.fixture(scope="session")
def tiny_meta():
    """A factory of small ``MetaConfig``s: a 16x2 SIREN, 2 inner steps, 64-point batches."""
    def make(**changes) -> MetaConfig:
        settings = dict(iterations=4, inner_steps=2, inner_points=64, outer_points=64, meta_batch=1,
                        pool_size=2, refresh_every=0, validation_tasks=1, validate_every=2, checkpoint_every=2,
                        log_every=1, network=NetworkConfig(width=16, depth=2))
        settings.update(changes)
        return MetaConfig(**settings)
    return make


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
