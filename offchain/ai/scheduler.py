"""Continuous batching: requests join the engine's running batch between steps.

One engine thread runs the loop. Each step it admits waiting jobs (up to ``max_batch`` active), then
builds ONE forward pass from every active job: a prompt chunk for a job still in prefill, the token it
just sampled for a job in decode. The engine is exact and row-local, so each job's logits, tokens and
receipt are the same bits as when it runs alone (tested through the server). A job that is cancelled
(its client went away) or runs past its deadline leaves the batch at the next step and its KV cache is
dropped; the waiting queue is bounded (:class:`QueueFull` -> HTTP 429).

Events go to each job's ``sink`` (called on the engine thread; the server forwards them to its event
loop): :class:`TokenEvent` per sampled token, then exactly one :class:`DoneEvent` (the signed
completion) or :class:`FailedEvent` (timeout, cancellation, engine error).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from offchain.abi import ZERO_ADDRESS
from offchain.ai.errors import SchedulerError
from offchain.ai.generate import Request, Transcript
from offchain.ai.options import Decoder, RequestOptions
from offchain.ai.receipt import (
    ENGINE_ID,
    FINISH_LENGTH,
    FINISH_STOP,
    FINISH_STOP_SEQUENCE,
    logits_hash,
    request_digest,
)
from offchain.ai.sampler import SamplingParams, logprobs, sample
from offchain.ai.service import Completion, InferenceService
from offchain.httpservice import logger

log = logger("ai.scheduler")

DEFAULT_PREFILL_CHUNK = 256  # prompt tokens per step for one job, so long prompts do not stall decodes


class QueueFull(SchedulerError):
    """The waiting queue is at its bound; retry later."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"the server is at capacity; retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class TokenEvent:
    step: int
    token: int
    logprob: float | None = None  # of the sampled token (when the job asked for logprobs)
    top: tuple[tuple[int, float], ...] = ()


@dataclass(frozen=True)
class DoneEvent:
    completion: Completion


@dataclass(frozen=True)
class FailedEvent:
    reason: str  # "timeout", "cancelled", "error"
    message: str


Event = TokenEvent | DoneEvent | FailedEvent


@dataclass(eq=False)
class Job:
    prompt: tuple[int, ...]
    params: SamplingParams
    sink: Callable[[Event], None]
    client: str = ZERO_ADDRESS
    top_logprobs: int | None = None  # None: no logprobs; k >= 0: the token's logprob and the top k
    timeout_s: float | None = None
    options: RequestOptions | None = None  # stop/penalties/bias/grammar: a version 3 receipt
    # engine-thread state
    submitted: float = field(default_factory=time.monotonic)
    digest: bytes = b""
    cache: Any = None
    fed: int = 0
    last: np.ndarray | None = None
    tokens: list[int] = field(default_factory=list)
    hashes: list[bytes] = field(default_factory=list)
    cancelled: bool = False
    finished: bool = False
    decoder: Decoder | None = None

    def expired(self, now: float) -> bool:
        return self.timeout_s is not None and now - self.submitted > self.timeout_s


class Scheduler:
    """The engine loop of a service. ``submit`` from any thread; ``cancel`` a job whose client left."""

    def __init__(
        self,
        svc: InferenceService,
        *,
        max_batch: int = 16,
        max_queue: int = 64,
        prefill_chunk: int | None = None,
    ) -> None:
        if max_batch < 1 or max_queue < 0:
            raise SchedulerError("max_batch must be >= 1 and max_queue >= 0")
        chunk = prefill_chunk or svc.prefill_chunk or DEFAULT_PREFILL_CHUNK
        if chunk < 1:
            raise SchedulerError("prefill_chunk must be >= 1")
        self.svc = svc
        self.max_batch = max_batch
        self.max_queue = max_queue
        self.prefill_chunk = chunk
        self.cond = threading.Condition()
        self.waiting: deque[Job] = deque()
        self.active: list[Job] = []
        self.stopping = False
        self.steps = 0
        self.peak_batch = 0  # the most sequences one forward pass has carried
        self.tokens_out = 0
        self.step_seconds = 0.0  # moving average of a step's duration (for Retry-After)
        self.thread = threading.Thread(target=self._loop, name="ai-scheduler", daemon=True)
        self.thread.start()

    # -- API (any thread) -------------------------------------------------------------------------

    def submit(self, job: Job) -> Job:
        """Queue ``job``; raises :class:`QueueFull` when ``max_queue`` jobs already wait."""
        ctx = self.svc.engine.config.context_length
        if not job.prompt:
            raise SchedulerError("empty prompt")
        if len(job.prompt) + job.params.max_tokens > ctx:
            raise SchedulerError(f"prompt ({len(job.prompt)}) + max_tokens ({job.params.max_tokens}) > {ctx}")
        with self.cond:
            if self.stopping:
                raise SchedulerError("the scheduler is shut down")
            free = self.max_batch - len(self.active)
            if len(self.waiting) >= self.max_queue + max(free, 0):
                raise QueueFull(self.retry_after())
            self.waiting.append(job)
            self.cond.notify()
        return job

    def submit_all(self, jobs: list[Job]) -> list[Job]:
        """Queue all of ``jobs`` or none of them."""
        with self.cond:
            free = self.max_batch - len(self.active)
            if len(self.waiting) + len(jobs) > self.max_queue + max(free, 0):
                raise QueueFull(self.retry_after())
            for j in jobs:
                self.submit(j)
        return jobs

    def cancel(self, job: Job) -> None:
        with self.cond:
            job.cancelled = True
            self.cond.notify()

    def retry_after(self) -> int:
        """Seconds after which a refused request may find room: the queue's expected drain time."""
        per = self.step_seconds or 0.05
        backlog = len(self.waiting) + len(self.active)
        return max(1, min(60, int(per * 32 * max(backlog, 1) / self.max_batch) + 1))

    def stats(self) -> dict[str, Any]:
        with self.cond:
            return {
                "active": len(self.active),
                "waiting": len(self.waiting),
                "max_batch": self.max_batch,
                "max_queue": self.max_queue,
                "steps": self.steps,
                "peak_batch": self.peak_batch,
                "tokens_out": self.tokens_out,
            }

    def close(self, timeout_s: float = 10.0) -> None:
        with self.cond:
            self.stopping = True
            for j in (*self.waiting, *self.active):
                j.cancelled = True
            self.cond.notify()
        self.thread.join(timeout_s)

    # -- engine thread ----------------------------------------------------------------------------

    def _admit(self) -> list[Job]:
        """Under the lock: drop cancelled/expired waiting jobs, move waiting jobs into the batch."""
        now = time.monotonic()
        dropped = []
        keep: deque[Job] = deque()
        for j in self.waiting:
            (dropped if j.cancelled or j.expired(now) else keep).append(j)
        self.waiting = keep
        while self.waiting and len(self.active) < self.max_batch:
            self.active.append(self.waiting.popleft())
        return dropped

    def _emit(self, job: Job, ev: Event) -> None:
        """Deliver an event; a sink that fails (its listener is gone) cancels its job, never the loop."""
        try:
            job.sink(ev)
        except Exception as exc:
            job.cancelled = True
            log.warning("event_undeliverable", extra={"error": f"{type(exc).__name__}: {exc}"})

    def _fail(self, job: Job, now: float) -> None:
        job.finished = True
        job.cache = None
        if job.cancelled:
            self._emit(job, FailedEvent("cancelled", "the client went away"))
            log.info("generation_cancelled", extra={"generated": len(job.tokens)})
        else:
            self._emit(job, FailedEvent("timeout", f"request timed out after {job.timeout_s} s"))
            log.info("generation_timeout", extra={"generated": len(job.tokens), "timeout_s": job.timeout_s})

    def _loop(self) -> None:
        svc = self.svc
        eos = svc.tokenizer.eos_id
        while True:
            with self.cond:
                while not self.stopping and not self.waiting and not self.active:
                    self.cond.wait()
                if self.stopping:
                    jobs = [*self.waiting, *self.active]
                    self.waiting.clear()
                    self.active.clear()
                    for j in jobs:
                        j.cancelled = True
                        self._fail(j, 0.0)
                    return
                dropped = self._admit()
                batch = list(self.active)
            now = time.monotonic()
            for j in dropped:
                self._fail(j, now)
            t0 = time.perf_counter()
            items: list[tuple[Any, list[int]]] = []
            fed: list[tuple[Job, int | None]] = []
            leaving: list[Job] = []
            for j in batch:
                if j.cancelled or j.expired(now):
                    self._fail(j, now)
                    leaving.append(j)
                    continue
                try:
                    if j.cache is None:
                        j.cache = svc.engine.new_cache()
                        j.digest = request_digest(
                            svc.model.sha256, svc.tokenizer.hash, ENGINE_ID, j.params, j.prompt
                        )
                        if j.options is not None:
                            j.decoder = Decoder(j.options, svc.tokenizer)
                    if j.fed < len(j.prompt):
                        end = min(len(j.prompt), j.fed + self.prefill_chunk)
                        items.append((j.cache, list(j.prompt[j.fed : end])))
                        fed.append((j, end))
                        continue
                    assert j.last is not None
                    step = len(j.tokens)
                    dec = j.decoder
                    if dec is None:
                        tok = sample(j.last, j.params, j.digest, step)
                    else:  # options: adjusted logits, the grammar's mask; the raw logits are committed
                        tok = sample(dec.logits(j.last), j.params, j.digest, step, dec.allowed())
                        dec.accept(tok)
                    j.tokens.append(tok)
                    j.hashes.append(logits_hash(j.last))
                    if j.top_logprobs is not None:
                        lp, top = logprobs(j.last, tok, j.top_logprobs)
                        self._emit(j, TokenEvent(step, tok, lp, tuple(top)))
                    else:
                        self._emit(j, TokenEvent(step, tok))
                    self.tokens_out += 1
                    stop_seq = dec is not None and dec.stop_hit
                    if tok == eos or stop_seq or len(j.tokens) >= j.params.max_tokens:
                        finish = (
                            FINISH_STOP if tok == eos else FINISH_STOP_SEQUENCE if stop_seq else FINISH_LENGTH
                        )
                        tr = Transcript(
                            Request(j.prompt, j.params), j.digest, j.tokens, j.hashes, finish, True
                        )
                        j.finished, j.cache, j.last = True, None, None
                        self._emit(j, DoneEvent(svc.sign(tr, j.client, j.options)))
                        leaving.append(j)
                    else:
                        items.append((j.cache, [tok]))
                        fed.append((j, None))
                except Exception as exc:  # a job's own failure (a bad model step) fails that job only
                    log.error("generation_failed", extra={"error": f"{type(exc).__name__}: {exc}"})
                    j.finished, j.cache = True, None
                    self._emit(j, FailedEvent("error", str(exc)))
                    leaving.append(j)
            if items:
                try:
                    with svc.lock:
                        outs = svc.engine.forward(items)
                except Exception as exc:
                    log.error("engine_step_failed", extra={"error": f"{type(exc).__name__}: {exc}"})
                    for j, _ in fed:
                        j.finished, j.cache = True, None
                        self._emit(j, FailedEvent("error", str(exc)))
                        leaving.append(j)
                    outs = []
                for (j, end), lg in zip(fed, outs, strict=False):
                    if end is not None:
                        j.fed = end
                        if end == len(j.prompt):
                            j.last = lg[-1]
                    else:
                        j.last = lg[-1]
            dt = time.perf_counter() - t0
            with self.cond:
                for j in leaving:
                    if j in self.active:
                        self.active.remove(j)
                if items:
                    self.steps += 1
                    self.peak_batch = max(self.peak_batch, len(items))
                    self.step_seconds = dt if not self.step_seconds else 0.9 * self.step_seconds + 0.1 * dt
