"""Off-chain side of contracts/certs/BLSRegistry.vy: key registration data, rotation arguments,
certificate arguments and the checker's statuses.

The registry's proof-of-possession message is :func:`offchain.bls.keys.pop_point` for its address
and chain (EIP-712 domain ``EigenBLSRegistry`` / ``1``); registration data rides in the
AllocationManager's ``registerForOperatorSets`` call as ``abi.encode(G1Point pkG1, G2Point pkG2,
G1Point signature)`` (G2 in EVM order, X[0] the imaginary part).
"""

from __future__ import annotations

from typing import Any

from eth_abi import encode as abi_encode
from eth_hash.auto import keccak

from offchain.bls import group
from offchain.bls.cert import Certificate
from offchain.bls.keys import SecretKey
from offchain.chain import sdk
from offchain.chain.errors import ChainInputError

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


def register_key(
    d: Any,
    account: Any,
    avs: str,
    set_ids: list[int],
    sk: SecretKey,
    registry: str | None = None,
    rotate: bool = False,
) -> dict[str, Any]:
    """Join sets ``set_ids`` of ``avs`` with the BLS key ``sk`` (the registration data carries its proof of
    possession), or with ``rotate`` queue a rotation to it in each set. ``registry``: the BLSRegistry
    (default: the AVS's registrar in the AllocationManager). The account must be an operator."""
    if not set_ids:
        raise ChainInputError("name the set(s) to register the key for (--set)")
    ids = [sdk._set_id(i) for i in set_ids]
    am = d.contract("allocation_manager")
    reg_addr = registry or am.functions.getAVSRegistrar(avs).call()
    if int(reg_addr, 16) == 0:
        raise ChainInputError(f"AVS {avs} has no registrar: name the BLSRegistry (--registry)")
    reg = d.contract("bls_registry", reg_addr, ctype="BLSRegistry")
    try:
        serves = reg.functions.supportsAVS(avs).call()
    except Exception:  # noqa: BLE001 - any failure means the address is not a BLSRegistry
        serves = False
    if not serves:
        raise ChainInputError(f"{reg_addr} is not a BLSRegistry serving AVS {avs}")
    me = account.address
    oid = "0x" + sk.public_key().operator_id.hex()
    if rotate:
        args = key_args(sk, me, d.chain_id, reg.address)
        for i in ids:
            sdk.send(d, account, reg.functions.rotateKey(i, *args), "rotateKey")
        return {"operator": me, "operator_id": oid, "sets": ids, "registry": reg.address, "rotated": True}
    for i in ids:
        if not reg.functions.quorums(i).call():
            raise ChainInputError(f"set {i} has no quorums in registry {reg.address} (configureQuorums)")
    data = registration_data(sk, me, d.chain_id, reg.address)
    sdk.send(
        d, account, am.functions.registerForOperatorSets(me, (avs, ids, data)), "registerForOperatorSets"
    )
    return {"operator": me, "operator_id": oid, "sets": ids, "registry": reg.address, "rotated": False}


def bls_digest(digest: bytes, reference_block: int) -> bytes:
    """What BLS signers sign for an AVS statement ``digest`` (``OperatorSetSigCheck.blsDigest``):
    keccak256(abi.encode(digest, uint32 referenceBlock)), so a certificate names its block."""
    return keccak(abi_encode(["bytes32", "uint32"], [digest, reference_block]))


def certificate_bytes(cert: Certificate) -> bytes:
    """The ``cert`` argument of the AVS contracts' BLS entry points (``enrollEnclaveKeyBLS``,
    ``resolveChallengeBLS``) and of ``BLSRegistry.checkCertificate``: abi.encode(uint32 referenceBlock,
    G1Point[] nonSigners, G2Point apkG2, G1Point sigma)."""
    _msg, ref, ns, apk_g2, sigma = cert.abi_args()
    return abi_encode(["uint32", f"{G1_ABI}[]", G2_ABI, G1_ABI], [ref, ns, apk_g2, sigma])
