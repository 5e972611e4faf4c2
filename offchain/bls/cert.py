"""Operator-set certificates: what an aggregator builds from its operators' signatures and what the
on-chain checker (contracts/certs/BLSRegistry.vy, ``checkSignatures``) takes.

A certificate names the operator set, the 32-byte message hash, the reference block whose keys and stakes
it is checked against, the non-signers' G1 keys **sorted by operatorId, strictly ascending** (the order
the checker requires; duplicates are refused there), the signers' aggregate G2 key and the aggregate
signature. The checker computes ``apk = setApk(referenceBlock) - Σ nonSigners`` itself, so the
certificate carries no G1 aggregate; the builder computes it anyway to verify the certificate before
handing it out (:func:`verify_certificate`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from offchain.bls import group, keys
from offchain.bls.errors import BLSCertificateError, BLSKeyError, BLSSignatureError
from offchain.bls.group import G1, G2
from offchain.bls.keys import PublicKey


@dataclass(frozen=True)
class Certificate:
    operator_set_id: int
    message: bytes
    reference_block: int
    non_signers: tuple[G1, ...]  # sorted by operator id
    apk_g2: G2
    sigma: G1

    def abi_args(self) -> tuple:
        """The checker's arguments after the set id: (msgHash, referenceBlock, nonSignerPubkeys, apkG2,
        sigma), points in EVM order."""
        return (
            self.message,
            self.reference_block,
            [group.g1_to_evm(p) for p in self.non_signers],
            group.g2_to_evm(self.apk_g2),
            group.g1_to_evm(self.sigma),
        )

    def to_json(self) -> dict:
        (x1, x0), (y1, y0) = group.g2_to_evm(self.apk_g2)
        return {
            "operator_set_id": self.operator_set_id,
            "message": "0x" + self.message.hex(),
            "reference_block": self.reference_block,
            "non_signers": [[hex(p[0]), hex(p[1])] for p in self.non_signers],
            "apk_g2": [[hex(x1), hex(x0)], [hex(y1), hex(y0)]],
            "sigma": [hex(v) for v in self.sigma],
        }

    @classmethod
    def from_json(cls, obj: Any) -> Certificate:
        """Parse :meth:`to_json`'s form; every point is checked (curve, subgroup) and the non-signers'
        order too (:class:`BLSCertificateError`)."""
        try:
            set_id = obj["operator_set_id"]
            rb = obj["reference_block"]
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in (set_id, rb)):
                raise TypeError
            if not (0 <= set_id < 2**32 and 0 <= rb < 2**32):
                raise BLSCertificateError("certificate: operator_set_id and reference_block must be uint32")
            msg = keys.message32(obj["message"])
            ns = tuple(
                group.g1_from_evm(tuple(int(v, 16) for v in p), "non-signer") for p in obj["non_signers"]
            )
            apk_g2 = group.g2_from_evm(tuple(tuple(int(v, 16) for v in c) for c in obj["apk_g2"]), "apk_g2")
            sigma = group.g1_from_evm(tuple(int(v, 16) for v in obj["sigma"]), "sigma")
        except (BLSKeyError, BLSSignatureError) as e:
            raise BLSCertificateError(f"certificate: {e}") from None
        except (TypeError, KeyError, ValueError, AttributeError):
            raise BLSCertificateError(
                "certificate: expected operator_set_id, message, reference_block, non_signers, apk_g2, sigma"
            ) from None
        if any(p is None for p in ns) or apk_g2 is None or sigma is None:
            raise BLSCertificateError("certificate: a point at infinity")
        ids = [keys.operator_id(p) for p in ns]
        if any(a >= b for a, b in zip(ids, ids[1:], strict=False)):
            raise BLSCertificateError("certificate: non-signers not strictly ascending by operator id")
        return cls(set_id, msg, rb, ns, apk_g2, sigma)  # type: ignore[arg-type]

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2)


def build_certificate(
    operator_set_id: int,
    message: bytes | str,
    reference_block: int,
    members: Sequence[PublicKey],
    signatures: Mapping[bytes, G1],
) -> tuple[Certificate, G1]:
    """The certificate for ``message`` from the set's ``members`` at the reference block and the
    ``signatures`` received (operator id -> sigma). Every signature is checked: the aggregate first, and
    when it fails each one alone, naming the first bad signer (:class:`BLSCertificateError`). Returns the
    certificate and the signers' G1 aggregate (apk)."""
    m = keys.message32(message)
    by_id: dict[bytes, PublicKey] = {}
    for pk in members:
        oid = pk.operator_id
        if oid in by_id:
            raise BLSCertificateError(f"member 0x{oid.hex()} listed twice")
        by_id[oid] = pk
    unknown = [oid for oid in signatures if oid not in by_id]
    if unknown:
        raise BLSCertificateError(f"signature from 0x{unknown[0].hex()}, not a member of the set")
    if not signatures:
        raise BLSCertificateError("no signatures")
    signer_ids = sorted(signatures)
    sigs = [group.check_g1(signatures[oid], f"signature of 0x{oid.hex()}") for oid in signer_ids]
    agg_pk = keys.aggregate_keys([by_id[oid] for oid in signer_ids])
    sigma = keys.aggregate_signatures(sigs)
    if not keys.verify(m, agg_pk.g1, agg_pk.g2, sigma):
        for oid, s in zip(signer_ids, sigs, strict=True):
            if not keys.verify_single(m, by_id[oid], s):
                raise BLSCertificateError(f"bad signature from 0x{oid.hex()}")
        raise BLSCertificateError("aggregate signature does not verify")  # pragma: no cover
    non_signers = tuple(by_id[oid].g1 for oid in sorted(set(by_id) - set(signatures)))
    cert = Certificate(operator_set_id, m, reference_block, non_signers, agg_pk.g2, sigma)  # type: ignore[arg-type]
    return cert, agg_pk.g1


def verify_certificate(cert: Certificate, set_apk: G1 | None) -> bool:
    """The checker's signature part off-chain, given the set's aggregate G1 key at the reference block:
    non-signers strictly ascending by operator id, apk = setApk - Σ nonSigners, then the γ-combined
    pairing. (Stake and membership at the reference block are the chain's part.)"""
    ids = [keys.operator_id(p) for p in cert.non_signers]
    if any(a >= b for a, b in zip(ids, ids[1:], strict=False)):
        return False
    apk = group.g1_sum([set_apk, *(group.g1_neg(p) for p in cert.non_signers)])
    return keys.verify(cert.message, apk, cert.apk_g2, cert.sigma)
