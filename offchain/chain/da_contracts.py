"""Off-chain side of contracts/da (docs/da-contracts.md): EigenDA's certificate structs as the
contracts' ABI tuples, their canonical hashes (``EigenDAHasher``), the batch Merkle tree, the cert
verifier's statuses, and certificates from parsed real ones (:mod:`offchain.da.cert`) or from a BLS
certificate of the project's registry.

Tuples, field for field (Solidity names)::

    BatchHeaderV2        (batchRoot bytes32, referenceBlockNumber uint32)
    BlobCommitment       (commitment G1, lengthCommitment G2, lengthProof G2, length uint32)
    BlobHeaderV2         (version uint16, quorumNumbers bytes, commitment, paymentHeaderHash bytes32)
    BlobCertificate      (blobHeader, signature bytes, relayKeys uint32[])
    BlobInclusionInfo    (blobCertificate, blobIndex uint32, inclusionProof bytes)
    NonSignerStakesAndSignature (nonSignerQuorumBitmapIndices uint32[], nonSignerPubkeys G1[],
        quorumApks G1[], apkG2 G2, sigma G1, quorumApkIndices uint32[], totalStakeIndices uint32[],
        nonSignerStakeIndices uint32[][])
    EigenDACertV3        (batchHeader, blobInclusionInfo, nonSignerStakesAndSignature,
                          signedQuorumNumbers bytes)

G1 = (X, Y); G2 = ((X.A1, X.A0), (Y.A1, Y.A0)) (EVM order).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_abi import encode as abi_encode
from eth_account import Account
from eth_hash.auto import keccak
from eth_utils import is_address, to_checksum_address
from web3 import Web3
from web3.exceptions import ContractLogicError

from offchain.bls import group
from offchain.bls.cert import Certificate
from offchain.chain.bls_registry import G1_ABI, G2_ABI
from offchain.chain.errors import ChainInputError
from offchain.crypto import bn254
from offchain.da.cert import Cert, merkle_root
from offchain.da.errors import ClaimChainError, ClaimRevertedError, NetworkMessageError, PaymentClaimError
from offchain.da.network import types
from offchain.da.network.payments import Reservation, VaultParams

BATCH_HEADER_ABI = "(bytes32,uint32)"
BLOB_COMMITMENT_ABI = f"({G1_ABI},{G2_ABI},{G2_ABI},uint32)"
BLOB_HEADER_ABI = f"(uint16,bytes,{BLOB_COMMITMENT_ABI},bytes32)"
BLOB_CERTIFICATE_ABI = f"({BLOB_HEADER_ABI},bytes,uint32[])"
BLOB_INCLUSION_INFO_ABI = f"({BLOB_CERTIFICATE_ABI},uint32,bytes)"
NON_SIGNER_ABI = f"(uint32[],{G1_ABI}[],{G1_ABI}[],{G2_ABI},{G1_ABI},uint32[],uint32[],uint32[][])"
CERT_V3_ABI = f"({BATCH_HEADER_ABI},{BLOB_INCLUSION_INFO_ABI},{NON_SIGNER_ABI},bytes)"

# contracts/da/EigenDACertVerifier.vy: checkDACert's statuses (0-7 are EigenDA's, 8 ours)
STATUS = {
    0: "null error",
    1: "success",
    2: "invalid inclusion proof",
    3: "security assumptions not met",
    4: "blob quorums not a subset of the confirmed quorums",
    5: "required quorums not a subset of the blob quorums",
    6: "invalid certificate",
    7: "internal error",
    8: "reference block not recent",
}
SUCCESS = 1
MAX_TREE_DEPTH = 32  # the verifier's inclusion proofs hold at most 32 levels


def status_text(status: int) -> str:
    return STATUS.get(int(status), f"unknown status {status}")


# ----- hashes (EigenDAHasher) ----------------------------------------------------------------------
def blob_key(blob_header: tuple) -> bytes:
    """``hashBlobHeaderV2``: keccak256(abi.encode(keccak256(abi.encode(version, quorumNumbers,
    commitment)), paymentHeaderHash)) (:func:`offchain.da.network.types.blob_key_of`)."""
    version, quorums, commitment, payment_hash = blob_header
    return types.blob_key_of(version, quorums, commitment, payment_hash)


def blob_certificate_hash(blob_certificate: tuple) -> bytes:
    """``hashBlobCertificate``: keccak256(abi.encode(blobKey, signature, relayKeys))."""
    header, signature, relay_keys = blob_certificate
    return types.blob_certificate_hash(blob_key(header), signature, relay_keys)


def batch_header_hash(batch_header: tuple) -> bytes:
    """The message operators sign: keccak256(abi.encode(batchRoot, referenceBlockNumber))."""
    try:
        return types.BatchHeader(*batch_header).hash()
    except NetworkMessageError as exc:
        raise ChainInputError(str(exc)) from None


# ----- the batch tree ------------------------------------------------------------------------------
def batch_tree(cert_hashes: Sequence[bytes]) -> tuple[bytes, list[bytes]]:
    """The batch root over leaves keccak256(certHash) (padded with zero leaves to a power of two,
    nodes keccak256(left || right)) and each blob's inclusion proof (siblings from the leaf up),
    as ``Merkle.verifyInclusionKeccak`` folds them (:class:`offchain.da.network.types.MerkleTree`).
    One blob: the root is its leaf, the proof empty."""
    if len(cert_hashes) > 1 << MAX_TREE_DEPTH:
        raise ChainInputError(f"{len(cert_hashes)} blobs: deeper than {MAX_TREE_DEPTH} levels")
    try:
        tree = types.MerkleTree(list(cert_hashes))
    except NetworkMessageError as exc:
        raise ChainInputError(str(exc)) from None
    return tree.root, [tree.proof(i) for i in range(len(cert_hashes))]


def inclusion_root(cert_hash: bytes, proof: bytes, index: int) -> bytes:
    """``Merkle.processInclusionProofKeccak`` from the leaf keccak256(certHash)."""
    if len(proof) % 32:
        raise ChainInputError(f"inclusion proof of {len(proof)} bytes: not a multiple of 32")
    return merkle_root(keccak(cert_hash), proof, index)


# ----- certificates ----------------------------------------------------------------------------------
def blob_certificate_of(cert: Cert) -> tuple:
    """The BlobCertificate tuple of a parsed real certificate."""
    C, LC, LP, n = cert.commitment_ints
    commitment = (tuple(C), (tuple(LC[0]), tuple(LC[1])), (tuple(LP[0]), tuple(LP[1])), n)
    header = (cert.blob_version, cert.quorum_numbers, commitment, cert.payment_header_hash)
    return (header, cert.signature, list(cert.relay_keys))


def cert_v3_of(cert: Cert) -> tuple:
    """The EigenDACertV3 tuple of a parsed real certificate (V2 and V3 carry the same fields)."""
    apks = _g1_list(cert.quorum_apks)
    ns = (
        list(cert.non_signer_bitmap_indices),
        [tuple(p) for p in cert.non_signer_pubkeys],
        apks,
        _g2_tuple(cert.apk_g2),
        _g1_list(cert.sigma)[0],
        list(cert.quorum_apk_indices),
        list(cert.total_stake_indices),
        [list(v) for v in cert.non_signer_stake_indices],
    )
    info = (blob_certificate_of(cert), cert.blob_index, cert.inclusion_proof)
    return ((cert.batch_root, cert.reference_block), info, ns, cert.signed_quorum_numbers)


def _g1_list(points: Any) -> list[tuple[int, int]]:
    return [p for p in bn254.g1_to_ints(points) if p is not None]


def _g2_tuple(point: Any) -> tuple:
    return group.g2_to_evm(bn254.g2_to_ints(point)[0])


def cert_v3(
    batch_header: tuple,
    blob_certificate: tuple,
    blob_index: int,
    inclusion_proof: bytes,
    bls: Certificate,
    signed_quorum_numbers: bytes,
) -> tuple:
    """An EigenDACertV3 tuple whose signature part is a BLS certificate of the project's registry
    over ``batch_header_hash(batch_header)``; the lookup hints are zero, one per signed quorum and
    non-signer (the registry finds its histories itself)."""
    if bls.message != batch_header_hash(batch_header):
        raise ChainInputError("the BLS certificate does not sign this batch header")
    if bls.reference_block != batch_header[1]:
        raise ChainInputError("the BLS certificate's reference block is not the batch header's")
    _msg, _ref, non_signers, apk_g2, sigma = bls.abi_args()
    ns = signature_part(non_signers, apk_g2, sigma, len(signed_quorum_numbers))
    return (batch_header, (blob_certificate, blob_index, inclusion_proof), ns, signed_quorum_numbers)


def signature_part(non_signers: list, apk_g2: tuple, sigma: tuple, nq: int) -> tuple:
    """NonSignerStakesAndSignature with zero lookup hints, one per signed quorum (``nq``) and non-signer."""
    return ([0] * len(non_signers), non_signers, [(0, 0)] * nq, apk_g2, sigma, [0] * nq, [0] * nq,
            [[] for _ in range(nq)])  # fmt: skip


def encode_cert_v3(cert: tuple) -> bytes:
    """abi.encode(EigenDACertV3): what ``checkDACert(bytes)`` takes."""
    return abi_encode([CERT_V3_ABI], [cert])


# ----- the PaymentVault, read by the disperser's meter -----------------------------------------------
def _view(name: str, inputs: list[dict], outputs: list[dict]) -> dict[str, Any]:
    return {"type": "function", "name": name, "stateMutability": "view", "inputs": inputs, "outputs": outputs}


def _struct(name: str, fields: str) -> dict[str, Any]:
    """An ABI tuple named ``name`` of ``fields`` ("type name, type name, ...")."""
    parts = [f.split() for f in fields.split(",")]
    return {"type": "tuple", "name": name, "components": [{"type": t, "name": n} for t, n in parts]}


_RESERVATION = _struct(
    "",
    "uint64 symbolsPerSecond, uint64 startTimestamp, uint64 endTimestamp, bytes quorumNumbers, bytes quorumSplits",
)
_ACCOUNTS = [{"type": "address[]", "name": "_accounts"}]
PARAM_NAMES = (
    "minNumSymbols",
    "pricePerSymbol",
    "priceUpdateCooldown",
    "globalSymbolsPerPeriod",
    "reservationPeriodInterval",
    "globalRatePeriodInterval",
)
# The views the meters call (contracts/da/PaymentVault.vy; a test compares them with the compiled ABI).
PAYMENT_VAULT_READ_ABI = [
    _view("getReservations", _ACCOUNTS, [{**_RESERVATION, "type": "tuple[]"}]),
    _view("getOnDemandTotalDeposits", _ACCOUNTS, [{"type": "uint80[]", "name": ""}]),
    *(_view(n, [], [{"type": "uint64", "name": ""}]) for n in PARAM_NAMES),
]


class PaymentVaultReader:
    """The PaymentVault's reservations, deposits and global parameters over JSON-RPC (web3), batched as
    EigenDA's vault monitors read them: :class:`offchain.da.network.payments.VaultReader` for the disperser's
    :class:`~offchain.da.network.payments.VaultCache`. Reads at the latest block; RPC failures propagate
    (the cache keeps its last values or refuses with UNAVAILABLE)."""

    def __init__(self, rpc_url: str, address: str, timeout_s: float = 10.0) -> None:
        if not isinstance(address, str) or not is_address(address):
            raise ChainInputError(f"payment vault address {address!r} is not an address")
        self.w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout_s}))
        self.contract = self.w3.eth.contract(address=to_checksum_address(address), abi=PAYMENT_VAULT_READ_ABI)

    def params(self) -> VaultParams:
        f = self.contract.functions
        return VaultParams(*(int(getattr(f, n)().call()) for n in PARAM_NAMES))

    def reservations(self, accounts: Sequence[str]) -> list[Reservation]:
        got = self.contract.functions.getReservations([to_checksum_address(a) for a in accounts]).call()
        return [Reservation.from_abi(r) for r in got]

    def deposits(self, accounts: Sequence[str]) -> list[int]:
        got = self.contract.functions.getOnDemandTotalDeposits(
            [to_checksum_address(a) for a in accounts]
        ).call()
        return [int(v) for v in got]


# ----- the PaymentVault's claims, submitted by the disperser's claim keeper ------------------------------
_CLAIM_HEADER = _struct("header", "string accountId, int64 timestamp, uint256 cumulativePayment")
# What the claim keeper calls (contracts/da/PaymentVault.vy; a test compares them with the compiled ABI).
PAYMENT_VAULT_CLAIM_ABI = [
    {
        "type": "function", "name": "claimOnDemandPayment", "stateMutability": "nonpayable",
        "inputs": [_CLAIM_HEADER, {"type": "bytes32", "name": "blobHeaderHash"}, {"type": "bytes", "name": "signature"}],
        "outputs": [{"type": "uint256", "name": ""}],
    },
    _view("consumedOnDemand", [{"type": "address", "name": "arg0"}], [{"type": "uint256", "name": ""}]),
]  # fmt: skip
CLAIM_GAS_MARGIN = 1.25
CLAIM_RECEIPT_TIMEOUT_S = 120.0


def _revert_reason(exc: Exception) -> str:
    msg = getattr(exc, "message", None) or str(exc)
    return msg.removeprefix("execution reverted: ").strip() or "no reason given"


class PaymentVaultClaimer:
    """``claimOnDemandPayment`` over JSON-RPC, signed with ``key`` (the disperser's): the
    :class:`offchain.da.network.claims.ClaimSubmitter` of the disperser's claim keeper. ``submit`` simulates
    each claim (a refusal is a :class:`ClaimRevertedError` with the vault's reason and costs nothing), sends
    the rest with consecutive nonces, then waits for their receipts; a chain that stops answering is a
    :class:`ClaimChainError` for every claim without a result."""

    def __init__(
        self, rpc_url: str, address: str, key: bytes, timeout_s: float = 10.0,
        receipt_timeout_s: float = CLAIM_RECEIPT_TIMEOUT_S,
    ) -> None:  # fmt: skip
        if not isinstance(address, str) or not is_address(address):
            raise ChainInputError(f"payment vault address {address!r} is not an address")
        try:
            self.account = Account.from_key(key)
        except (ValueError, TypeError) as exc:
            raise ChainInputError(f"claim key: {exc}") from None
        self.w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout_s}))
        self.contract = self.w3.eth.contract(
            address=to_checksum_address(address), abi=PAYMENT_VAULT_CLAIM_ABI
        )
        self.receipt_timeout_s = receipt_timeout_s

    def consumed(self, accounts: Sequence[str]) -> list[int]:
        try:
            return [
                int(self.contract.functions.consumedOnDemand(to_checksum_address(a)).call()) for a in accounts
            ]
        except Exception as exc:  # noqa: BLE001 - a refused connection or an odd answer
            raise ClaimChainError(f"payment vault unreadable: {_revert_reason(exc)}") from None

    def submit(self, claims: Sequence[Any]) -> list[str | PaymentClaimError]:
        out: list[str | PaymentClaimError | None] = [None] * len(claims)
        me = self.account.address
        sent: list[tuple[int, bytes]] = []
        try:
            nonce = self.w3.eth.get_transaction_count(me, "pending")
            chain_id = self.w3.eth.chain_id
            for i, c in enumerate(claims):
                fn = self.contract.functions.claimOnDemandPayment(*c.args())
                try:
                    tx = fn.build_transaction({"from": me, "nonce": nonce, "chainId": chain_id, "gas": 1})
                    estimate = self.w3.eth.estimate_gas(
                        {k: v for k, v in tx.items() if k != "gas"}, "pending"
                    )
                except ContractLogicError as exc:
                    out[i] = ClaimRevertedError(
                        f"{c.account}'s total {c.cumulative}: refused by the vault: {_revert_reason(exc)}"
                    )
                    continue
                tx["gas"] = int(estimate * CLAIM_GAS_MARGIN)
                sent.append(
                    (i, self.w3.eth.send_raw_transaction(self.account.sign_transaction(tx).raw_transaction))
                )
                nonce += 1
            for i, h in sent:
                r = self.w3.eth.wait_for_transaction_receipt(
                    h, timeout=self.receipt_timeout_s, poll_latency=0.2
                )
                c = claims[i]
                out[i] = "0x" + bytes(h).hex() if r["status"] == 1 else ClaimRevertedError(
                    f"{c.account}'s total {c.cumulative}: the transaction 0x{bytes(h).hex()} reverted"
                )  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - a refused connection, no receipt in time, an odd answer
            err = ClaimChainError(f"claims: {type(exc).__name__}: {_revert_reason(exc)}")
            out = [err if o is None else o for o in out]
        return [o if o is not None else ClaimChainError("claims: no result") for o in out]


# ----- the EigenDACertVerifier, called by `eigen da put/get` --------------------------------------------------
CERT_VERIFIER_READ_ABI = [
    _view("checkDACert", [{"type": "bytes", "name": "abiEncodedCert"}], [{"type": "uint8", "name": ""}])
]


def _hex_ints(v: Any) -> Any:
    return tuple(_hex_ints(x) for x in v) if isinstance(v, list) else int(v, 16)


def cert_v3_of_network(cert: dict[str, Any]) -> tuple:
    """The EigenDACertV3 tuple of a certificate as ``eigen da put`` writes it (offchain/da/network/client.py):
    its batch header, blob inclusion info, and the attestation's ``registry_signature`` (each signer once,
    the non-signers by operator id) with zero lookup hints, one per signed quorum (as :func:`cert_v3`)."""
    try:
        batch = cert["signed_batch"]
        header = types.BatchHeader.from_json(batch["header"])
        inc = cert["blob_inclusion_info"]
        bc = types.BlobCertificate.from_json(inc["blob_certificate"])
        h = bc.blob_header
        blob_header = (h.version, h.sorted_quorums, h.commitment.abi_ints(), h.payment_header.hash())
        reg = batch["attestation"]["registry_signature"]
        non_signers = [_hex_ints(p) for p in reg["non_signer_pubkeys"]]
        apk_g2, sigma = (
            _hex_ints(reg["apk_g2"] or [["0x0", "0x0"], ["0x0", "0x0"]]),
            _hex_ints(reg["sigma"] or ["0x0", "0x0"]),
        )
        signed = bytes(int(q) for q in batch["attestation"]["quorum_numbers"])
        proof = bytes.fromhex(inc["inclusion_proof"])
        index = int(inc["blob_index"])
    except (KeyError, TypeError, ValueError, NetworkMessageError) as exc:
        raise ChainInputError(f"certificate: not one `eigen da put` writes ({exc!r})") from None
    ns = signature_part(non_signers, apk_g2, sigma, len(signed))
    blob_certificate = (blob_header, bc.signature, list(bc.relay_keys))
    return ((header.batch_root, header.reference_block_number), (blob_certificate, index, proof), ns, signed)


class CertVerifierClient:
    """``EigenDACertVerifier.checkDACert`` over JSON-RPC (an ``eth_call`` at the head): the
    :class:`offchain.da.network.client.CertChecker` of ``eigen da put/get --cert-verifier``."""

    def __init__(self, rpc_url: str, address: str, timeout_s: float = 10.0) -> None:
        if not isinstance(address, str) or not is_address(address):
            raise ChainInputError(f"cert verifier address {address!r} is not an address")
        self.w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout_s}))
        self.contract = self.w3.eth.contract(address=to_checksum_address(address), abi=CERT_VERIFIER_READ_ABI)

    def check_da_cert(self, cert: dict[str, Any]) -> int:
        return int(self.contract.functions.checkDACert(encode_cert_v3(cert_v3_of_network(cert))).call())

    def status_text(self, status: int) -> str:
        return status_text(status)
