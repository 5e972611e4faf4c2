"""The receipt encoding, hashed by a Vyper 0.4.3 mirror (titanoboa, in-process EVM), gives the same
digest as Python, and ecrecover on-chain returns the enclave key. This is the sketch in
docs/compute.md; the real contract (contracts/avs) must keep these tests passing when wired."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from offchain.compute.devtee import DevTEE
from offchain.compute.receipt import Receipt, receipt_abi, signature_vrs
from offchain.compute.testca import NitroTestCA

boa = pytest.importorskip("boa", reason="titanoboa is not installed")

SOURCE = """
# pragma version ~=0.4.3
struct Receipt:
    appId: bytes32
    imageDigest: bytes32
    inputHash: bytes32
    outputHash: bytes32
    timestamp: uint256
    enclaveSigner: address
    evidenceHash: bytes32
    collateralHash: bytes32
    policyHash: bytes32
    platform: uint256
    chainId: uint256

RECEIPT_DOMAIN: constant(bytes32) = keccak256("eigen.compute.Receipt.v1")


@internal
@pure
def _digest(r: Receipt) -> bytes32:
    return keccak256(abi_encode(RECEIPT_DOMAIN, r.appId, r.imageDigest, r.inputHash, r.outputHash,
        r.timestamp, r.enclaveSigner, r.evidenceHash, r.collateralHash, r.policyHash, r.platform, r.chainId))


@external
@pure
def digest(r: Receipt) -> bytes32:
    return self._digest(r)


@external
@pure
def signer(r: Receipt, v: uint8, rr: bytes32, s: bytes32) -> address:
    return ecrecover(self._digest(r), v, rr, s)
"""


@pytest.fixture(scope="module")
def mirror():
    return boa.loads(SOURCE)


def test_struct_field_order_matches_abi() -> None:
    fields = [
        line.split(":")[0].strip()
        for line in SOURCE.split("struct Receipt:")[1].split("\n\n")[0].strip().splitlines()
    ]
    assert tuple(fields) == receipt_abi()[1]


def test_vyper_digest_and_ecrecover_agree(mirror) -> None:
    bundle = DevTEE(NitroTestCA(seed=b"vyper"), b"\x11" * 32).run(
        b"in", b"out", datetime(2026, 1, 1, tzinfo=UTC), app_id=b"\x01" * 32, chain_id=31337
    )
    r = bundle.receipt
    assert mirror.digest(tuple(r.values())) == r.digest()
    v, rr, s = signature_vrs(bundle.signature)
    assert mirror.signer(tuple(r.values()), v, rr, s).lower() == r.enclaveSigner
    other = Receipt(**{**{n: getattr(r, n) for n in receipt_abi()[1]}, "outputHash": b"\x02" * 32})
    assert mirror.digest(tuple(other.values())) == other.digest() != r.digest()
    assert mirror.signer(tuple(other.values()), v, rr, s).lower() != r.enclaveSigner
