"""The fit's own process (``jobs.worker``), as a front end talks to it, and errors crossing by pickle."""

import dataclasses
import os
import pickle
import subprocess
import sys
import textwrap
from multiprocessing.connection import Client
from pathlib import Path

import numpy as np

from neurep_addon.core.config import preset
from neurep_addon.core.errors import ConfigError, DeviceError
from neurep_addon.core.observation import Observation
from neurep_addon.jobs import worker
from neurep_addon.jobs.cases import Complete, FillHoles
from neurep_addon.jobs.protocol import Cancel, Kind, Request
from tests.helpers import holed_icosphere, icosphere_samples

ROOT = Path(__file__).resolve().parents[2]


def sphere_observation() -> Observation:
    points, normals = icosphere_samples(2000, radius=0.6)
    return Observation(points.astype(np.float32), normals.astype(np.float32))


def serve(case) -> list[tuple[Kind, object]]:
    """Start a worker, send it the use case, and return every reply it sends until its outcome, as (kind, payload)."""
    key = os.urandom(32)
    process, address = worker.start(key)
    with Client(address, authkey=key) as connection:
        worker.send(connection, Request(case, 1))
        messages = []
        while not messages or not messages[-1][0].ends:
            reply = worker.receive(connection)
            messages.append((reply.kind, reply.payload))
    assert process.wait(timeout=30) == 0
    return messages


def test_a_completion_in_the_worker_process_sends_progress_previews_and_its_result():
    config = preset("fast", steps=6, resolution=24, preview_every=3, preview_resolution=16)
    messages = serve(Complete(observation=sphere_observation(), config=config, device="cpu"))
    kinds = [kind for kind, _ in messages]
    assert kinds[-1] is Kind.FINISHED and kinds.count(Kind.PREVIEW) == 1
    assert [info.step for kind, info in messages if kind is Kind.PROGRESS] == [1, 2, 3, 4, 5, 6]
    result = messages[-1][1]
    assert len(result.faces) > 0 and np.abs(result.vertices).max() < 1.0


def test_a_hole_filling_in_the_worker_process_sends_progress_and_its_result():
    vertices, faces = holed_icosphere(subdivisions=2)
    config = preset("fast", steps=3, points_per_step=256, preview_every=1)
    messages = serve(FillHoles(vertices=vertices, faces=faces, config=config, device="cpu"))
    assert [kind for kind, _ in messages] == [Kind.PROGRESS] * 3 + [Kind.FINISHED]
    assert messages[-1][1].input_faces == len(faces) and len(messages[-1][1].holes) == 2


def test_an_error_in_the_worker_process_arrives_as_the_same_error():
    messages = serve(Complete(observation=sphere_observation(), config=preset("fast"), device="no-such-device"))
    kind, error = messages[-1]
    assert kind is Kind.FAILED and isinstance(error, ConfigError) and error.setting == "device"


def test_setting_errors_keep_their_setting_through_pickle():
    for error in (ConfigError("steps", "must be between 0 and 100000, got -1"), DeviceError("cuda is not available")):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and (copy.setting, copy.problem) == (error.setting, error.problem)
        assert copy.describe("Steps") == error.describe("Steps") and str(copy) == str(error)


def test_a_cancel_sent_right_after_the_work_stops_it_and_the_process_serves_the_next():
    """The front end may cancel before the process has even picked the work up; the process then serves the
    next request on the same connection."""
    key = os.urandom(32)
    process, address = worker.start(key)
    long_fit = Complete(observation=sphere_observation(), config=preset("fast", steps=5000, resolution=24),
                        device="cpu")
    with Client(address, authkey=key) as connection:
        worker.send(connection, Request(long_fit, 1))
        worker.send(connection, Cancel())
        while not (reply := worker.receive(connection)).kind.ends:
            pass
        assert reply.kind is Kind.CANCELLED
        short_fit = dataclasses.replace(long_fit, config=preset("fast", steps=3, resolution=24, preview_every=0))
        worker.send(connection, Request(short_fit, 1))
        while not (reply := worker.receive(connection)).kind.ends:
            pass
        assert reply.kind is Kind.FINISHED and len(reply.payload.faces) > 0
    assert process.wait(timeout=30) == 0


def test_a_front_end_without_torch_sends_prior_files_and_reads_every_reply_without_loading_torch():
    """As Blender's process does: the settings and the default prior come from ``fit_settings.plan`` (headers
    only), the worker loads the prior, and progress, previews, a completion and a hole filling come back as
    plain data; the front end's process never imports torch."""
    code = textwrap.dedent("""
        import os, sys
        from multiprocessing.connection import Client
        import numpy as np
        from neurep_addon.core.fit_settings import plan
        from neurep_addon.core.observation import Observation
        from neurep_addon.core.prior_files import PriorFile
        from neurep_addon.jobs import worker
        from neurep_addon.jobs.cases import Complete, FillHoles
        from neurep_addon.jobs.protocol import Kind, Request

        config, priors = plan("fast", "default", steps=4, resolution=24)
        assert [type(p) for p in priors] == [PriorFile] and config.network == priors[0].network
        config = config.replace(preview_every=2, preview_resolution=16, keep_open="none")
        normals = np.random.default_rng(0).normal(size=(2000, 3))
        normals /= np.linalg.norm(normals, axis=1, keepdims=True)
        vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float64)
        faces = np.array([[0, 2, 1], [0, 1, 3], [1, 2, 3]])  # a tetrahedron without one face: one hole
        cases = [Complete(observation=Observation(0.6 * normals, normals), config=config, prior=priors, device="cpu"),
                 FillHoles(vertices=vertices, faces=faces, config=config, prior=priors, device="cpu")]
        key = os.urandom(32)
        process, address = worker.start(key)
        kinds = []
        with Client(address, authkey=key) as connection:
            for case in cases:
                worker.send(connection, Request(case, 1))
                while not (reply := worker.receive(connection)).kind.ends:
                    kinds.append(reply.kind)
                assert reply.kind is Kind.FINISHED, reply.payload
                kinds.append(type(reply.payload).__name__)
        process.wait(timeout=30)
        print(kinds.count(Kind.PROGRESS), Kind.PREVIEW in kinds, kinds[-1], kinds.count("Completion"))
        print(sorted(m for m in ("torch", "safetensors") if m in sys.modules))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == ["8 True HoleFilling 1", "[]"], done.stdout + done.stderr


def test_an_error_of_another_library_reaches_the_front_end_by_its_name_only():
    """A torch error unpickled in Blender's process would import torch there."""
    import torch

    error = worker.plain_error(torch.cuda.OutOfMemoryError("CUDA out of memory"))
    assert type(error) is RuntimeError and str(error) == "OutOfMemoryError: CUDA out of memory"
    kept = worker.plain_error(ValueError("bad"))
    assert type(kept) is ValueError and str(kept) == "bad"
