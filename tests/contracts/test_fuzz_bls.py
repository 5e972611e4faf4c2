"""Fuzz of the BLS certificate checker: random members, non-signers, key rotations, stake changes and
departures between the reference block and the check. A certificate is accepted iff the model (Python,
from the AllocationManager's stakes and the membership and keys it tracked itself) says its
non-signers were members at the reference block, the signers' keys are exactly the other members' and
the signed stake meets the threshold; forged, replayed, wrong-reference-block and rogue-key
certificates fail. Each example runs in a chain snapshot that is restored afterwards.

Sizes: a pool of 200 operators joins the set once per module (their ~1,800 transactions batched in a
few blocks: ``BLSWorld.operators``); each example keeps a random subset of 1 to 200 of them (the others
leave first, inside the example's snapshot), so certificates carry up to 199 non-signers. The ``ci``
profile runs EXAMPLES examples besides the explicit ones (two of them use the whole pool);
``EIGEN_PROFILE=long`` runs more. docs/bls.md lists the run times."""

from __future__ import annotations

import random

import pytest
from eth_hash.auto import keccak
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from offchain import settings as eigen_settings
from offchain.bls import group, keys
from offchain.bls.cert import build_certificate
from offchain.bls.keys import SecretKey
from offchain.chain.anvil import anvil_without_step_traces
from offchain.chain.bls_registry import certificate_args, key_args
from tests.contracts.support import (
    BLS_SET,
    ROTATION_DELAY,
    STALENESS,
    WAD,
    Batch,
    BLSWorld,
    World,
    reverts,
)

LONG = eigen_settings.hypothesis_profile() == "long"
POOL = 200
EXAMPLES = 300 if LONG else 25
BPS = 10_000
SEEN: set[str] = set()  # outcomes reached (the long run prints them)
SIZES: list[int] = []  # the set size of every example run


@pytest.fixture(scope="module")
def fw(project, chain, accounts, deployment):
    bw = BLSWorld(World(project, chain, accounts, deployment), project, chain, accounts)
    bw.pool = bw.operators([((7 + 3 * i) * WAD, (40 - i % 40) * WAD) for i in range(POOL)], mag=WAD // 4)
    stakes, head = bw.stakes_of(bw.pool), bw.head()
    assert all(a > 0 and b > 0 for a, b in stakes)
    assert list(bw.reg.totalStakeAt(BLS_SET, head)) == [sum(r[q] for r in stakes) for q in range(2)]
    pks = [bw.sk[o.address].public_key().g1 for o in bw.pool]
    assert tuple(bw.reg.apkAt(BLS_SET, head)) == group.g1_sum(pks)  # all 200 joined with their keys
    chain.mine(STALENESS + 2)  # so that a reference block older than the window exists
    return bw


class Model:
    """Membership, keys and stakes per block, as the test made them (stakes read from the
    AllocationManager, the registry's source)."""

    def __init__(self, bw):
        self.bw = bw
        self.member = {o.address: True for o in bw.pool}
        self.key = {o.address: bw.sk[o.address] for o in bw.pool}

    def snapshot(self):
        live = [o.address for o in self.bw.pool if self.member[o.address]]
        rows = dict(zip(live, self.bw.stakes_of(live), strict=True))
        return {"keys": {a: self.key[a] for a in rows}, "stakes": rows}


def predicted(state, signers, non_signers, thr):
    """(status, signed, total, met) the checker must return for a certificate whose signers are the
    keys `signers` and whose non-signers are the keys `non_signers`, against `state`."""
    members = state["keys"]
    by_id = {sk.public_key().operator_id: a for a, sk in members.items()}
    ns_ids = [k.public_key().operator_id for k in non_signers]
    if any(i not in by_id for i in ns_ids):
        return 5, [], [], False
    rest = set(by_id) - set(ns_ids)
    if rest != {k.public_key().operator_id for k in signers}:
        return 7, [], [], False
    total = [sum(s[q] for s in state["stakes"].values()) for q in range(2)]
    signed = [total[q] - sum(state["stakes"][by_id[i]][q] for i in ns_ids) for q in range(2)]
    met = all(t > 0 and s * BPS >= t * thr for s, t in zip(signed, total, strict=True))
    return 1, signed, total, met


actions = st.lists(
    st.tuples(st.sampled_from(["rotate", "stake", "leave"]), st.integers(0, 10**6)), max_size=4
)


M0 = b"\x42" * 32
ALL = 2**POOL - 1
# which members sign (bit i: the i-th member at the reference block): any subset, or all but a few
signer_masks = st.one_of(
    st.integers(0, ALL),
    st.sets(st.integers(0, POOL - 1), max_size=12).map(lambda out: ALL - sum(1 << i for i in out)),
)


@settings(max_examples=EXAMPLES)
@example(size=POOL, pick=0, pre=[], post=[("stake", 1)], signer_mask=ALL, thr=6667, msg=M0)  # all sign: met
@example(
    size=POOL, pick=1, pre=[("leave", 2)], post=[("leave", 0)], signer_mask=1, thr=BPS, msg=M0
)  # one signs
@example(
    size=7, pick=2, pre=[("stake", 3)], post=[("rotate", 5)], signer_mask=3, thr=1, msg=M0
)  # rotated after ref
@example(size=1, pick=3, pre=[], post=[], signer_mask=1, thr=BPS, msg=M0)  # a set of one
@given(
    size=st.integers(1, POOL),
    pick=st.integers(0, 2**32),
    pre=actions,
    post=actions,
    signer_mask=signer_masks,
    thr=st.integers(1, BPS),
    msg=st.binary(min_size=32, max_size=32),
)
def test_certificates_accepted_iff_the_model_says_so(
    fw, chain, size, pick, pre, post, signer_mask, thr, msg
) -> None:
    snap = chain.snapshot()
    try:
        _example(fw, chain, size, pick, pre, post, signer_mask, thr, msg)
    finally:
        chain.restore(snap)


def _act(bw, model, action, arg):
    """One change to the set (its transactions sent through ``Batch``: ape's path costs ~0.3 s each)."""
    pool, w = bw.pool, bw.w
    live = [o for o in pool if model.member[o.address]]
    if not live:
        return
    op = live[arg % len(live)]
    tx = Batch(bw.chain)
    if action == "leave" and len(live) > 1:
        bw.leave_all([op])
        model.member[op.address] = False
    elif action == "stake":
        mag = WAD // 4 + (arg % 5 + 1) * WAD // 10
        cur = w.am.getAllocation(op, w.opset(BLS_SET), bw.strats[0]).currentMagnitude
        if mag > cur:
            tx.add(op, w.am.modifyAllocations, op, [(w.opset(BLS_SET), bw.strats, [mag, mag], [cur, cur])])
        tx.add(w.other, bw.reg.updateOperators, BLS_SET, [op.address])
        tx.send()
    elif action == "rotate":
        new = SecretKey(
            int.from_bytes(keccak(b"rot %d %s" % (arg, op.address.encode())), "big") % (2**250) + 1
        )
        if new.public_key().operator_id == model.key[op.address].public_key().operator_id:
            return
        if bw.reg.operatorOfKey(new.public_key().operator_id) != "0x" + "00" * 20:
            return
        tx.add(op, bw.reg.rotateKey, BLS_SET, *key_args(new, op.address, bw.chain.chain_id, bw.reg.address))
        tx.send()
        bw.chain.mine(ROTATION_DELAY)
        tx.add(w.other, bw.reg.applyKeyRotation, BLS_SET, op)
        tx.send()
        model.key[op.address] = new


def _example(bw, chain, size, pick, pre, post, signer_mask, thr, msg):
    model = Model(bw)
    stay = set(random.Random(pick).sample(range(POOL), size))  # a set of `size` operators of the pool
    gone = [op for i, op in enumerate(bw.pool) if i not in stay]
    bw.leave_all(gone)
    for op in gone:
        model.member[op.address] = False
    for a, arg in pre:
        _act(bw, model, a, arg)
    chain.mine(1)
    ref = bw.head()
    at_ref = model.snapshot()
    n = len(at_ref["keys"])
    SIZES.append(n)
    event("set of 1" if n == 1 else f"set of {n - 1 - (n - 1) % 50 + 1}-{n - 1 - (n - 1) % 50 + 50}")
    for a, arg in post:
        _act(bw, model, a, arg)
    chain.mine(1)
    members = list(at_ref["keys"])
    signers = [members[i] for i in range(len(members)) if signer_mask >> i & 1] or members[:1]
    pks = [at_ref["keys"][a].public_key() for a in members]
    sigs = {at_ref["keys"][a].public_key().operator_id: at_ref["keys"][a].sign(msg) for a in signers}
    cert, _ = build_certificate(BLS_SET, msg, ref, pks, sigs)
    signer_keys = [at_ref["keys"][a] for a in signers]
    non_signer_keys = [at_ref["keys"][a] for a in members if a not in signers]
    want = predicted(at_ref, signer_keys, non_signer_keys, thr)
    args = certificate_args(cert)
    status, signed, total = bw.reg.checkSignatures(*args)
    assert (status, list(signed), list(total)) == want[:3]
    assert tuple(bw.reg.isThresholdMet(*args, thr)) == (want[0], want[3])

    # the same certificate at the latest block: keys and members may have changed since `ref`
    later = bw.head() - 1
    now_state = model.snapshot()
    want_now = predicted(now_state, signer_keys, non_signer_keys, thr)
    got_now = bw.reg.checkSignatures(args[0], args[1], later, *args[3:])
    assert (got_now[0], list(got_now[1]), list(got_now[2])) == want_now[:3]
    SEEN.update({f"ref:{want[0]}:{want[3]}", f"later:{want_now[0]}"})

    # the same certificate with a reference block not in the past, or older than the window: stale
    for wrong in (bw.head() + 1, bw.head() - STALENESS - 2):
        assert bw.reg.checkSignatures(args[0], args[1], wrong, *args[3:])[0] == 2

    # replayed for another message, forged by a key outside the set: rejected
    assert bw.reg.checkSignatures(args[0], keccak(msg), *args[2:])[0] == 7
    forged = keys.aggregate_signatures([SecretKey(12345).sign(msg)])
    assert bw.reg.checkSignatures(*args[:5], group.g1_to_evm(forged))[0] == 7

    # rogue key: a key that cancels the other members' keys has no proof of possession
    attacker = next(o for o in bw.pool if model.member[o.address])
    rogue_sk = SecretKey(54321)
    others = [at_ref["keys"][a].public_key() for a in members]
    rogue = keys.PublicKey(
        group.g1_sum([rogue_sk.public_key().g1, *(group.g1_neg(p.g1) for p in others)]),
        group.g2_sum([rogue_sk.public_key().g2, *(group.g2_neg(p.g2) for p in others)]),
    )
    fake = (
        group.g1_to_evm(rogue.g1),
        group.g2_to_evm(rogue.g2),
        group.g1_to_evm(rogue_sk.prove_possession(attacker.address, chain.chain_id, bw.reg.address)),
    )
    assert bw.reg.operatorIdOf(BLS_SET, attacker) != b"\x00" * 32
    reverts("invalid proof of possession", bw.reg.rotateKey, BLS_SET, *fake, sender=attacker)


def test_anvil_keeps_no_step_traces(chain, monkeypatch) -> None:
    """tests/conftest.py starts anvil without --steps-tracing (a 200-operator pool would exhaust its
    memory) and keeps every receipt; the benches' variant also drops old blocks' transactions."""
    from ape_foundry.provider import FoundryProvider

    args = chain.provider.process.args
    assert "anvil" in args[0] and "--steps-tracing" not in args
    assert "--transaction-block-keeper" not in args
    monkeypatch.setattr(FoundryProvider, "build_command", FoundryProvider.build_command)  # undone after
    anvil_without_step_traces(keep_blocks=32)
    cmd = chain.provider.build_command()
    assert "--steps-tracing" not in cmd and cmd[-2:] == ["--transaction-block-keeper", "32"]


def test_fuzz_reached_every_outcome() -> None:
    """The examples above reached accepted and rejected thresholds and, at the later block, accepted
    and rejected certificates (runs after the fuzz in file order)."""
    if not SEEN:
        pytest.skip("the fuzz test did not run in this session")
    print(sorted(SEEN), f"{len(SIZES)} examples, set sizes {sorted(SIZES)}")
    assert max(SIZES) == POOL and min(SIZES) == 1
    assert {"ref:1:True", "ref:1:False", "later:1"} <= SEEN
    assert SEEN & {"later:5", "later:7"}
