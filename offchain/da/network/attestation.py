"""Signature aggregation of a batch, as EigenDA V2's ``core/aggregation.go``.

:func:`aggregate` takes the validators' replies to ``StoreChunks`` and builds the ``Attestation`` of the
batch: each signature is checked against its operator's key first (an invalid one counts as no
signature); then, per quorum of the batch, the signers' G1 signatures and G2 keys are summed and the
results summed across quorums, so an operator in two signed quorums is counted twice in ``sigma`` and
``apk_g2``, which is what the on-chain checker's apk (Σ_q quorumApk_q − Σ_i |bitmap_i ∧ signed|·pk_i)
equals. ``quorum_apks`` are the sums of every registered operator's G1 key in the quorum (the
registry's apk), ``quorum_signed_percentages`` the signed stake as a whole percentage (rounded down),
``non_signer_pubkeys`` the G1 keys of the operators of those quorums that did not sign, ordered by
operator id as ``checkSignatures`` requires.

Beside it, the same signatures with each signer counted once (``once``): the form the project's
BLSRegistry checker (and so ``EigenDACertVerifier.checkDACert``) takes, whose apk is the operator set's
(every member once) minus the non-signers: sigma and apk_g2 over the signers of the batch's quorums, the
non-signers' G1 keys by operator id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from offchain.bls import group
from offchain.bls.keys import PublicKey, verify, verify_single
from offchain.da.errors import AssignmentError

G1 = group.G1
G2 = group.G2


@dataclass(frozen=True)
class SignerAggregate:
    """Signatures and G2 keys of the signers summed once each; the non-signers' G1 keys by operator id."""

    non_signer_pubkeys: list[G1]
    apk_g2: G2 | None
    sigma: G1 | None


@dataclass(frozen=True)
class Attestation:
    """``disperser.v2.Attestation`` (points as affine integers; G2 as (a0, a1) pairs)."""

    non_signer_pubkeys: list[G1]
    apk_g2: G2 | None
    quorum_apks: list[G1]
    sigma: G1 | None
    quorum_numbers: list[int]
    quorum_signed_percentages: list[int]
    signers: list[bytes]  # operator ids whose valid signatures are in sigma
    once: SignerAggregate | None = None  # every signer counted once (the BLSRegistry checker's form)

    def onchain_apk(
        self, stakes: Mapping[int, Mapping[bytes, int]], keys: Mapping[bytes, PublicKey]
    ) -> G1 | None:
        """The checker's apk: Σ_q quorumApk_q − Σ_nonsigners (quorums of theirs signed)·pk_i."""
        signed = set(self.quorum_numbers)
        terms: list[G1 | None] = list(self.quorum_apks)
        non = [oid for oid in sorted(keys) if keys[oid].g1 in self.non_signer_pubkeys]
        for oid in non:
            mult = sum(1 for q in signed if oid in stakes.get(q, {}))
            (t,) = group.g1_mul([group.g1_neg(keys[oid].g1)], [mult])
            terms.append(t)
        return group.g1_sum(terms)

    def verifies(
        self, message: bytes, stakes: Mapping[int, Mapping[bytes, int]], keys: Mapping[bytes, PublicKey]
    ) -> bool:
        """The γ-combined pairing check the on-chain checker runs, on this attestation."""
        return verify(message, self.onchain_apk(stakes, keys), self.apk_g2, self.sigma)


def aggregate(
    message: bytes,
    quorums: Sequence[int],
    stakes: Mapping[int, Mapping[bytes, int]],
    keys: Mapping[bytes, PublicKey],
    signatures: Mapping[bytes, G1 | None],
) -> Attestation:
    qs = sorted(set(quorums))
    if not qs:
        raise AssignmentError("an attestation needs at least one quorum")
    valid = {
        oid
        for oid, sig in signatures.items()
        if oid in keys and sig is not None and verify_single(message, keys[oid], sig)
    }
    sigmas: list[G1 | None] = []
    apk_g2s: list[G2 | None] = []
    quorum_apks: list[G1] = []
    percentages: list[int] = []
    non_signers: set[bytes] = set()
    for q in qs:
        ops = stakes.get(q)
        if not ops:
            raise AssignmentError(f"no operators found for quorum {q}")
        missing = [oid.hex() for oid in ops if oid not in keys]
        if missing:
            raise AssignmentError(f"quorum {q}: no public key for operators {missing}")
        total = sum(ops.values())
        signed = sum(s for oid, s in ops.items() if oid in valid)
        percentages.append(signed * 100 // total if total else 0)
        quorum_apks.append(group.g1_sum([keys[oid].g1 for oid in ops]))  # type: ignore[arg-type]
        for oid in ops:
            if oid in valid:
                sigmas.append(signatures[oid])
                apk_g2s.append(keys[oid].g2)
            else:
                non_signers.add(oid)
    members = sorted({oid for q in qs for oid in stakes[q]})
    signers = [oid for oid in members if oid in valid]
    once = SignerAggregate(
        non_signer_pubkeys=[keys[oid].g1 for oid in members if oid not in valid],
        apk_g2=group.g2_sum([keys[oid].g2 for oid in signers]) if signers else None,
        sigma=group.g1_sum([signatures[oid] for oid in signers]) if signers else None,
    )
    return Attestation(
        once=once,
        non_signer_pubkeys=[keys[oid].g1 for oid in sorted(non_signers)],
        apk_g2=group.g2_sum(apk_g2s) if apk_g2s else None,
        quorum_apks=quorum_apks,
        sigma=group.g1_sum(sigmas) if sigmas else None,
        quorum_numbers=qs,
        quorum_signed_percentages=percentages,
        signers=sorted(valid),
    )
