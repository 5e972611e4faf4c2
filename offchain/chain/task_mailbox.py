"""Off-chain side of contracts/compute/TaskMailbox.vy and TaskSlasher.vy: task hashes, the digest
executors sign, ECDSA and BLS certificates as ``submitResult`` takes them, and a small client.

Encodings (``abi.encode`` + keccak256, as the contract computes them; docs/compute-network.md)::

    params     = (address refundCollector, uint32 taskType, uint256 fee, bytes payload)
    taskHash   = keccak256(abi.encode(uint256 taskCount, address mailbox, uint256 chainId, params))
    message    = keccak256(abi.encode(bytes32 taskHash, bytes result))           # Hourglass
    RESULT_DOMAIN = keccak256("eigen.compute.TaskResult.v1")
    digest     = keccak256(abi.encode(RESULT_DOMAIN, uint256 chainId, address mailbox, message))
    ECDSA cert = abi.encode((uint8 v, bytes32 r, bytes32 s)[])  signatures over digest, keys ascending
    BLS cert   = BLSRegistry certificate over keccak256(abi.encode(digest, uint32 referenceBlock)),
                 referenceBlock = the task's creation block - 1; signer ids beside it, ascending
    inputHash  = keccak256(payload)      resultHash = keccak256(result)

Hourglass's ECDSA certificate digest has no chain id (a certificate is valid on every destination
chain); here the chain id and the mailbox address are in every digest, so a certificate made for
one chain or mailbox is refused by any other.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_abi.exceptions import DecodingError
from eth_hash.auto import keccak
from eth_keys import keys
from web3 import Web3
from web3.logs import DISCARD

from offchain import abi
from offchain.bls import group
from offchain.bls.cert import build_certificate
from offchain.bls.errors import BLSCertificateError, BLSKeyError, BLSSignatureError
from offchain.bls.keys import PublicKey, SecretKey, verify_single
from offchain.chain.bls_registry import BLSRegistryReader, bls_digest, certificate_bytes
from offchain.chain.compute_avs import receipt_args, threshold_signatures
from offchain.chain.errors import ChainInputError, ChainRevertError
from offchain.chain.sdk import Deployment, send
from offchain.compute.errors import ComputeReceiptError, TaskRunError
from offchain.compute.receipt import ReceiptBundle, recover
from offchain.compute.taskrun import Certified, Response, Share, Task, TaskType
from offchain.da.errors import DAError
from offchain.da.network import client as da_client

RESULT_DOMAIN = keccak(b"eigen.compute.TaskResult.v1")
CERT_ECDSA, CERT_BLS = 1, 2
CERT_KINDS = {"ecdsa": CERT_ECDSA, "bls": CERT_BLS}
STATUS = ("NONE", "CREATED", "VERIFIED", "EXPIRED")
MAX_PAYLOAD = MAX_RESULT = 4096
PARAMS_ABI = "(address,uint32,uint256,bytes)"
SIGNATURE_ABI = "(uint8,bytes32,bytes32)"

_addr = partial(abi.address, err=ChainInputError)
_b32 = partial(abi.b32, err=ChainInputError, text=False)


def _bytes(v: Any, name: str, limit: int) -> bytes:
    if not isinstance(v, bytes | bytearray):
        raise ChainInputError(f"{name} must be bytes")
    if len(v) > limit:
        raise ChainInputError(f"{name} is {len(v)} bytes, over the mailbox's {limit}")
    return bytes(v)


@dataclass(frozen=True)
class TaskParams:
    """What ``createTask`` takes: where an expired task's fee goes, the task type, the fee agreed
    (must equal the type's) and the input."""

    refund_collector: str
    task_type: int
    fee: int
    payload: bytes

    def __post_init__(self) -> None:
        object.__setattr__(self, "refund_collector", _addr(self.refund_collector))
        abi.uint(self.task_type, 32, "task_type", ChainInputError)
        abi.uint(self.fee, 256, "fee", ChainInputError)
        object.__setattr__(self, "payload", _bytes(self.payload, "payload", MAX_PAYLOAD))

    def as_tuple(self) -> tuple[str, int, int, bytes]:
        return (self.refund_collector, self.task_type, self.fee, self.payload)

    def input_hash(self) -> bytes:
        return keccak(self.payload)

    def task_hash(self, count: int, mailbox: str, chain_id: int) -> bytes:
        """The hash ``createTask`` gives this task when it is the mailbox's task number ``count``."""
        abi.uint(count, 256, "count", ChainInputError)
        return keccak(
            abi_encode(
                ["uint256", "address", "uint256", PARAMS_ABI],
                [count, _addr(mailbox), chain_id, self.as_tuple()],
            )
        )


def message_hash(task_hash: bytes, result: bytes) -> bytes:
    """Hourglass's ``getMessageHash``: keccak256(abi.encode(taskHash, result))."""
    return keccak(
        abi_encode(["bytes32", "bytes"], [_b32(task_hash, "task_hash"), _bytes(result, "result", MAX_RESULT)])
    )


def certificate_digest(chain_id: int, mailbox: str, task_hash: bytes, result: bytes) -> bytes:
    """What executors sign for ``result`` (``TaskMailbox.certificateDigest``)."""
    return keccak(
        abi_encode(
            ["bytes32", "uint256", "address", "bytes32"],
            [RESULT_DOMAIN, chain_id, _addr(mailbox), message_hash(task_hash, result)],
        )
    )


def ecdsa_certificate(digest: bytes, signing_keys: Iterable[keys.PrivateKey]) -> bytes:
    """An ECDSA certificate: the signing keys' signatures over ``digest``, keys ascending."""
    sigs = threshold_signatures(_b32(digest, "digest"), signing_keys, ChainInputError)
    if not sigs:
        raise ChainInputError("an ECDSA certificate needs at least one signature")
    return abi_encode([f"{SIGNATURE_ABI}[]"], [sigs])


def bls_certificate(
    operator_set_id: int,
    digest: bytes,
    reference_block: int,
    members: Sequence[PublicKey],
    signers: Iterable[SecretKey] | Mapping[bytes, Any],
) -> tuple[bytes, list[bytes]]:
    """A BLS certificate over ``digest`` at ``reference_block`` (the task's) from the set's
    ``members`` then, signed by ``signers`` (secret keys, or operator id -> signature already made
    over ``bls_digest(digest, reference_block)``); returns (certificate bytes, signer ids ascending)."""
    m = bls_digest(_b32(digest, "digest"), reference_block)
    if isinstance(signers, Mapping):
        sigs = dict(signers)
    else:
        sigs = {sk.public_key().operator_id: sk.sign(m) for sk in signers}
    cert, _apk = build_certificate(operator_set_id, m, reference_block, members, sigs)
    return certificate_bytes(cert), sorted(sigs)


@dataclass(frozen=True)
class TaskInfo:
    creator: str
    refund_collector: str
    task_type: int
    fee: int
    created_block: int
    reference_block: int
    deadline: int
    input_hash: bytes
    status: str
    refunded: bool
    result_hash: bytes
    record: bytes
    signers_hash: bytes

    @classmethod
    def from_chain(cls, t: Any) -> TaskInfo:
        v = list(t)
        v[8] = STATUS[int(v[8])]
        return cls(*v)


def signers_hash(signers: Sequence[str]) -> bytes:
    """``signersHash`` of a verified task: keccak256(abi.encode(address[] signers))."""
    return keccak(abi_encode(["address[]"], [[_addr(s) for s in signers]]))


def signer_stakes_hash(stakes: Sequence[int]) -> bytes:
    """``signerStakesHash`` of a verified task: h = 0; for each signer's stake s (TaskVerified's
    signer order): h = keccak256(abi.encode(bytes32 h, uint256 s))."""
    h = bytes(32)
    for s in stakes:
        if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < 2**256:
            raise ChainInputError(f"a stake is a uint256, got {s!r}")
        h = keccak(abi_encode(["bytes32", "uint256"], [h, s]))
    return h


def certified_stakes(w3: Web3, mailbox: Any, task_hash: bytes) -> tuple[list[str], list[int]]:
    """The certifying signers of a verified task (TaskVerified's list) and the stake each signed
    with, as ``VerifiedEscrow.releaseToCertifiers`` takes them; `mailbox` is a web3 contract of
    the TaskMailbox. The stakes are not logged: they are ``verifyResult``'s over the certificate
    and result of the ``submitResult`` transaction, at the block it was mined in (or the one
    before, when a transaction after it in its block moved stake), and must match the mailbox's
    ``signerStakesHash``. :class:`ChainInputError` when the task is not verified or its
    certificate cannot be read (submitted through another contract, or a node without the
    block's state)."""
    h = _b32(task_hash, "task_hash")
    want = bytes(mailbox.functions.signerStakesHash(h).call())
    if want == bytes(32):
        raise ChainInputError(f"task 0x{h.hex()} is not verified: no signer stakes")
    created = int(mailbox.functions.getTaskInfo(h).call()[4])  # TaskInfo.createdBlock
    logs = mailbox.events.TaskVerified().get_logs(argument_filters={"taskHash": h}, from_block=created)
    if not logs:
        raise ChainInputError(f"no TaskVerified event for 0x{h.hex()} (a pruned node?)")
    a = logs[-1]["args"]
    signers = [Web3.to_checksum_address(x) for x in a["signers"]]
    if len(signers) == 1 and signer_stakes_hash([int(a["signedStake"])]) == want:
        return signers, [int(a["signedStake"])]
    tx = w3.eth.get_transaction(logs[-1]["transactionHash"])
    try:
        fn, args = mailbox.decode_function_input(tx["input"])
    except ValueError:
        fn = None
    if fn is None or fn.fn_name != "submitResult" or Web3.to_checksum_address(tx["to"]) != mailbox.address:
        raise ChainInputError(f"task 0x{h.hex()}'s result was not submitted to the mailbox directly")
    call = mailbox.functions.verifyResult(h, args["executorCert"], args["result"], args["signerIds"])
    block = int(logs[-1]["blockNumber"])
    for at in (block, block - 1):
        try:
            got_signers, stakes, _signed, _total = call.call(block_identifier=at)
        except Exception:  # noqa: BLE001 - a revert, or no state for the block
            continue
        stakes = [int(x) for x in stakes]
        if [Web3.to_checksum_address(x) for x in got_signers] == signers and signer_stakes_hash(
            stakes
        ) == want:
            return signers, stakes
    raise ChainInputError(f"the stakes task 0x{h.hex()} was certified with cannot be recomputed")


# ---- DA records: a task's input, output and receipt -------------------------------------------

RECORD_ABI = ["bytes32", "bytes", "bytes", "bytes"]  # taskHash, input, output, receipt (JSON)


def receipt_fault_args(
    task_hash: bytes, bundle: ReceiptBundle, accepted_signers: Sequence[str]
) -> tuple[bytes, tuple, tuple, list[str]]:
    """``TaskSlasher.proveReceiptFault``'s arguments: (taskHash, receipt, (v, r, s), acceptedSigners)
    for the enclave receipt ``bundle`` against the task's certifying operators."""
    values, sig = receipt_args(bundle)
    receipt = tuple(Web3.to_checksum_address(v) if isinstance(v, str) else v for v in values)  # enclaveSigner
    signers = [Web3.to_checksum_address(a) for a in accepted_signers]
    return _b32(task_hash, "task_hash"), receipt, tuple(sig), signers


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def task_record(task_hash: bytes, payload: bytes, result: bytes, receipt: dict[str, Any]) -> bytes:
    """What is recorded to DA for a certified task: abi.encode(bytes32 taskHash, bytes input,
    bytes output, bytes receipt), the receipt a certifying executor's bundle as canonical JSON."""
    return abi_encode(RECORD_ABI, [_b32(task_hash, "task_hash"), payload, result, _canonical(receipt)])


def record_hash(certificate: dict[str, Any]) -> bytes:
    """The ``record`` submitResult stores: keccak256 of the DA certificate's canonical JSON."""
    return keccak(_canonical(certificate))


def check_record(data: bytes, info: TaskInfo, task_hash: bytes, result_hash: bytes) -> dict[str, Any]:
    """A fetched record against the chain: it names the task, its input hashes to the task's
    ``inputHash``, its output to the certified ``resultHash``, and its receipt (signed by the
    enclave key it names) binds that input and output. Returns {input, output, receipt}; a
    :class:`TaskRunError` names the first mismatch."""
    try:
        h, payload, output, receipt_json = abi_decode(RECORD_ABI, data)
        bundle = ReceiptBundle.loads(receipt_json)
    except (DecodingError, ValueError, TypeError, OverflowError) as exc:
        raise TaskRunError(f"the DA record is not a task record: {exc}") from None
    except ComputeReceiptError as exc:
        raise TaskRunError(f"the DA record's receipt is malformed: {exc}") from None
    if bytes(h) != task_hash:
        raise TaskRunError(f"the DA record is for task 0x{bytes(h).hex()}, not 0x{task_hash.hex()}")
    if keccak(payload) != info.input_hash:
        raise TaskRunError("the DA record's input is not the task's (inputHash differs)")
    if keccak(output) != result_hash:
        raise TaskRunError("the DA record's output is not the certified result")
    r = bundle.receipt
    if r.inputHash != info.input_hash or r.outputHash != result_hash:
        raise TaskRunError("the DA record's receipt is over another input or output")
    try:
        signer = recover(r.digest(), bundle.signature)
    except ComputeReceiptError as exc:
        raise TaskRunError(f"the DA record's receipt signature: {exc}") from None
    if signer != r.enclaveSigner.lower():
        raise TaskRunError("the DA record's receipt is not signed by the enclave key it names")
    return {"input": bytes(payload), "output": bytes(output), "receipt": bundle.to_json()}


class DARecorder:
    """Records each certified task to the DA network (``offchain.da.network.client.put`` through
    ``disperser``, paid by ``payer_key``): the record is :func:`task_record` with the first
    certifying executor's receipt; its certificate is written to ``records/0x<taskHash>.cert.json``
    and its :func:`record_hash` is what ``submitResult`` stores. The task's input comes from its
    ``TaskCreated`` event."""

    def __init__(
        self,
        mailbox: Web3TaskMailbox,
        disperser: str,
        payer_key: bytes,
        records: str | Path,
        quorums: tuple[int, ...] = (0, 1),
        timeout_s: float = 300.0,
    ) -> None:
        self.mailbox, self.disperser, self.payer_key = mailbox, disperser, payer_key
        self.records, self.quorums, self.timeout_s = Path(records), quorums, timeout_s

    def __call__(self, certified: Certified, responses: list[Response]) -> bytes:
        h = certified.task_hash
        receipt = responses[0].receipt
        data = task_record(h, self.mailbox.payload(h), certified.result, receipt)
        try:
            cert = da_client.put(self.disperser, data, self.payer_key, self.quorums, timeout_s=self.timeout_s)
        except DAError as exc:
            raise TaskRunError(f"recording task 0x{h.hex()} to DA failed: {exc}") from exc
        self.records.mkdir(parents=True, exist_ok=True)
        path = self.records / f"0x{h.hex()}.cert.json"
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(cert, indent=1) + "\n")
        tmp.replace(path)
        return record_hash(cert)


class TaskMailbox:
    """A thin client over a deployed TaskMailbox (any object with its ABI methods: an ape contract
    or a web3 contract's functions through :mod:`offchain.chain.sdk`). Transactions go through
    ``send(method, *args)``; views through the contract."""

    def __init__(self, contract: Any, chain_id: int) -> None:
        self.contract, self.chain_id = contract, chain_id
        self.address = _addr(str(contract.address))

    def next_task_hash(self, params: TaskParams) -> bytes:
        return params.task_hash(int(self.contract.taskCount()), self.address, self.chain_id)

    def digest(self, task_hash: bytes, result: bytes) -> bytes:
        return certificate_digest(self.chain_id, self.address, task_hash, result)

    def info(self, task_hash: bytes) -> TaskInfo:
        return TaskInfo.from_chain(self.contract.getTaskInfo(_b32(task_hash, "task_hash")))

    def status(self, task_hash: bytes) -> str:
        return STATUS[int(self.contract.getTaskStatus(_b32(task_hash, "task_hash")))]


# ---- over web3: what the executor and aggregator processes use ------------------------------------

LOG_SPAN = 2000  # blocks per eth_getLogs request


@dataclass(frozen=True)
class EcdsaSigner:
    """An executor's ECDSA share: its signing key's signature over the certificate digest."""

    operator: str
    key: keys.PrivateKey

    def sign(self, task: Task, kind: int, digest: bytes) -> Share:
        if kind != CERT_ECDSA:
            raise TaskRunError(
                f"task type {task.task_type} takes {kind_name(kind)} certificates, this executor signs ECDSA"
            )
        (v, r, s) = threshold_signatures(digest, [self.key], ChainInputError)[0]
        return Share(self.key.public_key.to_canonical_address(), bytes(r) + bytes(s) + bytes([v]))


@dataclass(frozen=True)
class BlsSigner:
    """An executor's BLS share: its BLS key (as registered in the BLSRegistry) signs
    ``bls_digest(digest, referenceBlock)``, the task's reference block; the share names the
    operator id and carries the G1 signature's 64 bytes X || Y."""

    operator: str
    key: SecretKey

    def sign(self, task: Task, kind: int, digest: bytes) -> Share:
        if kind != CERT_BLS:
            raise TaskRunError(
                f"task type {task.task_type} takes {kind_name(kind)} certificates, this executor signs BLS"
            )
        sigma = self.key.sign(bls_digest(digest, task.reference_block))
        return Share(self.key.public_key().operator_id, group.g1_words(sigma))


@dataclass(frozen=True)
class OperatorSigner:
    """An operator holding both keys: ECDSA shares for ECDSA task types, BLS for BLS ones."""

    ecdsa: EcdsaSigner
    bls: BlsSigner

    def __post_init__(self) -> None:
        if self.ecdsa.operator.lower() != self.bls.operator.lower():
            raise ChainInputError("the ECDSA and BLS signers name different operators")

    @property
    def operator(self) -> str:
        return self.ecdsa.operator

    def sign(self, task: Task, kind: int, digest: bytes) -> Share:
        return (self.bls if kind == CERT_BLS else self.ecdsa).sign(task, kind, digest)


def _g1_share(signature: bytes) -> Any:
    if len(signature) != 64:
        raise TaskRunError("a BLS share is a G1 point's 64 bytes X || Y")
    xy = (int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        sigma = group.g1_from_evm(xy, "the BLS share")
    except (BLSKeyError, BLSSignatureError) as exc:
        raise TaskRunError(str(exc)) from None
    if sigma is None:
        raise TaskRunError("the BLS share is the point at infinity")
    return sigma


def kind_name(kind: int) -> str:
    return {v: k for k, v in CERT_KINDS.items()}.get(kind, f"kind {kind}")


def _recover(digest: bytes, signature: bytes) -> bytes:
    if len(signature) != 65 or signature[64] not in (27, 28):
        raise TaskRunError("an ECDSA share is 65 bytes r||s||v with v 27 or 28")
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big")
    try:
        pk = keys.Signature(vrs=(signature[64] - 27, r, s)).recover_public_key_from_msg_hash(digest)
    except Exception as exc:  # eth_keys raises several types for a bad signature
        raise TaskRunError(f"the ECDSA share does not verify: {exc}") from None
    return pk.to_canonical_address()


class Web3TaskMailbox:
    """A deployed TaskMailbox over web3 (a :class:`offchain.chain.sdk.Deployment`): the
    executor's view (:class:`offchain.compute.taskrun.MailboxView`) and, with ``account`` (an
    eth_account key that pays for ``submitResult``), the aggregator's certifier."""

    def __init__(self, d: Deployment, address: str | None = None, account: Any = None) -> None:
        self.d, self.account = d, account
        self.contract = d.contract("task_mailbox", address)
        self.address = Web3.to_checksum_address(self.contract.address)
        self._types: dict[int, TaskType] = {}
        self._registry: BLSRegistryReader | None = None
        self._registry_full: Any = None
        self._keys: dict[tuple[int, int], dict[bytes, PublicKey]] = {}

    @property
    def chain_id(self) -> int:
        return int(self.d.w3.eth.chain_id)

    def head(self) -> int:
        return int(self.d.w3.eth.block_number)

    def tasks_created(self, from_block: int, to_block: int) -> list[Task]:
        out = []
        for lo in range(from_block, to_block + 1, LOG_SPAN):
            hi = min(to_block, lo + LOG_SPAN - 1)
            for ev in self.contract.events.TaskCreated.get_logs(from_block=lo, to_block=hi):
                a = ev["args"]
                out.append(
                    Task(
                        bytes(a["taskHash"]),
                        int(a["taskType"]),
                        int(a["operatorSetId"]),
                        int(a["referenceBlock"]),
                        int(a["deadline"]),
                        bytes(a["payload"]),
                        int(ev["blockNumber"]),
                    )
                )
        return out

    def task_type(self, task_type: int) -> TaskType:
        if task_type not in self._types:  # a type's image, kind and threshold never change
            t = self.contract.functions.taskTypes(task_type).call()
            tt = TaskType(bytes(t[2]), int(t[1]), int(t[6]), int(t[7]), bool(t[8]), bytes(t[0]))
            if tt.operator_set_id == 0 and tt.image_digest == bytes(32):
                raise TaskRunError(f"no task type {task_type} in the mailbox {self.address}")
            self._types[task_type] = tt
        return self._types[task_type]

    def digest(self, task_hash: bytes, result: bytes) -> bytes:
        return certificate_digest(self.chain_id, self.address, task_hash, result)

    def info(self, task_hash: bytes) -> TaskInfo:
        return TaskInfo.from_chain(self.contract.functions.getTaskInfo(_b32(task_hash, "task_hash")).call())

    def status(self, task_hash: bytes) -> str:
        return STATUS[int(self.contract.functions.getTaskStatus(_b32(task_hash, "task_hash")).call())]

    def payload(self, task_hash: bytes) -> bytes:
        """A task's input, from its ``TaskCreated`` event (checked against its ``inputHash``)."""
        h = _b32(task_hash, "task_hash")
        info = self.info(h)
        if info.status == "NONE":
            raise ChainInputError(f"no task 0x{h.hex()} in the mailbox {self.address}")
        logs = self.contract.events.TaskCreated.get_logs(
            from_block=info.created_block, to_block=info.created_block, argument_filters={"taskHash": h}
        )
        if not logs or keccak(bytes(logs[0]["args"]["payload"])) != info.input_hash:
            raise ChainInputError(f"no TaskCreated event for 0x{h.hex()} (a pruned node?)")
        return bytes(logs[0]["args"]["payload"])

    def create_task(self, account: Any, params: TaskParams) -> bytes:
        """``createTask`` from ``account`` (approving the fee token first when its allowance is
        short); returns the task hash from the TaskCreated event."""
        if self.account is None and account is None:
            raise ChainInputError("creating a task needs an account")
        t = self.contract.functions.taskTypes(params.task_type).call()
        if bytes(t[0]) == bytes(32):
            raise ChainInputError(f"no task type {params.task_type} in the mailbox {self.address}")
        if not t[8]:
            raise ChainInputError(f"task type {params.task_type} is disabled")
        if params.fee != int(t[4]):
            raise ChainInputError(f"task type {params.task_type} costs {int(t[4])}, not {params.fee}")
        if params.fee:
            token = self.d.contract("token", address=t[3], ctype="MockERC20")
            if token.functions.allowance(account.address, self.address).call() < params.fee:
                send(self.d, account, token.functions.approve(self.address, params.fee), "approve")
        _, *rest = params.as_tuple()
        fn = self.contract.functions.createTask((Web3.to_checksum_address(params.refund_collector), *rest))
        receipt = send(self.d, account, fn, "createTask")
        (ev,) = self.contract.events.TaskCreated().process_receipt(receipt, errors=DISCARD)
        return bytes(ev["args"]["taskHash"])

    def record_of(self, task_hash: bytes, certificate: Any) -> TaskInfo:
        """The verified task's info once ``certificate`` (the DA certificate the aggregator wrote)
        is its record: its hash is the task's on-chain ``record``. A :class:`TaskRunError` otherwise."""
        h = _b32(task_hash, "task_hash")
        info = self.info(h)
        if info.status != "VERIFIED":
            raise ChainInputError(f"task 0x{h.hex()} has no result (status {info.status})")
        if info.record == bytes(32):
            raise TaskRunError(f"task 0x{h.hex()} was certified without a DA record")
        if not isinstance(certificate, dict) or record_hash(certificate) != info.record:
            raise TaskRunError(
                f"the certificate is not task 0x{h.hex()}'s record (its hash is not 0x{info.record.hex()})"
            )
        return info

    def fetch_record(self, task_hash: bytes, certificate: Any, **get_args: Any) -> dict[str, Any]:
        """A verified task's DA record, fetched and checked: the certificate must be the task's
        record (:meth:`record_of`); its payload is retrieved with
        ``offchain.da.network.client.get(certificate, **get_args)`` (verified chunks or a relay's
        blob with the certificate's commitment) and checked by :func:`check_record`.
        Returns {input, output, receipt, served_by}."""
        h = _b32(task_hash, "task_hash")
        info = self.record_of(h, certificate)
        try:
            data, served = da_client.get(certificate, **get_args)
        except DAError as exc:
            raise TaskRunError(f"fetching task 0x{h.hex()}'s record from DA failed: {exc}") from exc
        return check_record(data, info, h, info.result_hash) | {"served_by": served.served_by}

    def refund(self, task_hash: bytes, account: Any = None) -> Any:
        """``refundFee`` of an expired task from ``account`` (default: this client's); the fee goes
        to the task's refund collector. Returns the transaction hash; a task that is not
        expired or already refunded is a :class:`ChainInputError` naming its state."""
        account = account or self.account
        if account is None:
            raise ChainInputError("a refund needs an account to send it")
        h = _b32(task_hash, "task_hash")
        info = self.info(h)
        if info.status != "EXPIRED":
            raise ChainInputError(f"task 0x{h.hex()} is {info.status}, not expired: no refund")
        if info.refunded:
            raise ChainInputError(f"task 0x{h.hex()}: fee already refunded")
        return send(self.d, account, self.contract.functions.refundFee(h), "refundFee")["transactionHash"]

    def deploy_image(
        self,
        account: Any,
        image_digest: bytes,
        set_id: int,
        policy_hash: bytes,
        *,
        fee_token: str,
        fee: int,
        timeout: int,
        cert_kind: int,
        threshold_bps: int,
        version: str,
        upgrade_by: int,
    ) -> dict[str, Any]:
        """Deploy an image for the app of executor set ``set_id`` (``account`` is its owner): register
        it in the ComputeAVS image registry with its attestation policy's hash (skipped when the app
        already has it with that policy; another policy is refused) and register a task type running
        it. Returns the app, the image and the new task type id with the transactions."""
        digest, policy = _b32(image_digest, "image digest"), _b32(policy_hash, "policy hash")
        if cert_kind not in CERT_KINDS.values():
            raise ChainInputError(f"certificate kind {cert_kind} is neither ECDSA (1) nor BLS (2)")
        if len(version.encode()) > 64:
            raise ChainInputError(f"version {version!r} is longer than 64 bytes")
        app_id = bytes(self.contract.functions.executorSetApp(set_id).call())
        if app_id == bytes(32):
            raise ChainInputError(f"executor set {set_id} has no app in the mailbox {self.address}")
        avs = self.d.contract("compute_avs", address=self.contract.functions.computeAVS().call())
        owner = avs.functions.apps(app_id).call()[0]
        if owner.lower() != account.address.lower():
            raise ChainInputError(f"only the app's owner {owner} deploys its images, not {account.address}")
        image = avs.functions.images(app_id, digest).call()
        out: dict[str, Any] = {"app_id": "0x" + app_id.hex(), "image_digest": "sha256:" + digest.hex()}
        if image[1] == 0:
            fn = avs.functions.registerImage(app_id, digest, version, policy, upgrade_by)
            out["image_tx"] = (
                "0x" + bytes(send(self.d, account, fn, "registerImage")["transactionHash"]).hex()
            )
        elif bytes(image[0]) != policy:
            raise ChainInputError(
                f"image sha256:{digest.hex()} is registered under policy 0x{bytes(image[0]).hex()}, "
                f"not 0x{policy.hex()}"
            )
        else:
            out["image_tx"] = None  # registered before, with this policy
        fn = self.contract.functions.registerTaskType(
            set_id, digest, Web3.to_checksum_address(fee_token), fee, timeout, cert_kind, threshold_bps
        )
        receipt = send(self.d, account, fn, "registerTaskType")
        (ev,) = self.contract.events.TaskTypeRegistered().process_receipt(receipt, errors=DISCARD)
        out |= {
            "task_type": int(ev["args"]["taskType"]),
            "task_type_tx": "0x" + bytes(receipt["transactionHash"]).hex(),
        }
        return out

    def expired_unrefunded(self, from_block: int, to_block: int | None = None) -> list[bytes]:
        """The tasks created in [from_block, to_block] (default: the head) that expired without a
        result and whose fee was not refunded yet."""
        head = self.head() if to_block is None else to_block
        return [
            t.task_hash
            for t in self.tasks_created(from_block, head)
            if (i := self.info(t.task_hash)).status == "EXPIRED" and not i.refunded
        ]

    def result(self, task_hash: bytes) -> dict[str, Any]:
        """A verified task's result (from its TaskVerified event), signers and stake."""
        h = _b32(task_hash, "task_hash")
        info = self.info(h)
        if info.status != "VERIFIED":
            raise ChainInputError(f"task 0x{h.hex()} has no result (status {info.status})")
        logs = self.contract.events.TaskVerified.get_logs(
            from_block=info.created_block, argument_filters={"taskHash": h}
        )
        if not logs:
            raise ChainInputError(f"no TaskVerified event for 0x{h.hex()} (a pruned node?)")
        a = logs[-1]["args"]
        return {
            "task_hash": "0x" + h.hex(),
            "result": bytes(a["result"]),
            "result_hash": "0x" + bytes(a["resultHash"]).hex(),
            "record": "0x" + bytes(a["record"]).hex(),
            "signers": list(a["signers"]),
            "signed_stake": int(a["signedStake"]),
            "total_stake": int(a["totalStake"]),
            "block": int(logs[-1]["blockNumber"]),
        }

    def signer_stakes(self, task_hash: bytes) -> tuple[list[str], list[int]]:
        """A verified task's certifying signers and the stake each signed with
        (:func:`certified_stakes`)."""
        return certified_stakes(self.d.w3, self.contract, task_hash)

    # -- the aggregator's side

    def check_share(self, response: Response) -> None:
        info = self.info(response.task_hash)
        if info.status == "NONE":
            raise TaskRunError(f"no task 0x{response.task_hash.hex()} in the mailbox")
        tt = self.task_type(info.task_type)
        digest = self.digest(response.task_hash, response.result)
        if tt.cert_kind == CERT_BLS:
            self._check_bls_share(response, tt, info.reference_block, digest)
            return
        if tt.cert_kind != CERT_ECDSA:
            raise TaskRunError(f"task type {info.task_type} takes {kind_name(tt.cert_kind)} certificates")
        key = _recover(digest, response.share.signature)
        if key != response.share.key:
            raise TaskRunError("the ECDSA share is not by the key it names (or not over this result)")
        op = self.contract.functions.operatorOfKey(Web3.to_checksum_address(key)).call()
        if op.lower() != response.operator.lower():
            raise TaskRunError(f"the share's key is not {response.operator}'s signing key")
        if not self.contract.functions.isMember(tt.operator_set_id, op).call():
            raise TaskRunError(f"{op} is not a member of executor set {tt.operator_set_id}")

    # -- BLS: keys and stakes at the task's reference block, from the BLSRegistry

    def registry(self) -> BLSRegistryReader:
        if self._registry is None:
            addr = self.contract.functions.blsRegistry().call()
            if int(addr, 16) == 0:
                raise TaskRunError(f"the mailbox {self.address} has no BLS registry")
            if not self.d.rpc_url:
                raise ChainInputError("reading the BLS registry needs the deployment's rpc_url")
            self._registry = BLSRegistryReader(self.d.rpc_url, addr)
            self._registry_full = self.d.contract("bls_registry", addr, ctype="BLSRegistry")
        return self._registry

    def members_at(self, set_id: int, block: int) -> dict[bytes, PublicKey]:
        """The set's BLS members at ``block`` (keys registered by then whose operator id was a
        member then), by operator id; cached (the registry's histories are append-only)."""
        reg = self.registry()
        if (set_id, block) not in self._keys:
            keys_then = reg.registered_keys(set_id, block)
            self._keys[(set_id, block)] = {
                oid: pk for oid, pk in keys_then.items() if reg.operator_stake_at(set_id, oid, block)[0]
            }
        return self._keys[(set_id, block)]

    def _check_bls_share(self, response: Response, tt: TaskType, ref: int, digest: bytes) -> None:
        oid, sh = response.share.key, response.share
        if len(oid) != 32:
            raise TaskRunError("a BLS share names its operator id (32 bytes)")
        sigma = _g1_share(sh.signature)
        pk = self.members_at(tt.operator_set_id, ref).get(oid)
        if pk is None:
            raise TaskRunError(
                f"operator id 0x{oid.hex()} was no BLS member of executor set {tt.operator_set_id} "
                f"at the task's reference block {ref}"
            )
        owner = self._registry_full.functions.operatorOfKey(oid).call()
        if owner.lower() != response.operator.lower():
            raise TaskRunError(f"the share's BLS key is not {response.operator}'s")
        if not verify_single(bls_digest(digest, ref), pk, sigma):
            raise TaskRunError(
                "the BLS share does not verify (not by the key it names, or not over this result)"
            )

    def try_certify(self, task_hash: bytes, result: bytes, shares: list[Share]) -> Certified | None:
        info = self.info(task_hash)
        tt = self.task_type(info.task_type)
        ids: list[bytes] = []
        if tt.cert_kind == CERT_BLS:
            members = self.members_at(tt.operator_set_id, info.reference_block)
            sigs = {sh.key: _g1_share(sh.signature) for sh in shares}
            try:
                cert, ids = bls_certificate(
                    tt.operator_set_id,
                    self.digest(task_hash, result),
                    info.reference_block,
                    list(members.values()),
                    sigs,
                )
            except BLSCertificateError as exc:
                raise TaskRunError(f"cannot build the BLS certificate: {exc}") from None
        else:
            ordered = sorted(shares, key=lambda sh: int.from_bytes(sh.key, "big"))
            sigs_e = [(sh.signature[64], sh.signature[:32], sh.signature[32:64]) for sh in ordered]
            cert = abi_encode([f"{SIGNATURE_ABI}[]"], [sigs_e])
        fn = self.contract.functions.verifyResult(task_hash, cert, result, ids)
        try:
            signers, _stakes, signed, total = fn.call()
        except Exception as exc:  # web3's ContractLogicError and friends
            reason = str(getattr(exc, "message", None) or exc)
            if "below threshold" in reason:
                return None
            raise ChainRevertError(f"verifyResult refused the certificate: {reason}") from None
        return Certified(task_hash, result, list(signers), int(signed), int(total), cert, tuple(ids))

    def prove_fault(self, certified: Certified, response: Response) -> Any:
        """The TaskSlasher's share fault proof (``proveShareFault`` / ``proveShareFaultBLS``) of
        ``response``, a member's share over a result other than the certified one; from the
        aggregator's account. Returns the transaction hash."""
        if self.account is None:
            raise ChainInputError("the aggregator needs an account to submit fault proofs")
        h, sh = response.task_hash, response.share
        if response.result == certified.result:
            raise TaskRunError("the response agrees with the certified result: no fault")
        slasher = self.d.contract("task_slasher", self.contract.functions.taskSlasher().call())
        info = self.info(h)
        tt = self.task_type(info.task_type)
        if tt.cert_kind == CERT_BLS:
            pk = self.members_at(tt.operator_set_id, info.reference_block).get(sh.key)
            if pk is None:
                raise TaskRunError(f"operator id 0x{sh.key.hex()} was no member at the reference block")
            fn = slasher.functions.proveShareFaultBLS(
                h,
                response.result,
                group.g1_to_evm(pk.g1),
                group.g2_to_evm(pk.g2),
                group.g1_to_evm(_g1_share(sh.signature)),
            )
            what = "proveShareFaultBLS"
        else:
            sig = (sh.signature[64], sh.signature[:32], sh.signature[32:64])
            fn = slasher.functions.proveShareFault(h, response.result, Web3.to_checksum_address(sh.key), sig)
            what = "proveShareFault"
        return send(self.d, self.account, fn, what)["transactionHash"]

    def prove_receipt_fault(
        self, task_hash: bytes, bundle: ReceiptBundle, accepted_signers: Sequence[str]
    ) -> Any:
        """The TaskSlasher's receipt fault proof (``proveReceiptFault``) with ``bundle``, an enclave
        receipt that binds the task's input and an output other than the certified one (its enclave
        key enrolled in ComputeAVS for the task's app and image): the certifiers,
        ``accepted_signers`` as TaskVerified listed them, are slashed. From this client's account;
        returns the transaction hash (a refusal is a ChainRevertError with the contract's reason)."""
        if self.account is None:
            raise ChainInputError("proving a fault needs an account")
        slasher = self.d.contract("task_slasher", self.contract.functions.taskSlasher().call())
        fn = slasher.functions.proveReceiptFault(*receipt_fault_args(task_hash, bundle, accepted_signers))
        return send(self.d, self.account, fn, "proveReceiptFault")["transactionHash"]

    def submit(self, certified: Certified, shares: list[Share], record: bytes = bytes(32)) -> Certified:
        if self.account is None:
            raise ChainInputError("the aggregator needs an account to submit results")
        fn = self.contract.functions.submitResult(
            certified.task_hash, certified.certificate, certified.result, record, list(certified.signer_ids)
        )
        receipt = send(self.d, self.account, fn, "submitResult")
        return Certified(**{**certified.__dict__, "tx": receipt["transactionHash"], "record": record})


__all__ = [
    "CERT_BLS",
    "CERT_ECDSA",
    "CERT_KINDS",
    "RESULT_DOMAIN",
    "STATUS",
    "TaskInfo",
    "TaskMailbox",
    "TaskParams",
    "BlsSigner",
    "EcdsaSigner",
    "OperatorSigner",
    "DARecorder",
    "bls_certificate",
    "check_record",
    "record_hash",
    "task_record",
    "Web3TaskMailbox",
    "certificate_digest",
    "ecdsa_certificate",
    "message_hash",
    "receipt_fault_args",
    "signers_hash",
    "signer_stakes_hash",
    "certified_stakes",
]
