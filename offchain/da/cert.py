"""Real EigenDA certificates (V2 and V3): strict parsing and every check that needs no chain state.

Layout: 3-byte prefix (0x01 altDA commitment, 0x00 EigenDA layer, cert version 0x01 = V2 / 0x02 = V3)
then the RLP of the certificate (the proxy's ``EigenDACertV2`` / ``EigenDACertV3``)::

    V2: [blobInclusionInfo, batchHeader, nonSignerStakesAndSignature, signedQuorumNumbers]
    V3: [batchHeader, blobInclusionInfo, nonSignerStakesAndSignature, signedQuorumNumbers]
    batchHeader        = [batchRoot bytes32, referenceBlockNumber uint32]
    blobInclusionInfo  = [blobCertificate, blobIndex uint32, inclusionProof bytes (32 B a level)]
    blobCertificate    = [blobHeader, signature bytes, relayKeys uint32[]]
    blobHeader         = [version uint16, quorumNumbers bytes, commitment, paymentHeaderHash bytes32]
    commitment         = [C G1, lengthCommitment G2, lengthProof G2, length uint32]
    nonSignerStakesAndSignature = [nonSignerQuorumBitmapIndices uint32[], nonSignerPubkeys G1[],
        quorumApks G1[], apkG2 G2, sigma G1, quorumApkIndices uint32[], totalStakeIndices uint32[],
        nonSignerStakeIndices uint32[][]]
    G1 = [X, Y]; G2 = [[X.A1, X.A0], [Y.A1, Y.A0]] (EVM order)

Parsing is strict (:class:`CertError`): canonical RLP with nothing after it, exactly these list shapes,
integers without leading zero bytes and within their Solidity widths, 32-byte hashes, every point below
p, on its curve and (G2) in the subgroup. :func:`verify_cert` then runs the offline checks (a failed one
is a negative verdict, not an error) and lists the on-chain checks that need chain state at the
reference block, which it does not claim:

- ``length_commitment``: e(C, [1]_2) == e([1]_1, LC);
- ``length_proof``: e([tau^(2^28 - n)]_1, LC) == e([1]_1, LP) with EigenDA's embedded reverse points;
- ``blob_inclusion``: ``Merkle.verifyInclusionKeccak(proof, batchRoot, keccak256(certHash), blobIndex)``,
  ``certHash = keccak256(abi.encode(blobKey, signature, relayKeys))``, ``blobKey =
  keccak256(abi.encode(keccak256(abi.encode(version, quorumNumbers, commitment)), paymentHeaderHash))``
  (``EigenDAHasher``), and the index inside the tree;
- ``quorums``: signed quorum numbers strictly ascending (``orderedBytesArrayToBitmap``), blob quorums
  distinct and all signed, one quorum APK / APK index / total-stake index / non-signer stake list per
  signed quorum, one bitmap index per non-signer, no quorum with more non-signer stakes than non-signers;
- ``non_signers_sorted``: operator ids keccak256(X || Y) strictly ascending (``checkSignatures``);
- ``signature``: e(sigma, [1]_2) == e(H(m), apkG2), m = keccak256(abi.encode(batchRoot, rbn)), H the
  try-and-increment ``BN254.hashToG1``; sigma and apkG2 not the point at infinity;
- ``aggregate_key``: with no non-signers, apk = sum of the quorum APKs and e(apk, [1]_2) == e([1]_1,
  apkG2); with non-signers it depends on their quorum bitmaps (chain state) and is not checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise
from types import ModuleType
from typing import Any

import numpy as np
import rlp
from eth_abi import encode as abi_encode
from eth_hash.auto import keccak

from offchain.backend import backend_of
from offchain.crypto import bn254
from offchain.crypto.bn254 import hash_to_g1
from offchain.da.errors import CertError
from offchain.da.srs import SRS_ORDER, eigenda_g1_reverse_pow2

Array = Any

V2, V3 = 0x01, 0x02
VERSION_NAMES = {V2: "V2", V3: "V3"}
_COMMITMENT_ABI = "((uint256,uint256),(uint256[2],uint256[2]),(uint256[2],uint256[2]),uint32)"
# The on-chain checks that read chain state at the reference block, which an offline check cannot do.
CHAIN_STATE_CHECKS = (
    "quorum APKs equal the BLSApkRegistry's at the reference block (quorumApkIndices)",
    "non-signers' quorum bitmaps at the reference block (nonSignerQuorumBitmapIndices)",
    "operator stakes at the reference block: total and non-signer stakes per quorum "
    "(totalStakeIndices, nonSignerStakeIndices), each signed quorum >= the confirmation threshold",
    "the cert verifier's required quorums, security parameters and blob version (ThresholdRegistry)",
    "reference block before the inclusion block, within the recency window",
)


@dataclass
class BlobCommitment:
    commitment: Array  # G1 batch of one
    length_commitment: Array  # G2 batch of one
    length_proof: Array  # G2 batch of one
    length: int


@dataclass
class Cert:
    """A parsed certificate: the integers and bytes as signed/hashed on chain, and the decoded points."""

    version: int  # V2 or V3 (the prefix's third byte)
    batch_root: bytes
    reference_block: int
    blob_version: int
    quorum_numbers: bytes
    blob_commitment: BlobCommitment
    commitment_ints: tuple  # (C, LC, LP, length) as the ABI encodes them
    payment_header_hash: bytes
    signature: bytes
    relay_keys: list[int]
    blob_index: int
    inclusion_proof: bytes
    non_signer_bitmap_indices: list[int]
    non_signer_pubkeys: list[tuple[int, int]]
    quorum_apks: Array  # G1 batch (one per signed quorum)
    apk_g2: Array  # G2 batch of one
    sigma: Array  # G1 batch of one
    quorum_apk_indices: list[int]
    total_stake_indices: list[int]
    non_signer_stake_indices: list[list[int]]
    signed_quorum_numbers: bytes
    # chain-state hints, by name: what the on-chain check looks up with them
    chain_hints: dict[str, Any] = field(default_factory=dict)


@dataclass
class Check:
    name: str
    ok: bool | None  # None: not checked (the reason says why)
    detail: str


@dataclass
class CertVerdict:
    cert: Cert
    checks: list[Check]

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.ok is False]

    @property
    def passed(self) -> bool:
        """Every offline check passed (the chain-state checks in :data:`CHAIN_STATE_CHECKS` remain)."""
        return not self.failed and all(c.ok for c in self.checks if c.name != "aggregate_key")

    @property
    def not_checked(self) -> list[str]:
        return [f"{c.name}: {c.detail}" for c in self.checks if c.ok is None] + list(CHAIN_STATE_CHECKS)


# ----- strict RLP fields --------------------------------------------------------------------------
def _list(obj: Any, n: int | None, what: str) -> list:
    if not isinstance(obj, list):
        raise CertError(f"{what}: expected a list, got a byte string")
    if n is not None and len(obj) != n:
        raise CertError(f"{what}: expected {n} items, got {len(obj)}")
    return obj


def _bytes(obj: Any, what: str, size: int | None = None) -> bytes:
    if not isinstance(obj, bytes):
        raise CertError(f"{what}: expected a byte string, got a list")
    if size is not None and len(obj) != size:
        raise CertError(f"{what}: expected {size} bytes, got {len(obj)}")
    return obj


def _uint(obj: Any, bits: int, what: str) -> int:
    b = _bytes(obj, what)
    if b[:1] == b"\x00":
        raise CertError(f"{what}: non-canonical integer (leading zero byte)")
    if len(b) * 8 > bits:
        raise CertError(f"{what}: integer wider than {bits} bits")
    return int.from_bytes(b, "big")


def _uints(obj: Any, bits: int, what: str) -> list[int]:
    return [_uint(v, bits, f"{what}[{i}]") for i, v in enumerate(_list(obj, None, what))]


def _g1_ints(obj: Any, what: str) -> tuple[int, int]:
    x, y = _list(obj, 2, what)
    return _uint(x, 256, f"{what}.X"), _uint(y, 256, f"{what}.Y")


def _g2_ints(obj: Any, what: str) -> tuple[tuple[int, int], tuple[int, int]]:
    X, Y = _list(obj, 2, what)
    xa1, xa0 = _list(X, 2, f"{what}.X")
    ya1, ya0 = _list(Y, 2, f"{what}.Y")
    return (
        (_uint(xa1, 256, f"{what}.X[0]"), _uint(xa0, 256, f"{what}.X[1]")),
        (_uint(ya1, 256, f"{what}.Y[0]"), _uint(ya0, 256, f"{what}.Y[1]")),
    )


def _g1_points(points: list[tuple[int, int]], what: str, xp: ModuleType) -> Array:
    data = b"".join(x.to_bytes(32, "big") + y.to_bytes(32, "big") for x, y in points)
    try:
        return bn254.g1_from_evm(data, xp)
    except bn254.PointError as exc:
        raise CertError(f"{what}: {exc}") from exc


def _g2_point(q: tuple[tuple[int, int], tuple[int, int]], what: str, xp: ModuleType) -> Array:
    (xa1, xa0), (ya1, ya0) = q
    try:
        return bn254.g2_from_evm(b"".join(v.to_bytes(32, "big") for v in (xa1, xa0, ya1, ya0)), xp)
    except bn254.PointError as exc:
        raise CertError(f"{what}: {exc}") from exc


def _decode_text(data: bytes | str) -> bytes:
    if isinstance(data, bytes):
        return data
    text = data.strip()
    text = text[2:] if text.startswith(("0x", "0X")) else text
    try:
        return bytes.fromhex(text)
    except ValueError as exc:
        raise CertError("certificate text is not hex") from exc


def parse_cert(data: bytes | str, xp: ModuleType = np) -> Cert:
    """Certificate bytes (or 0x-hex text) -> :class:`Cert`, strictly (see the module docstring)."""
    data = _decode_text(data)
    if len(data) < 4 or data[0] != 0x01 or data[1] != 0x00:
        raise CertError("not an altDA EigenDA commitment (prefix 0x01 0x00 expected)")
    version = data[2]
    if version not in VERSION_NAMES:
        raise CertError(f"unknown certificate version byte {version:#04x} (0x01 = V2, 0x02 = V3)")
    try:
        body = rlp.decode(data[3:], strict=True)
    except rlp.exceptions.DecodingError as exc:
        raise CertError(f"RLP decoding failed: {exc}") from exc
    try:
        return _parse_body(version, body, xp)
    except CertError as exc:
        raise CertError(f"{VERSION_NAMES[version]} certificate: {exc}") from exc


def _parse_body(version: int, body: Any, xp: ModuleType) -> Cert:
    top = _list(body, 4, "certificate")
    inclusion, batch = (top[0], top[1]) if version == V2 else (top[1], top[0])
    root, rbn = _list(batch, 2, "batchHeader")
    blob_cert, blob_index, proof = _list(inclusion, 3, "blobInclusionInfo")
    header, signature, relays = _list(blob_cert, 3, "blobCertificate")
    blob_version, quorums, com, payment_hash = _list(header, 4, "blobHeader")
    c_raw, lc_raw, lp_raw, length = _list(com, 4, "blobHeader.commitment")
    ns = _list(top[2], 8, "nonSignerStakesAndSignature")
    C = _g1_ints(c_raw, "commitment")
    LC = _g2_ints(lc_raw, "lengthCommitment")
    LP = _g2_ints(lp_raw, "lengthProof")
    n = _uint(length, 32, "length")
    inclusion_proof = _bytes(proof, "inclusionProof")
    if len(inclusion_proof) % 32:
        raise CertError(f"inclusionProof: {len(inclusion_proof)} bytes, not a multiple of 32")
    non_signers = [
        _g1_ints(p, f"nonSignerPubkeys[{i}]") for i, p in enumerate(_list(ns[1], None, "nonSignerPubkeys"))
    ]
    apks = [_g1_ints(p, f"quorumApks[{i}]") for i, p in enumerate(_list(ns[2], None, "quorumApks"))]
    apk_g2 = _g2_ints(ns[3], "apkG2")
    sigma = _g1_ints(ns[4], "sigma")
    stake_lists = _list(ns[7], None, "nonSignerStakeIndices")
    cert = Cert(
        version=version,
        batch_root=_bytes(root, "batchRoot", 32),
        reference_block=_uint(rbn, 32, "referenceBlockNumber"),
        blob_version=_uint(blob_version, 16, "blobHeader.version"),
        quorum_numbers=_bytes(quorums, "blobHeader.quorumNumbers"),
        blob_commitment=BlobCommitment(
            _g1_points([C], "commitment", xp),
            _g2_point(LC, "lengthCommitment", xp),
            _g2_point(LP, "lengthProof", xp),
            n,
        ),
        commitment_ints=(C, tuple(map(list, LC)), tuple(map(list, LP)), n),
        payment_header_hash=_bytes(payment_hash, "paymentHeaderHash", 32),
        signature=_bytes(signature, "blobCertificate.signature"),
        relay_keys=_uints(relays, 32, "relayKeys"),
        blob_index=_uint(blob_index, 32, "blobIndex"),
        inclusion_proof=inclusion_proof,
        non_signer_bitmap_indices=_uints(ns[0], 32, "nonSignerQuorumBitmapIndices"),
        non_signer_pubkeys=non_signers,
        quorum_apks=_g1_points(apks, "quorumApks", xp) if apks else bn254.bn254(xp).g1.infinity(0),
        apk_g2=_g2_point(apk_g2, "apkG2", xp),
        sigma=_g1_points([sigma], "sigma", xp),
        quorum_apk_indices=_uints(ns[5], 32, "quorumApkIndices"),
        total_stake_indices=_uints(ns[6], 32, "totalStakeIndices"),
        non_signer_stake_indices=[
            _uints(v, 32, f"nonSignerStakeIndices[{i}]") for i, v in enumerate(stake_lists)
        ],
        signed_quorum_numbers=_bytes(top[3], "signedQuorumNumbers"),
    )
    if non_signers:
        _g1_points(non_signers, "nonSignerPubkeys", xp)  # on the curve, coordinates < p
    cert.chain_hints = {
        "nonSignerQuorumBitmapIndices": cert.non_signer_bitmap_indices,
        "quorumApkIndices": cert.quorum_apk_indices,
        "totalStakeIndices": cert.total_stake_indices,
        "nonSignerStakeIndices": cert.non_signer_stake_indices,
    }
    return cert


# ----- hashes ----------------------------------------------------------------------------------
def blob_key(cert: Cert) -> bytes:
    """``EigenDAHasher.hashBlobHeaderV2``: the blob key."""
    inner = keccak(
        abi_encode(
            ["uint16", "bytes", _COMMITMENT_ABI],
            [cert.blob_version, cert.quorum_numbers, cert.commitment_ints],
        )
    )
    return keccak(abi_encode(["bytes32", "bytes32"], [inner, cert.payment_header_hash]))


def blob_certificate_hash(cert: Cert) -> bytes:
    """``EigenDAHasher.hashBlobCertificate``: keccak256(abi.encode(blobKey, signature, relayKeys))."""
    return keccak(
        abi_encode(["bytes32", "bytes", "uint32[]"], [blob_key(cert), cert.signature, cert.relay_keys])
    )


def batch_header_hash(cert: Cert) -> bytes:
    """The message the operators sign: keccak256(abi.encode(BatchHeaderV2{batchRoot, referenceBlockNumber}))."""
    return keccak(abi_encode(["bytes32", "uint32"], [cert.batch_root, cert.reference_block]))


def merkle_root(leaf: bytes, proof: bytes, index: int) -> bytes:
    """``Merkle.processInclusionProofKeccak``: fold the 32-byte siblings of ``proof`` into ``leaf``."""
    h = leaf
    for k in range(0, len(proof), 32):
        sib = proof[k : k + 32]
        h = keccak(h + sib) if index % 2 == 0 else keccak(sib + h)
        index //= 2
    return h


# ----- checks ----------------------------------------------------------------------------------
def commitment_matches_length_commitment(bc: BlobCommitment) -> bool:
    """e(C, [1]_2) == e([1]_1, LC): C and LC commit to the same polynomial."""
    c = bn254.bn254(backend_of(bc.commitment))
    return bn254.pairing_check(
        [
            (bc.commitment[..., 0], c.g2.generator[..., 0]),
            (c.g1.neg(c.g1.generator)[..., 0], bc.length_commitment[..., 0]),
        ]
    )


def length_proof_holds(bc: BlobCommitment, tau_rev_g1: Array | None = None) -> bool:
    """e([tau^(2^28 - length)]_1, LC) == e([1]_1, LP). ``tau_rev_g1``: that G1 point; by default EigenDA's
    embedded [tau^(2^28 - 2^k)]_1 for length 2^k. A length that is not a power of two <= 2^27 fails."""
    c = bn254.bn254(backend_of(bc.commitment))
    if tau_rev_g1 is None:
        n = bc.length
        if n <= 0 or n & (n - 1) or n >= SRS_ORDER:
            return False
        tau_rev_g1 = eigenda_g1_reverse_pow2(c.xp)[..., n.bit_length() - 1]
    return bn254.pairing_check(
        [
            (tau_rev_g1, bc.length_commitment[..., 0]),
            (c.g1.neg(c.g1.generator)[..., 0], bc.length_proof[..., 0]),
        ]
    )


def _is_infinity(P: Array) -> bool:
    return all(p is None for p in bn254.g1_to_ints(P))


def _check_quorums(cert: Cert) -> Check:
    signed = list(cert.signed_quorum_numbers)
    blob = list(cert.quorum_numbers)
    q = len(signed)
    problems = []
    if not signed:
        problems.append("no signed quorums")
    if any(b <= a for a, b in pairwise(signed)):
        problems.append(f"signed quorum numbers {signed} not strictly ascending")
    if not blob or len(set(blob)) != len(blob):
        problems.append(f"blob quorum numbers {blob} empty or repeated")
    if not set(blob) <= set(signed):
        problems.append(f"blob quorums {sorted(set(blob) - set(signed))} not signed")
    counts = {
        "quorumApks": int(cert.quorum_apks.shape[-1]),
        "quorumApkIndices": len(cert.quorum_apk_indices),
        "totalStakeIndices": len(cert.total_stake_indices),
        "nonSignerStakeIndices": len(cert.non_signer_stake_indices),
    }
    problems += [f"{k}: {v} entries for {q} signed quorums" for k, v in counts.items() if v != q]
    k = len(cert.non_signer_pubkeys)
    if len(cert.non_signer_bitmap_indices) != k:
        problems.append(
            f"nonSignerQuorumBitmapIndices: {len(cert.non_signer_bitmap_indices)} entries, {k} non-signers"
        )
    too_many = [i for i, v in enumerate(cert.non_signer_stake_indices) if len(v) > k]
    if too_many:
        problems.append(f"nonSignerStakeIndices{too_many}: more entries than the {k} non-signers")
    if problems:
        return Check("quorums", False, "; ".join(problems))
    return Check(
        "quorums", True, f"signed {signed} (ascending), blob quorums {blob} all signed, list sizes agree"
    )


def verify_cert(cert: Cert) -> CertVerdict:
    """Every check of a parsed certificate that needs no chain state (see the module docstring)."""
    bc = cert.blob_commitment
    c = bn254.bn254(backend_of(bc.commitment))
    g1, g2 = c.g1, c.g2
    checks: list[Check] = []

    ok = commitment_matches_length_commitment(bc)
    checks.append(Check("length_commitment", ok, "e(C, G2) == e(G1, LC)" if ok else "e(C, G2) != e(G1, LC)"))
    n = bc.length
    if n <= 0 or n & (n - 1) or n >= SRS_ORDER:
        checks.append(Check("length_proof", False, f"length {n} is not a power of two below 2^28"))
    else:
        ok = length_proof_holds(bc)
        checks.append(
            Check(
                "length_proof",
                ok,
                f"degree < {n}: e([tau^(2^28 - {n})]_1, LC) {'==' if ok else '!='} e(G1, LP)",
            )
        )

    depth = len(cert.inclusion_proof) // 32
    leaf = keccak(blob_certificate_hash(cert))
    if cert.blob_index >> depth:
        checks.append(
            Check("blob_inclusion", False, f"blob index {cert.blob_index} outside a tree of depth {depth}")
        )
    else:
        ok = merkle_root(leaf, cert.inclusion_proof, cert.blob_index) == cert.batch_root
        checks.append(
            Check(
                "blob_inclusion",
                ok,
                f"blob certificate {'is' if ok else 'is NOT'} leaf {cert.blob_index} of batch root "
                f"{cert.batch_root.hex()} (depth {depth})",
            )
        )

    checks.append(_check_quorums(cert))

    ids = [keccak(x.to_bytes(32, "big") + y.to_bytes(32, "big")) for x, y in cert.non_signer_pubkeys]
    ok = all(a < b for a, b in pairwise(ids))
    checks.append(
        Check(
            "non_signers_sorted",
            ok,
            f"{len(ids)} non-signer operator ids {'' if ok else 'NOT '}strictly ascending",
        )
    )

    m = batch_header_hash(cert)
    H = bn254.g1_from_ints([hash_to_g1(m)], c.xp)
    if _is_infinity(cert.sigma) or not any(q is not None for q in bn254.g2_to_ints(cert.apk_g2)):
        checks.append(Check("signature", False, "sigma or apkG2 is the point at infinity"))
    else:
        ok = bn254.pairing_check(
            [(cert.sigma[..., 0], g2.generator[..., 0]), (g1.neg(H)[..., 0], cert.apk_g2[..., 0])]
        )
        checks.append(
            Check(
                "signature",
                ok,
                f"e(sigma, G2) {'==' if ok else '!='} e(H(m), apkG2), m = batch header hash {m.hex()}",
            )
        )

    nq = int(cert.quorum_apks.shape[-1])
    if cert.non_signer_pubkeys:
        checks.append(
            Check(
                "aggregate_key",
                None,
                f"apk = sum of {nq} quorum APKs - each of the {len(cert.non_signer_pubkeys)} non-signers times "
                "its number of signed quorums, which needs their quorum bitmaps at the reference block",
            )
        )
    elif nq:
        apk = g1.sum(cert.quorum_apks)
        ok = bn254.pairing_check(
            [
                (apk.reshape(apk.shape[:2] + (-1,))[..., 0], g2.generator[..., 0]),
                (g1.neg(g1.generator)[..., 0], cert.apk_g2[..., 0]),
            ]
        )
        checks.append(
            Check(
                "aggregate_key",
                ok,
                f"no non-signers: e(sum of {nq} quorum APKs, G2) {'==' if ok else '!='} e(G1, apkG2)",
            )
        )
    return CertVerdict(cert, checks)
