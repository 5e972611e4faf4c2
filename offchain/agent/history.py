"""An agent's history from the chain alone (``eigen agent history ID``): its ERC-8004 identity,
the feedback given to it, its validation requests and their answers, the TaskMailbox tasks it
created, the inference receipts it is client or operator of, the verified-escrow payments it
received or made, its x402 `exact` and `upto` payments (EIP-3009 authorized transfers of the
stablecoin, UptoSettler settlements), and the slashes proven against the work it relied on.

Everything is read from events and views of the contracts a deployment record names
(``identity_registry``, ``reputation_registry``, ``validation_registry``, ``task_mailbox``,
``task_slasher``, ``verified_escrow``, ``inference_disputes``, ``stable_token``, ``upto_settler``);
a contract the record lacks leaves its section empty. The agent's accounts are its owner and its agent wallet (ERC-8004); tasks,
receipts and payments are matched by them. With ``compute_avs`` (ComputeAVS), the identity also says
whether the agent wallet is an enclave key enrolled for the image the agent declares (metadata
``agentImage`` and ``agentApp``): the agent's steps are then the work of that image's enclave.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from eth_hash.auto import keccak
from web3.exceptions import ContractLogicError

from offchain.agent.errors import AgentNotFoundError, RecordError, RecordUnavailableError
from offchain.agent.trading import RECORD_TYPE, StepRecord
from offchain.da.errors import DAError
from offchain.da.network import client as da_client

# record key -> contract type of what the history reads
CONTRACTS = {
    "identity_registry": "IdentityRegistry",
    "reputation_registry": "ReputationRegistry",
    "validation_registry": "ValidationRegistry",
    "task_mailbox": "TaskMailbox",
    "task_slasher": "TaskSlasher",
    "verified_escrow": "VerifiedEscrow",
    "inference_disputes": "InferenceDisputes",
    "stable_token": "StableToken",
    "upto_settler": "UptoSettler",
    "compute_avs": "ComputeAVS",
}
TASK_STATUS = ("none", "created", "verified", "expired")
RECEIPT_STATUS = ("none", "registered", "challenged", "upheld", "faulty", "expired")
REFUND_REASONS = {
    1: "task expired",
    2: "deadline passed",
    3: "result mismatch",
    4: "fault proven",
    5: "receipt unresolved",
}
ESCROW_KIND_NAMES = {1: "task", 2: "inference"}
ZERO = "0x" + "00" * 20
ESCROW_CANCELLED = 3  # SlashEscrow's status of a slash its set's resolver cancelled
# A DA record named in a validation request's or a feedback's URI: eigenda:<the blob key, 64 hex>
DA_URI = re.compile(r"eigenda:(?:0x)?([0-9a-fA-F]{64})")


def _hex(b: Any) -> str:
    return "0x" + bytes(b).hex()


def _value(v: int, decimals: int) -> str:
    return str(Decimal(v).scaleb(-decimals)) if decimals else str(v)


class _Reader:
    def __init__(self, deployment: Any, from_block: int) -> None:
        self.d = deployment
        self.from_block = from_block
        self.c = {
            k: deployment.contract(k, ctype=t)
            for k, t in CONTRACTS.items()
            if isinstance(deployment.addresses.get(k), str)
        }

    def logs(self, key: str, event: str, **filters: Any) -> list[Any]:
        if key not in self.c:
            return []
        ev = getattr(self.c[key].events, event)()
        kw: dict[str, Any] = {"from_block": self.from_block}
        if filters:
            kw["argument_filters"] = filters
        return sorted(ev.get_logs(**kw), key=lambda e: (e["blockNumber"], e["logIndex"]))

    def each(self, key: str, event: str, field: str, values: list[Any]) -> list[Any]:
        out: list[Any] = []
        for v in values:
            out += self.logs(key, event, **{field: v})
        return sorted(out, key=lambda e: (e["blockNumber"], e["logIndex"]))


def _identity(r: _Reader, agent_id: int) -> tuple[dict[str, Any], list[str]]:
    if "identity_registry" not in r.c:
        raise AgentNotFoundError(f"the deployment ({r.d.source}) records no identity registry")
    ident = r.c["identity_registry"].functions
    try:
        owner = ident.ownerOf(agent_id).call()
    except ContractLogicError:
        raise AgentNotFoundError(f"no agent {agent_id} in the identity registry") from None
    wallet = ident.getAgentWallet(agent_id).call()
    reg = r.logs("identity_registry", "Registered", agentId=agent_id)
    transfers = r.logs("identity_registry", "Transfer", tokenId=agent_id)
    meta = r.logs("identity_registry", "MetadataSet", agentId=agent_id)
    out = {
        "registry": r.c["identity_registry"].address,
        "owner": owner,
        "wallet": wallet if wallet != ZERO else None,
        "uri": ident.tokenURI(agent_id).call(),
        "registered": None
        if not reg
        else {
            "block": reg[0]["blockNumber"],
            "tx": _hex(reg[0]["transactionHash"]),
            "owner": reg[0].args.owner,
        },
        "transfers": [
            {"block": e["blockNumber"], "from": e.args["from"], "to": e.args.to} for e in transfers[1:]
        ],
        "uri_updates": len(r.logs("identity_registry", "URIUpdated", agentId=agent_id)),
        "metadata": [{"key": e.args.metadataKey, "block": e["blockNumber"]} for e in meta],
    }
    accounts = [a for a in dict.fromkeys([owner, wallet]) if a != ZERO]
    return out, accounts


def _enclave(r: _Reader, agent_id: int, wallet: str | None) -> dict[str, Any] | None:
    """The image the agent declares it runs in (metadata ``agentImage``, ``agentApp``) beside what
    ComputeAVS holds of its wallet as an enclave key (enrolled for which app and image, by which
    operator, revoked or not, with the enrolment and revocation events); None when neither exists."""
    ident = r.c["identity_registry"].functions
    image, app = (bytes(ident.getMetadata(agent_id, k).call()) for k in ("agentImage", "agentApp"))
    declared = None
    if image or app:
        declared = {
            "image": "sha256:" + image.hex() if len(image) == 32 else _hex(image),
            "app": _hex(app),
        }
    enrolled = None
    if "compute_avs" in r.c and wallet is not None:
        e = r.c["compute_avs"].functions.enclaves(wallet).call()
        if e[0] != ZERO:
            events = [
                {"event": "enrolled", "block": ev["blockNumber"], "operator": ev.args.operator,
                 "image": "sha256:" + bytes(ev.args.imageDigest).hex()}
                for ev in r.logs("compute_avs", "EnclaveKeyEnrolled", enclaveKey=wallet)
            ] + [
                {"event": "revoked", "block": ev["blockNumber"], "by": ev.args.by}
                for ev in r.logs("compute_avs", "EnclaveKeyRevoked", enclaveKey=wallet)
            ]  # fmt: skip
            enrolled = {
                "operator": e[0],
                "app": _hex(e[1]),
                "image": "sha256:" + bytes(e[2]).hex(),
                "evidence_hash": _hex(e[3]),
                "enrolled_at": e[4],
                "revoked": bool(e[5]),
                "events": sorted(events, key=lambda x: x["block"]),
            }
    if declared is None and enrolled is None:
        return None
    same = declared is not None and enrolled is not None
    same = same and (declared["app"], declared["image"]) == (enrolled["app"], enrolled["image"])
    return {"declared": declared, "enrolled": enrolled, "wallet_runs_declared_image": bool(same)}


def _feedback(r: _Reader, agent_id: int) -> dict[str, Any]:
    revoked = {
        (e.args.clientAddress, e.args.feedbackIndex)
        for e in r.logs("reputation_registry", "FeedbackRevoked", agentId=agent_id)
    }
    responses: dict[tuple[str, int], int] = {}
    for e in r.logs("reputation_registry", "ResponseAppended", agentId=agent_id):
        k = (e.args.clientAddress, e.args.feedbackIndex)
        responses[k] = responses.get(k, 0) + 1
    entries = []
    for e in r.logs("reputation_registry", "NewFeedback", agentId=agent_id):
        a = e.args
        k = (a.clientAddress, a.feedbackIndex)
        entries.append(
            {
                "client": a.clientAddress,
                "index": a.feedbackIndex,
                "value": _value(a.value, a.valueDecimals),
                "tag1": a.tag1,
                "tag2": a.tag2,
                "endpoint": a.endpoint,
                "uri": a.feedbackURI,
                "revoked": k in revoked,
                "responses": responses.get(k, 0),
                "block": e["blockNumber"],
            }
        )
    live = [Decimal(x["value"]) for x in entries if not x["revoked"]]
    return {
        "count": len(live),
        "revoked": len(entries) - len(live),
        "mean": None if not live else str(sum(live) / len(live)),
        "entries": entries,
    }


def _validations(r: _Reader, agent_id: int) -> list[dict[str, Any]]:
    answers: dict[bytes, Any] = {}
    for e in r.logs("validation_registry", "ValidationResponse", agentId=agent_id):
        answers[bytes(e.args.requestHash)] = e  # the last answer counts
    out = []
    for e in r.logs("validation_registry", "ValidationRequest", agentId=agent_id):
        h = bytes(e.args.requestHash)
        ans = answers.get(h)
        out.append(
            {
                "request_hash": _hex(h),
                "validator": e.args.validatorAddress,
                "uri": e.args.requestURI,
                "block": e["blockNumber"],
                "response": None if ans is None else ans.args.response,
                "tag": None if ans is None else ans.args.tag,
                "response_hash": None if ans is None else _hex(ans.args.responseHash),
                "answered_block": None if ans is None else ans["blockNumber"],
            }
        )
    return out


def _tasks(r: _Reader, accounts: list[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    tasks, slashes = [], []
    mailbox = r.c.get("task_mailbox")
    for e in r.each("task_mailbox", "TaskCreated", "creator", accounts):
        h = bytes(e.args.taskHash)
        info = mailbox.functions.getTaskInfo(h).call() if mailbox is not None else None
        verified = r.logs("task_mailbox", "TaskVerified", taskHash=h)
        faults = r.logs("task_slasher", "TaskFaultProven", taskHash=h)
        for f in faults:
            slashes.append(
                {
                    "kind": "task-fault",
                    "ref": _hex(h),
                    "operator": f.args.operator,
                    "slash_id": f.args.slashId,
                    "block": f["blockNumber"],
                }
            )
        tasks.append(
            {
                "task": _hex(h),
                "creator": e.args.creator,
                "task_type": e.args.taskType,
                "fee": e.args.fee,
                "block": e["blockNumber"],
                "status": TASK_STATUS[info[8]] if info is not None else None,
                "result_hash": _hex(verified[-1].args.resultHash) if verified else None,
                "record": _hex(verified[-1].args.record) if verified else None,
                "signers": list(verified[-1].args.signers) if verified else [],
                "verified_block": verified[-1]["blockNumber"] if verified else None,
                "faults": len(faults),
            }
        )
    return tasks, slashes


def _receipts(r: _Reader, accounts: list[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    if "inference_disputes" not in r.c:
        return [], []
    disputes = r.c["inference_disputes"].functions
    seen: dict[bytes, dict[str, Any]] = {}
    for role in ("client", "operator"):
        for e in r.each("inference_disputes", "ReceiptRegistered", role, accounts):
            d = bytes(e.args.receiptDigest)
            if d in seen:
                seen[d]["role"] = "client+operator"
                continue
            claim = disputes.claims(d).call()
            seen[d] = {
                "receipt": _hex(d),
                "role": role,
                "client": e.args.client,
                "operator": e.args.operator,
                "output": _hex(e.args.output),
                "status": RECEIPT_STATUS[claim[3]],
                "block": e["blockNumber"],
            }
    slashes = []
    escrow, set_id = None, 0
    for d, rec in seen.items():
        for e in r.logs("inference_disputes", "ReceiptProvenWrong", receiptDigest=d):
            comp = r.logs("inference_disputes", "ClientCompensated", receiptDigest=d)
            cancelled = False
            if e.args.slashId != 0:
                if escrow is None:
                    escrow = r.d.contract("slash_escrow", address=disputes.slashEscrow().call())
                    set_id = disputes.operatorSetId().call()
                slash = escrow.functions.getSlash(r.c["inference_disputes"].address, set_id, e.args.slashId)
                cancelled = slash.call()[2] == ESCROW_CANCELLED
            if cancelled:  # the set's resolver overturned the verdict
                rec["status"] = "overturned"
            slashes.append(
                {
                    "kind": "inference-fault",
                    "ref": rec["receipt"],
                    "operator": e.args.operator,
                    "slash_id": e.args.slashId,
                    "cancelled": cancelled,
                    "block": e["blockNumber"],
                    "compensated": sum(c.args.amount for c in comp),
                }
            )
    return list(seen.values()), slashes


def _escrows(r: _Reader, accounts: list[str]) -> list[dict[str, Any]]:
    out: dict[bytes, dict[str, Any]] = {}
    for role in ("payee", "payer"):
        for e in r.each("verified_escrow", "Deposited", role, accounts):
            i = bytes(e.args.id)
            if i in out:
                continue
            state, reason, settled_block = "held", None, None
            rel = r.logs("verified_escrow", "Released", id=i)
            ref = r.logs("verified_escrow", "Refunded", id=i)
            if rel:
                state, settled_block = "released", rel[0]["blockNumber"]
            elif ref:
                state, settled_block = "refunded", ref[0]["blockNumber"]
                reason = REFUND_REASONS.get(ref[0].args.reason, str(ref[0].args.reason))
            out[i] = {
                "escrow": _hex(i),
                "role": role,
                "payer": e.args.payer,
                "payee": e.args.payee,
                "token": e.args.token,
                "amount": e.args.amount,
                "kind": ESCROW_KIND_NAMES.get(e.args.kind, str(e.args.kind)),
                "task": _hex(e.args.ref),  # the work: a task hash, or an inference request digest
                "state": state,
                "refund_reason": reason,
                "block": e["blockNumber"],
                "settled_block": settled_block,
            }
    return sorted(out.values(), key=lambda x: x["block"])


def _payments(r: _Reader, accounts: list[str]) -> list[dict[str, Any]]:
    """The x402 payments the agent made or received in the stablecoin, from the chain alone:
    `exact` is a token transfer whose transaction used the payer's EIP-3009 authorization for it
    (AuthorizationUsed(payer, nonce) logged right before its Transfer, as the token does in
    transferWithAuthorization); `upto` is the UptoSettler's UptoSettled (the maximum authorized,
    the amount charged, the fee). Authorized transfers into the settler or the verified escrow are
    those schemes' own (upto here, verified under escrows); a plain transfer is no x402 payment."""
    if "stable_token" not in r.c:
        return []
    token = r.c["stable_token"].address
    own = {r.c[k].address for k in ("upto_settler", "verified_escrow") if k in r.c}
    out: list[dict[str, Any]] = []
    for role, field in (("payer", "payer"), ("payee", "payTo")):
        for e in r.each("upto_settler", "UptoSettled", field, accounts):
            a = e.args
            if a.token != token or any(x["tx"] == _hex(e["transactionHash"]) for x in out):
                continue  # another token's; or the agent paid itself, listed once
            out.append(
                {
                    "scheme": "upto",
                    "role": "payer+payee" if a.payer in accounts and a.payTo in accounts else role,
                    "payer": a.payer,
                    "payee": a.payTo,
                    "amount": a.amount,
                    "max_amount": a.maxAmount,
                    "fee": a.fee,
                    "nonce": _hex(a.nonce),
                    "tx": _hex(e["transactionHash"]),
                    "block": e["blockNumber"],
                }
            )
    transfers: dict[tuple[bytes, int], Any] = {}
    for field in ("sender", "receiver"):
        for e in r.each("stable_token", "Transfer", field, accounts):
            transfers[(bytes(e["transactionHash"]), e["logIndex"])] = e
    payers = sorted({e.args.sender for e in transfers.values()})
    used = {
        (bytes(e["transactionHash"]), e["logIndex"]): e
        for e in r.each("stable_token", "AuthorizationUsed", "authorizer", payers)
    }
    for (tx, index), e in sorted(transfers.items(), key=lambda kv: (kv[1]["blockNumber"], kv[0][1])):
        auth = used.get((tx, index - 1))
        if auth is None or auth.args.authorizer != e.args.sender or e.args.receiver in own:
            continue
        payer, payee = e.args.sender, e.args.receiver
        out.append(
            {
                "scheme": "exact",
                "role": "payer+payee"
                if payer in accounts and payee in accounts
                else "payer"
                if payer in accounts
                else "payee",
                "payer": payer,
                "payee": payee,
                "amount": e.args.value,
                "max_amount": None,
                "fee": None,
                "nonce": _hex(auth.args.nonce),
                "tx": _hex(tx),
                "block": e["blockNumber"],
            }
        )
    return sorted(out, key=lambda x: x["block"])


def _da_references(h: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """blob key (hex) -> where the chain names it (as ``eigenda:<blob key>``): a validation request's
    URI (filed by the agent's owner), a feedback's URI or endpoint (given by a client), a verified
    task's DA record (TaskVerified's
    ``record``, certified with the result by the executor set)."""
    refs: dict[str, list[dict[str, Any]]] = {}

    def add(uri: str | None, ref: dict[str, Any]) -> None:
        m = DA_URI.fullmatch(uri or "")
        if m:
            refs.setdefault(m[1].lower(), []).append(ref)

    for v in h["validations"]:
        add(v["uri"], {"from": "validation", "request_hash": v["request_hash"]})
    for f in h["feedback"]["entries"]:  # the record a feedback is about: its URI, or its endpoint
        for uri in dict.fromkeys((f["uri"], f["endpoint"])):
            add(uri, {"from": "feedback", "client": f["client"], "index": f["index"]})
    for t in h["tasks"]:
        if t["record"] is not None and int(t["record"], 16):
            refs.setdefault(t["record"][2:], []).append({"from": "task", "task": t["task"]})
    return refs


def _step_contents(payload: bytes, h: dict[str, Any]) -> dict[str, Any]:
    """A trading step record (offchain.agent.trading.StepRecord) as the history shows it, each of its
    claims set beside what the chain holds: whether it names this agent, whether its feed payment
    and its inference receipt are among the agent's on chain."""
    rec = StepRecord.from_json(payload)  # RecordError: malformed, or its parts do not fit
    paid = {p["tx"] for p in h["payments"]}
    receipts = {r["receipt"] for r in h["receipts"]}
    registry = str(rec.agent.get("registry", "")).lower()
    tx = str(rec.payment.get("transaction", "")).lower()
    digest = _hex(rec.receipt.digest())
    return {
        "names_agent": rec.agent.get("id") == h["agent_id"] and registry == h["identity"]["registry"].lower(),
        "wallet": rec.agent.get("wallet"),
        "step": rec.feed.feed.step,
        "feed_block": rec.feed.feed.block,
        "data_agent": rec.feed.signer(),
        "strategy_hash": _hex(rec.strategy.hash()),
        "payment": {**rec.payment, "on_chain": ("0x" + tx.removeprefix("0x")) in paid},
        "receipt": digest,
        "receipt_on_chain": digest in receipts,
        "order": rec.order.to_dict(),
        "trade": rec.trade,
        "policy_task": None if rec.policy is None else _hex(rec.policy.task_hash),
    }


def _da_records(h: dict[str, Any], records: Any) -> list[dict[str, Any]]:
    """The DA records the chain names (:func:`_da_references`); with `records` (an
    offchain.agent.trading.DARecords: the DA network's disperser, relays and validators) each is
    fetched by its certificate (the disperser's, checked; the payload verified against its
    commitment) and decoded. A record that cannot be fetched or read keeps its error; the rest
    stand."""
    out = []
    for key, refs in _da_references(h).items():
        e: dict[str, Any] = {"blob_key": "0x" + key, "referenced_by": refs, "fetched": False}
        e.update(bytes=None, keccak=None, type=None, contents=None, error=None)
        out.append(e)
        if records is None:
            continue
        try:
            payload = records.get(da_client.certificate(records.disperser, bytes.fromhex(key)))
        except (DAError, RecordUnavailableError) as exc:
            e["error"] = f"not fetched: {exc}"
            continue
        e.update(fetched=True, bytes=len(payload), keccak=_hex(keccak(payload)))
        try:
            d = json.loads(payload)
        except ValueError:
            continue  # not JSON: its size and hash only
        if isinstance(d, dict) and isinstance(d.get("type"), str):
            e["type"] = d["type"]
        if e["type"] == RECORD_TYPE:
            try:
                e["contents"] = _step_contents(payload, h)
            except RecordError as exc:
                e["error"] = f"a malformed step record: {exc}"
    return out


def agent_history(deployment: Any, agent_id: int, from_block: int = 0, records: Any = None) -> dict[str, Any]:
    """Everything the chain holds about agent `agent_id` (see the module's docstring), as JSON;
    with `records` (an offchain.agent.trading.DARecords) the contents of the DA records the chain
    names too."""
    if not 0 <= agent_id < 2**256:
        raise AgentNotFoundError(f"an agent id is a uint256: got {agent_id}")
    r = _Reader(deployment, from_block)
    identity, accounts = _identity(r, agent_id)
    identity["enclave"] = _enclave(r, agent_id, identity["wallet"])
    tasks, task_slashes = _tasks(r, accounts)
    receipts, inference_slashes = _receipts(r, accounts)
    h = {
        "agent_id": agent_id,
        "chain_id": deployment.w3.eth.chain_id,
        "accounts": accounts,
        "identity": identity,
        "feedback": _feedback(r, agent_id),
        "validations": _validations(r, agent_id),
        "tasks": tasks,
        "receipts": receipts,
        "escrows": _escrows(r, accounts),
        "payments": _payments(r, accounts),
        "slashes": sorted(task_slashes + inference_slashes, key=lambda s: s["block"]),
        "read": sorted(r.c) + ([] if records is None else ["da"]),
    }
    h["da_records"] = _da_records(h, records)
    return h


def _short(v: Any) -> str:
    s = "-" if v is None else str(v)
    return s[:10] + ".." + s[-4:] if s.startswith("0x") and len(s) > 18 else s


def _table(
    title: str, rows: list[dict[str, Any]], cols: list[str], fmt: Callable[[Any], str] = _short
) -> list[str]:
    out = [f"{title} ({len(rows)})"]
    if not rows:
        return out
    cells = [[fmt(row.get(c)) for c in cols] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(cols)]
    out.append(("  " + "  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))).rstrip())
    out += [("  " + "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True))).rstrip() for r in cells]
    return out


def render(h: dict[str, Any]) -> str:
    """The history as tables (what ``eigen agent history`` prints without ``--json``)."""
    i = h["identity"]
    fb = h["feedback"]
    lines = [
        f"agent {h['agent_id']} on chain {h['chain_id']}: owner {i['owner']}, wallet {i['wallet'] or '-'}",
        f"  uri {i['uri'] or '-'}; registered at block {(i['registered'] or {}).get('block', '-')}; "
        f"{len(i['transfers'])} transfers, {i['uri_updates']} URI updates, {len(i['metadata'])} metadata entries",
        f"feedback: {fb['count']} live (mean {fb['mean'] or '-'}), {fb['revoked']} revoked",
    ]
    if (enc := i.get("enclave")) is not None:
        d, e = enc["declared"] or {}, enc["enrolled"]
        where = (
            "not an enrolled enclave key"
            if e is None
            else f"the enclave key of {e['image']} for app {_short(e['app'])} run by {e['operator']}"
            + (" (revoked)" if e["revoked"] else "")
        )
        lines.insert(
            2,
            f"  image {d.get('image', '-')} (app {_short(d.get('app'))}); its wallet is {where}: "
            + ("the declared image" if enc["wallet_runs_declared_image"] else "NOT the declared image"),
        )
    lines += _table(
        "  entries",
        fb["entries"],
        ["client", "index", "value", "tag1", "tag2", "revoked", "responses", "block"],
    )
    lines += _table(
        "validations",
        h["validations"],
        ["request_hash", "validator", "response", "tag", "block", "answered_block"],
    )
    lines += _table(
        "tasks", h["tasks"], ["task", "status", "fee", "result_hash", "faults", "block", "verified_block"]
    )
    lines += _table("receipts", h["receipts"], ["receipt", "role", "operator", "status", "block"])
    lines += _table(
        "escrows",
        h["escrows"],
        ["escrow", "role", "payer", "payee", "amount", "state", "refund_reason", "block"],
    )
    lines += _table(
        "payments",
        h["payments"],
        ["scheme", "role", "payer", "payee", "amount", "max_amount", "fee", "block"],
    )
    lines += _table("slashes", h["slashes"], ["kind", "ref", "operator", "slash_id", "block"])
    da = []
    for d in h["da_records"]:
        c, order = d["contents"], None
        if c is not None:
            order = f"{c['order']['action']} {c['order']['amount_in']}"
        frm = ",".join(sorted({x["from"] for x in d["referenced_by"]}))
        da.append({**d, "from": frm, "step": None if c is None else c["step"], "order": order})
    lines += _table("DA records", da, ["blob_key", "from", "fetched", "type", "step", "order", "error"])
    lines.append(f"read: {', '.join(h['read'])}")
    return "\n".join(lines)
