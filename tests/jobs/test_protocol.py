"""The worker's message protocol (``jobs.protocol``): one kind of work per mode, outcomes that are job states."""

import pickle

import numpy as np

from neurep_addon.jobs import worker
from neurep_addon.jobs.protocol import OUTCOMES, Cancel, Kind, Reply, Request, Work
from neurep_addon.jobs.kinds import JobState, Mode


def test_every_mode_is_a_kind_of_work_the_process_runs():
    assert {Work(mode.value) for mode in Mode} <= set(Work)
    assert set(worker.RUNS) == set(Work)


def test_the_outcomes_are_the_states_a_job_ends_in():
    assert {JobState(kind) for kind in OUTCOMES} == set(JobState) - {JobState.RUNNING}
    assert [kind for kind in Kind if kind.ends] == [Kind.FINISHED, Kind.CANCELLED, Kind.FAILED]
    assert not any(kind.ends for kind in (Kind.PROGRESS, Kind.PREVIEW, Kind.LOG))


def test_messages_cross_by_pickle_as_they_were():
    request = Request(Work.FILL_HOLES, {"vertices": np.eye(3), "max_hole_size": None}, threads=2)
    copy = pickle.loads(pickle.dumps(request))
    assert copy.work is Work.FILL_HOLES and copy.threads == 2 and np.array_equal(copy.arguments["vertices"], np.eye(3))
    assert pickle.loads(pickle.dumps(Cancel())) == Cancel()
    reply = pickle.loads(pickle.dumps(Reply(Kind.PROGRESS, (1, 2))))
    assert reply == Reply(Kind.PROGRESS, (1, 2)) and reply.kind is Kind.PROGRESS
