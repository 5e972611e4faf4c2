"""``eigen da peerdas cells | verify | recover`` end to end with the real Ethereum setup, against ckzg.

One blob and one payload are encoded per module (the CLI keeps the loaded setup per process); every
other test reads or edits copies of those directories. Cell 5 and proof 9 are the tampered records.
"""

import json
import shutil
from pathlib import Path

import ckzg
import numpy as np
import pytest

from offchain.cli import main
from offchain.da import codec
from offchain.da.files import CELL_RECORD_BYTES, CELLS_HEADER_BYTES, read_cells, write_cells
from offchain.da.peerdas.cells import MAX_PAYLOAD, pack_payload, unpack_payload


def _setup_path() -> str:
    import eth

    p = Path(eth.__file__).parent / "_utils" / "kzg_trusted_setup.txt"
    if not p.exists():
        pytest.skip(f"Ethereum trusted setup not found at {p}")
    return str(p)


def _blob(seed: int) -> bytes:
    raw = np.random.default_rng(seed).integers(0, 256, size=(4096, 32), dtype=np.uint8)
    raw[:, 0] &= 0x1F  # below r
    return raw.tobytes()


def _pd(*argv: str) -> int:
    return main(["da", "peerdas", *argv, "--quiet"])


@pytest.fixture(scope="module")
def ckzg_setup():
    return ckzg.load_trusted_setup(_setup_path(), 0)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("peerdas_cli")


@pytest.fixture(scope="module")
def blob(work: Path) -> bytes:
    data = _blob(11)
    (work / "blob.bin").write_bytes(data)
    return data


@pytest.fixture(scope="module")
def encoded(work: Path, blob: bytes) -> Path:
    _setup_path()
    assert _pd("cells", str(work / "blob.bin"), "--out", str(work / "enc")) == 0
    return work / "enc"


PAYLOAD = bytes(np.random.default_rng(5).integers(0, 256, size=5000, dtype=np.uint8))


@pytest.fixture(scope="module")
def payload_dir(work: Path, encoded: Path) -> Path:
    (work / "payload.bin").write_bytes(PAYLOAD)
    assert _pd("cells", "--payload", str(work / "payload.bin"), "--out", str(work / "pay")) == 0
    return work / "pay"


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _flip(path: Path, offset: int, mask: int = 1) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= mask
    path.write_bytes(bytes(data))


def _record(k: int) -> int:
    return CELLS_HEADER_BYTES + k * CELL_RECORD_BYTES


@pytest.fixture(scope="module")
def tampered(work: Path, encoded: Path) -> Path:
    d = _copy(encoded, work / "tampered")
    _flip(d / "cells.bin", _record(5) + 4 + 48 + 3 * 32 + 31)  # low byte of element 3 of cell 5
    _flip(d / "cells.bin", _record(9) + 4 + 47)  # last byte of proof 9
    return d


# ----- round trips ----------------------------------------------------------------------------
def test_da_peerdas_cli_cells_byte_identical_to_ckzg(encoded: Path, blob: bytes, ckzg_setup) -> None:
    cells, proofs = ckzg.compute_cells_and_kzg_proofs(blob, ckzg_setup)
    expect = b"EPDC\x01" + (128).to_bytes(4, "big")
    expect += b"".join(k.to_bytes(4, "big") + proofs[k] + cells[k] for k in range(128))
    assert (encoded / "cells.bin").read_bytes() == expect
    info = json.loads((encoded / "commitment.json").read_text())
    assert info["commitment"] == ckzg.blob_to_kzg_commitment(blob, ckzg_setup).hex()
    assert info["scheme"] == "peerdas-eip7594" and info["packing"] == "blob" and info["cells"] == 128
    assert "payload_bytes" not in info


def test_da_peerdas_cli_verify_all(encoded: Path, capsys) -> None:
    assert _pd("verify", str(encoded)) == 0
    assert "VALID: 128 cells" in capsys.readouterr().out


def test_da_peerdas_cli_recover_blob_from_random_64(
    encoded: Path, blob: bytes, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "blob.out"
    assert _pd("recover", str(encoded), "--out", str(out), "--sample", "64", "--seed", "7") == 0
    assert out.read_bytes() == blob
    assert "from 64 cells" in capsys.readouterr().out


def test_da_peerdas_cli_payload_roundtrip(payload_dir: Path, tmp_path: Path, ckzg_setup) -> None:
    info = json.loads((payload_dir / "commitment.json").read_text())
    assert info["packing"] == "payload" and info["payload_bytes"] == len(PAYLOAD)
    packed = pack_payload(PAYLOAD)
    assert info["commitment"] == ckzg.blob_to_kzg_commitment(packed, ckzg_setup).hex()
    cs = read_cells(payload_dir / "cells.bin")
    assert b"".join(cs.cells[:64]) == packed  # the extension is systematic: cells 0..63 are the blob
    sel = sorted(np.random.default_rng(3).choice(128, 64, replace=False).tolist())
    out = tmp_path / "payload.out"
    assert _pd("recover", str(payload_dir), "--out", str(out), "--cells", ",".join(map(str, sel))) == 0
    assert out.read_bytes() == PAYLOAD


def test_da_peerdas_cli_packing() -> None:
    packed = pack_payload(b"abc")
    assert len(packed) == 131072
    assert packed[:32] == bytes([0, 0, 0, 0, 0, 3]) + bytes(26)
    assert packed[32:64] == b"\x00abc" + bytes(28) and not any(packed[64:])
    for n in (0, 1, 31, 32, MAX_PAYLOAD):
        data = bytes(range(256)) * (n // 256) + bytes(range(n % 256))
        assert unpack_payload(pack_payload(data)) == data
    assert MAX_PAYLOAD == 4095 * 31
    with pytest.raises(codec.PayloadError, match="guard"):
        unpack_payload(packed[:64] + b"\x01" + packed[65:])


# ----- tampering ------------------------------------------------------------------------------
def test_da_peerdas_cli_verify_names_tampered_cells(
    tampered: Path, encoded: Path, ckzg_setup, capsys
) -> None:
    cs = read_cells(tampered / "cells.bin")
    com = bytes.fromhex(json.loads((encoded / "commitment.json").read_text())["commitment"])
    assert not ckzg.verify_cell_kzg_proof_batch([com], [5], [cs.cells[5]], [cs.proofs[5]], ckzg_setup)
    assert _pd("verify", str(tampered), "--cells", "3,5,9,20") == 1
    out = capsys.readouterr().out
    assert "INVALID: 2 of 4 cells fail: [5, 9]" in out
    assert "cell 5: KZG proof check fails" in out and "cell 9: proof: G1 point" in out


def test_da_peerdas_cli_recover_skips_tampered_cells(
    tampered: Path, blob: bytes, tmp_path: Path, capsys
) -> None:
    sel = [9, *range(64, 128), 5]  # 66 cells, 2 bad
    out = tmp_path / "blob.out"
    assert _pd("recover", str(tampered), "--out", str(out), "--cells", ",".join(map(str, sel))) == 0
    assert out.read_bytes() == blob
    assert "from 64 cells; rejected 2 invalid cells [5, 9]" in capsys.readouterr().out


def test_da_peerdas_cli_recover_fails_when_too_few_valid(
    tampered: Path, work: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "blob.out"
    # 64 cells, one of them (5) fails the KZG check: the batch check alone settles it
    assert (
        _pd("recover", str(tampered), "--out", str(out), "--cells", ",".join(map(str, [5, *range(65, 128)])))
        == 2
    )
    err = capsys.readouterr().err
    assert "RecoveryError: the batch KZG check fails: at most 63 valid cells of 64, 64 needed" in err
    # a partial cells file: 63 cells plus the one with the undecodable proof
    cs = read_cells(tampered / "cells.bin")
    part = tmp_path / "part"
    part.mkdir()
    shutil.copy(tampered / "commitment.json", part / "commitment.json")
    keep = [9, *range(65, 128)]
    write_cells(part / "cells.bin", np.array(keep), [cs.proofs[k] for k in keep], [cs.cells[k] for k in keep])
    assert _pd("recover", str(part), "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert "too few decodable cells: at most 63 valid cells of 64, 64 needed; rejected [9]" in err
    assert not out.exists()


def test_da_peerdas_cli_non_canonical_cell_is_a_bad_cell(encoded: Path, tmp_path: Path, capsys) -> None:
    d = _copy(encoded, tmp_path / "nc")
    _flip(d / "cells.bin", _record(17) + 4 + 48 + 32 * 10, 0xFF)  # element 10 of cell 17 >= r
    assert _pd("verify", str(d), "--cells", "17") == 1
    assert "cell 17: cell element 10 is not canonical" in capsys.readouterr().out


# ----- bad input ------------------------------------------------------------------------------
def _cells_file(d: Path, head: bytes | None = None, body: bytes | None = None) -> None:
    data = (d / "cells.bin").read_bytes()
    head = data[:CELLS_HEADER_BYTES] if head is None else head
    body = data[CELLS_HEADER_BYTES:] if body is None else body
    (d / "cells.bin").write_bytes(head + body)


def _edit_commitment(d: Path, **kv) -> None:
    info = json.loads((d / "commitment.json").read_text())
    info.update(kv)
    (d / "commitment.json").write_text(json.dumps(info))


REC = CELL_RECORD_BYTES
BAD_DIRS = {
    "bad magic": (
        lambda d: _cells_file(d, head=b"EDAF\x01" + (128).to_bytes(4, "big")),
        "CellFileError",
        "bad magic",
    ),
    "bad version": (
        lambda d: _cells_file(d, head=b"EPDC\x02" + (128).to_bytes(4, "big")),
        "CellFileError",
        "version 2",
    ),
    "zero count": (
        lambda d: _cells_file(d, head=b"EPDC\x01" + (0).to_bytes(4, "big"), body=b""),
        "CellFileError",
        "count 0",
    ),
    "count > 128": (
        lambda d: _cells_file(d, head=b"EPDC\x01" + (129).to_bytes(4, "big")),
        "CellFileError",
        "count 129",
    ),
    "truncated": (
        lambda d: (d / "cells.bin").write_bytes((d / "cells.bin").read_bytes()[:-1]),
        "CellFileError",
        "truncated",
    ),
    "short header": (
        lambda d: (d / "cells.bin").write_bytes(b"EPDC"),
        "CellFileError",
        "shorter than the 9-byte header",
    ),
    "index out of range": (
        lambda d: _cells_file(
            d, body=(200).to_bytes(4, "big") + (d / "cells.bin").read_bytes()[CELLS_HEADER_BYTES + 4 :]
        ),
        "CellFileError",
        "cell index 200 >= 128",
    ),
    "duplicate index": (
        lambda d: _cells_file(
            d, body=(1).to_bytes(4, "big") + (d / "cells.bin").read_bytes()[CELLS_HEADER_BYTES + 4 :]
        ),
        "CellFileError",
        "duplicate cell indices [1]",
    ),
    "no cells file": (lambda d: (d / "cells.bin").unlink(), "CellFileError", "cells file not found"),
    "no commitment": (
        lambda d: (d / "commitment.json").unlink(),
        "CellFileError",
        "commitment file not found",
    ),
    "commitment not json": (
        lambda d: (d / "commitment.json").write_text("{oops"),
        "CellFileError",
        "malformed commitment",
    ),
    "commitment not hex": (
        lambda d: _edit_commitment(d, commitment="zz"),
        "CellFileError",
        "malformed commitment",
    ),
    "commitment size": (
        lambda d: _edit_commitment(d, commitment="c0" * 32),
        "CellFileError",
        "must be 48 bytes",
    ),
    "commitment point": (
        lambda d: _edit_commitment(d, commitment="00" * 48),
        "CellFileError",
        "compression flag",
    ),
    "scheme": (lambda d: _edit_commitment(d, scheme="eigenda"), "CellFileError", "scheme 'eigenda'"),
    "packing": (lambda d: _edit_commitment(d, packing="zip"), "CellFileError", "packing 'zip'"),
    "payload bytes": (
        lambda d: _edit_commitment(d, packing="payload", payload_bytes=-1),
        "CellFileError",
        "payload_bytes -1",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_DIRS))
def test_da_peerdas_cli_bad_files(case: str, encoded: Path, tmp_path: Path, capsys) -> None:
    edit, err_type, msg = BAD_DIRS[case]
    d = _copy(encoded, tmp_path / "d")
    edit(d)
    assert _pd("verify", str(d)) == 2
    assert _pd("recover", str(d), "--out", str(tmp_path / "o")) == 2
    err = capsys.readouterr().err
    assert f"eigen: error: {err_type}: " in err and msg in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "argv,msg",
    [
        (
            ["verify", "{enc}", "--cells", "1,x"],
            "PeerDASInputError: --cells must be comma-separated integers",
        ),
        (["verify", "{enc}", "--cells", ""], "PeerDASInputError: --cells must be comma-separated integers"),
        (
            ["verify", "{enc}", "--cells", "128"],
            "PeerDASInputError: --cells must name cell indices in [0, 128)",
        ),
        (["verify", "{enc}", "--cells", "-1"], "PeerDASInputError: --cells must name cell indices"),
        (["verify", "{enc}", "--cells", "4,7,4"], "PeerDASInputError: --cells lists a cell twice"),
        (["verify", "/nonexistent/dir"], "PeerDASInputError: cells directory not found"),
        (
            ["recover", "{enc}", "--out", "{tmp}/o", "--sample", "0"],
            "PeerDASInputError: --sample must be in [1, 128]",
        ),
        (
            ["recover", "{enc}", "--out", "{tmp}/o", "--sample", "129"],
            "PeerDASInputError: --sample must be in [1, 128]",
        ),
        (
            ["recover", "{enc}", "--out", "{tmp}/o", "--sample", "64", "--cells", "1"],
            "PeerDASInputError: give --cells or --sample",
        ),
        (
            ["recover", "{enc}", "--out", "{tmp}/o", "--cells", "0,1,2"],
            "RecoveryError: too few decodable cells: at most 3 valid cells of 3",
        ),
        (["cells", "--out", "{tmp}/o"], "PeerDASInputError: give either a BLOB file or --payload FILE"),
        (
            ["cells", "{work}/blob.bin", "--payload", "{work}/blob.bin", "--out", "{tmp}/o"],
            "give either a BLOB file",
        ),
        (["cells", "/nonexistent/blob", "--out", "{tmp}/o"], "PeerDASInputError: blob file not found"),
        (
            ["cells", "--payload", "/nonexistent/p", "--out", "{tmp}/o"],
            "PeerDASInputError: payload file not found",
        ),
        (
            ["cells", "{tmp}/short", "--out", "{tmp}/o"],
            "PeerDASInputError: {tmp}/short: blob must be exactly 131072 bytes",
        ),
        (
            ["cells", "--payload", "{tmp}/big", "--out", "{tmp}/o"],
            "PeerDASInputError: payload of 126946 bytes does not fit one blob",
        ),
        (["cells", "{tmp}/ff", "--out", "{tmp}/o"], "PeerDASError: blob element 0 is not canonical"),
        (
            ["cells", "{work}/blob.bin", "--out", "{tmp}/o", "--setup", "/nonexistent/setup.txt"],
            "SRSError: trusted setup not found",
        ),
        (
            ["cells", "{work}/blob.bin", "--out", "{tmp}/o", "--setup", "{tmp}/junk"],
            "SRSError: {tmp}/junk: malformed trusted setup",
        ),
        (
            ["cells", "{work}/blob.bin", "--out", "{tmp}/o", "--setup", "{tmp}/counts"],
            "SRSError: {tmp}/counts: unexpected point counts",
        ),
        (
            ["verify", "{enc}", "--setup", "{tmp}/badpoint"],
            "SRSError: {tmp}/badpoint: malformed trusted setup (G1 point 0: compression flag",
        ),
    ],
)
def test_da_peerdas_cli_bad_input(
    argv: list[str], msg: str, encoded: Path, work: Path, tmp_path: Path, capsys
) -> None:
    (tmp_path / "short").write_bytes(bytes(100))
    (tmp_path / "big").write_bytes(bytes(MAX_PAYLOAD + 1))
    (tmp_path / "ff").write_bytes(b"\xff" * 131072)
    (tmp_path / "junk").write_text("not a setup\n")
    (tmp_path / "counts").write_text("4096\n65\n" + "00" * 48 + "\n")
    words = Path(_setup_path()).read_text().split()
    g1_mono = 2 + 4096 + 65  # first G1 monomial point: clear its compression flag
    words[g1_mono] = "0" + words[g1_mono][1:]
    (tmp_path / "badpoint").write_text("\n".join(words) + "\n")
    fill = {"enc": str(encoded), "work": str(work), "tmp": str(tmp_path)}
    assert _pd(*[a.format(**fill) for a in argv]) == 2
    err = capsys.readouterr().err
    assert msg.format(**fill) in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_da_peerdas_cli_verify_cell_missing_from_file(encoded: Path, tmp_path: Path, capsys) -> None:
    cs = read_cells(encoded / "cells.bin")
    d = tmp_path / "part"
    d.mkdir()
    shutil.copy(encoded / "commitment.json", d / "commitment.json")
    write_cells(d / "cells.bin", cs.index[:10], cs.proofs[:10], cs.cells[:10])
    assert _pd("verify", str(d), "--cells", "3,50") == 2
    assert "PeerDASInputError: cells not in the cells file: [50]" in capsys.readouterr().err


def test_da_peerdas_cli_gpu_backend_without_cupy(encoded: Path, capsys) -> None:
    try:
        import cupy  # noqa: F401

        pytest.skip("cupy is importable here; the GPU path is covered by the device checks")
    except ImportError:
        pass
    assert _pd("verify", str(encoded), "--backend", "gpu") == 2
    assert "BackendError" in capsys.readouterr().err


def test_da_peerdas_cli_no_action(capsys) -> None:
    assert main(["da", "peerdas"]) == 2


def test_pd_output_paths_and_seed_checked_first(tmp_path: Path, capsys) -> None:
    """Bad --out paths and seeds are refused (one line, exit 2) before the setup is loaded or anything is
    computed: the setup named here does not exist, and the error is still about the output."""
    afile = tmp_path / "afile"
    afile.write_bytes(b"")
    (tmp_path / "b").write_bytes(bytes(131072))
    nosetup = ["--setup", str(tmp_path / "missing-setup.txt")]
    cases = [
        (["cells", str(tmp_path / "b"), "--out", str(afile), *nosetup], "exists and is not a directory"),
        (["recover", str(tmp_path), "--out", str(tmp_path), *nosetup], "is a directory, not a file"),
        (["recover", str(tmp_path), "--out", str(tmp_path / "no" / "x"), *nosetup], "does not exist"),
        (["recover", str(tmp_path), "--out", str(tmp_path / "x"), "--seed", "-2", *nosetup], "--seed"),
    ]
    capsys.readouterr()
    for argv, msg in cases:
        assert _pd(*argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and msg in err[0], err
