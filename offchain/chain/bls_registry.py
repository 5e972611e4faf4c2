"""Off-chain side of contracts/certs/BLSRegistry.vy: key registration data, rotation arguments,
certificate arguments and the checker's statuses.

The registry's proof-of-possession message is :func:`offchain.bls.keys.pop_point` for its address
and chain (EIP-712 domain ``EigenBLSRegistry`` / ``1``); registration data rides in the
AllocationManager's ``registerForOperatorSets`` call as ``abi.encode(G1Point pkG1, G2Point pkG2,
G1Point signature)`` (G2 in EVM order, X[0] the imaginary part).
"""

from __future__ import annotations

from eth_abi import encode as abi_encode

from offchain.bls import group
from offchain.bls.cert import Certificate
from offchain.bls.keys import SecretKey

G1_ABI = "(uint256,uint256)"
G2_ABI = "(uint256[2],uint256[2])"

STATUS = {
    1: "success",
    2: "stale reference block",
    3: "unknown set (no members at the reference block)",
    4: "non-signers not strictly ascending by operator id",
    5: "a non-signer was not a member at the reference block",
    6: "signature off the curve",
    7: "invalid signature",
}
SUCCESS = 1


def key_args(sk: SecretKey, operator: str, chain_id: int, registry: str) -> tuple:
    """(pkG1, pkG2, signature) as the registry's G1Point/G2Point tuples, the signature proving
    possession for ``operator`` at ``registry`` on ``chain_id``."""
    pk = sk.public_key()
    sig = sk.prove_possession(operator, chain_id, registry)
    return group.g1_to_evm(pk.g1), group.g2_to_evm(pk.g2), group.g1_to_evm(sig)


def registration_data(sk: SecretKey, operator: str, chain_id: int, registry: str) -> bytes:
    """The ``data`` of ``registerForOperatorSets`` for a set served by the registry."""
    return abi_encode([G1_ABI, G2_ABI, G1_ABI], list(key_args(sk, operator, chain_id, registry)))


def certificate_args(cert: Certificate) -> tuple:
    """``checkSignatures``'s arguments for a certificate: (setId, msgHash, referenceBlock,
    nonSignerPubkeys, apkG2, sigma)."""
    return (cert.operator_set_id, *cert.abi_args())


def status_text(status: int) -> str:
    return STATUS.get(int(status), f"unknown status {status}")
