"""Off-chain side of contracts/certs/BLSRegistry.vy: key registration data, rotation arguments,
certificate arguments and the checker's statuses.

The registry's proof-of-possession message is :func:`offchain.bls.keys.pop_point` for its address
and chain (EIP-712 domain ``EigenBLSRegistry`` / ``1``); registration data rides in the
AllocationManager's ``registerForOperatorSets`` call as ``abi.encode(G1Point pkG1, G2Point pkG2,
G1Point signature)`` (G2 in EVM order, X[0] the imaginary part).
"""

from __future__ import annotations

from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_hash.auto import keccak
from eth_utils import is_address, to_checksum_address
from web3 import Web3

from offchain.bls import group
from offchain.bls.cert import Certificate
from offchain.bls.keys import PublicKey, SecretKey
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


# ----- the registry's views, read by the DA network (offchain/da/network/operators.py) ------------------
def _view(name: str, inputs: list[tuple[str, str]], outputs: list[dict]) -> dict[str, Any]:
    return {
        "type": "function", "name": name, "stateMutability": "view",
        "inputs": [{"type": t, "name": n} for n, t in inputs], "outputs": outputs,
    }  # fmt: skip


_G1_OUT = {"type": "tuple", "name": "", "components": [{"type": "uint256", "name": "X"}, {"type": "uint256", "name": "Y"}]}  # fmt: skip
_SET_BLOCK = [("operatorSetId", "uint32"), ("blockNumber", "uint32")]
# The views BLSRegistryReader calls (contracts/certs/BLSRegistry.vy; a test compares them with the compiled ABI).
BLS_REGISTRY_READ_ABI = [
    _view("apkAt", _SET_BLOCK, [_G1_OUT]),
    _view("totalStakeAt", _SET_BLOCK, [{"type": "uint256[]", "name": ""}]),
    _view(
        "operatorStakeAt",
        [("operatorSetId", "uint32"), ("operatorId", "bytes32"), ("blockNumber", "uint32")],
        [{"type": "bool", "name": ""}, {"type": "uint256[]", "name": ""}],
    ),
]
KEY_REGISTERED_TOPIC = (
    "0x" + keccak(b"KeyRegistered(address,uint32,bytes32,(uint256,uint256),(uint256[2],uint256[2]))").hex()
)


class BLSRegistryReader:
    """The BLSRegistry's membership, stake and key histories over JSON-RPC (web3), at a block (the views
    take the block and are read at the head: the histories are append-only): the
    :class:`offchain.da.network.operators.RegistryReader` the DA disperser and validators read their
    operators from. RPC failures propagate (the caller refuses with a typed error)."""

    def __init__(self, rpc_url: str, address: str, timeout_s: float = 10.0) -> None:
        if not isinstance(address, str) or not is_address(address):
            raise ChainInputError(f"BLS registry address {address!r} is not an address")
        self.w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout_s}))
        self.address = to_checksum_address(address)
        self.contract = self.w3.eth.contract(address=self.address, abi=BLS_REGISTRY_READ_ABI)

    def block_number(self) -> int:
        return int(self.w3.eth.block_number)

    def registered_keys(self, set_id: int, to_block: int) -> dict[bytes, PublicKey]:
        """Every key registered in set ``set_id`` up to ``to_block`` (``KeyRegistered``: registrations and
        queued rotations), by operator id; each key is checked (points, matching G1/G2) and against its id."""
        logs = self.w3.eth.get_logs({
            "address": self.address, "fromBlock": 0, "toBlock": int(to_block),
            "topics": [KEY_REGISTERED_TOPIC, None, "0x" + int(set_id).to_bytes(32, "big").hex()],
        })  # fmt: skip
        keys: dict[bytes, PublicKey] = {}
        for entry in logs:
            oid = bytes(entry["topics"][3])
            g1, g2 = abi_decode([G1_ABI, G2_ABI], bytes(entry["data"]))
            pk = PublicKey(
                group.g1_from_evm(g1, "registered G1 key"), group.g2_from_evm(g2, "registered G2 key")
            )
            if pk.check().operator_id != oid:
                raise ChainInputError(f"KeyRegistered for operator id {oid.hex()} carries another key")
            keys[oid] = pk
        return keys

    def operator_stake_at(self, set_id: int, operator_id: bytes, block: int) -> tuple[bool, list[int]]:
        member, stakes = self.contract.functions.operatorStakeAt(set_id, operator_id, block).call()
        return bool(member), [int(v) for v in stakes]

    def total_stake_at(self, set_id: int, block: int) -> list[int]:
        return [int(v) for v in self.contract.functions.totalStakeAt(set_id, block).call()]

    def apk_at(self, set_id: int, block: int) -> tuple[int, int]:
        x, y = self.contract.functions.apkAt(set_id, block).call()
        return int(x), int(y)
