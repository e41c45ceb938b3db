"""The worker's message protocol (``jobs.protocol``): use cases as the work, outcomes that are job states."""

import pickle

import numpy as np

from neurep_addon.jobs.cases import FillHoles
from neurep_addon.jobs.kinds import JobState
from neurep_addon.jobs.protocol import OUTCOMES, Cancel, Kind, Reply, Request


def test_the_outcomes_are_the_states_a_job_ends_in():
    assert {JobState(kind) for kind in OUTCOMES} == set(JobState) - {JobState.RUNNING}
    assert [kind for kind in Kind if kind.ends] == [Kind.FINISHED, Kind.CANCELLED, Kind.FAILED]
    assert not any(kind.ends for kind in (Kind.PROGRESS, Kind.PREVIEW, Kind.LOG))


def test_messages_cross_by_pickle_as_they_were():
    request = Request(FillHoles(vertices=np.eye(3), faces=np.zeros((1, 3), int), config=None, max_hole_size=0.5), threads=2)
    copy = pickle.loads(pickle.dumps(request))
    assert type(copy.case) is FillHoles and copy.threads == 2 and copy.case.max_hole_size == 0.5
    assert np.array_equal(copy.case.vertices, np.eye(3))
    assert pickle.loads(pickle.dumps(Cancel())) == Cancel()
    reply = pickle.loads(pickle.dumps(Reply(Kind.PROGRESS, (1, 2))))
    assert reply == Reply(Kind.PROGRESS, (1, 2)) and reply.kind is Kind.PROGRESS
