"""Client of contracts/rewards over a deployment (``offchain.chain.sdk.Deployment``, web3): an AVS's
roots, an earner's standing against a distribution, claims, an AVS's refunds of what no root or
claim can pay (``refunds``, ``refund``; docs/rewards.md).

Roots are posted per AVS (``submitRoot(avs, root, end)``) and pay only from that AVS's escrow, so
every question here names the AVS. A distribution is the off-chain tree
(:class:`offchain.rewards.merkle.DistributionTree`) whose root the updater posted; before a claim is
sent its proofs are checked here against the root on chain, and the claimable amount against the
AVS's escrow and the earner's claimer, so a claim that would be refused is reported, not sent.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_abi import encode as abi_encode
from web3 import Web3

from offchain import abi
from offchain.chain import sdk
from offchain.chain.errors import ChainInputError
from offchain.rewards import calc
from offchain.rewards.merkle import DistributionTree

RECORD_KEYS = {
    "rewards_coordinator": "RewardsCoordinator",
    "fee_vault": "FeeVault",
    "buyback_auction": "BuybackAuction",
}


def coordinator(d: sdk.Deployment) -> Any:
    return d.contract("rewards_coordinator", ctype=RECORD_KEYS["rewards_coordinator"])


def _checksum(v: str, what: str) -> str:
    return Web3.to_checksum_address(abi.address(v, ChainInputError) if isinstance(v, str) else v)


@dataclass(frozen=True)
class RootInfo:
    index: int
    avs: str
    root: bytes
    rewards_calculation_end: int
    activated_at: int
    disabled: bool

    def claimable_at(self, now: int) -> bool:
        return not self.disabled and now >= self.activated_at


def root_at(d: sdk.Deployment, index: int) -> RootInfo:
    rc = coordinator(d)
    n = rc.functions.getDistributionRootsLength().call()
    if not 0 <= index < n:
        raise ChainInputError(f"no root {index}: the coordinator holds {n}")
    root, end, activated, disabled = rc.functions.getDistributionRootAtIndex(index).call()
    avs = rc.functions.rootAVS(index).call()
    return RootInfo(index, Web3.to_checksum_address(avs), bytes(root), end, activated, disabled)


def roots_of(d: sdk.Deployment, avs: str) -> list[RootInfo]:
    """Every root posted for `avs`, oldest first."""
    rc, a = coordinator(d), _checksum(avs, "avs")
    n = rc.functions.avsRootCount(a).call()
    return [root_at(d, rc.functions.avsRootIndex(a, k).call()) for k in range(n)]


def find_root(d: sdk.Deployment, avs: str, tree: DistributionTree, index: int | None = None) -> RootInfo:
    """The root of `avs` at `index`, or (by default) the newest root of `avs` equal to the tree's;
    ChainInputError when the tree is not what was posted there."""
    if index is not None:
        r = root_at(d, index)
        if r.avs.lower() != _checksum(avs, "avs").lower():
            raise ChainInputError(f"root {index} pays from {r.avs}'s escrow, not {avs}'s")
        if r.root != tree.root:
            raise ChainInputError(
                f"root {index} is 0x{r.root.hex()}, not this distribution's 0x{tree.root.hex()}"
            )
        return r
    for r in reversed(roots_of(d, avs)):
        if r.root == tree.root:
            return r
    raise ChainInputError(f"no root of {avs} equals this distribution's 0x{tree.root.hex()}")


def _now(d: sdk.Deployment) -> int:
    try:
        return int(d.w3.eth.get_block("latest")["timestamp"])
    except Exception:  # a node without blocks: the clock
        return int(time.time())


def status(
    d: sdk.Deployment, avs: str, tree: DistributionTree, earner: str, root_index: int | None = None
) -> dict[str, Any]:
    """Where `earner` stands against the distribution `tree` posted for `avs`: per token its
    cumulative earnings, what it claimed already, what a claim would pay and the AVS's escrow."""
    rc = coordinator(d)
    a, e = _checksum(avs, "avs"), _checksum(earner, "earner")
    r = find_root(d, avs, tree, root_index)
    if e.lower() not in tree.earnings:
        raise ChainInputError(f"{e} earns nothing in this distribution")
    tokens = []
    for t, cum in sorted(tree.earnings[e.lower()].items(), key=lambda kv: int(kv[0], 16)):
        tk = Web3.to_checksum_address(t)
        claimed = rc.functions.cumulativeClaimedFor(a, e, tk).call()
        escrow = rc.functions.avsEscrow(a, tk).call()
        due = max(cum - claimed, 0)
        tokens.append(
            {
                "token": tk,
                "cumulative": cum,
                "claimed": claimed,
                "claimable": due,
                "escrow": escrow,
                "covered": due <= escrow,
            }
        )
    claimer = rc.functions.claimerFor(e).call()
    now = _now(d)
    return {
        "avs": a,
        "earner": e,
        "claimer": claimer if int(claimer, 16) else e,
        "root_index": r.index,
        "root": "0x" + r.root.hex(),
        "activated_at": r.activated_at,
        "claimable_now": r.claimable_at(now),
        "disabled": r.disabled,
        "tokens": tokens,
    }


def claim(
    d: sdk.Deployment,
    account: Any,
    avs: str,
    tree: DistributionTree,
    earner: str | None = None,
    recipient: str | None = None,
    tokens: list[str] | None = None,
    root_index: int | None = None,
) -> dict[str, Any]:
    """Claim `earner`'s (default: the account's) earnings in `tokens` (default: every token with
    something to claim) from the root of `avs` equal to `tree`, to `recipient` (default: the
    earner). Checked before sending: the root is active, the account is the earner's claimer, the
    proofs hold against the root on chain and the AVS's escrow covers each amount."""
    e = _checksum(earner or account.address, "earner")
    st = status(d, avs, tree, e, root_index)
    if st["disabled"]:
        raise ChainInputError(f"root {st['root_index']} is disabled")
    if not st["claimable_now"]:
        raise ChainInputError(f"root {st['root_index']} activates at {st['activated_at']} (unix time)")
    if account.address.lower() != st["claimer"].lower():
        raise ChainInputError(f"{account.address} may not claim for {e}: its claimer is {st['claimer']}")
    rows = {r["token"].lower(): r for r in st["tokens"]}
    wanted = [t.lower() for t in tokens] if tokens else [t for t, r in rows.items() if r["claimable"] > 0]
    if not wanted:
        raise ChainInputError(f"{e} has nothing left to claim in this distribution")
    for t in wanted:
        r = rows.get(abi.address(t, ChainInputError))
        if r is None:
            raise ChainInputError(f"{e} earns nothing in token {t} here")
        if r["claimable"] == 0:
            raise ChainInputError(f"{e} already claimed all of {r['token']}")
        if not r["covered"]:
            raise ChainInputError(
                f"{avs}'s escrow of {r['token']} ({r['escrow']}) does not cover {r['claimable']}"
            )
    claims = tree.claims(e, wanted, st["root_index"])
    for c in claims:
        c.verify(bytes.fromhex(st["root"][2:]))
    to = _checksum(recipient, "recipient") if recipient else e
    f = coordinator(d).functions
    fn = (
        f.processClaim(claims[0].as_tuple(), to)
        if len(claims) == 1
        else f.processClaims([c.as_tuple() for c in claims], to)
    )
    receipt = sdk.send(d, account, fn, "processClaim")
    paid = {t: rows[t]["claimable"] for t in wanted}
    return {
        "tx": receipt["transactionHash"].hex(),
        "earner": e,
        "recipient": to,
        "root_index": st["root_index"],
        "paid": {Web3.to_checksum_address(t): v for t, v in paid.items()},
        "gas_used": receipt["gasUsed"],
    }


# ---------------------------------------------------------------- challenging roots (the watcher)

CHALLENGER_KEY = "rewards_root_challenger"
STEPS_KEY = "rewards_challenge_steps"
KIND_AVS, KIND_UNIQUE, KIND_TOTAL, KIND_DIRECTED_AVS, KIND_DIRECTED_SET = range(5)
SUBMISSION_EVENTS = {
    "AVSRewardsSubmissionCreated": KIND_AVS,
    "UniqueStakeRewardsSubmissionCreated": KIND_UNIQUE,
    "TotalStakeRewardsSubmissionCreated": KIND_TOTAL,
    "OperatorDirectedAVSRewardsSubmissionCreated": KIND_DIRECTED_AVS,
    "OperatorDirectedOperatorSetRewardsSubmissionCreated": KIND_DIRECTED_SET,
}
# RewardsRootChallenger's bounds (one transaction per challenge).
MAX_ENTRIES = 32
MAX_DAYS = 32
MAX_SNAPSHOTS = 8
MAX_DIRECTED = 4
# Recorded days a continueChallenge step folds by default: a unique-stake day of a 64-operator set
# costs about 3.2 M gas (docs/rewards.md), so 4 such days stay near 13 M.
DAYS_PER_STEP = 4
# The kinds a challenge recomputes: all of them (v1 and operator-directed AVS-wide submissions from
# the AVS's day records, recordAVSDay: the operators of any of its sets that day).
RECOMPUTED = (KIND_AVS, KIND_TOTAL, KIND_UNIQUE, KIND_DIRECTED_AVS, KIND_DIRECTED_SET)
AVS_KINDS = (KIND_AVS, KIND_DIRECTED_AVS)
DIRECTED_KINDS = (KIND_DIRECTED_AVS, KIND_DIRECTED_SET)
# The set id standing for the AVS's own day records in day_records' keys.
AVS_RECORD = None
MAX_OPERATORS = 64
MASK32 = (1 << 32) - 1
MASK160 = (1 << 160) - 1
ZERO = "0x" + "00" * 20
EMPTY_SUBMISSION: tuple = ([], ZERO, 0, 0, 0)


def challenger(d: sdk.Deployment) -> Any:
    return d.contract(CHALLENGER_KEY, ctype="RewardsRootChallenger")


@dataclass(frozen=True)
class Submission:
    """One submission of an AVS, from the coordinator's events: what its ``submissionRecord``
    hashes, and the submission itself (``sub``: EigenLayer's RewardsSubmission tuple; for the
    operator-directed forms their own struct)."""

    nonce: int
    kind: int
    set_id: int
    token: str
    start: int
    duration: int
    hash: bytes
    sub: tuple


def submissions(d: sdk.Deployment, avs: str) -> list[Submission]:
    """Every submission of `avs`, by nonce."""
    rc, a = coordinator(d), _checksum(avs, "avs").lower()
    out = []
    for name, kind in SUBMISSION_EVENTS.items():
        for ev in getattr(rc.events, name)().get_logs(from_block=0):
            args = ev["args"]
            if kind == KIND_AVS:
                owner, set_id, h, sub = (
                    args["avs"],
                    0,
                    args["rewardsSubmissionHash"],
                    args["rewardsSubmission"],
                )
            elif kind == KIND_DIRECTED_AVS:
                owner, set_id = args["avs"], 0
                h, sub = (
                    args["operatorDirectedRewardsSubmissionHash"],
                    args["operatorDirectedRewardsSubmission"],
                )
            else:
                owner, set_id = args["operatorSet"]["avs"], args["operatorSet"]["id"]
                if kind == KIND_DIRECTED_SET:
                    h = args["operatorDirectedRewardsSubmissionHash"]
                    sub = args["operatorDirectedRewardsSubmission"]
                else:
                    h, sub = args["rewardsSubmissionHash"], args["rewardsSubmission"]
            if owner.lower() != a:
                continue
            sub_t = _sub_tuple(sub)
            token, start, duration = sub_t[1], sub_t[3], sub_t[4]  # the same places in both structs
            out.append(
                Submission(args["submissionNonce"], kind, set_id, token, start, duration, bytes(h), sub_t)
            )
    out.sort(key=lambda s: s.nonce)
    if [s.nonce for s in out] != list(range(len(out))):
        raise ChainInputError(f"the coordinator's events of {avs} do not give every submission nonce")
    return out


def _sub_tuple(sub: Any) -> tuple:
    # web3 returns structs as dicts (named) or tuples: a plain tuple in ABI order.
    def plain(x: Any) -> tuple:
        return tuple(x.values()) if isinstance(x, Mapping) else tuple(x)

    vals = list(plain(sub))
    vals[0] = [plain(x) for x in vals[0]]
    if len(vals) == 6:  # operator-directed: (sams, token, operatorRewards, start, duration, description)
        vals[2] = [plain(x) for x in vals[2]]
    return tuple(vals)


def record_set(s: Submission) -> int | None:
    """Whose day records pay submission `s`: its operator set's id, or AVS_RECORD (the AVS's
    operators, ``recordAVSDay``) for a v1 or operator-directed AVS-wide submission."""
    return AVS_RECORD if s.kind in AVS_KINDS else s.set_id


def _record_key(avs: str, set_id: int | None) -> bytes:
    # the challenger's dayRecord key: keccak(avs, set id), or keccak(avs) for the AVS's records
    if set_id is AVS_RECORD:
        return Web3.keccak(abi_encode(["address"], [avs]))
    return Web3.keccak(abi_encode(["address", "uint32"], [avs, set_id]))


@dataclass(frozen=True)
class DayRecord:
    """A recorded day: its block, the members (or the AVS's operators) and their splits.
    ``too_large``: not recomputable (a set of more than 64 members whose list nobody completed
    with ``recordMembers``, or an AVS of more than 64 operators); ``chunked``: the list was
    recorded in chunks (a challenge folds it with ``foldMembers``)."""

    block: int
    members: tuple[str, ...]
    splits: tuple[int, ...]
    too_large: bool
    chunked: bool = False


LARGE = 1 << 64  # a record word's flag: the member list recorded in chunks (recordMembers)
MEMBERS_PER_CHUNK = 64  # members a recordMembers or foldMembers call takes


def _chunked_word(word: int) -> bool:
    return bool(word & LARGE) and word >> 65 != 0


def steps_contract(d: sdk.Deployment) -> Any:
    return d.contract(STEPS_KEY, ctype="RewardsChallengeSteps")


def _chunked_lists(st: Any, a: str) -> dict[tuple[int | None, int], tuple[tuple, tuple]]:
    # (set id, day) -> the members and splits of the first recorder that completed the list, and
    # (AVS_RECORD, day) -> the AVS's operators and AVS splits so recorded (recordAVSMembers)
    lists: dict[tuple, list] = {}
    done: dict[tuple[int | None, int], tuple[tuple, tuple]] = {}
    logs = [
        (ev, (ev["args"]["operatorSetId"], ev["args"]["day"]), "members", "folded", "count")
        for ev in st.events.MembersRecorded().get_logs(from_block=0, argument_filters={"avs": a})
    ] + [
        (ev, (AVS_RECORD, ev["args"]["day"]), "operators", "covered", "total")
        for ev in st.events.AVSMembersRecorded().get_logs(from_block=0, argument_filters={"avs": a})
    ]
    for ev, where, members, got, want in logs:
        g = ev["args"]
        k = (*where, g["recorder"])
        row = lists.setdefault(k, [[], []])
        row[0].extend(g[members])
        row[1].extend(g["splits"])
        if g[got] == g[want] and where not in done:
            done[where] = (tuple(row[0]), tuple(row[1]))
    return done


def day_records(d: sdk.Deployment, avs: str) -> dict[tuple[int | None, int], DayRecord]:
    """(set id, day) -> the block, members and splits recorded for it (``recordDay``), and
    (AVS_RECORD, day) -> the AVS's operators and their AVS splits (``recordAVSDay``)."""
    ch, a = challenger(d), _checksum(avs, "avs")
    out = {}
    chunked = None
    for ev in ch.events.DayRecorded().get_logs(from_block=0, argument_filters={"avs": a}):
        g = ev["args"]
        word = ch.functions.dayRecord(_record_key(a, g["operatorSetId"]), g["day"]).call()
        members, splits = tuple(g["members"]), tuple(g["splits"])
        if _chunked_word(word):
            chunked = _chunked_lists(steps_contract(d), a) if chunked is None else chunked
            members, splits = chunked[(g["operatorSetId"], g["day"])]
        out[(g["operatorSetId"], g["day"])] = DayRecord(
            g["blockNumber"], members, splits, word >> 64 == 1, _chunked_word(word)
        )
    for ev in ch.events.AVSDayRecorded().get_logs(from_block=0, argument_filters={"avs": a}):
        g = ev["args"]
        word = ch.functions.dayRecord(_record_key(a, AVS_RECORD), g["day"]).call()
        ops, splits = tuple(g["operators"]), tuple(g["splits"])
        if _chunked_word(word):
            chunked = _chunked_lists(steps_contract(d), a) if chunked is None else chunked
            ops, splits = chunked[(AVS_RECORD, g["day"])]
        too_large = word >> 64 == 1
        out[(AVS_RECORD, g["day"])] = DayRecord(
            g["blockNumber"],
            () if too_large else ops,
            () if too_large else splits,
            too_large,
            _chunked_word(word),
        )
    return out


def record_days(d: sdk.Deployment, account: Any, avs: str) -> list[int]:
    """Record today for every operator set of `avs` that a total- or unique-stake submission pays
    today, or that an operator-directed submission has paid before (those are retroactive: their
    days must be recorded before the AVS submits), and that nobody recorded yet (``recordDay``: the
    block standing for the day is fixed by the first call); returns the set ids recorded."""
    ch, a = challenger(d), _checksum(avs, "avs")
    iv = ch.functions.CALCULATION_INTERVAL_SECONDS().call()
    today = _now(d) // iv * iv
    done = []
    for set_id in sorted(
        {
            s.set_id
            for s in submissions(d, a)
            if (s.kind in (KIND_TOTAL, KIND_UNIQUE) and s.start <= today < s.start + s.duration)
            or s.kind == KIND_DIRECTED_SET
        }
    ):
        if ch.functions.dayRecord(_record_key(a, set_id), today).call() == 0:
            sdk.send(d, account, ch.functions.recordDay((a, set_id)), "recordDay")
            done.append(set_id)
        if ch.functions.dayRecord(_record_key(a, set_id), today).call() >> 64 == 1:
            record_members(d, account, a, set_id, today)
    return done


def record_members(d: sdk.Deployment, account: Any, avs: str, set_id: int, day: int) -> list[int]:
    """Complete the member list of a set-day too large for ``recordDay`` (more than 64 members):
    the members at the day's recorded block, ascending, ``recordMembers`` 64 at a time from where
    this account's own list stopped; returns each call's gas."""
    ch, st, am = challenger(d), steps_contract(d), d.contract("allocation_manager")
    a = _checksum(avs, "avs")
    key = _record_key(a, set_id)
    word = ch.functions.dayRecord(key, day).call()
    if word >> 64 != 1:
        raise ChainInputError(f"set {set_id} of {a} has no member list pending for day {day}")
    blk = word & ((1 << 64) - 1)
    n = am.functions.getMemberCount((a, set_id)).call()
    now = set()
    for start in range(0, n, MAX_OPERATORS):
        now.update(am.functions.getMembers((a, set_id), start, MAX_OPERATORS).call())
    members = sorted(
        (m for m in now if am.functions.isMemberOfOperatorSetAt(m, (a, set_id), blk).call()),
        key=lambda m: int(m, 16),
    )
    pid = Web3.keccak(abi_encode(["bytes32", "uint256", "address"], [key, day, account.address]))
    done = (st.functions.largeProgress(pid).call() >> 160) & MASK32
    rest, gas = members[done:], []
    for k in range(0, len(rest), MEMBERS_PER_CHUNK):
        last = k + MEMBERS_PER_CHUNK >= len(rest)
        fn = st.functions.recordMembers((a, set_id), day, rest[k : k + MEMBERS_PER_CHUNK], last)
        gas.append(sdk.send(d, account, fn, f"recordMembers {k // MEMBERS_PER_CHUNK}")["gasUsed"])
    return gas


def avs_operators(d: sdk.Deployment, avs: str, block: int | None = None) -> tuple[list[int], list[str]]:
    """Every operator set id of `avs` (ascending) and the members of any of them now (their union,
    ascending by address): ``recordAVSDay``'s arguments. With `block`, the members at that block
    (of those now or then: ``recordAVSMembers``'s list of a recorded day)."""
    am, a = d.contract("allocation_manager"), _checksum(avs, "avs")
    ids = sorted(
        {
            ev["args"]["operatorSet"]["id"]
            for ev in am.events.OperatorSetCreated().get_logs(from_block=0)
            if ev["args"]["operatorSet"]["avs"].lower() == a.lower()
        }
    )
    ops: set[str] = set()
    for i in ids:
        n = am.functions.getMemberCount((a, i)).call()
        for start in range(0, n, MAX_OPERATORS):
            ops.update(am.functions.getMembers((a, i), start, MAX_OPERATORS).call())
    if block is not None:  # with the members then that have left since
        ops.update(
            ev["args"]["operator"]
            for ev in am.events.OperatorRemovedFromOperatorSet().get_logs(from_block=0)
            if ev["args"]["operatorSet"]["avs"].lower() == a.lower()
        )
        ops = {
            o for o in ops if any(am.functions.isMemberOfOperatorSetAt(o, (a, i), block).call() for i in ids)
        }
    return ids, sorted((Web3.to_checksum_address(o) for o in ops), key=lambda o: int(o, 16))


def record_avs_members(d: sdk.Deployment, account: Any, avs: str, day: int) -> list[int]:
    """Complete the operator list of an AVS-day too large for ``recordAVSDay`` (more than 64
    operators): the union of its sets' members at the day's recorded block, ascending,
    ``recordAVSMembers`` 64 at a time from where this account's own list stopped; returns each
    call's gas."""
    ch, st = challenger(d), steps_contract(d)
    a = _checksum(avs, "avs")
    key = _record_key(a, AVS_RECORD)
    word = ch.functions.dayRecord(key, day).call()
    if word >> 64 != 1:
        raise ChainInputError(f"{a} has no operator list pending for day {day}")
    ids, ops = avs_operators(d, a, word & ((1 << 64) - 1))
    pid = Web3.keccak(abi_encode(["bytes32", "uint256", "address"], [key, day, account.address]))
    last = st.functions.largeProgress(pid).call() & MASK160
    rest, gas = [o for o in ops if int(o, 16) > last], []
    for k in range(0, len(rest), MEMBERS_PER_CHUNK):
        end = k + MEMBERS_PER_CHUNK >= len(rest)
        fn = st.functions.recordAVSMembers(a, day, ids, rest[k : k + MEMBERS_PER_CHUNK], end)
        gas.append(sdk.send(d, account, fn, f"recordAVSMembers {k // MEMBERS_PER_CHUNK}")["gasUsed"])
    return gas


def record_avs_day(d: sdk.Deployment, account: Any, avs: str) -> bool:
    """Record today for `avs` as a whole (``recordAVSDay``: its operators, for its v1 and
    operator-directed AVS-wide submissions) when a v1 submission pays today or an AVS-wide
    operator-directed one has paid before, and nobody recorded it yet; True when it did. More than
    64 operators: the first 65 are given, which records the AVS as too large, then its list is
    recorded in chunks (:func:`record_avs_members`)."""
    ch, a = challenger(d), _checksum(avs, "avs")
    iv = ch.functions.CALCULATION_INTERVAL_SECONDS().call()
    today = _now(d) // iv * iv
    needed = any(
        (s.kind == KIND_AVS and s.start <= today < s.start + s.duration) or s.kind == KIND_DIRECTED_AVS
        for s in submissions(d, a)
    )
    word = ch.functions.dayRecord(_record_key(a, AVS_RECORD), today).call()
    if word >> 64 == 1:  # too large, its list not completed yet (by anyone)
        record_avs_members(d, account, a, today)
    if not needed or word != 0:
        return False
    ids, ops = avs_operators(d, a)
    fn = ch.functions.recordAVSDay(a, today, ids, ops[: MAX_OPERATORS + 1])
    sdk.send(d, account, fn, "recordAVSDay")
    if len(ops) > MAX_OPERATORS:
        record_avs_members(d, account, a, today)
    return True


def _narrow(contract: Any, *names: str) -> Any:
    """`contract` with only the functions `names` in its ABI: web3 validates the contract's whole
    ABI (a selector hashed per function) to find a call's entry, on every call: encoding one on the
    DelegationManager's ABI took 2.1 ms against 1.0 ms narrowed, over a day's thousands of reads."""
    abi = [e for e in contract.abi if e.get("type") == "function" and e.get("name") in names]
    return contract.w3.eth.contract(address=contract.address, abi=abi)


# The most calls sent in one JSON-RPC batch (public nodes cap a batch: 100 to 1,000 calls).
BATCH_CALLS = 500


def _batched(w3: Any, calls: list[Any]) -> list[Any]:
    """The results of contract function `calls` (unsent), read in JSON-RPC batches of BATCH_CALLS."""
    out: list[Any] = []
    for k in range(0, len(calls), BATCH_CALLS):
        with w3.batch_requests() as batch:
            for c in calls[k : k + BATCH_CALLS]:
                batch.add(c)
            out.extend(batch.execute())
    return out


class _Chain:
    """The histories a recomputation reads, cached per call."""

    def __init__(self, d: sdk.Deployment) -> None:
        self.dm = d.contract("delegation_manager")
        self.am = d.contract("allocation_manager")
        self._shares = _narrow(self.dm, "operatorSharesAt", "stakerSharesAt").functions
        self._alloc = _narrow(self.am, "getAllocatedStakeAt").functions
        self._al: dict[tuple, int] = {}
        self._stakers: dict[str, set[str]] | None = None
        self._op: dict[tuple, int] = {}
        self._st: dict[tuple, int] = {}

    def stakers_of(self, operator: str) -> set[str]:
        if self._stakers is None:
            self._stakers = {}
            for ev in self.dm.events.StakerDelegated().get_logs(from_block=0):
                g = ev["args"]
                self._stakers.setdefault(g["operator"].lower(), set()).add(g["staker"])
        return set(self._stakers.get(operator.lower(), set())) | {Web3.to_checksum_address(operator)}

    def operator_weight(self, sams: list, op: str, blk: int) -> int:
        k = (tuple(sams), op, blk)
        if k not in self._op:
            self.operator_weights(sams, (op,), blk)
        return self._op[k]

    def operator_weights(self, sams: list, ops: tuple[str, ...], blk: int) -> dict[str, int]:
        """operator_weight of each of `ops`, those not read yet read in one JSON-RPC batch (a day
        of n members is 2n history reads for 2 strategies)."""
        missing = [op for op in dict.fromkeys(ops) if (tuple(sams), op, blk) not in self._op]
        if missing:
            f = self._shares
            shares = iter(
                _batched(self.dm.w3, [f.operatorSharesAt(op, s, blk) for op in missing for s, _ in sams])
            )
            for op in missing:
                self._op[(tuple(sams), op, blk)] = sum(m * next(shares) for _, m in sams)
        return {op: self._op[(tuple(sams), op, blk)] for op in ops}

    def allocated_weight(self, opset: tuple[str, int], sams: list, op: str, blk: int) -> int:
        k = (opset, tuple(sams), op, blk)
        if k not in self._al:
            (row,) = self._alloc.getAllocatedStakeAt(opset, [op], [s for s, _ in sams], blk).call()
            self._al[k] = sum(m * v for (_, m), v in zip(sams, row, strict=True))
        return self._al[k]

    def day(self, avs: str, s: Submission, rec: DayRecord, iv: int) -> calc.DayResult:
        """What one recorded day of submission `s` pays, by the rule RewardsRootChallenger
        recomputes (:mod:`offchain.rewards.calc`): a v1 submission's day as a total-stake one and
        an AVS-wide operator-directed one as an operator-set one, over the AVS's recorded operators
        with their AVS splits (`rec` is then the AVS's day record)."""
        sams, blk = list(s.sub[0]), rec.block
        splits = dict(zip(rec.members, rec.splits, strict=True))
        delegated = self.operator_weights(sams, rec.members, blk)
        if s.kind in DIRECTED_KINDS:
            amounts = {Web3.to_checksum_address(op): a for op, a in s.sub[2]}
            paid = [op for op in rec.members if amounts.get(op)]
        elif s.kind == KIND_UNIQUE:
            allocated = {op: self.allocated_weight((avs, s.set_id), sams, op, blk) for op in rec.members}
            paid = [op for op in rec.members if allocated[op]]
        else:
            paid = [op for op in rec.members if delegated[op]]
        stakers = self.staker_weights(sams, {op: self.stakers_of(op) for op in paid}, blk)
        if s.kind in DIRECTED_KINDS:
            return calc.operator_directed_day(
                amounts, s.duration, rec.members, delegated, stakers, splits, iv
            )
        if s.kind == KIND_UNIQUE:
            return calc.unique_stake_day(s.sub[2], s.duration, allocated, delegated, stakers, splits, iv)
        return calc.total_stake_day(s.sub[2], s.duration, delegated, stakers, splits, iv)

    def staker_weight(self, sams: list, staker: str, op: str, blk: int) -> int:
        k = (tuple(sams), staker, op, blk)
        if k not in self._st:
            self.staker_weights(sams, {op: (staker,)}, blk)
        return self._st[k]

    def staker_weights(self, sams: list, of: dict[str, Any], blk: int) -> dict[str, dict[str, int]]:
        """staker_weight of each staker of each operator (`of`: operator -> its stakers), those not
        read yet read in one JSON-RPC batch."""
        t = tuple(sams)
        missing = list(
            dict.fromkeys(
                (st, op) for op, sts in of.items() for st in sts if (t, st, op, blk) not in self._st
            )
        )
        if missing:
            f = self._shares
            calls = [f.stakerSharesAt(st, op, s, blk) for st, op in missing for s, _ in sams]
            shares = iter(_batched(self.dm.w3, calls))
            for st, op in missing:
                self._st[(t, st, op, blk)] = sum(m * next(shares) for _, m in sams)
        return {op: {st: self._st[(t, st, op, blk)] for st in sts} for op, sts in of.items()}


@dataclass(frozen=True)
class RootCheck:
    """One pending root checked against the chain: the root, the AVS's roots before it, its base
    (the newest active one), the expected cumulative earnings per token and the tokens that cannot
    be recomputed on-chain (a day of more than 64 members or operators in the window)."""

    root: RootInfo
    position: int
    base: RootInfo | None
    base_position: int  # 1 + the base's position, 0 without a base
    submission_count: int
    base_count: int
    expected: dict[str, dict[str, int]]
    unsupported: set[str]


def _window(s: Submission, base_count: int, base_end: int, end: int, iv: int) -> tuple[int, int]:
    first = s.start
    if s.nonce < base_count and base_end > first:
        first += (base_end - first) // iv * iv
    return first, min(s.start + s.duration, end // iv * iv)


def _base(roots: list[RootInfo], position: int, now: int) -> int:
    # 1 + the position of the newest root before `position` that is active, 0 when none is.
    for p in range(position - 1, -1, -1):
        if not roots[p].disabled and now >= roots[p].activated_at:
            return p + 1
    return 0


def recompute(
    d: sdk.Deployment,
    avs: str,
    end: int,
    count: int,
    base: RootInfo | None,
    base_tree: DistributionTree | None,
) -> tuple[dict[str, dict[str, int]], set[str]]:
    """The cumulative earnings a root of `avs` ending at `end`, posted when the AVS had made `count`
    submissions, must hold by the rule RewardsRootChallenger checks: the base root's amounts
    (`base_tree`, its published distribution) plus every operator-set submission's recorded days
    since (:meth:`_Chain.day`: :func:`offchain.rewards.calc.total_stake_day`, ``unique_stake_day``
    or ``operator_directed_day`` at each day's recorded block, members and splits; a day never
    recorded pays nothing; a v1 or operator-directed AVS-wide submission's days are the AVS's own
    records). Also returns the tokens that cannot be recomputed (a day of a set, or of an AVS,
    recorded as too large)."""
    rc, ch = coordinator(d), challenger(d)
    base_count, base_end, expected = 0, 0, {}
    if base is not None:
        if base_tree is None:
            raise ChainInputError(f"the base root {base.index}'s distribution is needed")
        if base_tree.root != base.root:
            raise ChainInputError(f"the distribution given for root {base.index} is not the one posted")
        base_count = (rc.functions.rootInfo(base.index).call() >> 160) & MASK32
        base_end = base.rewards_calculation_end
        expected = {e: dict(t) for e, t in base_tree.earnings.items()}
    iv = ch.functions.CALCULATION_INTERVAL_SECONDS().call()
    records = day_records(d, avs)
    hist = _Chain(d)
    unsupported: set[str] = set()
    for s in submissions(d, avs)[:count]:
        first, last = _window(s, base_count, base_end, end, iv)
        if first >= last:
            continue
        token = s.token.lower()
        for day in range(first, last, iv):
            rec = records.get((record_set(s), day))
            if rec is None:
                continue  # never recorded: the day pays nothing
            if rec.too_large:
                unsupported.add(token)
                break
            for e, v in hist.day(avs, s, rec, iv).earnings().items():
                if v:
                    row = expected.setdefault(e.lower(), {})
                    row[token] = row.get(token, 0) + v
    return expected, unsupported


def build_distribution(
    d: sdk.Deployment, avs: str, end: int, base_tree: DistributionTree | None = None
) -> dict[str, dict[str, int]]:
    """The distribution the updater should post now for `avs` up to `end` (the root builder for
    operator sets: exactly what a challenge recomputes). ChainInputError when a token in the window
    cannot be recomputed (its earnings need the sidecar's full calculation)."""
    a = _checksum(avs, "avs")
    roots = roots_of(d, a)
    bp = _base(roots, len(roots), _now(d))
    base = roots[bp - 1] if bp else None
    count = coordinator(d).functions.submissionNonce(a).call()
    expected, unsupported = recompute(d, a, end, count, base, base_tree)
    if unsupported:
        raise ChainInputError(
            f"tokens {sorted(unsupported)} of {a} are paid by submissions not recomputed here"
        )
    return {e: {t: v for t, v in row.items() if v} for e, row in expected.items() if any(row.values())}


def check_root(d: sdk.Deployment, index: int, base_tree: DistributionTree | None = None) -> RootCheck:
    """What root `index` should hold (:func:`recompute` from its base, the AVS's newest active root
    before it, whose distribution `base_tree` must then be)."""
    r = root_at(d, index)
    roots = roots_of(d, r.avs)
    position = next(p for p, x in enumerate(roots) if x.index == index)
    bp = _base(roots, position, _now(d))
    base = roots[bp - 1] if bp else None
    rc = coordinator(d)
    count = (rc.functions.rootInfo(index).call() >> 160) & MASK32
    base_count = (rc.functions.rootInfo(base.index).call() >> 160) & MASK32 if base else 0
    expected, unsupported = recompute(d, r.avs, r.rewards_calculation_end, count, base, base_tree)
    return RootCheck(r, position, base, bp, count, base_count, expected, unsupported)


def differences(check: RootCheck, tree: DistributionTree) -> list[tuple[str, str, int, int]]:
    """(earner, token, posted, expected) wherever the posted distribution differs from the
    recomputed one, in the tokens that can be recomputed; sorted by earner then token."""
    out = []
    earners = set(check.expected) | set(tree.earnings)
    for e in sorted(earners, key=lambda a: int(a, 16)):
        tokens = set(check.expected.get(e, {})) | set(tree.earnings.get(e, {}))
        for t in sorted(tokens - check.unsupported, key=lambda a: int(a, 16)):
            posted, want = tree.amount(e, t), check.expected.get(e, {}).get(t, 0)
            if posted != want:
                out.append((Web3.to_checksum_address(e), Web3.to_checksum_address(t), posted, want))
    return out


@dataclass
class _Chunk:
    """One ``continueChallenge`` step: its cursor and inputs (challengeRoot's, for its part)."""

    from_nonce: int
    from_day: int
    entries: list = field(default_factory=list)
    snapshots: list = field(default_factory=list)
    days: list = field(default_factory=list)
    directed: list = field(default_factory=list)
    # a day recorded in chunks at the cursor instead: (entry, [directed], [(members, splits)...]),
    # one foldMembers per member chunk
    fold: tuple | None = None

    def add_day(self, snap: tuple, hint: str) -> None:
        if snap not in self.snapshots:
            self.snapshots.append(snap)
        self.days.append((self.snapshots.index(snap), hint))

    def fits(self, snap: tuple, days_per_step: int) -> bool:
        return len(self.days) < days_per_step and (
            snap in self.snapshots or len(self.snapshots) < MAX_SNAPSHOTS
        )


@dataclass
class ChallengeInputs:
    """A leaf's challenge, cut into steps of at most `days_per_step` recorded days (and the
    contracts' bounds on submissions, snapshots and directed submissions per step): ``head`` is
    challengeRoot's first eight arguments (also ``beginChallenge``'s), ``chunks`` the steps in
    order. One chunk within the one-transaction bounds: ``challenge_args`` is its challengeRoot."""

    head: list
    chunks: list[_Chunk]

    def one_transaction(self) -> list | None:
        """challengeRoot's arguments, or None when the leaf needs several transactions."""
        if len(self.chunks) != 1 or self.chunks[0].fold is not None:
            return None
        c = self.chunks[0]
        return [*self.head, c.entries, c.snapshots, c.days, c.directed]

    def step_args(self) -> list[list]:
        """Each continueChallenge step's arguments, after (root index, earner, token)."""
        return [
            [c.from_nonce, c.from_day, c.entries, c.snapshots, c.days, c.directed]
            for c in self.chunks
            if c.fold is None
        ]

    def calls(self) -> list[tuple[str, list]]:
        """Every step in order, (function, arguments after (root index, earner, token)):
        ``continueChallenge`` or, for a day recorded in chunks, ``foldMembers`` per member chunk."""
        out: list[tuple[str, list]] = []
        for c in self.chunks:
            if c.fold is None:
                out.append(
                    (
                        "continueChallenge",
                        [c.from_nonce, c.from_day, c.entries, c.snapshots, c.days, c.directed],
                    )
                )
                continue
            entry, directed, parts = c.fold
            out.extend(("foldMembers", [entry, directed, list(m), list(sp)]) for m, sp in parts)
        return out


def challenge_inputs(
    d: sdk.Deployment,
    check: RootCheck,
    tree: DistributionTree,
    base_tree: DistributionTree | None,
    earner: str,
    token: str,
    days_per_step: int = MAX_DAYS,
) -> ChallengeInputs:
    """The inputs of a challenge of one (earner, token) of the root `check` is about: its amount
    proven in the root and in the base (leaf or neighbours), the AVS's submissions from the first
    one the base had not finished, and each recorded day's snapshot and the earner's operator
    then, cut into steps as RewardsChallengeSteps folds them (a step stops where its day inputs
    run out; the next resumes at that day, with that submission and its directed one again)."""
    if not 1 <= days_per_step <= MAX_DAYS:
        raise ChainInputError(f"days per step must be 1 to {MAX_DAYS}: got {days_per_step}")
    ch = challenger(d)
    r = check.root
    e, t = _checksum(earner, "earner"), _checksum(token, "token")
    iv = ch.functions.CALCULATION_INTERVAL_SECONDS().call()
    subs = submissions(d, r.avs)[: check.submission_count]
    base_end = check.base.rewards_calculation_end if check.base else 0
    lo, running = 0, 0
    for n in range(check.base_count + 1):  # the largest lo <= base_count all before which ended by base_end
        if running <= base_end:
            lo = n
        if n < len(subs):
            running = max(running, subs[n].start + subs[n].duration)
    hist = _Chain(d)
    a = r.avs
    records = day_records(d, a)
    chunks = [_Chunk(lo, 0)]
    for s in subs[lo:]:
        counted = s.kind in RECOMPUTED and s.token.lower() == t.lower()
        inline = counted and s.kind not in DIRECTED_KINDS
        entry = (
            s.kind,
            s.set_id,
            s.token,
            s.start,
            s.duration,
            s.hash,
            s.sub if inline else EMPTY_SUBMISSION,
        )
        first, last = _window(s, check.base_count, base_end, r.rewards_calculation_end, iv)
        directed = counted and first < last and s.kind in DIRECTED_KINDS
        cur = chunks[-1]
        if len(cur.entries) == MAX_ENTRIES or (directed and len(cur.directed) == MAX_DIRECTED):
            cur = _Chunk(s.nonce, 0)
            chunks.append(cur)
        cur.entries.append(entry)
        if directed:
            cur.directed.append(s.sub)
        if not counted or first >= last:
            continue
        key = _record_key(a, record_set(s))
        sams = list(s.sub[0])
        for day in range(first, last, iv):
            word = ch.functions.dayRecord(key, day).call()
            if word == 0:
                continue
            blk = word & ((1 << 64) - 1)
            rec = records[(record_set(s), day)]
            if rec.chunked:  # the running step stops at this day; its members are folded in chunks
                if not cur.days and (cur.from_nonce, cur.from_day) == (s.nonce, day):
                    chunks.pop()  # the cursor is already here: nothing to continue first
                parts = [
                    (rec.members[k : k + MEMBERS_PER_CHUNK], rec.splits[k : k + MEMBERS_PER_CHUNK])
                    for k in range(0, len(rec.members), MEMBERS_PER_CHUNK)
                ]
                chunks.append(_Chunk(s.nonce, day, fold=(entry, [s.sub] if directed else [], parts)))
                cur = _Chunk(s.nonce, day + iv, [entry], directed=[s.sub] if directed else [])
                if day + iv >= last:
                    cur = _Chunk(s.nonce + 1, 0)
                chunks.append(cur)
                continue
            snap = (list(rec.members), list(rec.splits))
            hint = ZERO
            if e in rec.members:
                hint = e
            else:
                for op in rec.members:
                    if hist.staker_weight(sams, e, op, blk):
                        hint = op
                        break
            if not cur.fits(snap, days_per_step):  # the step stops at this day; the next resumes here
                cur = _Chunk(s.nonce, day, [entry], directed=[s.sub] if directed else [])
                chunks.append(cur)
            cur.add_day(snap, hint)
    while len(chunks) > 1 and chunks[-1].fold is None and not chunks[-1].entries:
        chunks.pop()  # nothing left after the last day folded in chunks
    none = ((False, (0, b"", ZERO, b"\0" * 32, False), False, (0, b"", ZERO, b"\0" * 32, False)),) * 2
    base_proof = base_tree.amount_proof(e, t) if base_tree is not None else none
    head = [r.index, check.position, check.base_position, e, t, tree.amount_proof(e, t), base_proof, lo]
    return ChallengeInputs(head, chunks)


def challenge_args(
    d: sdk.Deployment,
    check: RootCheck,
    tree: DistributionTree,
    base_tree: DistributionTree | None,
    earner: str,
    token: str,
) -> list[Any]:
    """The arguments of ``challengeRoot`` for one (earner, token) of the root `check` is about
    (:func:`challenge_inputs` in one step). ChainInputError when it exceeds one transaction's
    bounds (:func:`challenge` with `days_per_step` takes it)."""
    inputs = challenge_inputs(d, check, tree, base_tree, earner, token)
    args = inputs.one_transaction()
    if args is None:
        c = inputs.chunks
        raise ChainInputError(
            f"root {check.root.index}: a challenge of {earner} in {token} needs "
            f"{sum(len(x.days) for x in c)} days, {len(c)} steps of at most {MAX_ENTRIES} submissions, "
            f"{MAX_DAYS} days, {MAX_SNAPSHOTS} snapshots and {MAX_DIRECTED} operator-directed "
            "submissions: more than one transaction"
        )
    return args


def _verdict(d: sdk.Deployment, check: RootCheck, receipts: list[Any]) -> dict[str, Any]:
    ev = challenger(d).events.RootChallenged().process_receipt(receipts[-1])[0]["args"]
    return {
        "tx": receipts[-1]["transactionHash"].hex(),
        "root_index": check.root.index,
        "earner": ev["earner"],
        "token": ev["token"],
        "posted": ev["posted"],
        "recomputed": ev["recomputed"],
        "slashed": ev["slashed"],
        "reward": ev["reward"],
        "gas_used": sum(r["gasUsed"] for r in receipts),
    }


def challenge(
    d: sdk.Deployment,
    account: Any,
    check: RootCheck,
    tree: DistributionTree,
    base_tree: DistributionTree | None,
    earner: str,
    token: str,
    days_per_step: int | None = None,
) -> dict[str, Any]:
    """Send ``challengeRoot`` for one (earner, token) (simulated first: a correct leaf is refused
    with the contract's reason and nothing is sent). With `days_per_step`, the challenge over
    several transactions instead (RewardsChallengeSteps): ``beginChallenge``, one
    ``continueChallenge`` per step of that many recorded days, ``finishChallenge``; each simulated
    before it is sent, so none is sent that would revert (a refusal stops the challenge with the
    contract's reason; the steps folded stay the account's to continue); the verdict then also
    has ``steps`` (continueChallenge transactions) and ``step_gas`` (every transaction's gas)."""
    if days_per_step is None:
        args = challenge_args(d, check, tree, base_tree, earner, token)
        receipt = sdk.send(d, account, challenger(d).functions.challengeRoot(*args), "challengeRoot")
        return _verdict(d, check, [receipt])
    inputs = challenge_inputs(d, check, tree, base_tree, earner, token, days_per_step)
    st = steps_contract(d).functions
    i, e, t = check.root.index, inputs.head[3], inputs.head[4]
    receipts = [sdk.send(d, account, st.beginChallenge(*inputs.head), "beginChallenge")]
    for k, (name, args) in enumerate(inputs.calls()):
        receipts.append(sdk.send(d, account, getattr(st, name)(i, e, t, *args), f"{name} {k}"))
    receipts.append(sdk.send(d, account, st.finishChallenge(i, e, t), "finishChallenge"))
    out = _verdict(d, check, receipts)
    out["steps"] = len(inputs.calls())
    out["step_gas"] = [r["gasUsed"] for r in receipts]
    return out


def published_tree(trees: Path, root: bytes) -> DistributionTree | None:
    """The distribution published for `root` in the folder `trees` (``0x<root>.json``, the
    ``--earnings`` format), None when it is not there; ChainInputError when it is not that root's."""
    p = Path(trees) / f"0x{root.hex()}.json"
    if not p.exists():
        return None
    tree = DistributionTree(p.read_text())
    if tree.root != root:
        raise ChainInputError(f"{p} holds the distribution of 0x{tree.root.hex()}, not of its name")
    return tree


def watch_once(
    d: sdk.Deployment,
    account: Any,
    trees: Path,
    avss: list[str] | None = None,
    record: bool = True,
    days_per_step: int = DAYS_PER_STEP,
) -> list[dict[str, Any]]:
    """One pass of the watcher: record today for the watched AVSs' paid sets (unless `record` is
    off), then check every pending root (of `avss`, default every AVS) against the chain and
    challenge a wrong one with its first differing leaf that fits one transaction (``mode``: ``one
    transaction``), or when none does with its first differing leaf over several
    (:func:`challenge` in steps, ``mode``: ``steps``, the step count in the challenge). One report
    per root: ``correct``, ``challenged``, ``unpublished`` (no tree in `trees`: claims need one,
    the AVS should disable it), ``base unpublished``."""
    want = {_checksum(a, "avs").lower() for a in avss} if avss else None
    rc = coordinator(d)
    n = rc.functions.getDistributionRootsLength().call()
    roots = [root_at(d, i) for i in range(n)]
    watched = sorted({r.avs for r in roots if want is None or r.avs.lower() in want} | set(avss or []))
    if record and account is not None:
        for a in watched:
            record_days(d, account, a)
            record_avs_day(d, account, a)
    now = _now(d)
    out: list[dict[str, Any]] = []
    for r in roots:
        if r.disabled or now >= r.activated_at or (want is not None and r.avs.lower() not in want):
            continue
        rep: dict[str, Any] = {"root_index": r.index, "avs": r.avs, "root": "0x" + r.root.hex()}
        out.append(rep)
        tree = published_tree(trees, r.root)
        if tree is None:
            rep["status"] = "unpublished"
            continue
        avs_roots = roots_of(d, r.avs)
        position = next(p for p, x in enumerate(avs_roots) if x.index == r.index)
        bp = _base(avs_roots, position, now)
        base_tree = published_tree(trees, avs_roots[bp - 1].root) if bp else None
        if bp and base_tree is None:
            rep["status"] = "base unpublished"
            continue
        check = check_root(d, r.index, base_tree)
        diffs = differences(check, tree)
        rep["unsupported_tokens"] = sorted(check.unsupported)
        if not diffs:
            rep["status"] = "correct"
            continue
        rep["status"], rep["differences"] = "challenged", len(diffs)
        for e, t, _posted, _want in diffs:
            try:
                rep["challenge"] = challenge(d, account, check, tree, base_tree, e, t)
            except ChainInputError:  # beyond one transaction's bounds: try the next leaf
                continue
            rep["mode"] = "one transaction"
            break
        else:  # no differing leaf fits one transaction: the first one, in steps
            e, t = diffs[0][:2]
            rep["challenge"] = challenge(d, account, check, tree, base_tree, e, t, days_per_step)
            rep["mode"] = "steps"
    return out


# ---------------------------------------------------------------- refunds (what no root or claim can pay)

DISTRIBUTOR_KEY = "rewards_distributor"


def refund_args(s: Submission) -> tuple[tuple, list]:
    """``refundSubmission``'s (entry, directed) for submission `s`: its record's fields with the
    submission itself (a weighted kind) or beside them (an operator-directed one)."""
    directed = s.kind in DIRECTED_KINDS
    entry = (s.kind, s.set_id, s.token, s.start, s.duration, s.hash, EMPTY_SUBMISSION if directed else s.sub)
    return entry, [s.sub] if directed else []


def _distributions(d: sdk.Deployment, avs: str) -> list[dict[str, Any]]:
    # the AVS's on-chain distributions (RewardsDistributor) with what each left undistributed
    if DISTRIBUTOR_KEY not in d.addresses:
        return []
    rd = d.contract(DISTRIBUTOR_KEY, ctype="RewardsDistributor")
    out = []
    for ev in rd.events.OperatorSetDistributionCreated().get_logs(
        from_block=0, argument_filters={"avs": avs}
    ):
        i = ev["args"]["distributionId"]
        undistributed, refunded = rd.functions.undistributed(i).call(), rd.functions.refunded(i).call()
        out.append(
            {
                "distribution": i,
                "token": Web3.to_checksum_address(ev["args"]["token"]),
                "amount": ev["args"]["amount"],
                "undistributed": undistributed,
                "refunded": refunded,
                "refundable": 0 if refunded else undistributed,
            }
        )
    return out


def refunds(d: sdk.Deployment, avs: str) -> dict[str, Any]:
    """What `avs` can take back of its escrow (docs/rewards.md, "Refunds"): per submission what
    ``refundSubmission`` would pay now (simulated; ``reason`` the contract's refusal otherwise:
    "submission period not over", "nothing to refund", ...) and what it paid, per on-chain
    distribution its undistributed rounding; and the totals refundable now per token."""
    a = _checksum(avs, "avs")
    st = steps_contract(d)
    subs = []
    for s in submissions(d, a):
        entry, directed = refund_args(s)
        row: dict[str, Any] = {
            "nonce": s.nonce,
            "kind": s.kind,
            "token": Web3.to_checksum_address(s.token),
            "end": s.start + s.duration,
            "refunded": st.functions.refunded(a, s.nonce).call(),
            "refundable": 0,
            "reason": None,
        }
        try:
            row["refundable"] = st.functions.refundSubmission(a, s.nonce, entry, directed).call()
        except Exception as exc:  # web3's ContractLogicError: the contract's reason
            row["reason"] = sdk._reason(exc)
        subs.append(row)
    dists = _distributions(d, a)
    total: dict[str, int] = {}
    for r in [*subs, *dists]:
        if r["refundable"]:
            total[r["token"]] = total.get(r["token"], 0) + r["refundable"]
    return {"avs": a, "submissions": subs, "distributions": dists, "refundable": total}


def refund(
    d: sdk.Deployment,
    account: Any,
    avs: str,
    nonces: list[int] | None = None,
    distribution_ids: list[int] | None = None,
) -> dict[str, Any]:
    """Send the refunds of `avs` (paid to the AVS whoever sends them): the submissions `nonces`
    and the distributions `distribution_ids`, by default every one with something refundable now.
    A named one with nothing refundable is a ChainInputError (its reason), and nothing is sent."""
    r = refunds(d, avs)
    subs = {s["nonce"]: s for s in r["submissions"]}
    dists = {x["distribution"]: x for x in r["distributions"]}
    want_s = [n for n, s in subs.items() if s["refundable"]] if nonces is None else nonces
    want_d = (
        [i for i, x in dists.items() if x["refundable"]] if distribution_ids is None else distribution_ids
    )
    for n in want_s:
        if n not in subs:
            raise ChainInputError(f"{r['avs']} has no submission {n}")
        if not subs[n]["refundable"]:
            raise ChainInputError(f"submission {n}: {subs[n]['reason'] or 'already refunded'}")
    for i in want_d:
        if i not in dists:
            raise ChainInputError(f"{r['avs']} has no on-chain distribution {i}")
        if not dists[i]["refundable"]:
            why = "already refunded" if dists[i]["refunded"] else "nothing to refund"
            raise ChainInputError(f"distribution {i}: {why}")
    if not want_s and not want_d:
        raise ChainInputError(f"{r['avs']} has nothing to refund now")
    by_nonce = {s.nonce: s for s in submissions(d, r["avs"])}
    st, paid, txs = steps_contract(d), {}, []
    for n in want_s:
        entry, directed = refund_args(by_nonce[n])
        rc = sdk.send(
            d, account, st.functions.refundSubmission(r["avs"], n, entry, directed), "refundSubmission"
        )
        txs.append(rc["transactionHash"].hex())
        t = subs[n]["token"]
        paid[t] = paid.get(t, 0) + subs[n]["refundable"]
    if want_d:
        rd = d.contract(DISTRIBUTOR_KEY, ctype="RewardsDistributor")
        for i in want_d:
            rc = sdk.send(d, account, rd.functions.refundDistribution(i), "refundDistribution")
            txs.append(rc["transactionHash"].hex())
            t = dists[i]["token"]
            paid[t] = paid.get(t, 0) + dists[i]["refundable"]
    return {"avs": r["avs"], "submissions": want_s, "distributions": want_d, "paid": paid, "txs": txs}
