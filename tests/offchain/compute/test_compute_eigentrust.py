"""EigenTrust in exact fixed point (offchain/compute/eigentrust.py and kernels/eigentrust.c): hand-checked
vectors, a second implementation in rational arithmetic that must agree bit for bit, the task binary
agreeing with the reference, the edge cases, every malformed encoding refused by both, score proofs,
and the task image run in the sandbox."""

from __future__ import annotations

import json
import struct
import subprocess
from fractions import Fraction
from math import floor

import pytest
from eth_hash.auto import keccak
from hypothesis import given
from hypothesis import strategies as st

from offchain.compute.eigentrust import (
    KERNEL,
    RESULT_SIZE,
    WAD,
    EigenTrustResult,
    TrustGraph,
    build_eigentrust_image,
    compute,
    graph_from_csv,
    merkle_root,
    parse_fraction_wad,
    run,
    score_leaf,
    verify_score,
)
from offchain.compute.errors import (
    EigenTrustError,
    NonCanonicalTrustGraph,
    NoPreTrust,
    ScoreProofError,
    TrustGraphEncodingError,
)
from offchain.compute.executor import dev_enclave, execute_task
from offchain.compute.testca import NitroTestCA
from tests.offchain.compute.support import eigen, reachable_dir, static_binary
from tests.offchain.compute.test_compute_sandbox import TEST_UID, needs_bwrap

A, B, C, D = (bytes([k]) * 20 for k in (1, 2, 3, 4))


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    """The task's binary, compiled from the kernel the image is built from."""
    return static_binary(
        tmp_path_factory.mktemp("eigentrust"), "eigentrust", KERNEL.read_text(), KERNEL.parent
    )


def run_kernel(binary, data: bytes) -> subprocess.CompletedProcess:
    return subprocess.run([str(binary)], input=data, capture_output=True, timeout=60, check=False)


# ---- a second implementation: rationals, a dense matrix, floors taken explicitly ----


def fraction_eigentrust(g: TrustGraph) -> tuple[list[int], int]:
    """The spec written again without the reference's code: a dense local-trust matrix of Fractions
    floored to WAD units, dangling rows replaced by the pre-trust vector, two floors per step."""
    n = len(g.peers)
    one = Fraction(WAD)
    ptot = sum(w for _, w in g.pretrust)
    p = [0] * n
    for i, w in g.pretrust:
        p[i] = floor(Fraction(w, ptot) * one)
    rows = [[0] * n for _ in range(n)]
    for i, j, w in g.edges:
        rows[i][j] = w
    cmat = []
    for i in range(n):
        s = sum(rows[i])
        cmat.append(list(p) if s == 0 else [floor(Fraction(w, s) * one) for w in rows[i]])
    a = Fraction(g.alpha, WAD)
    t, k = list(p), 0
    for k in range(1, g.max_iterations + 1):  # noqa: B007 - k is the iteration count after the loop
        nxt = []
        for j in range(n):
            v = floor(Fraction(sum(cmat[i][j] * t[i] for i in range(n)), WAD))
            nxt.append(floor((1 - a) * v + a * p[j]))
        delta = sum(abs(x - y) for x, y in zip(nxt, t, strict=True))
        t = nxt
        if delta <= g.epsilon:
            break
    return t, k


def tree_root(leaves: list[bytes]) -> bytes:
    """The score tree's root, recursively (the reference builds it level by level)."""
    size = 1 << (len(leaves) - 1).bit_length()
    padded = leaves + [bytes(32)] * (size - len(leaves))

    def node(lo: int, hi: int) -> bytes:
        return padded[lo] if hi - lo == 1 else keccak(node(lo, (lo + hi) // 2) + node((lo + hi) // 2, hi))

    return node(0, size)


@st.composite
def graphs(draw, max_peers=8):
    n = draw(st.integers(1, max_peers))
    peers = sorted(draw(st.sets(st.binary(min_size=20, max_size=20), min_size=n, max_size=n)))
    weight = st.one_of(st.integers(1, 9), st.integers(1, 2**64 - 1))
    pairs = draw(st.sets(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=3 * n))
    edges = tuple(sorted((i, j, draw(weight)) for i, j in pairs if i != j))
    pre_idx = sorted(draw(st.sets(st.integers(0, n - 1), min_size=1)))
    pretrust = tuple((i, draw(weight)) for i in pre_idx)
    return TrustGraph(
        epoch=draw(st.integers(0, 2**64 - 1)),
        alpha=draw(
            st.one_of(st.sampled_from([0, 1, WAD // 10, WAD // 2, WAD - 1, WAD]), st.integers(0, WAD))
        ),
        epsilon=draw(st.sampled_from([0, 1, 10**9, 10**16])),
        max_iterations=draw(st.integers(1, 40)),
        peers=tuple(peers),
        pretrust=pretrust,
        edges=edges,
    )


# ---- hand-checked vectors ----


def test_two_peers_three_iterations_by_hand():
    """a -> b and b -> a, only a pre-trusted, a = 1/2: t0 = (1, 0), t1 = (1/2, 1/2), t2 = (3/4, 1/4),
    t3 = (5/8, 3/8): every value a multiple of 1/8 of WAD, so no floor loses anything."""
    g = TrustGraph.from_edges([(A, B, 1), (B, A, 3)], {A: 1}, max_iterations=3, epoch=7)
    s = compute(g)
    assert s.scores == (5 * WAD // 8, 3 * WAD // 8) and s.iterations == 3
    r = EigenTrustResult.decode(s.result())
    assert (r.epoch, r.input_hash, r.peers, r.iterations) == (7, keccak(g.encode()), 2, 3)
    assert r.root == keccak(score_leaf(A, 5 * WAD // 8) + score_leaf(B, 3 * WAD // 8))


def test_two_peers_converge_to_two_thirds_and_stop_at_an_exact_fixed_point():
    """The limit is (2/3, 1/3); the integer iteration reaches a fixed point within a few units of it
    and, with epsilon 0, stops there (the next step would repeat it)."""
    s = compute(TrustGraph.from_edges([(A, B, 1), (B, A, 1)], {A: 1}, max_iterations=1000))
    assert s.iterations < 100
    assert abs(s.scores[0] - 2 * WAD // 3) <= 2 and abs(s.scores[1] - WAD // 3) <= 2
    again = compute(TrustGraph.from_edges([(A, B, 1), (B, A, 1)], {A: 1}, max_iterations=s.iterations + 50))
    assert again.scores == s.scores and again.iterations == s.iterations


def test_no_outgoing_trust_gives_the_pre_trusted_distribution():
    """Every peer dangling: its trust goes to p, so t = p after one step (delta 0: stop)."""
    s = compute(TrustGraph.from_edges([], {A: 1, B: 3}, peers=[C], max_iterations=50))
    assert s.scores == (WAD // 4, 3 * WAD // 4, 0) and s.iterations == 1


def test_pre_trust_is_floored_and_floors_lose_mass_by_units():
    """p = W//3 each (sum W - 1). Step 1: d = 3p, v = p*d // W = p - 1, t = (v + p) // 2 = p - 1.
    Step 2: d = 3(p - 1), v = p - 2, t = (2p - 2) // 2 = p - 1 again: delta 0, stop. The floors cost
    units of 10**-18, never more than the sum of one."""
    p = WAD // 3
    s = compute(TrustGraph.from_edges([], {A: 1, B: 1, C: 1}))
    assert s.scores == (p - 1,) * 3 and s.iterations == 2 and sum(s.scores) == WAD - 4


def test_a_dangling_peer_hands_its_trust_to_the_pre_trusted():
    """c trusts nobody: its score goes to a (the only pre-trusted), not to b or c."""
    one_step = TrustGraph.from_edges([(A, C, 1), (B, C, 1)], {A: 1}, peers=[B], alpha=0, max_iterations=2)
    # t0 = (1, 0, 0); t1: a's trust flows to c -> (0, 0, 1); t2: c dangling -> back to a -> (1, 0, 0)
    assert compute(one_step).scores == (WAD, 0, 0)


def test_alpha_one_is_the_pre_trust_and_alpha_zero_ignores_it():
    g = dict(edges=[(A, B, 1), (B, C, 1), (C, A, 1)], pretrust={A: 1})
    assert compute(TrustGraph.from_edges(**g, alpha=WAD)).scores == (WAD, 0, 0)
    # alpha 0 on a 3-cycle: the mass just rotates, never settles; the cap stops it
    s = compute(TrustGraph.from_edges(**g, alpha=0, max_iterations=4))
    assert s.scores == (0, WAD, 0) and s.iterations == 4


def test_epsilon_stops_early_and_the_result_names_the_count():
    g = dict(edges=[(A, B, 1), (B, A, 1)], pretrust={A: 1}, max_iterations=1000)
    coarse = compute(TrustGraph.from_edges(**g, epsilon=WAD // 100))
    fine = compute(TrustGraph.from_edges(**g, epsilon=0))
    assert coarse.iterations < fine.iterations
    assert EigenTrustResult.decode(coarse.result()).iterations == coarse.iterations


# ---- independent agreement ----


@given(graphs())
def test_the_reference_agrees_with_a_rational_implementation(g):
    s = compute(g)
    assert (list(s.scores), s.iterations) == fraction_eigentrust(g)
    assert sum(s.scores) <= WAD
    assert s.root == tree_root(
        [keccak(p + v.to_bytes(32, "big")) for p, v in zip(g.peers, s.scores, strict=True)]
    )


@given(graphs(max_peers=12))
def test_the_task_binary_agrees_with_the_reference_bit_for_bit(kernel, g):
    proc = run_kernel(kernel, g.encode())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == run(g.encode()) and len(proc.stdout) == RESULT_SIZE


def test_a_larger_graph_agrees(kernel):
    """300 peers, 3,000 edges (the input hash spans many keccak blocks; weights up to 2**64 - 1)."""
    import random

    rng = random.Random(20)
    peers = sorted({rng.randbytes(20) for _ in range(300)})
    edges = {(rng.randrange(300), rng.randrange(300)): rng.choice([1, 7, 2**64 - 1]) for _ in range(3000)}
    g = TrustGraph(
        1,
        WAD // 5,
        10**6,
        200,
        tuple(peers),
        tuple((i, i + 1) for i in range(0, 300, 7)),
        tuple(sorted((i, j, w) for (i, j), w in edges.items() if i != j)),
    )
    proc = run_kernel(kernel, g.encode())
    assert proc.returncode == 0 and proc.stdout == run(g.encode())
    assert 1 < EigenTrustResult.decode(proc.stdout).iterations < 200


# ---- canonical input: builder and decoder ----


def test_encoding_round_trips_and_is_unique():
    g = TrustGraph.from_edges([(B, A, 2), (A, B, 5), (A, C, 1)], {C: 2, A: 1}, epoch=3)
    assert TrustGraph.decode(g.encode()) == g
    assert (
        g.peers == (A, B, C)
        and g.edges == ((0, 1, 5), (0, 2, 1), (1, 0, 2))
        and g.pretrust == ((0, 1), (2, 2))
    )
    # the same graph given in another order (and addresses as text) encodes to the same bytes
    h = TrustGraph.from_edges([(A, C, 1), ("0x" + B.hex(), A, 2), (A, B, 5)], {A: 1, C: 2}, epoch=3)
    assert h.encode() == g.encode()


def test_self_trust_is_dropped_by_the_builder_and_refused_in_an_encoding():
    g = TrustGraph.from_edges([(A, A, 9), (A, B, 1)], {A: 1})
    assert g.edges == ((0, 1, 1),)
    with pytest.raises(NonCanonicalTrustGraph, match="self-edge"):
        TrustGraph(0, 0, 0, 1, (A, B), ((0, 1),), ((0, 0, 1), (0, 1, 1)))


def test_duplicates_and_zero_weights_are_refused():
    with pytest.raises(NonCanonicalTrustGraph, match="given twice"):
        TrustGraph.from_edges([(A, B, 1), (A, B, 2)], {A: 1})
    with pytest.raises(NonCanonicalTrustGraph, match="repeats"):
        TrustGraph(0, 0, 0, 1, (A, B), ((0, 1),), ((0, 1, 1), (0, 1, 1)))
    with pytest.raises(NonCanonicalTrustGraph, match="weight 0"):
        TrustGraph.from_edges([(A, B, 0)], {A: 1})
    with pytest.raises(NonCanonicalTrustGraph, match="weight 0"):
        TrustGraph.from_edges([(A, B, 1)], {A: 1, B: 0})


def test_zero_pre_trusted_is_refused():
    with pytest.raises(NoPreTrust):
        TrustGraph.from_edges([(A, B, 1)], {})
    with pytest.raises(NoPreTrust):
        TrustGraph(0, 0, 0, 1, (A, B), (), ((0, 1, 1),))


def _header(n=2, npre=1, nedges=1, magic=b"ETG1", alpha=WAD // 2, iters=10):
    return struct.pack(">4sQQQIIII", magic, 0, alpha, 0, iters, n, npre, nedges)


GOOD = _header() + A + B + struct.pack(">IQ", 0, 1) + struct.pack(">IIQ", 0, 1, 1)

MALFORMED = {
    "truncated header": (GOOD[:40], TrustGraphEncodingError),
    "bad magic": (b"ETG2" + GOOD[4:], TrustGraphEncodingError),
    "trailing byte": (GOOD + b"\x00", TrustGraphEncodingError),
    "one byte short": (GOOD[:-1], TrustGraphEncodingError),
    "no peers": (_header(n=0, npre=0, nedges=0), TrustGraphEncodingError),
    "more pre-trust than peers": (_header(n=1, npre=2, nedges=0) + A + bytes(24), TrustGraphEncodingError),
    "alpha above one": (_header(alpha=WAD + 1) + GOOD[44:], TrustGraphEncodingError),
    "zero iterations": (_header(iters=0) + GOOD[44:], TrustGraphEncodingError),
    "too many iterations": (_header(iters=10_001) + GOOD[44:], TrustGraphEncodingError),
    "no pre-trust": (_header(npre=0) + A + B + struct.pack(">IIQ", 0, 1, 1), NoPreTrust),
    "peers descending": (_header() + B + A + GOOD[84:], NonCanonicalTrustGraph),
    "peer repeated": (_header() + A + A + GOOD[84:], NonCanonicalTrustGraph),
    "pre-trust index past the peers": (
        _header() + A + B + struct.pack(">IQ", 2, 1) + GOOD[96:],
        TrustGraphEncodingError,
    ),
    "pre-trust weight 0": (_header() + A + B + struct.pack(">IQ", 0, 0) + GOOD[96:], NonCanonicalTrustGraph),
    "edge index past the peers": (GOOD[:96] + struct.pack(">IIQ", 0, 5, 1), TrustGraphEncodingError),
    "edge weight 0": (GOOD[:96] + struct.pack(">IIQ", 0, 1, 0), NonCanonicalTrustGraph),
    "self-edge": (GOOD[:96] + struct.pack(">IIQ", 1, 1, 1), NonCanonicalTrustGraph),
    "edges out of order": (
        _header(nedges=2) + GOOD[44:96] + struct.pack(">IIQ", 1, 0, 1) + struct.pack(">IIQ", 0, 1, 1),
        NonCanonicalTrustGraph,
    ),
    "edge repeated": (
        _header(nedges=2) + GOOD[44:96] + struct.pack(">IIQ", 0, 1, 1) * 2,
        NonCanonicalTrustGraph,
    ),
}


def test_the_good_encoding_is_good(kernel):
    assert TrustGraph.decode(GOOD).edges == ((0, 1, 1),)
    assert run_kernel(kernel, GOOD).stdout == run(GOOD)


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_a_malformed_encoding_is_refused_by_both(kernel, name):
    data, err = MALFORMED[name]
    with pytest.raises(err):
        compute(data)
    proc = run_kernel(kernel, data)
    assert proc.returncode == 2 and proc.stdout == b"" and proc.stderr.startswith(b"eigentrust: ")


def test_bad_values_are_typed_errors():
    with pytest.raises(TrustGraphEncodingError, match="is outside"):
        TrustGraph.from_edges([(A, B, 2**64)], {A: 1})
    with pytest.raises(TrustGraphEncodingError, match="must be an integer"):
        TrustGraph.from_edges([(A, B, 1.5)], {A: 1})
    with pytest.raises(TrustGraphEncodingError):
        TrustGraph.from_edges([("0x1234", B, 1)], {A: 1})
    with pytest.raises(TrustGraphEncodingError, match="bytes, not str"):
        TrustGraph.decode("ETG1")
    with pytest.raises(TrustGraphEncodingError, match="160 bytes"):
        EigenTrustResult.decode(bytes(159))
    assert issubclass(NoPreTrust, EigenTrustError) and issubclass(
        NonCanonicalTrustGraph, TrustGraphEncodingError
    )


# ---- scores, proofs ----


@given(graphs())
def test_every_score_has_a_proof_and_only_its_own(g):
    s = compute(g)
    for peer in g.peers:
        index, score, proof = s.proof(peer)
        assert score == s.of(peer) and verify_score(s.root, peer, score, index, proof)
        assert not verify_score(s.root, peer, score + 1, index, proof)
        if len(g.peers) > 1:
            assert not verify_score(s.root, peer, score, index ^ 1, proof)


def test_proof_refusals():
    s = compute(TrustGraph.from_edges([(A, B, 1)], {A: 1}, peers=[C]))
    with pytest.raises(ScoreProofError, match="not a peer"):
        s.proof(D)
    index, score, proof = s.proof(C)
    with pytest.raises(ScoreProofError, match="32 words"):
        verify_score(s.root, C, score, index, proof[:-1])
    with pytest.raises(ScoreProofError, match="does not fit"):
        verify_score(s.root, C, score, 4, proof)
    assert merkle_root([score_leaf(A, 1)]) == score_leaf(A, 1)
    assert s.vector_bytes()[:8] == b"ETS1" + struct.pack(">I", 3) and len(s.vector_bytes()) == 8 + 3 * 28


# ---- the task image ----


@needs_bwrap
def test_the_image_is_reproducible_and_runs_the_reference_in_the_sandbox():
    g = TrustGraph.from_edges([(A, B, 1), (B, C, 2), (C, A, 1), (C, B, 1)], {A: 1}, epoch=11)
    with reachable_dir() as work:
        built = build_eigentrust_image(work / "et.tar")
        assert build_eigentrust_image(work / "again.tar").digest == built.digest
        assert built.layers == ("app",) and built.config["config"]["Entrypoint"] == ["/app/eigentrust"]
        out = execute_task(
            work / "et.tar",
            built.digest,
            g.encode(),
            enclave=dev_enclave(NitroTestCA(seed=b"et")),
            workdir=work,
            uid=TEST_UID,
        )
    assert out.output == run(g.encode())
    assert out.receipt.receipt.outputHash == keccak(out.output)


# ---- CSV input and the command line ----


def test_graph_from_csv_reads_openrank_shaped_files():
    a, b, c = ("0x" + p.hex() for p in (A, B, C))
    g = graph_from_csv(f"i,j,v\n{a},{b},3\n\n# a comment\n{b},{c},1\n{c},{c},7\n", f"i,v\n{a},1\n", epoch=2)
    assert g == TrustGraph.from_edges([(A, B, 3), (B, C, 1)], {A: 1}, epoch=2)
    assert graph_from_csv(f"{a},{b},3\n", f"{a},1\n").edges == ((0, 1, 3),)  # no header


@pytest.mark.parametrize(
    ("edges", "pretrust", "match"),
    [
        ("0x" + "11" * 20 + ",0x" + "22" * 20 + ",x\n", "0x" + "11" * 20 + ",1", "line 1: weight 'x'"),
        (
            "i,j,v\n" + "0x" + "11" * 20 + ",0x" + "22" * 20 + ",-1\n",
            "0x" + "11" * 20 + ",1",
            "line 2: weight '-1'",
        ),
        ("0x" + "11" * 20 + ",0x" + "22" * 20 + "\n", "0x" + "11" * 20 + ",1", "3 comma-separated fields"),
        ("0x11,0x" + "22" * 20 + ",1\n", "0x" + "11" * 20 + ",1", "edges line 1"),
        ("", "0x" + "11" * 20 + ",1\n0x" + "11" * 20 + ",2\n", "given twice"),
        ("0x" + "11" * 20 + ",0x" + "22" * 20 + ",1\n", "i,v\n", "no pre-trusted peer"),
        ("", "", "0 peers"),
    ],
)
def test_graph_from_csv_refusals(edges, pretrust, match):
    with pytest.raises(EigenTrustError, match=match):
        graph_from_csv(edges, pretrust)


def test_fractions_of_one():
    assert parse_fraction_wad("0.2") == parse_fraction_wad("20%") == parse_fraction_wad("1/5") == WAD // 5
    assert parse_fraction_wad("1") == WAD and parse_fraction_wad("0") == 0
    for bad in ("1.5", "-0.1", "1/3", "abc", "1/0", "1e-19"):
        with pytest.raises(TrustGraphEncodingError):
            parse_fraction_wad(bad)


def test_cli_encode_run_and_refusals(tmp_path, capsys, kernel):
    a, b = "0x" + A.hex(), "0x" + B.hex()
    (tmp_path / "lt.csv").write_text(f"i,j,v\n{a},{b},3\n{b},{a},1\n")
    (tmp_path / "pt.csv").write_text(f"i,v\n{a},1\n")
    rc, out, _ = eigen(
        capsys, "compute", "eigentrust", "encode", "--edges", str(tmp_path / "lt.csv"),
        "--pretrust", str(tmp_path / "pt.csv"), "--alpha", "20%", "--epoch", "4", "-o", str(tmp_path / "g.bin"),
    )  # fmt: skip
    data = (tmp_path / "g.bin").read_bytes()
    assert rc == 0 and json.loads(out)["input_hash"] == "0x" + keccak(data).hex()
    g = TrustGraph.decode(data)
    assert (g.epoch, g.alpha, g.max_iterations) == (4, WAD // 5, 100)
    rc, out, _ = eigen(
        capsys, "compute", "eigentrust", "run", str(tmp_path / "g.bin"), "--proofs", "-o", str(tmp_path / "r")
    )
    doc, s = json.loads(out), compute(data)
    assert rc == 0 and (tmp_path / "r").read_bytes() == run(data) == run_kernel(kernel, data).stdout
    assert doc["root"] == "0x" + s.root.hex() and [int(r["score"]) for r in doc["scores"]] == list(s.scores)
    first = doc["scores"][0]
    assert verify_score(
        s.root, first["peer"], int(first["score"]), first["index"], bytes.fromhex(first["proof"][2:])
    )
    # bad input: one line on stderr, exit 2, nothing written
    (tmp_path / "bad.bin").write_bytes(data + b"\x00")
    rc, out, err = eigen(capsys, "compute", "eigentrust", "run", str(tmp_path / "bad.bin"))
    assert (
        (rc, out) == (2, "")
        and err.startswith("eigen: error: TrustGraphEncodingError:")
        and err.count("\n") == 1
    )
    rc, _, err = eigen(
        capsys, "compute", "eigentrust", "encode", "--edges", str(tmp_path / "lt.csv"),
        "--pretrust", str(tmp_path / "missing.csv"), "-o", str(tmp_path / "x.bin"),
    )  # fmt: skip
    assert rc == 2 and "InputFileError" in err and not (tmp_path / "x.bin").exists()
    rc, _, err = eigen(
        capsys, "compute", "eigentrust", "encode", "--edges", str(tmp_path / "lt.csv"),
        "--pretrust", str(tmp_path / "pt.csv"), "--alpha", "2", "-o", str(tmp_path / "x.bin"),
    )  # fmt: skip
    assert rc == 2 and "alpha '2'" in err and not (tmp_path / "x.bin").exists()
    rc, _, err = eigen(capsys, "compute", "eigentrust", "run", str(tmp_path / "g.bin"), "-o", str(tmp_path))
    assert rc == 2 and "is a directory" in err


def test_cli_image(tmp_path, capsys):
    rc, out, _ = eigen(capsys, "compute", "eigentrust", "image", "-o", str(tmp_path / "et.tar"))
    doc = json.loads(out)
    assert rc == 0 and doc["entrypoint"] == ["/app/eigentrust"] and doc["layers"] == ["app"]
    assert doc["digest"] == build_eigentrust_image(tmp_path / "again.tar").digest
