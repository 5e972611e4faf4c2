"""``eigen da encode | verify | recover`` end to end on the real SRS prefix, and input errors."""

import json
from pathlib import Path

import pytest

from offchain.cli import main
from tests.support import VECTORS, vector_path


@pytest.fixture(scope="module")
def encoded_dir(tmp_path_factory) -> Path:
    vector_path("da", "g1_mainnet_first3000.point")
    d = tmp_path_factory.mktemp("da")
    (d / "payload.txt").write_bytes(b"hello")
    rc = main(
        [
            "da",
            "encode",
            str(d / "payload.txt"),
            "--out",
            str(d / "out"),
            "--srs",
            str(VECTORS / "da"),
            "--quiet",
        ]
    )
    assert rc == 0
    return d / "out"


def _srs() -> list[str]:
    return ["--srs", str(VECTORS / "da"), "--quiet"]


def test_da_cli_encode_outputs(encoded_dir: Path) -> None:
    info = json.loads((encoded_dir / "commitment.json").read_text())
    assert info["commitment"] == "c77c6035a37651f197e3aa3034cba5f6422f97df7ec13573d430d0fca12bed42"
    assert info["length"] == 2 and info["chunk_length"] == 1 and not info["insecure_srs"]
    assert (encoded_dir / "frames.bin").stat().st_size == 13 + 8192 * (4 + 32 + 32)


def test_da_cli_verify_and_recover(encoded_dir: Path, tmp_path: Path, capsys) -> None:
    assert (
        main(["da", "verify", str(encoded_dir), "--chunks", "0,1,77,8191", "--no-length-proof", *_srs()]) == 0
    )
    out = tmp_path / "payload"
    assert (
        main(["da", "recover", str(encoded_dir), "--out", str(out), "--sample", "3", "--seed", "1", *_srs()])
        == 0
    )
    assert out.read_bytes() == b"hello"


def test_da_cli_detects_and_skips_corrupted_chunk(encoded_dir: Path, tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "commitment.json").write_bytes((encoded_dir / "commitment.json").read_bytes())
    data = bytearray((encoded_dir / "frames.bin").read_bytes())
    rec = 4 + 32 + 32
    data[13 + 5 * rec + 4 + 32 + 31] ^= 1  # last coefficient byte of chunk 5
    (bad / "frames.bin").write_bytes(bytes(data))
    assert main(["da", "verify", str(bad), "--chunks", "5,6", *_srs()]) == 1
    assert "[5]" in capsys.readouterr().out
    out = tmp_path / "payload"
    assert main(["da", "recover", str(bad), "--out", str(out), "--chunks", "4,5,6", *_srs()]) == 0
    assert out.read_bytes() == b"hello"
    assert "rejected 1" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv,msg",
    [
        (["da", "encode", "/nonexistent/payload", "--out", "/tmp/x", "--quiet"], "payload file not found"),
        (["da", "verify", "/nonexistent/dir", "--quiet"], "commitment file not found"),
    ],
)
def test_da_cli_input_errors(argv: list[str], msg: str, capsys) -> None:
    assert main(argv + ["--srs", str(VECTORS / "da")]) == 2
    assert msg in capsys.readouterr().err


def test_da_cli_requires_srs(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("EIGEN_DA_SRS", raising=False)
    (tmp_path / "p").write_bytes(b"x")
    assert main(["da", "encode", str(tmp_path / "p"), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "no SRS" in capsys.readouterr().err


def test_da_cli_malformed_frames(encoded_dir: Path, tmp_path: Path, capsys) -> None:
    d = tmp_path / "m"
    d.mkdir()
    (d / "commitment.json").write_bytes((encoded_dir / "commitment.json").read_bytes())
    (d / "frames.bin").write_bytes(b"EDAF\x01" + bytes(8) + b"junk")
    assert main(["da", "verify", str(d), *_srs()]) == 2
    assert "FrameFileError" in capsys.readouterr().err
    (d / "commitment.json").write_text("{not json")
    assert main(["da", "verify", str(d), *_srs()]) == 2


def test_da_cli_bad_chunk_list(encoded_dir: Path, capsys) -> None:
    assert main(["da", "verify", str(encoded_dir), "--chunks", "1,x", *_srs()]) == 2
    assert main(["da", "verify", str(encoded_dir), "--chunks", "9000", *_srs()]) == 2


def test_da_cli_insecure_srs_roundtrip(tmp_path: Path, capsys) -> None:
    (tmp_path / "p").write_bytes(b"z" * 20)
    o = tmp_path / "o"
    assert main(["da", "encode", str(tmp_path / "p"), "--out", str(o), "--insecure-test-srs", "--quiet"]) == 0
    assert "INSECURE" in capsys.readouterr().err
    assert main(["da", "verify", str(o), "--chunks", "0,9", "--srs", str(VECTORS / "da"), "--quiet"]) == 2
    assert main(["da", "verify", str(o), "--chunks", "0,9", "--insecure-test-srs", "--quiet"]) == 0


def test_da_cli_real_srs_without_g2_files_has_no_length_proof(encoded_dir: Path, capsys) -> None:
    """The SRS vectors hold no g2.point / g2.trailing.point: the commitment file says nothing about the
    length, so verify cannot check it: NOT VERIFIED, exit 1 (never VALID with a check skipped), unless
    --no-length-proof asks for the chunks only."""
    info = json.loads((encoded_dir / "commitment.json").read_text())
    assert "length_commitment" not in info and "length_proof" not in info
    capsys.readouterr()
    assert main(["da", "verify", str(encoded_dir), "--chunks", "0", *_srs()]) == 1
    out = capsys.readouterr().out
    assert out.startswith("NOT VERIFIED: 1 chunks verified") and "no length commitment/proof" in out
    assert "VALID:" not in out
    assert main(["da", "verify", str(encoded_dir), "--chunks", "0", "--no-length-proof", *_srs()]) == 0
    assert capsys.readouterr().out.startswith("VALID (chunks only, --no-length-proof")


@pytest.fixture(scope="module")
def insecure_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("da_len")
    (d / "p").write_bytes(bytes(range(256)) * 3)  # 768 bytes -> 32 symbols
    assert main(["da", "encode", str(d / "p"), "--out", str(d / "o"), "--insecure-test-srs", "--quiet"]) == 0
    return d / "o"


def _ins(d: Path, *extra: str) -> list[str]:
    return ["da", "verify", str(d), "--chunks", "0,3", "--insecure-test-srs", "--quiet", *extra]


def test_da_cli_length_commitment_and_proof(insecure_dir: Path, capsys) -> None:
    """encode writes EigenDA's whole BlobCommitment (commitment, length commitment and proof, length);
    verify checks both length pairings; the points are the encoder's own."""
    from offchain.crypto import bn254
    from offchain.da import codec
    from offchain.da.eigenda.encoder import Encoder
    from offchain.da.srs import insecure_test_srs

    info = json.loads((insecure_dir / "commitment.json").read_text())
    n = info["length"]
    assert n == 32 and len(bytes.fromhex(info["length_commitment"])) == 64
    enc = Encoder(insecure_test_srs(n))
    coeffs = enc.blob_to_coeffs(codec.encode_payload(bytes(range(256)) * 3))
    assert bn254.g2_compress(enc.length_commitment(coeffs)).hex() == info["length_commitment"]
    assert bn254.g2_compress(enc.length_proof(coeffs)).hex() == info["length_proof"]
    capsys.readouterr()
    assert main(_ins(insecure_dir)) == 0
    assert "length commitment and length proof (degree < 32) valid" in capsys.readouterr().out


def _tampered(src: Path, dst: Path, **fields: object) -> Path:
    dst.mkdir()
    (dst / "frames.bin").write_bytes((src / "frames.bin").read_bytes())
    info = json.loads((src / "commitment.json").read_text())
    info.update(fields)
    (dst / "commitment.json").write_text(json.dumps(info))
    return dst


def test_da_cli_length_tampering(insecure_dir: Path, tmp_path: Path, capsys) -> None:
    from offchain.crypto import bn254

    info = json.loads((insecure_dir / "commitment.json").read_text())
    G = bn254.bn254(__import__("numpy"))
    gen2 = bn254.g2_compress(G.g2.generator).hex()
    # the proof of another (valid) point, e.g. the length commitment itself: the degree claim fails
    d = _tampered(insecure_dir, tmp_path / "a", length_proof=info["length_commitment"])
    assert main(_ins(d)) == 1
    assert "length proof does not prove degree < 32" in capsys.readouterr().out
    # a length commitment of another polynomial
    d = _tampered(insecure_dir, tmp_path / "b", length_commitment=gen2)
    assert main(_ins(d)) == 1
    assert "length commitment is not the blob commitment's polynomial" in capsys.readouterr().out
    # a shorter claimed length (same chunk length L = 1): the length proof is for 32, not 16
    d = _tampered(insecure_dir, tmp_path / "e", length=16)
    assert main(_ins(d)) == 1
    assert "does not prove degree < 16" in capsys.readouterr().out
    # a corrupted length proof (no longer a point of the subgroup) is a file error, not a verdict
    d = _tampered(insecure_dir, tmp_path / "c", length_proof=info["length_proof"][:-2] + "00")
    assert main(_ins(d)) == 2
    assert "FrameFileError" in capsys.readouterr().err
    d = _tampered(insecure_dir, tmp_path / "d", length_commitment="zz")
    assert main(_ins(d)) == 2
    assert "malformed length commitment" in capsys.readouterr().err


def test_da_cli_no_length_proof_flag(tmp_path: Path, capsys) -> None:
    (tmp_path / "p").write_bytes(b"abc")
    o = tmp_path / "o"
    assert (
        main(
            [
                "da",
                "encode",
                str(tmp_path / "p"),
                "--out",
                str(o),
                "--insecure-test-srs",
                "--no-length-proof",
                "--quiet",
            ]
        )
        == 0
    )
    assert "length_commitment" not in json.loads((o / "commitment.json").read_text())


def test_da_cli_bundle_roundtrip(insecure_dir: Path, tmp_path: Path, capsys) -> None:
    """EigenDA validator bundles: header (format 1 in the top byte, L below), chunks as gnark proof +
    coefficients, the frames file's bytes; verify and recover read them back with their indices."""
    from offchain.da.files import read_frames

    b = tmp_path / "b.bundle"
    assert main(["da", "bundle", str(insecure_dir), "--chunks", "7,3,100-102", "--out", str(b)]) == 0
    data = b.read_bytes()
    fr = read_frames(insecure_dir / "frames.bin")
    assert data[:8] == ((1 << 56) | fr.L).to_bytes(8, "little") == bytes([1, 0, 0, 0, 0, 0, 0, 1])
    order = [7, 3, 100, 101, 102]
    pos = {int(i): k for k, i in enumerate(fr.index)}
    want = b"".join(fr.proofs[32 * pos[i] : 32 * pos[i] + 32] + fr.coeffs[pos[i]].tobytes() for i in order)
    assert data[8:] == want
    capsys.readouterr()
    ins = ["--insecure-test-srs", "--quiet"]
    assert main(["da", "verify", str(insecure_dir), "--bundle", str(b), "--chunks", "7,3,100-102", *ins]) == 0
    assert "VALID: 5 chunks" in capsys.readouterr().out
    # the same records under the wrong indices fail (they are proofs for other cosets)
    assert main(["da", "verify", str(insecure_dir), "--bundle", str(b), "--chunks", "3,7,100-102", *ins]) == 1
    assert "[3, 7]" in capsys.readouterr().out
    # n = 32 symbols -> any 32 chunks recover the blob
    big = tmp_path / "big.bundle"
    assert main(["da", "bundle", str(insecure_dir), "--chunks", "4000-4031", "--out", str(big)]) == 0
    out = tmp_path / "payload"
    assert (
        main(
            [
                "da",
                "recover",
                str(insecure_dir),
                "--bundle",
                str(big),
                "--chunks",
                "4000-4031",
                "--out",
                str(out),
                *ins,
            ]
        )
        == 0
    )
    assert out.read_bytes() == bytes(range(256)) * 3


@pytest.mark.parametrize(
    "mutate,argv_chunks,msg",
    [
        (lambda d: d[:7], "7", "shorter than the 8-byte bundle header"),
        (lambda d: bytes([d[0], 0, 0, 0, 0, 0, 0, 2]) + d[8:], "7", "encoding format 2"),
        (lambda d: bytes([3]) + d[1:], "7", "chunk length 3 is not a power of two"),
        (lambda d: d[:-1], "7", "not a positive multiple of 64"),
        (lambda d: d, "7,8", "1 chunks in the bundle, 2 chunk indices given"),
        (lambda d: d + d[8:], "7,7", "lists a chunk twice"),
        (lambda d: d, None, "--bundle needs --chunks"),
    ],
)
def test_da_cli_bad_bundles(insecure_dir: Path, tmp_path: Path, capsys, mutate, argv_chunks, msg) -> None:
    b = tmp_path / "b.bundle"
    assert main(["da", "bundle", str(insecure_dir), "--chunks", "7", "--out", str(b)]) == 0
    b.write_bytes(mutate(b.read_bytes()))
    argv = ["da", "verify", str(insecure_dir), "--bundle", str(b), "--insecure-test-srs", "--quiet"]
    if argv_chunks is not None:
        argv += ["--chunks", argv_chunks]
    capsys.readouterr()
    assert main(argv) == 2
    assert msg in capsys.readouterr().err


def test_da_cli_bundle_input_errors(insecure_dir: Path, tmp_path: Path, capsys) -> None:
    out = str(tmp_path / "x")
    assert main(["da", "bundle", str(insecure_dir), "--chunks", "5-3", "--out", out]) == 2
    assert "ranges a-b" in capsys.readouterr().err
    assert main(["da", "bundle", str(insecure_dir), "--chunks", "1,1", "--out", out]) == 2
    assert "twice" in capsys.readouterr().err
    assert main(["da", "bundle", str(tmp_path), "--chunks", "1", "--out", out]) == 2
    assert "frames file not found" in capsys.readouterr().err


# ----- degenerate inputs, output paths, flags: one line on stderr and exit 2 ---------------------
def _one_line_error(capsys, msg: str) -> None:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and msg in err[0] and "Traceback" not in err[0], err


def test_da_cli_zero_chunk_frames_is_input_error(encoded_dir: Path, tmp_path: Path, capsys) -> None:
    d = tmp_path / "zero"
    d.mkdir()
    (d / "commitment.json").write_bytes((encoded_dir / "commitment.json").read_bytes())
    (d / "frames.bin").write_bytes(b"EDAF\x01" + (1).to_bytes(4, "big") + (0).to_bytes(4, "big"))
    capsys.readouterr()
    assert main(["da", "verify", str(d), *_srs()]) == 2
    _one_line_error(capsys, "chunk count 0 not in [1, 8192]")
    assert main(["da", "recover", str(d), "--out", str(tmp_path / "p"), *_srs()]) == 2
    _one_line_error(capsys, "chunk count 0")
    assert main(["da", "bundle", str(d), "--chunks", "0", "--out", str(tmp_path / "b")]) == 2
    _one_line_error(capsys, "chunk count 0")


def test_da_cli_frames_path_unreadable(encoded_dir: Path, tmp_path: Path, capsys) -> None:
    d = tmp_path / "dirframes"
    d.mkdir()
    (d / "commitment.json").write_bytes((encoded_dir / "commitment.json").read_bytes())
    (d / "frames.bin").mkdir()
    capsys.readouterr()
    assert main(["da", "verify", str(d), *_srs()]) == 2
    _one_line_error(capsys, "frames.bin")


def test_da_cli_output_paths_checked_first(encoded_dir: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    """A bad output path is refused before the SRS is even looked for (no SRS given here)."""
    monkeypatch.delenv("EIGEN_DA_SRS", raising=False)
    (tmp_path / "p").write_bytes(b"x")
    afile = tmp_path / "afile"
    afile.write_bytes(b"")
    capsys.readouterr()
    cases = [
        (["da", "encode", str(tmp_path / "p"), "--out", str(afile)], "exists and is not a directory"),
        (["da", "encode", str(tmp_path / "p"), "--out", str(afile / "sub")], "is not a directory"),
        (["da", "recover", str(encoded_dir), "--out", str(tmp_path)], "is a directory, not a file"),
        (["da", "recover", str(encoded_dir), "--out", str(tmp_path / "no" / "p")], "does not exist"),
        (["da", "bundle", str(encoded_dir), "--chunks", "0", "--out", str(tmp_path)], "is a directory"),
        (
            ["da", "bundle", str(encoded_dir), "--chunks", "0", "--out", str(tmp_path / "no" / "b")],
            "does not exist",
        ),
    ]
    for argv, msg in cases:
        assert main([*argv, "--quiet"] if argv[1] != "bundle" else argv) == 2, argv
        _one_line_error(capsys, msg)


def test_da_cli_srs_flags_exclusive(encoded_dir: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "p").write_bytes(b"x")
    both = ["--srs", str(VECTORS / "da"), "--insecure-test-srs", "--quiet"]
    capsys.readouterr()
    for argv in (
        ["da", "encode", str(tmp_path / "p"), "--out", str(tmp_path / "o")],
        ["da", "verify", str(encoded_dir)],
        ["da", "recover", str(encoded_dir), "--out", str(tmp_path / "r")],
    ):
        assert main([*argv, *both]) == 2
        _one_line_error(capsys, "--srs and --insecure-test-srs are mutually exclusive")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "chunks,msg",
    [
        ("0-99999999999", "in [0, 8192)"),
        ("0-8191,0-8191", "more than the 8192 chunks"),
        ("3,1-5", "lists a chunk twice: [3]"),
        ("9" * 5000, "comma-separated integers"),
        ("-5", "comma-separated integers"),
        (",", "in [0, 8192)"),
    ],
)
def test_da_cli_chunk_ranges_bounded(encoded_dir: Path, capsys, chunks: str, msg: str) -> None:
    assert main(["da", "verify", str(encoded_dir), "--chunks", chunks, *_srs()]) == 2
    _one_line_error(capsys, msg)


def test_da_cli_bad_seed_and_sample(encoded_dir: Path, tmp_path: Path, capsys) -> None:
    out = str(tmp_path / "p")
    assert (
        main(["da", "recover", str(encoded_dir), "--out", out, "--sample", "3", "--seed", "-1", *_srs()]) == 2
    )
    _one_line_error(capsys, "--seed must be a non-negative integer")
    assert main(["da", "recover", str(encoded_dir), "--out", out, "--sample", "0", *_srs()]) == 2
    _one_line_error(capsys, "--sample must be a positive number")


def test_da_cli_verify_progress_and_fail_fast(insecure_dir: Path, tmp_path: Path, capsys) -> None:
    """The bisection shows chunks resolved and bad ones found on stderr; --fail-fast stops at the first."""
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "commitment.json").write_bytes((insecure_dir / "commitment.json").read_bytes())
    data = bytearray((insecure_dir / "frames.bin").read_bytes())
    L = json.loads((insecure_dir / "commitment.json").read_text())["chunk_length"]
    rec = 4 + 32 + 32 * L
    for k in (3, 6):
        data[13 + k * rec + 4 + 32 + 31] ^= 1
    (bad / "frames.bin").write_bytes(bytes(data))
    argv = ["da", "verify", str(bad), "--chunks", "0-15", "--insecure-test-srs"]
    capsys.readouterr()
    assert main(argv) == 1
    out, err = capsys.readouterr()
    assert "2 of 16 chunks fail: [3, 6]" in out
    assert "chunks resolved" in err and "16/16" in err and "bad=2" in err
    assert main([*argv, "--fail-fast", "--quiet"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("INVALID: chunk 3 fails (--fail-fast")


def test_da_cli_every_option_has_help_and_default() -> None:
    """Every argument of every ``eigen da`` command has help text; every option that takes a value and is
    not required says its default, and so does every flag."""
    import argparse

    from offchain.cli import build_parser

    def leaves(p: argparse.ArgumentParser, path: str):
        subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            yield path, p
        for a in subs:
            for name, child in a.choices.items():
                yield from leaves(child, f"{path} {name}")

    da = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices["da"]
    seen = 0
    for path, p in leaves(da, "da"):
        for a in p._actions:
            if isinstance(a, argparse._HelpAction):
                continue
            seen += 1
            assert a.help, f"{path} {a.dest}: no help"
            if a.option_strings and not a.required:
                assert "default" in a.help, f"{path} {a.option_strings[0]}: help does not say its default"
    assert seen > 30
