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
    assert main(["da", "verify", str(encoded_dir), "--chunks", "0,1,77,8191", *_srs()]) == 0
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
    length and verify says the length was not checked (and still passes)."""
    info = json.loads((encoded_dir / "commitment.json").read_text())
    assert "length_commitment" not in info and "length_proof" not in info
    assert main(["da", "verify", str(encoded_dir), "--chunks", "0", *_srs()]) == 0
    assert "no length commitment/proof" in capsys.readouterr().out


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
