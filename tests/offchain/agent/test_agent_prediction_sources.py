"""A relayer's view of a k-of-n recorded question (offchain/agent/prediction.py: ``quorum``,
``equivocations``, ``Recording.args``/``contest_args``/``key``), without a chain: which recording k
sources signed, that an equivocating source counts for neither side, and the proofs it leaves. The
contract's side is tests/contracts/test_agent_prediction_market.py."""

from __future__ import annotations

from eth_account import Account
from eth_hash.auto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from offchain.agent.prediction import Recording, equivocations, quorum, recorded_request_hash

MARKET = "0x" + "11" * 20
KEYS = [Account.from_key(keccak(b"relayer test source %d" % i)) for i in range(7)]
TRUTH = Recording(31337, MARKET, 4, keccak(b"cert"), keccak(b"prompt"))
LIE = Recording(31337, MARKET, 4, keccak(b"other cert"), keccak(b"other prompt"))


def sig(rec, i):
    return KEYS[i].address, rec, rec.sign(KEYS[i].key)


def test_quorum_picks_the_recording_k_sources_signed():
    signed = [sig(TRUTH, 0), sig(LIE, 1), sig(TRUTH, 2)]
    rec, pairs = quorum(signed, 2)
    assert rec == TRUTH and [a for a, _ in pairs] == [KEYS[0].address, KEYS[2].address]
    assert all(TRUTH.signer(s) == a for a, s in pairs)
    assert quorum(signed, 3) is None
    args = TRUTH.args(*pairs)
    assert args == (
        4,
        TRUTH.inputs_ref,
        TRUTH.prompt_hash,
        [KEYS[0].address, KEYS[2].address],
        [s for _, s in pairs],
    )
    assert TRUTH.args() == (4, TRUTH.inputs_ref, TRUTH.prompt_hash, [], [])
    # a duplicate signature of the same source counts once
    assert quorum([sig(TRUTH, 0), sig(TRUTH, 0)], 2) is None


def test_an_equivocating_source_counts_for_neither_and_is_proven():
    signed = [sig(TRUTH, 0), sig(LIE, 0), sig(TRUTH, 1), sig(LIE, 2)]
    assert quorum(signed, 2) is None  # source 0 signed both: only 1 and 2 remain, one each
    [(source, first, first_sig, other, other_sig)] = equivocations(signed)
    assert (source, first, other) == (KEYS[0].address, TRUTH, LIE)
    assert first.signer(first_sig) == other.signer(other_sig) == source
    assert other.contest_args(source, other_sig) == (4, source, LIE.inputs_ref, LIE.prompt_hash, other_sig)
    # signing the same recording twice, or recordings of two questions, is no equivocation
    elsewhere = Recording(31337, MARKET, 5, LIE.inputs_ref, LIE.prompt_hash)
    assert equivocations([sig(TRUTH, 0), sig(TRUTH, 0), sig(elsewhere, 0)]) == []


def test_key_is_the_contract_tally_key():
    base = keccak(b"base")
    request = recorded_request_hash(base, TRUTH.prompt_hash)
    assert TRUTH.key(base) == keccak(TRUTH.inputs_ref + request)
    assert TRUTH.key(base) != LIE.key(base) != TRUTH.key(keccak(b"other base"))


@settings(max_examples=40, deadline=None)
@given(
    roles=st.lists(st.sampled_from(["honest", "liar", "equivocator", "silent"]), min_size=1, max_size=7),
    data=st.data(),
)
def test_quorum_never_returns_a_minority_lie(roles, data):
    """With fewer consistent liars than k, quorum returns the truth or nothing, and returns the truth
    when k sources are honest (equivocators count for neither side)."""
    n = len(roles)
    k = data.draw(st.integers(1, n))
    if roles.count("liar") >= k:
        roles = ["honest" if r == "liar" else r for r in roles]
    wants = {"honest": (TRUTH,), "liar": (LIE,), "equivocator": (TRUTH, LIE), "silent": ()}
    signed = data.draw(st.permutations([sig(rec, i) for i, r in enumerate(roles) for rec in wants[r]]))
    found = quorum(signed, k)
    assert found is None or found[0] == TRUTH
    if roles.count("honest") >= k:
        assert found is not None and len(found[1]) == k
    assert {s for s, *_ in equivocations(signed)} == {
        KEYS[i].address for i, r in enumerate(roles) if r == "equivocator"
    }
