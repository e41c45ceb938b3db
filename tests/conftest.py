"""Fixtures shared by the tests of tasks and of meta-learning: small tasks on procedural shapes (no data
folder needed)."""

from __future__ import annotations

import pytest

from neurep_addon.tasks.tasks import ShapeDistribution, TaskConfig


@pytest.fixture(scope="session")
def tiny_tasks() -> TaskConfig:
    return TaskConfig(procedural_fraction=1.0, scan_resolution=64, observed_points=512, target_points=1024,
                      field_points=512)


@pytest.fixture(scope="session")
def procedural_shapes(tiny_tasks) -> ShapeDistribution:
    return ShapeDistribution({}, tiny_tasks)
