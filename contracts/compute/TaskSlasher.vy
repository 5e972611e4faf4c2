# pragma version ~=0.4.3
"""
@title TaskSlasher
@notice The slasher of the TaskMailbox's executor operator sets: two fault proofs against a
        deterministic task's certified result, each slashing the operators at fault through the
        AllocationManager (FAULT_WAD of their allocation to the set in every strategy of the set),
        each operator at most once per task. Slashed stake goes to the set's redistribution
        recipient (the app) through the SlashEscrow, whose resolver may cancel a slash in the
        escrow window; faultSlashId names each fault's slash, so a payment conditioned on the
        task (VerifiedEscrow) follows the slash's fate.
        (a) proveConflict: a second result for the task, certified like the first (same set,
            certificate kind, threshold and reference block) but different;
        (b) proveReceiptFault: an execution receipt of an enclave key enrolled in ComputeAVS for
            the task's app and image, for the task's input, whose output differs;
        (c) proveShareFault / proveShareFaultBLS: one member's share (its ECDSA or BLS signature
            as executors sign them) over a result that differs from the certified one: the
            minority that signed a wrong result, slashed alone.
@dev Split from the mailbox to keep both under EIP-170; the mailbox names this contract as the
     slasher of the sets it creates and checks certificates for it (verifyResult).
"""

from ..lib import signatures
from ..interfaces import ITypes
from ..interfaces import IAllocationManagerAVS as IAM
from ..interfaces import IBLSRegistry
from ..interfaces import IComputeAVS
from ..interfaces import ITaskMailbox

WAD: constant(uint256) = 10**18
MAX_STRATEGIES: constant(uint256) = 32
MAX_SIGNERS: constant(uint256) = 64
STATUS_VERIFIED: constant(uint8) = 2
FAULT_CONFLICT: constant(uint8) = 1
FAULT_RECEIPT: constant(uint8) = 2
FAULT_SHARE: constant(uint8) = 3
CERT_ECDSA: constant(uint8) = 1
CERT_BLS: constant(uint8) = 2

interface IMailboxKeys:
    def certificateDigest(taskHash: bytes32, result: Bytes[4096]) -> bytes32: view
    def operatorOfKey(key: address) -> address: view
    def isMember(operatorSetId: uint32, operator: address) -> bool: view
    def blsRegistry() -> address: view

interface IBLSShare:
    def operatorOfKey(operatorId: bytes32) -> address: view
    def trySignatureAndApkVerification(msgHash: bytes32, apk: IBLSRegistry.G1Point, apkG2: IBLSRegistry.G2Point, sigma: IBLSRegistry.G1Point) -> (bool, bool): view

struct Signature:
    v: uint8
    r: bytes32
    s: bytes32

event TaskFaultProven:
    taskHash: indexed(bytes32)
    operator: indexed(address)
    kind: uint8
    slashId: uint256

event TaskFaultNotSlashable:
    taskHash: indexed(bytes32)
    operator: indexed(address)
    kind: uint8

# The TaskMailbox whose executor sets this contract slashes.
mailbox: public(immutable(address))
# The AllocationManager.
allocationManager: public(immutable(address))
# Fraction (WAD = 100%) of a faulty operator's allocation slashed per task.
FAULT_WAD: public(immutable(uint256))
# task hash -> operator -> found at fault for this task (slashed, or no longer slashable)
faultSlashed: public(HashMap[bytes32, HashMap[address, bool]])
# task hash -> operator -> the AllocationManager's slash id of that fault (the SlashEscrow record
# of the mailbox's set, which the set's resolver may cancel in its window); 0: not slashed (no
# fault proven, or the operator was no longer slashable)
faultSlashId: public(HashMap[bytes32, HashMap[address, uint256]])


@deploy
def __init__(_mailbox: address, _allocationManager: address, _faultWad: uint256):
    """
    @notice Deploy the slasher of `_mailbox`'s executor sets (the mailbox's owner then attaches it
            with setTaskSlasher).
    @param _mailbox The TaskMailbox.
    @param _allocationManager The AllocationManager.
    @param _faultWad Fraction (WAD = 100%) of allocated stake slashed per faulty operator and task.
    """
    assert _mailbox != empty(address) and _allocationManager != empty(address), "zero address"
    assert _faultWad != 0 and _faultWad <= WAD, "bad fault wad"
    mailbox = _mailbox
    allocationManager = _allocationManager
    FAULT_WAD = _faultWad


@internal
@view
def _verified(task_hash: bytes32) -> (ITaskMailbox.TaskInfo, ITaskMailbox.TaskType):
    info: ITaskMailbox.TaskInfo = staticcall ITaskMailbox(mailbox).getTaskInfo(task_hash)
    assert info.status == STATUS_VERIFIED, "task not verified"
    t: ITaskMailbox.TaskType = staticcall ITaskMailbox(mailbox).taskTypes(info.taskType)
    avs: address = staticcall ITaskMailbox(mailbox).computeAVS()
    assert (staticcall IComputeAVS(avs).apps(t.appId)).deterministic, "task not deterministic"
    return info, t


@internal
@view
def _verified_deterministic(task_hash: bytes32, signers: DynArray[address, MAX_SIGNERS]) -> (ITaskMailbox.TaskInfo, ITaskMailbox.TaskType):
    info: ITaskMailbox.TaskInfo = empty(ITaskMailbox.TaskInfo)
    t: ITaskMailbox.TaskType = empty(ITaskMailbox.TaskType)
    info, t = self._verified(task_hash)
    assert keccak256(abi_encode(signers)) == info.signersHash, "wrong signer list"
    return info, t


@internal
@view
def _wrong_share_task(task_hash: bytes32, result: Bytes[4096], kind: uint8) -> (ITaskMailbox.TaskInfo, ITaskMailbox.TaskType, bytes32):
    info: ITaskMailbox.TaskInfo = empty(ITaskMailbox.TaskInfo)
    t: ITaskMailbox.TaskType = empty(ITaskMailbox.TaskType)
    info, t = self._verified(task_hash)
    assert t.certKind == kind, "wrong certificate kind"
    assert keccak256(result) != info.resultHash, "results agree"
    return info, t, staticcall IMailboxKeys(mailbox).certificateDigest(task_hash, result)


@internal
def _slash_one(task_hash: bytes32, op: address, set_id: uint32) -> uint256:
    assert op != empty(address) and staticcall IMailboxKeys(mailbox).isMember(set_id, op), "signer not a member"
    n: uint256 = self._slash(task_hash, [op], set_id, FAULT_SHARE)
    assert n != 0, "fault already proven"
    return n


@internal
def _slash(task_hash: bytes32, operators: DynArray[address, MAX_SIGNERS], set_id: uint32, kind: uint8) -> uint256:
    # each operator once per task, whatever the fault; unslashable ones are recorded and skipped
    opset: ITypes.OperatorSet = ITypes.OperatorSet(avs=mailbox, id=set_id)
    strategies: DynArray[address, MAX_STRATEGIES] = staticcall IAM(allocationManager).getStrategiesInOperatorSet(opset)
    wads: DynArray[uint256, MAX_STRATEGIES] = []
    for _: address in strategies:
        wads.append(FAULT_WAD)
    fresh: uint256 = 0
    for op: address in operators:
        if self.faultSlashed[task_hash][op]:
            continue
        self.faultSlashed[task_hash][op] = True
        fresh += 1
        if not staticcall IAM(allocationManager).isOperatorSlashable(op, opset):
            log TaskFaultNotSlashable(taskHash=task_hash, operator=op, kind=kind)
            continue
        slash_id: uint256 = 0
        shares: DynArray[uint256, MAX_STRATEGIES] = []
        slash_id, shares = extcall IAM(allocationManager).slashOperator(mailbox, ITypes.SlashingParams(operator=op, operatorSetId=set_id, strategies=strategies, wadsToSlash=wads, description="compute task: certified a wrong result"))
        self.faultSlashId[task_hash][op] = slash_id
        log TaskFaultProven(taskHash=task_hash, operator=op, kind=kind, slashId=slash_id)
    return fresh


@external
@nonreentrant
def proveConflict(taskHash: bytes32, executorCert: Bytes[6208], result: Bytes[4096], signerIds: DynArray[bytes32, MAX_SIGNERS], acceptedSigners: DynArray[address, MAX_SIGNERS]) -> uint256:
    """
    @notice Fault proof (a) for a deterministic task: a second result, different from the accepted
            one and certified like it (TaskMailbox.verifyResult: same set, kind, threshold and
            reference block). The operators that signed both are slashed; when no operator
            signed both (thresholds at or under 50%), the signers of both sides are, and the set's
            resolver cancels the honest side's slashes in the escrow window. Anyone may call.
    @param taskHash The verified task.
    @param executorCert The conflicting result's certificate (as submitResult takes it).
    @param result The conflicting result.
    @param signerIds BLS: the conflicting certificate's signer ids (empty for ECDSA).
    @param acceptedSigners The accepted result's signers, as TaskVerified listed them.
    @return The number of operators found at fault (slashed or no longer slashable).
    """
    info: ITaskMailbox.TaskInfo = empty(ITaskMailbox.TaskInfo)
    t: ITaskMailbox.TaskType = empty(ITaskMailbox.TaskType)
    info, t = self._verified_deterministic(taskHash, acceptedSigners)
    assert keccak256(result) != info.resultHash, "results agree"
    other: DynArray[address, MAX_SIGNERS] = []
    stakes: DynArray[uint256, MAX_SIGNERS] = []
    signed: uint256 = 0
    total: uint256 = 0
    other, stakes, signed, total = staticcall ITaskMailbox(mailbox).verifyResult(taskHash, executorCert, result, signerIds)
    both: DynArray[address, MAX_SIGNERS] = []
    for a: address in acceptedSigners:
        if a in other:
            both.append(a)
    n: uint256 = 0
    if len(both) != 0:
        n = self._slash(taskHash, both, t.operatorSetId, FAULT_CONFLICT)
    else:
        n = self._slash(taskHash, acceptedSigners, t.operatorSetId, FAULT_CONFLICT)
        n += self._slash(taskHash, other, t.operatorSetId, FAULT_CONFLICT)
    assert n != 0, "fault already proven"
    return n


@external
@nonreentrant
def proveReceiptFault(taskHash: bytes32, receipt: IComputeAVS.Receipt, signature: Signature, acceptedSigners: DynArray[address, MAX_SIGNERS]) -> uint256:
    """
    @notice Fault proof (b) for a deterministic task: an execution receipt signed (low s) by an
            enclave key enrolled in ComputeAVS for the task's app and image, under the image's
            policy, for this chain and the task's input, whose output differs from the certified
            result. The certifying operators are slashed. Anyone may call.
    @param taskHash The verified task.
    @param receipt The receipt (ComputeAVS's Receipt: inputHash = keccak256(payload), outputHash =
           keccak256(output)).
    @param signature The enclave key's signature over ComputeAVS.receiptDigest(receipt).
    @param acceptedSigners The accepted result's signers, as TaskVerified listed them.
    @return The number of operators found at fault (slashed or no longer slashable).
    """
    info: ITaskMailbox.TaskInfo = empty(ITaskMailbox.TaskInfo)
    t: ITaskMailbox.TaskType = empty(ITaskMailbox.TaskType)
    info, t = self._verified_deterministic(taskHash, acceptedSigners)
    assert receipt.chainId == chain.id, "wrong chain"
    assert receipt.appId == t.appId and receipt.imageDigest == t.imageDigest and receipt.inputHash == info.inputHash, "receipt not for task"
    assert receipt.outputHash != info.resultHash, "receipt agrees"
    avs: address = staticcall ITaskMailbox(mailbox).computeAVS()
    e: IComputeAVS.Enclave = staticcall IComputeAVS(avs).enclaves(receipt.enclaveSigner)
    assert e.operator != empty(address) and e.appId == receipt.appId and e.imageDigest == receipt.imageDigest, "enclave key not enrolled"
    assert receipt.policyHash == (staticcall IComputeAVS(avs).images(t.appId, t.imageDigest)).policyHash, "wrong policy"
    digest: bytes32 = staticcall IComputeAVS(avs).receiptDigest(receipt)
    signatures._check_signature(receipt.enclaveSigner, digest, concat(signature.r, signature.s, convert(signature.v, bytes1)))
    n: uint256 = self._slash(taskHash, acceptedSigners, t.operatorSetId, FAULT_RECEIPT)
    assert n != 0, "fault already proven"
    return n


@external
@nonreentrant
def proveShareFault(taskHash: bytes32, result: Bytes[4096], key: address, signature: Signature) -> uint256:
    """
    @notice Fault proof (c), ECDSA task types: a member's share, its registered signing key's
            signature (low s) over TaskMailbox.certificateDigest(taskHash, result), for a result
            other than the certified one of a deterministic task. That operator alone is slashed
            (an honest minority outvoted by a lying majority has its slash cancelled by the set's
            resolver, and proves the majority wrong with proveReceiptFault). Anyone may call.
    @param taskHash The verified task.
    @param result The result the share signs.
    @param key The signing key (TaskMailbox.operatorOfKey names its operator).
    @param signature The share.
    @return 1 (the operator found at fault: slashed or no longer slashable).
    """
    info: ITaskMailbox.TaskInfo = empty(ITaskMailbox.TaskInfo)
    t: ITaskMailbox.TaskType = empty(ITaskMailbox.TaskType)
    digest: bytes32 = empty(bytes32)
    info, t, digest = self._wrong_share_task(taskHash, result, CERT_ECDSA)
    signatures._check_signature(key, digest, concat(signature.r, signature.s, convert(signature.v, bytes1)))
    return self._slash_one(taskHash, staticcall IMailboxKeys(mailbox).operatorOfKey(key), t.operatorSetId)


@external
@nonreentrant
def proveShareFaultBLS(taskHash: bytes32, result: Bytes[4096], pkG1: IBLSRegistry.G1Point, pkG2: IBLSRegistry.G2Point, sigma: IBLSRegistry.G1Point) -> uint256:
    """
    @notice Fault proof (c), BLS task types: a member's BLS share, its key's signature over
            keccak256(abi.encode(certificateDigest(taskHash, result), uint32 referenceBlock)),
            for a result other than the certified one of a deterministic task; the key (operator
            id keccak256(pkG1)) must have been a member at the task's reference block. That
            operator alone is slashed (see proveShareFault). Anyone may call.
    @param taskHash The verified task.
    @param result The result the share signs.
    @param pkG1 The signer's registered G1 key.
    @param pkG2 The signer's registered G2 key (bound to pkG1 by the pairing check).
    @param sigma The share.
    @return 1 (the operator found at fault: slashed or no longer slashable).
    """
    info: ITaskMailbox.TaskInfo = empty(ITaskMailbox.TaskInfo)
    t: ITaskMailbox.TaskType = empty(ITaskMailbox.TaskType)
    digest: bytes32 = empty(bytes32)
    info, t, digest = self._wrong_share_task(taskHash, result, CERT_BLS)
    reg: address = staticcall IMailboxKeys(mailbox).blsRegistry()
    ref: uint32 = convert(info.referenceBlock, uint32)
    oid: bytes32 = keccak256(abi_encode(pkG1))
    member: bool = False
    stakes: DynArray[uint256, 8] = []
    member, stakes = staticcall IBLSRegistry(reg).operatorStakeAt(t.operatorSetId, oid, ref)
    assert member, "signer not a member"
    ok: bool = False
    valid: bool = False
    ok, valid = staticcall IBLSShare(reg).trySignatureAndApkVerification(keccak256(abi_encode(digest, ref)), pkG1, pkG2, sigma)
    assert ok and valid, "invalid signature"
    return self._slash_one(taskHash, staticcall IBLSShare(reg).operatorOfKey(oid), t.operatorSetId)
