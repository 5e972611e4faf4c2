"""The continuous-batching scheduler on its own: bad jobs, a failing listener, the bounded queue."""

import threading

import pytest

from offchain.ai.errors import SchedulerError
from offchain.ai.sampler import SamplingParams
from offchain.ai.scheduler import DoneEvent, FailedEvent, Job, QueueFull, Scheduler, TokenEvent
from tests.offchain.ai.support import tiny_service


def _job(svc, max_tokens=6, seed=0, sink=None):
    done = threading.Event()
    events = []

    def collect(ev):
        events.append(ev)
        if isinstance(ev, DoneEvent | FailedEvent):
            done.set()

    prompt = svc.prompt_tokens(None, "hello there")
    job = Job(
        prompt, SamplingParams.from_user(seed=seed, temperature=1, max_tokens=max_tokens), sink or collect
    )
    return job, events, done


def test_a_failing_listener_cancels_its_job_and_spares_the_others():
    svc = tiny_service()
    sch = Scheduler(svc, max_batch=4)
    try:

        def explode(ev):
            if isinstance(ev, TokenEvent):
                raise RuntimeError("listener gone")

        bad, _, _ = _job(svc, max_tokens=50, sink=explode)
        good, events, done = _job(svc, seed=1)
        sch.submit(bad)
        sch.submit(good)
        assert done.wait(30)
        comp = events[-1].completion
        solo = svc.complete(good.prompt, good.params)
        assert comp.receipt == solo.receipt
        assert [e.token for e in events if isinstance(e, TokenEvent)] == list(solo.receipt.output_tokens)
        assert bad.cancelled
    finally:
        sch.close()


def test_bad_jobs_and_the_bounded_queue():
    svc = tiny_service()
    with pytest.raises(SchedulerError):
        Scheduler(svc, max_batch=0)
    sch = Scheduler(svc, max_batch=1, max_queue=1)
    try:
        empty, _, _ = _job(svc)
        with pytest.raises(SchedulerError):
            sch.submit(Job((), empty.params, empty.sink))
        with pytest.raises(SchedulerError):
            sch.submit(Job((5,) * 251, empty.params, empty.sink))  # 251 + 6 > 256
        jobs = [_job(svc, max_tokens=200, seed=i) for i in range(3)]
        with pytest.raises(QueueFull) as ei:
            sch.submit_all([j for j, _, _ in jobs])  # all or nothing: 1 running + 1 waiting at most
        assert ei.value.retry_after_s >= 1
        assert sch.stats()["waiting"] == 0
        for j, _, _ in jobs[:2]:
            sch.submit(j)
        with pytest.raises(QueueFull):
            sch.submit(jobs[2][0])
        for j, _, done in jobs[:2]:
            sch.cancel(j)
            assert done.wait(30)
        assert all(isinstance(ev[-1], FailedEvent) and ev[-1].reason == "cancelled" for _, ev, _ in jobs[:2])
    finally:
        sch.close()
    with pytest.raises(SchedulerError):
        sch.submit(_job(svc)[0])  # shut down
