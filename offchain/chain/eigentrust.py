"""EigenTrust on the compute network, from the chain's side (docs/compute-network.md, "EigenTrust").

- :class:`EigenTrustVerifier`: anyone's re-execution of an EigenTrust task. It reads the task's input
  from its ``TaskCreated`` event, recomputes the result with the reference implementation
  (:mod:`offchain.compute.eigentrust`, exact, so "recomputed" means "the same bytes"), compares the
  certified result with it, and turns every member's signed response that the recomputation
  contradicts into the TaskSlasher's share fault proof: the operator that signed a wrong score vector
  is slashed because the arithmetic says so, not because it was outvoted; and when the certified
  result itself is wrong, a correct response's enclave receipt proves it (``proveReceiptFault``: the
  certifiers are slashed).
- :class:`ScoreRegistry`: the ``EigenTrustScores`` contract's client (publish an epoch from its
  certified task; read a peer's score with its proof).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from web3 import Web3

from offchain.chain.errors import ChainInputError
from offchain.chain.sdk import Deployment, send
from offchain.chain.task_mailbox import Web3TaskMailbox
from offchain.compute.eigentrust import EigenTrustResult, Scores, run
from offchain.compute.errors import EigenTrustError
from offchain.compute.receipt import ReceiptBundle
from offchain.compute.taskrun import Certified, Response
from offchain.errors import EigenError


@dataclass
class Audit:
    """What a re-execution found for one task: the recomputed result (None when the input is no
    trust graph: then no result is right, ``input_error`` says why), the certified one, and per
    response checked the verdict and, for a wrong one, the fault proof's transaction or refusal."""

    task_hash: bytes
    expected: bytes | None
    input_error: str | None
    certified: bytes
    responses: list[dict[str, Any]] = field(default_factory=list)

    @property
    def certified_ok(self) -> bool:
        return self.expected is not None and self.certified == self.expected

    def to_json(self) -> dict[str, Any]:
        return {
            "task_hash": "0x" + self.task_hash.hex(),
            "expected": None if self.expected is None else "0x" + self.expected.hex(),
            "input_error": self.input_error,
            "certified": "0x" + self.certified.hex(),
            "certified_ok": self.certified_ok,
            "responses": self.responses,
        }


class EigenTrustVerifier:
    """Re-executes EigenTrust tasks of ``mailbox`` (a :class:`Web3TaskMailbox`; its account sends
    the fault proofs)."""

    def __init__(self, mailbox: Web3TaskMailbox) -> None:
        self.mailbox = mailbox

    def recompute(self, task_hash: bytes) -> tuple[bytes | None, str | None]:
        """The task's result as the reference computes it from its on-chain input, or (None, why)."""
        try:
            return run(self.mailbox.payload(task_hash)), None
        except EigenTrustError as exc:
            return None, f"{type(exc).__name__}: {exc}"

    def audit(self, task_hash: bytes, responses: list[Response] = (), *, prove: bool = True) -> Audit:
        """Recompute ``task_hash`` (VERIFIED) and judge the certified result and each response (a
        member's signed answer, e.g. from the aggregator's evidence file). A response whose share does
        not verify is recorded as ``forged`` and proves nothing; one that contradicts the recomputation
        and differs from the certified result is proven (``prove``) with ``proveShareFault``."""
        got = self.mailbox.result(task_hash)
        expected, why = self.recompute(task_hash)
        audit = Audit(task_hash, expected, why, got["result"])
        certified = Certified(
            task_hash, got["result"], list(got["signers"]), got["signed_stake"], got["total_stake"]
        )
        correct: list[tuple[dict[str, Any], Response]] = []
        for r in responses:
            entry: dict[str, Any] = {"operator": r.operator, "result": "0x" + r.result.hex()}
            audit.responses.append(entry)
            if r.task_hash != task_hash:
                entry["verdict"] = "other task"
                continue
            try:
                self.mailbox.check_share(r)
            except EigenError as exc:
                entry.update(verdict="forged", error=str(exc))
                continue
            if expected is not None and r.result == expected:
                entry["verdict"] = "correct"
                correct.append((entry, r))
            elif r.result == certified.result:
                entry["verdict"] = "wrong, as certified"  # provable only with a receipt over the right output
            else:
                entry["verdict"] = "wrong"
                if prove:
                    try:
                        tx = self.mailbox.prove_fault(certified, r)
                    except EigenError as exc:
                        entry["fault_proof"] = {"error": str(exc), "type": type(exc).__name__}
                    else:
                        entry["fault_proof"] = {"tx": "0x" + bytes(tx).hex()}
        if prove and expected is not None and not audit.certified_ok:
            # the certified result is wrong: an enclave receipt over the right output proves it
            for entry, r in correct:
                try:
                    tx = self.prove_receipt_fault(task_hash, r, list(got["signers"]))
                except (EigenError, ValueError) as exc:
                    entry["receipt_fault_proof"] = {"error": str(exc), "type": type(exc).__name__}
                else:
                    entry["receipt_fault_proof"] = {"tx": "0x" + bytes(tx).hex()}
                    break
        return audit

    def prove_receipt_fault(self, task_hash: bytes, response: Response, accepted_signers: list[str]) -> Any:
        """The TaskSlasher's receipt fault proof (``proveReceiptFault``) with ``response``'s enclave
        receipt (it must bind the task's input and an output other than the certified one, and its
        enclave key must be enrolled for the app and image): the certifiers are slashed. Returns the
        transaction hash."""
        bundle = ReceiptBundle.loads(json.dumps(response.receipt))
        return self.mailbox.prove_receipt_fault(task_hash, bundle, accepted_signers)


class ScoreRegistry:
    """The ``EigenTrustScores`` contract at ``address`` (default: the deployment's
    ``eigentrust_scores``); ``account`` sends ``publish``."""

    def __init__(self, d: Deployment, address: str | None = None, account: Any = None) -> None:
        self.d = d
        self.contract = d.contract("eigentrust_scores", address)
        self.account = account

    def publish(self, task_hash: bytes, result: bytes) -> Any:
        """``publish`` the certified ``result`` of ``task_hash`` as its epoch's scores; returns the
        transaction hash (a refusal is a ChainRevertError with the contract's reason)."""
        if self.account is None:
            raise ChainInputError("publishing scores needs an account")
        r = EigenTrustResult.decode(result)
        fn = self.contract.functions.publish(task_hash, r.epoch, r.root, r.peers, r.iterations)
        return send(self.d, self.account, fn, "publish")["transactionHash"]

    def epoch(self, epoch: int) -> dict[str, Any]:
        task_hash, root, peers, iterations = self.contract.functions.epochScores(epoch).call()
        if bytes(root) == bytes(32):
            raise ChainInputError(f"no scores published for epoch {epoch}")
        return {
            "epoch": epoch,
            "task_hash": "0x" + bytes(task_hash).hex(),
            "root": "0x" + bytes(root).hex(),
            "peers": int(peers),
            "iterations": int(iterations),
        }

    def score_of(self, scores: Scores, peer: Any) -> int:
        """``scoreOf`` for ``peer`` in ``scores``' epoch, with its proof from the recomputed scores
        (the contract checks it against the published root and returns the score)."""
        index, score, proof = scores.proof(peer)
        words = [proof[k : k + 32] for k in range(0, len(proof), 32)]
        addr = Web3.to_checksum_address(scores.graph.peers[index])
        return int(self.contract.functions.scoreOf(scores.graph.epoch, addr, score, index, words).call())
