"""The off-chain processes of the task network: executors and the aggregator (docs/compute-network.md).

An :class:`Executor` (one per operator) polls the mailbox for ``TaskCreated`` events of its
executor set from a cursor kept on disk (restart-safe: a task is answered at most once per cursor
advance, and the cursor moves only past tasks whose answer was handed on), fetches the image the
task type names from a local directory by digest, runs it with :func:`execute_task` (the image's
digest is checked before anything is unpacked), and signs the output (its certificate share) with
the operator's key. The :class:`Aggregator` collects signed responses, checks each share against
the executor set, groups them by result and, once one result's signed stake meets the task type's
threshold, builds the certificate and submits it; responses for any other result are kept on disk
as fault evidence (with their receipts).

Everything chain-facing goes through two small protocols (:class:`MailboxView` for executors,
:class:`MailboxCertifier` for the aggregator), implemented over web3 by
:class:`offchain.chain.task_mailbox.Web3TaskMailbox` (the chain package sits above this one).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from offchain.compute.errors import ImageError, SandboxError, TaskRunError
from offchain.compute.executor import Enclave, execute_task
from offchain.compute.sandbox import Limits
from offchain.errors import EigenError
from offchain.httpservice import HTTPError, read_json

IMAGE_SUFFIXES = ("", ".tar", ".oci", ".tar.gz")
MAX_RESPONSE_BODY = 1 << 20  # a response with its receipt (evidence, certificates) is tens of KiB


@dataclass(frozen=True)
class Task:
    """A ``TaskCreated`` event."""

    task_hash: bytes
    task_type: int
    operator_set_id: int
    reference_block: int
    deadline: int
    payload: bytes
    block: int


@dataclass(frozen=True)
class TaskType:
    image_digest: bytes
    operator_set_id: int
    cert_kind: int
    threshold_bps: int
    active: bool
    app_id: bytes = bytes(32)  # the ComputeAVS app: receipts name it (a receipt fault proof checks it)


@dataclass(frozen=True)
class Share:
    """One executor's signature over a result: ``signature`` is 65 bytes r||s||v (ECDSA) or a G1
    point's encoding (BLS); ``key`` is the signing key address (ECDSA) or the operator id (BLS)."""

    key: bytes
    signature: bytes


@dataclass(frozen=True)
class Response:
    task_hash: bytes
    operator: str
    result: bytes
    share: Share
    receipt: dict[str, Any]
    image_digest: str

    def to_json(self) -> dict[str, Any]:
        return {
            "task_hash": "0x" + self.task_hash.hex(),
            "operator": self.operator,
            "result": "0x" + self.result.hex(),
            "share": {"key": "0x" + self.share.key.hex(), "signature": "0x" + self.share.signature.hex()},
            "receipt": self.receipt,
            "image_digest": self.image_digest,
        }

    @classmethod
    def from_json(cls, obj: Any) -> Response:
        """The inverse of :meth:`to_json`; anything malformed is a :class:`TaskRunError`."""
        if not isinstance(obj, dict):
            raise TaskRunError("a response is a JSON object")
        share = obj.get("share")
        if not isinstance(share, dict):
            raise TaskRunError("a response needs a share object {key, signature}")
        receipt, digest, op = obj.get("receipt"), obj.get("image_digest"), obj.get("operator")
        if not isinstance(receipt, dict) or not isinstance(digest, str) or not isinstance(op, str):
            raise TaskRunError("a response needs operator, receipt (object) and image_digest (string)")
        h = _hex(obj.get("task_hash"), "task_hash")
        if len(h) != 32:
            raise TaskRunError("task_hash must be 32 bytes")
        return cls(
            h,
            op,
            _hex(obj.get("result"), "result"),
            Share(_hex(share.get("key"), "share.key"), _hex(share.get("signature"), "share.signature")),
            receipt,
            digest,
        )


def _hex(v: Any, name: str) -> bytes:
    if not isinstance(v, str) or not v.startswith("0x"):
        raise TaskRunError(f"{name} must be a 0x-prefixed hex string")
    try:
        return bytes.fromhex(v[2:])
    except ValueError:
        raise TaskRunError(f"{name} is not hex") from None


class MailboxView(Protocol):
    def head(self) -> int: ...
    def tasks_created(self, from_block: int, to_block: int) -> list[Task]: ...
    def task_type(self, task_type: int) -> TaskType: ...
    def digest(self, task_hash: bytes, result: bytes) -> bytes: ...
    @property
    def chain_id(self) -> int: ...


class Signer(Protocol):
    operator: str

    def sign(self, task: Task, kind: int, digest: bytes) -> Share: ...


@dataclass(frozen=True)
class Certified:
    task_hash: bytes
    result: bytes
    signers: list[str]
    signed_stake: int
    total_stake: int
    certificate: bytes = b""
    signer_ids: tuple[bytes, ...] = ()
    tx: Any = None
    record: bytes = bytes(32)


class MailboxCertifier(Protocol):
    def check_share(self, response: Response) -> None:
        """Raise unless the share is the operator's valid signature over the response's result."""

    def try_certify(self, task_hash: bytes, result: bytes, shares: list[Share]) -> Certified | None:
        """Build the certificate; None while the signed stake is below the threshold."""

    def submit(self, certified: Certified, shares: list[Share], record: bytes = bytes(32)) -> Certified: ...

    def status(self, task_hash: bytes) -> str:
        """NONE, CREATED, VERIFIED or EXPIRED."""

    def refund(self, task_hash: bytes) -> Any:
        """``refundFee`` for an expired task; returns the transaction hash."""

    def prove_fault(self, certified: Certified, response: Response) -> Any:
        """Submit the fault proof of ``response`` (a share over another result than the certified
        one); returns the transaction hash. A refusal (a non-deterministic task, a fault already
        proven) raises an :class:`offchain.errors.EigenError`."""


# ---- images -------------------------------------------------------------------------------------


class ImageStore:
    """Images in a directory, named by digest: ``<hex>`` (an OCI layout folder or a docker-archive
    / OCI tar, optionally with ``.tar``, ``.oci`` or ``.tar.gz``) or ``sha256-<hex>`` likewise.
    The name is only where to look: :func:`execute_task` checks the content's digest."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise TaskRunError(f"image directory {self.root} is not a folder")

    def path(self, digest: bytes) -> Path:
        hexd = digest.hex()
        for stem in (hexd, f"sha256-{hexd}", f"sha256:{hexd}"):
            for suffix in IMAGE_SUFFIXES:
                p = self.root / (stem + suffix)
                if p.exists():
                    return p
        raise TaskRunError(f"no image sha256:{hexd} in {self.root}")


# ---- the executor -------------------------------------------------------------------------------


@dataclass
class Failure:
    task_hash: bytes
    error: str
    kind: str


@dataclass
class Executor:
    """One operator's executor. ``sink`` receives each signed response (the aggregator's ``add``,
    or an HTTP client posting to it); ``state`` is the cursor file (JSON)."""

    mailbox: MailboxView
    signer: Signer
    images: ImageStore
    operator_set_id: int
    enclave: Callable[[bytes], Enclave]
    sink: Callable[[Response], Any]
    state: Path
    start_block: int = 0
    limits: Limits | None = None
    workdir: str | Path | None = None
    bwrap: str | None = None
    uid: int | None = None
    run: Callable[..., Any] = execute_task
    failures: list[Failure] = field(default_factory=list)
    # Given: asked before a task is run; a string says why it is not answered yet (e.g. its fee is not
    # held in escrow: offchain.agent.taskfee.EscrowFeeGate). Such a task is held back and asked again
    # at each poll until it is admitted or expires (in memory: a restarted executor does not see
    # tasks it held back before its cursor).
    admit: Callable[[Task], str | None] | None = None
    held: dict[bytes, Task] = field(default_factory=dict)

    def cursor(self) -> int:
        try:
            data = json.loads(self.state.read_text())
        except FileNotFoundError:
            return self.start_block
        except (OSError, ValueError) as exc:
            raise TaskRunError(f"executor state {self.state} is unreadable: {exc}") from exc
        nb = data.get("next_block") if isinstance(data, dict) else None
        if isinstance(nb, bool) or not isinstance(nb, int) or nb < 0:
            raise TaskRunError(f"executor state {self.state} holds no next_block")
        return nb

    def _save(self, next_block: int) -> None:
        tmp = self.state.with_name(self.state.name + ".tmp")
        tmp.write_text(json.dumps({"next_block": next_block}) + "\n")
        os.replace(tmp, self.state)

    def poll(self) -> list[Response]:
        """Answer every task created since the cursor up to the head; returns the responses."""
        start, head = self.cursor(), self.mailbox.head()
        if head < start:
            return []
        out: list[Response] = []
        for t in list(self.held.values()):  # held back until admitted: asked again
            r = self.handle(t)
            if r is not None:
                self.sink(r)
                out.append(r)
        tasks = [
            t for t in self.mailbox.tasks_created(start, head) if t.operator_set_id == self.operator_set_id
        ]
        for block in sorted({t.block for t in tasks}):
            for t in (t for t in tasks if t.block == block):
                r = self.handle(t)
                if r is not None:
                    self.sink(r)
                    out.append(r)
            self._save(block + 1)
        self._save(head + 1)
        return out

    def handle(self, task: Task) -> Response | None:
        """Run one task; a refused image or a sandbox failure is recorded (no response: the
        executor does not sign what it could not run) and the loop goes on. A task that `admit`
        refuses is held back (recorded once, kind ``TaskNotAdmitted``) and asked again at the next
        poll."""
        head = self.mailbox.head()
        retried = self.held.pop(task.task_hash, None) is not None
        if head >= task.deadline:  # a result can land in block head + 1 at the earliest
            self.failures.append(
                Failure(
                    task.task_hash,
                    f"task expired (deadline block {task.deadline}, head {head}): not run",
                    "TaskExpired",
                )
            )
            return None
        why = None if self.admit is None else self.admit(task)
        if why is not None:
            self.held[task.task_hash] = task
            if not retried:
                self.failures.append(Failure(task.task_hash, f"held back: {why}", "TaskNotAdmitted"))
            return None
        tt = self.mailbox.task_type(task.task_type)
        digest = "sha256:" + tt.image_digest.hex()
        try:
            image = self.images.path(tt.image_digest)
            outcome = self.run(
                image,
                digest,
                task.payload,
                enclave=self.enclave,
                limits=self.limits,
                chain_id=self.mailbox.chain_id,
                app_id=tt.app_id,
                workdir=self.workdir,
                bwrap=self.bwrap,
                uid=self.uid,
            )
        except (ImageError, SandboxError, TaskRunError) as exc:
            self.failures.append(Failure(task.task_hash, str(exc), type(exc).__name__))
            return None
        share = self.signer.sign(task, tt.cert_kind, self.mailbox.digest(task.task_hash, outcome.output))
        return Response(
            task.task_hash,
            self.signer.operator,
            outcome.output,
            share,
            outcome.receipt.to_json(),
            outcome.image_digest,
        )


# ---- the aggregator -----------------------------------------------------------------------------


@dataclass
class Aggregator:
    """Collects signed responses; certifies the first result whose signed stake meets the
    threshold; keeps every response for another result in ``evidence/<taskHash>.json`` and, with
    ``prove_faults``, turns each into a fault proof (the TaskSlasher slashes its signer). With a
    ``recorder`` (certified, the certifying responses) -> 32-byte record (a DA certificate's hash),
    each certified task is recorded before its result is submitted, and the record goes with it."""

    certifier: MailboxCertifier
    evidence: Path
    prove_faults: bool = True
    recorder: Callable[[Certified, list[Response]], bytes] | None = None
    groups: dict[bytes, dict[bytes, dict[str, Response]]] = field(default_factory=dict)
    done: dict[bytes, Certified] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)  # the HTTP app and expiry

    def add(self, response: Response) -> Certified | None:
        self.certifier.check_share(response)
        h = response.task_hash
        if h in self.done:
            if response.result != self.done[h].result:
                self._keep(h, [response])
            return None
        by_result = self.groups.setdefault(h, {})
        group = by_result.setdefault(response.result, {})
        if response.operator not in group:
            if any(response.operator in g for g in by_result.values()):
                raise TaskRunError(
                    f"operator {response.operator} answered task 0x{h.hex()} twice, differently"
                )
            group[response.operator] = response
        # else the same answer again (an executor restarted, or re-sending after a refusal): no new
        # share, but certification is tried again (a DA record or a submission that failed before)
        shares = [r.share for r in group.values()]
        cert = self.certifier.try_certify(h, response.result, shares)
        if cert is None:
            return None
        record = bytes(32) if self.recorder is None else self.recorder(cert, list(group.values()))
        cert = self.certifier.submit(cert, shares, record)
        self.done[h] = cert
        minority = [r for res, g in by_result.items() if res != response.result for r in g.values()]
        if minority:
            self._keep(h, minority)
        del self.groups[h]
        return cert

    def expire(self) -> list[bytes]:
        """Refund every pending task (answered, never certified) that has expired, and forget it;
        returns their hashes. A refund the chain refuses (already refunded by someone else) is
        not an error: the task is forgotten all the same."""
        with self.lock:
            return self._expire()

    def _expire(self) -> list[bytes]:
        out = []
        for h in list(self.groups):
            if self.certifier.status(h) != "EXPIRED":
                continue
            try:
                self.certifier.refund(h)
            except EigenError as exc:
                if "already refunded" not in str(exc):
                    raise
            del self.groups[h]
            out.append(h)
        return out

    def app(self, body_limit: int = MAX_RESPONSE_BODY) -> Starlette:
        """The aggregator's HTTP endpoint: ``POST /v1/responses`` with a response's JSON
        (:meth:`Response.to_json`) -> ``{"certified": bool, "task_hash", "tx"}``; a malformed or
        refused response is 400 / 422 with the reason, a chain failure 502."""

        def add(r: Response) -> Certified | None:
            with self.lock:
                return self.add(r)

        async def post(request: Request) -> JSONResponse:
            try:
                r = Response.from_json(await read_json(request, body_limit))
            except TaskRunError as exc:
                return HTTPError(400, str(exc)).response()
            except HTTPError as exc:
                return exc.response()
            try:
                cert = await run_in_threadpool(add, r)
            except TaskRunError as exc:
                return HTTPError(422, str(exc), code="response_refused").response()
            except EigenError as exc:
                return HTTPError(502, str(exc), type="upstream_error").response()
            done = self.done.get(r.task_hash)
            return JSONResponse(
                {
                    "task_hash": "0x" + r.task_hash.hex(),
                    "certified": done is not None,
                    "by_this": cert is not None,
                    "tx": "0x" + bytes(done.tx).hex() if done is not None and done.tx is not None else None,
                }
            )

        return Starlette(routes=[Route("/v1/responses", post, methods=["POST"])])

    def _keep(self, task_hash: bytes, responses: list[Response]) -> None:
        self.evidence.mkdir(parents=True, exist_ok=True)
        path = self.evidence / f"0x{task_hash.hex()}.json"
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            c = self.done[task_hash]
            data = {
                "task_hash": "0x" + task_hash.hex(),
                "certified_result": "0x" + c.result.hex(),
                "certified_signers": c.signers,
                "responses": [],
            }
        for r in responses:
            entry = r.to_json()
            if self.prove_faults:
                entry["fault_proof"] = self._prove(self.done[task_hash], r)
            data["responses"].append(entry)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=1) + "\n")
        os.replace(tmp, path)

    def _prove(self, certified: Certified, response: Response) -> dict[str, Any]:
        try:
            tx = self.certifier.prove_fault(certified, response)
        except EigenError as exc:  # kept with the evidence: a person (or a later run) can retry
            return {"error": str(exc), "type": type(exc).__name__}
        return {"tx": "0x" + bytes(tx).hex()}


def http_sink(url: str, timeout_s: float = 30.0) -> Callable[[Response], dict[str, Any]]:
    """An executor's ``sink`` that posts each response to an aggregator at ``url``
    (``http://host:port``); a refusal is a :class:`TaskRunError` with the aggregator's reason."""
    base = url.rstrip("/")

    def post(r: Response) -> dict[str, Any]:
        try:
            resp = httpx.post(f"{base}/v1/responses", json=r.to_json(), timeout=timeout_s)
        except httpx.HTTPError as exc:
            raise TaskRunError(f"the aggregator at {base} does not answer: {exc}") from exc
        try:
            body = resp.json()
        except ValueError:
            body = {}
        if resp.status_code != 200:
            msg = body.get("error", {}).get("message") if isinstance(body, dict) else None
            raise TaskRunError(
                f"the aggregator refused the response ({resp.status_code}): {msg or resp.text[:200]}"
            )
        return body  # type: ignore[no-any-return]

    return post


__all__ = [
    "Aggregator",
    "Certified",
    "Executor",
    "Failure",
    "ImageStore",
    "MailboxCertifier",
    "MailboxView",
    "Response",
    "Share",
    "Signer",
    "Task",
    "TaskType",
    "http_sink",
]
