"""The trading policy task (offchain/compute/trading_policy.py, kernels/trading_policy.c): the kernel
gives the reference's bytes for every input, hostile answer texts (Unicode whitespace, near-answers,
surrogates, answers around the length limit) and boundary reserves and limits included; it refuses
exactly the byte strings the reference refuses; the encodings are unique; the image is reproducible
and runs the reference's function in the sandbox."""

from __future__ import annotations

import subprocess

import pytest
from eth_hash.auto import keccak
from hypothesis import given
from hypothesis import strategies as st

from offchain.compute.errors import PolicyInputError, PolicyOutputError
from offchain.compute.executor import dev_enclave, execute_task
from offchain.compute.testca import NitroTestCA
from offchain.compute.trading_policy import (
    HEADER_SIZE,
    KERNEL,
    MAX_TEXT_BYTES,
    OVER_TEXT,
    Decision,
    PolicyInput,
    build_trading_policy_image,
    decide,
    run,
)
from tests.offchain.compute.support import reachable_dir, static_binary
from tests.offchain.compute.test_compute_sandbox import TEST_UID, needs_bwrap

U256 = 2**256 - 1
ANSWERS = [
    f'{{"action":"{a}","size":"{s}"}}' for a in ("BUY", "SELL", "HOLD") for s in ("small", "medium", "large")
]
SPACES = [chr(c) for c in range(0x110000) if chr(c).isspace()]
NOT_SPACES = ["\u200b", "\ufeff", "\x00", "\u180e", "\x1b", "\ud800", "\udfff", "é", "\U0001f600"]
TOKENS = [bytes([k]) * 20 for k in (1, 2)]


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    """The task's binary, compiled from the kernel the image is built from."""
    tmp = tmp_path_factory.mktemp("trading-policy")
    return static_binary(tmp, "trading_policy", KERNEL.read_text(), KERNEL.parent)


def run_kernel(binary, data: bytes) -> subprocess.CompletedProcess:
    return subprocess.run([str(binary)], input=data, capture_output=True, timeout=60, check=False)


def agrees(binary, data: bytes) -> bytes | None:
    """Run both on `data`: the same output, or both refuse (the kernel with status 2 and nothing on
    stdout, the reference with PolicyInputError). Returns the output (None: refused)."""
    proc = run_kernel(binary, data)
    try:
        want = run(data)
    except PolicyInputError:
        assert (proc.returncode, proc.stdout) == (2, b""), proc
        return None
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == want
    return want


def policy_input(text="", **kw) -> PolicyInput:
    base = dict(
        strategy_hash=keccak(b"s"),
        feed_digest=keccak(b"f"),
        receipt_digest=keccak(b"r"),
        max_buy=500 * 10**6,
        max_sell=10**18 // 4,
        slippage_bips=100,
        token0=TOKENS[0],
        token1=TOKENS[1],
        fee_bips=30,
        reserve0=100_000 * 10**6,
        reserve1=50 * 10**18,
        text=text,
    )
    return PolicyInput(**(base | kw))


# ---- hostile inputs ----

boundary = st.sampled_from([0, 1, 2, 3, 9_999, 10_000, 10**6, 10**18, 2**128, 2**255, U256 - 1, U256])
words = st.one_of(boundary, st.integers(0, U256), st.integers(0, 10**30))
limits = st.one_of(st.sampled_from([1, 2, 3, 4, U256]), st.integers(1, U256), st.integers(1, 10**24))
bips = st.one_of(st.sampled_from([0, 1, 9_998, 9_999]), st.integers(0, 9_999))
space_runs = st.lists(st.sampled_from(SPACES), max_size=4).map("".join)


@st.composite
def near_answers(draw):
    """One of the nine answers with an edit: a character inserted, deleted or replaced."""
    a = draw(st.sampled_from(ANSWERS))
    i = draw(st.integers(0, len(a)))
    c = draw(st.one_of(st.sampled_from(NOT_SPACES + SPACES + list('{}":,abBUYS')), st.characters()))
    op = draw(st.sampled_from(("insert", "delete", "replace")))
    if op == "insert":
        return a[:i] + c + a[i:]
    if op == "delete":
        return a[:i] + a[i + 1 :]
    return a[:i] + c + a[i + 1 :]


@st.composite
def around_the_limit(draw):
    """An answer padded with (possibly multi-byte) whitespace to within a few bytes of the limit."""
    a = draw(st.sampled_from(ANSWERS))
    pad = draw(st.sampled_from([" ", "\u3000", "\x85", "\u2028"]))
    per = len(pad.encode("utf-8", "surrogatepass"))
    n = (MAX_TEXT_BYTES - len(a)) // per + draw(st.integers(-2, 2))
    left = draw(st.integers(0, max(n, 0)))
    return pad * left + a + pad * max(n - left, 0)


texts = st.one_of(
    st.builds(lambda p, a, q: p + a + q, space_runs, st.sampled_from(ANSWERS), space_runs),
    near_answers(),
    around_the_limit(),
    st.text(alphabet=st.characters(exclude_categories=()), max_size=40),
    st.sampled_from(["", " ", "\ud800", OVER_TEXT, ANSWERS[0] + "\x00", "\ufeff" + ANSWERS[3]]),
)


@st.composite
def inputs(draw):
    t0 = draw(st.sampled_from(TOKENS))
    return PolicyInput(
        keccak(draw(st.binary(max_size=4))),
        keccak(b"feed"),
        keccak(b"receipt"),
        draw(limits),
        draw(limits),
        draw(bips),
        t0,
        draw(st.sampled_from(TOKENS)),
        draw(bips),
        draw(words),
        draw(words),
        draw(texts),
    )


@given(inputs())
def test_the_kernel_is_the_reference_bit_for_bit(kernel, p):
    data = p.encode()
    out = agrees(kernel, data)
    assert out is not None
    h, d = Decision.decode(out)
    assert h == keccak(data) and d == decide(p)
    assert PolicyInput.decode(data).encode() == data  # the one encoding


@given(inputs(), st.data())
def test_the_kernel_refuses_what_the_reference_refuses(kernel, p, data):
    """Flipped, cut, extended or re-lengthed encodings (and invalid UTF-8 in the text)."""
    raw = bytearray(p.encode())
    how = data.draw(st.sampled_from(("flip", "cut", "extend", "length", "bytes")))
    if how == "flip":
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] ^= data.draw(st.integers(1, 255))
    elif how == "cut":
        del raw[data.draw(st.integers(0, len(raw) - 1)) :]
    elif how == "extend":
        raw += data.draw(st.binary(min_size=1, max_size=8))
    elif how == "length":
        raw[HEADER_SIZE - 4 : HEADER_SIZE] = data.draw(st.integers(0, 2**32 - 1)).to_bytes(4, "big")
    else:
        text = data.draw(st.binary(max_size=12))
        raw[HEADER_SIZE - 4 :] = len(text).to_bytes(4, "big") + text
    agrees(kernel, bytes(raw))


def test_boundary_cases_agree(kernel):
    cases = [
        policy_input(ANSWERS[2], reserve0=U256, reserve1=U256, max_buy=U256),  # the widest products
        policy_input(ANSWERS[5], reserve0=U256, reserve1=1, max_sell=U256, fee_bips=0, slippage_bips=0),
        policy_input(ANSWERS[0], reserve0=1, reserve1=U256, max_buy=3),  # amount floors to 0: HOLD
        policy_input(ANSWERS[0], reserve0=0, reserve1=10**18),  # an empty side quotes nothing
        policy_input(ANSWERS[3], token1=TOKENS[0]),  # token1 == token0: the pool's formula as written
        policy_input(ANSWERS[8]),
        policy_input(" \t\n" + ANSWERS[1] + "\u3000\x1c"),
        policy_input(ANSWERS[1] + " " * (MAX_TEXT_BYTES - len(ANSWERS[1]))),  # exactly the limit
        policy_input(ANSWERS[1] + " " * (MAX_TEXT_BYTES - len(ANSWERS[1]) + 1)),  # one over
        policy_input("\ud800" + ANSWERS[1]),
    ]
    outs = [Decision.decode(agrees(kernel, p.encode()))[1] for p in cases]
    assert outs[0].action == "BUY" and outs[0].amount_in == U256 and outs[0].min_out > 2**200
    assert (outs[1].action, outs[1].amount_in, outs[1].min_out) == ("SELL", U256, U256 - 1)
    assert outs[2] == Decision("HOLD", 0, 0, "BUY small: the pool quotes nothing: hold")
    assert outs[3].reason == "BUY small: the pool quotes nothing: hold"
    assert outs[5] == Decision("HOLD", 0, 0, "the model holds")
    assert outs[6].action == "BUY" and outs[6].reason == "BUY medium (50% of the limit)"
    assert outs[7].action == "BUY"
    assert outs[8] == Decision("HOLD", 0, 0, f"answer over {MAX_TEXT_BYTES} bytes: hold (fail closed)")
    assert outs[9] == Decision("HOLD", 0, 0, "unparseable answer: hold (fail closed)")
    assert len(cases[8].encode()) == HEADER_SIZE  # an over-long answer travels as its length only


def test_a_decision_by_hand():
    p = policy_input(ANSWERS[1])  # BUY medium: 250 USDC into 100,000 USDC / 50 dETH, fee 30 bips
    with_fee = 250 * 10**6 * 9_970
    quote = with_fee * 50 * 10**18 // (100_000 * 10**6 * 10_000 + with_fee)
    assert decide(p) == Decision("BUY", 250 * 10**6, quote * 9_900 // 10_000, "BUY medium (50% of the limit)")


def test_bad_values_are_typed_errors():
    for kw in (
        {"max_buy": 0},
        {"max_sell": 2**256},
        {"reserve0": -1},
        {"fee_bips": 10_000},
        {"slippage_bips": True},
        {"token0": b"\x01" * 19},
        {"strategy_hash": b""},
        {"text": b"bytes"},
    ):
        with pytest.raises(PolicyInputError):
            policy_input(**kw)
    with pytest.raises(PolicyInputError, match="shorter"):
        PolicyInput.decode(b"TPI1")


def test_output_decoding_refuses_every_other_byte_string():
    h = keccak(b"in")
    good = Decision("SELL", 5, 4, "SELL small (25% of the limit)").encode(h)
    assert Decision.decode(good) == (h, Decision("SELL", 5, 4, "SELL small (25% of the limit)"))
    bad = {
        "short": good[:191],
        "ragged": good + b"\x00",
        "action": good[:63] + b"\x07" + good[64:],
        "offset": good[:159] + b"\xc0" + good[160:],
        "length": good[:191] + b"\x21" + good[192:],
        "padding": good[:-1] + b"\x01",
        "hold with amounts": Decision("HOLD", 1, 0, "x").encode(h),
        "buy of nothing": Decision("BUY", 0, 0, "x").encode(h),
        "control bytes": Decision("BUY", 1, 1, "a\nb").encode(h),
    }
    for name, data in bad.items():
        with pytest.raises(PolicyOutputError):
            Decision.decode(data)
            pytest.fail(name)


@needs_bwrap
def test_the_image_is_reproducible_and_runs_the_reference_in_the_sandbox():
    data = policy_input(ANSWERS[4]).encode()
    with reachable_dir() as work:
        built = build_trading_policy_image(work / "tp.tar")
        assert build_trading_policy_image(work / "again.tar").digest == built.digest
        assert built.layers == ("app",) and built.config["config"]["Entrypoint"] == ["/app/trading_policy"]
        out = execute_task(
            work / "tp.tar",
            built.digest,
            data,
            enclave=dev_enclave(NitroTestCA(seed=b"tp")),
            workdir=work,
            uid=TEST_UID,
        )
    assert out.output == run(data)
    assert Decision.decode(out.output)[1].action == "SELL"
