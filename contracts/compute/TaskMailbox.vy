# pragma version ~=0.4.3
# pragma optimize codesize
"""
@title TaskMailbox
@notice EigenCompute as a network: apps post tasks (an input for one of their registered images)
        with a fee, a stake-weighted threshold of the app's executor operator set certifies the
        result (BLS or ECDSA, the OperatorSetSigCheck module), the fee goes to the signers less
        the cloud's fee split (Hourglass's `feeSplit`, to the FeeVault, ELIP-12; a fee paid
        after verification, payFee, is owed the same way: VerifiedEscrow's payments to a task's
        certifiers, checked against signerStakesHash), an expired task refunds, and two fault proofs slash the certifiers through the
        AllocationManager: a second certified result that conflicts with the first, and an
        enclave receipt (ComputeAVS) that contradicts the certified result.
@dev Hourglass's TaskMailbox (task hash, message hash, NONE/CREATED/VERIFIED/EXPIRED read on the
     fly, refunds after expiry) with three changes: the certificate digest is domain-separated
     by chain id and mailbox address; the mailbox is the AVS, registrar and slasher of the
     executor sets, so it can slash; timeouts are in blocks, capped at half the AllocationManager's
     DEALLOCATION_DELAY (and, for BLS, inside the registry's staleness window). Apps, images and
     enclave keys are ComputeAVS's. Encodings mirror offchain.chain.task_mailbox
     (docs/compute-network.md).
"""

from ..avs import OperatorSetSigCheck as sigcheck
from ..lib import ownable
from ..interfaces import ITypes
from ..interfaces import IAllocationManagerAVS as IAM
from ..interfaces import IAVSRegistrar
from ..interfaces import IBLSRegistry
from ..interfaces import IComputeAVS
from ..interfaces import ITaskMailbox
from ethereum.ercs import IERC20

implements: IAVSRegistrar
implements: ITaskMailbox

initializes: sigcheck
initializes: ownable

exports: (
    ownable.owner,
    ownable.transferOwnership,
    sigcheck.allocationManager,
    sigcheck.signingKeyOf,
    sigcheck.operatorOfKey,
    sigcheck.thresholdBps,
    sigcheck.updateSigningKey,
    sigcheck.getMembers,
    sigcheck.isMember,
    sigcheck.signingKeyDigest,
    sigcheck.blsRegistry,
    sigcheck.blsDigest,
)

interface IDeallocationDelay:
    def DEALLOCATION_DELAY() -> uint32: view

interface IStakeViews:
    def getStrategiesInOperatorSet(operatorSet: ITypes.OperatorSet) -> DynArray[address, MAX_STRATEGIES]: view
    def getAllocatedStake(operatorSet: ITypes.OperatorSet, operators: DynArray[address, MAX_SIGNERS], strategies: DynArray[address, MAX_STRATEGIES]) -> DynArray[DynArray[uint256, MAX_STRATEGIES], MAX_SIGNERS]: view

interface IBLSViews:
    def checkCertificate(operatorSetId: uint32, digest: bytes32, cert: Bytes[MAX_CERT], excluded: address) -> (uint8, uint256, uint256): view
    def operatorOfKey(operatorId: bytes32) -> address: view
    def maxStaleness() -> uint256: view

WAD: constant(uint256) = 10**18
BPS: constant(uint256) = 10000
MAX_STRATEGIES: constant(uint256) = 8  # a BLS set has one quorum per strategy, at most 8
MAX_SIGNERS: constant(uint256) = 64  # sigcheck.MAX_MEMBERS
# a certificate: ECDSA abi.encode((v, r, s)[64]) = 6,208 bytes; BLS (64 members) 4,384 bytes
MAX_CERT: constant(uint256) = 6208
MAX_PAYLOAD: constant(uint256) = 4096
MAX_RESULT: constant(uint256) = 4096
RESULT_DOMAIN: constant(bytes32) = keccak256("eigen.compute.TaskResult.v1")

CERT_ECDSA: constant(uint8) = 1
CERT_BLS: constant(uint8) = 2

STATUS_NONE: constant(uint8) = 0
STATUS_CREATED: constant(uint8) = 1
STATUS_VERIFIED: constant(uint8) = 2
STATUS_EXPIRED: constant(uint8) = 3

# The cloud's share of a verified task's fee (Hourglass's feeSplit, bips): 20 % by default (as
# ELIP-12's protocol fee), at most half, so the signers always keep at least half of the fee.
DEFAULT_FEE_SPLIT: constant(uint16) = 2000
MAX_FEE_SPLIT: constant(uint16) = 5000


# What createTask takes (Hourglass's TaskParams with the task type for the executor set, and the
# fee the creator agreed to pay).
struct TaskParams:
    refundCollector: address
    taskType: uint32
    fee: uint256
    payload: Bytes[MAX_PAYLOAD]

struct Task:
    creator: address
    refundCollector: address
    taskType: uint32
    fee: uint256  # escrowed (what arrived)
    createdBlock: uint256
    inputHash: bytes32  # keccak256(payload)
    verified: bool
    refunded: bool
    resultHash: bytes32  # keccak256(result)
    record: bytes32  # DA record reference (blob key or certificate hash)
    signersHash: bytes32  # keccak256(abi.encode(address[] signers))

event ExecutorOperatorSetCreated:
    operatorSetId: indexed(uint32)
    appId: indexed(bytes32)
    redistributionRecipient: address
    resolver: address
    thresholdBps: uint256

event TaskTypeRegistered:
    taskType: indexed(uint32)
    appId: indexed(bytes32)
    operatorSetId: uint32
    imageDigest: bytes32
    feeToken: address
    fee: uint256
    timeout: uint256
    certKind: uint8
    thresholdBps: uint256

event TaskTypeDisabled:
    taskType: indexed(uint32)

event TaskCreated:
    creator: indexed(address)
    taskHash: indexed(bytes32)
    taskType: indexed(uint32)
    operatorSetId: uint32
    referenceBlock: uint256
    refundCollector: address
    fee: uint256
    deadline: uint256
    taskCount: uint256
    payload: Bytes[MAX_PAYLOAD]

event TaskVerified:
    aggregator: indexed(address)
    taskHash: indexed(bytes32)
    taskType: indexed(uint32)
    resultHash: bytes32
    record: bytes32
    signedStake: uint256
    totalStake: uint256
    signers: DynArray[address, MAX_SIGNERS]
    result: Bytes[MAX_RESULT]

event FeePaid:
    taskHash: indexed(bytes32)
    operator: indexed(address)
    token: address
    amount: uint256

event FeeSplitSet:
    feeSplit: uint16

event FeeSplitCollectorSet:
    feeSplitCollector: indexed(address)

event FeeRefunded:
    taskHash: indexed(bytes32)
    refundCollector: indexed(address)
    token: address
    amount: uint256

event FeesWithdrawn:
    operator: indexed(address)
    token: indexed(address)
    amount: uint256

# The image registry (apps, images, enclave keys): ComputeAVS.
computeAVS: public(immutable(address))
# The executor sets' slasher (TaskSlasher: the fault proofs), attached once.
taskSlasher: public(address)
# Hourglass's MAX_TASK_SLA in blocks: half the AllocationManager's DEALLOCATION_DELAY.
MAX_TASK_TIMEOUT: public(immutable(uint256))
# Set once initialize registered this contract as an AVS with the AllocationManager.
initialized: public(bool)

# executor operator set id -> the app it serves (zero: not an executor set)
executorSetApp: public(HashMap[uint32, bytes32])
operatorSetCount: public(uint32)
taskTypes: public(HashMap[uint32, ITaskMailbox.TaskType])
taskTypeCount: public(uint32)
# Hourglass's globalTaskCount: the number of tasks created, the next task's index.
taskCount: public(uint256)
_tasks: HashMap[bytes32, Task]
# operator (or the fee split collector) -> fee token -> fees earned and not withdrawn
feesOwed: public(HashMap[address, HashMap[address, uint256]])
# token -> fees held for tasks, operators or the fee split collector (escrow + owed)
feesHeld: public(HashMap[address, uint256])
# Hourglass's feeSplit: bips of a verified task's fee owed to the fee split collector (the
# FeeVault), which withdraws it like an operator. The split in force at verification applies
# (Hourglass snapshots it at creation; a slot per task would cost 22k gas and this contract's
# last bytes under EIP-170), so a change reaches open tasks: it is bounded and logged.
feeSplit: public(uint16)
# task -> the stakes its certifying signers signed with, as verified, in TaskVerified's signer
# order, hash-chained: h = 0; for each stake s: h = keccak256(abi.encode(h, s)) (zero: not
# verified). With signersHash it binds the split of a payment to the certifiers (VerifiedEscrow's
# releaseToCertifiers); the stakes are verifyResult's at the verification block.
signerStakesHash: public(HashMap[bytes32, bytes32])
# Hourglass's feeSplitCollector: the FeeVault (unset: no split, the signers take the whole fee).
feeSplitCollector: public(address)


@deploy
def __init__(_allocationManager: address, _computeAVS: address):
    """
    @notice Deploy the mailbox; the deployer becomes its owner.
    @param _allocationManager The AllocationManager (stake, sets, slashing).
    @param _computeAVS The ComputeAVS whose apps, images and enclave keys tasks refer to.
    """
    assert _computeAVS != empty(address), "zero compute avs"
    sigcheck.__init__(_allocationManager)
    ownable.__init__(msg.sender)
    computeAVS = _computeAVS
    MAX_TASK_TIMEOUT = convert(staticcall IDeallocationDelay(_allocationManager).DEALLOCATION_DELAY(), uint256) // 2
    assert MAX_TASK_TIMEOUT != 0, "deallocation delay too short"
    self.feeSplit = DEFAULT_FEE_SPLIT


# ---------------------------------------------------------------- admin

@external
def initialize(metadataURI: String[1024]):
    """
    @notice Register this contract as an AVS with the AllocationManager and as its own registrar.
    @param metadataURI The metadata URI (emitted only).
    """
    ownable._check_owner()
    assert not self.initialized, "already initialized"
    self.initialized = True
    am: address = sigcheck.allocationManager
    extcall IAM(am).updateAVSMetadataURI(self, metadataURI)
    extcall IAM(am).setAVSRegistrar(self, self)


@external
def setTaskSlasher(slasher: address):
    """
    @notice Attach the TaskSlasher (once): the slasher of every executor set created afterwards.
    @param slasher A TaskSlasher deployed for this mailbox.
    """
    ownable._check_owner()
    assert self.taskSlasher == empty(address), "task slasher already set"
    assert slasher != empty(address), "zero task slasher"
    self.taskSlasher = slasher


@external
def setFeeSplit(_feeSplit: uint16):
    """
    @notice Set the cloud's share of the fees of tasks verified from now on (owner), in bips,
            at most MAX_FEE_SPLIT (5,000).
    @param _feeSplit The fee split in bips.
    """
    ownable._check_owner()
    assert _feeSplit <= MAX_FEE_SPLIT, "fee split over cap"
    self.feeSplit = _feeSplit
    log FeeSplitSet(feeSplit=_feeSplit)


@external
def setFeeSplitCollector(_feeSplitCollector: address):
    """
    @notice Name the FeeVault the fee split is owed to (owner; zero turns the split off): a task
            verified while it is unset pays its signers the whole fee. What a former collector is
            owed stays its own (withdrawFees; the FeeVault's collect pulls it).
    @param _feeSplitCollector The FeeVault, or zero.
    """
    ownable._check_owner()
    self.feeSplitCollector = _feeSplitCollector
    log FeeSplitCollectorSet(feeSplitCollector=_feeSplitCollector)


@external
def setBLSRegistry(registry: address):
    """
    @notice Attach the mailbox's BLSRegistry (once): executor sets created afterwards take BLS
            keys and accept BLS certificates (docs/bls.md).
    @param registry A BLSRegistry deployed for this contract as its AVS.
    """
    ownable._check_owner()
    sigcheck._set_bls_registry(registry)


# ---------------------------------------------------------------- apps: executor sets and task types

@internal
@view
def _only_app_owner(appId: bytes32):
    owner: address = (staticcall IComputeAVS(computeAVS).apps(appId)).owner
    assert owner != empty(address), "unknown app"
    assert msg.sender == owner, "only app owner"


@external
def createExecutorOperatorSet(appId: bytes32, strategies: DynArray[address, MAX_STRATEGIES], resolver: address, redistributionRecipient: address, thresholdBps: uint256) -> uint32:
    """
    @notice Create an executor operator set for the caller's ComputeAVS app: slashed by this
            contract's TaskSlasher, redistributing slashed stake to `redistributionRecipient` (zero: the
            caller), `resolver` may cancel slashes during the escrow window (zero: none).
            `thresholdBps` is the floor of its task types' thresholds.
    @param appId The ComputeAVS app the set serves (the caller must own it).
    @param strategies The set's strategies, strictly ascending.
    @param resolver The address that may cancel the set's slashes during the escrow window.
    @param redistributionRecipient Where slashed stake goes (zero: the caller).
    @param thresholdBps The lowest threshold a task type of the set may take, basis points.
    @return The new set's id.
    """
    self._only_app_owner(appId)
    assert self.initialized, "not initialized"
    assert self.taskSlasher != empty(address), "no task slasher"
    assert len(strategies) != 0, "no strategies"
    for i: uint256 in range(1, MAX_STRATEGIES):
        if i >= len(strategies):
            break
        assert convert(strategies[i - 1], uint256) < convert(strategies[i], uint256), "strategies not ascending"
    recipient: address = redistributionRecipient
    if recipient == empty(address):
        recipient = msg.sender
    set_id: uint32 = self.operatorSetCount + 1
    self.operatorSetCount = set_id
    self.executorSetApp[set_id] = appId
    sigcheck._set_threshold(set_id, thresholdBps)
    p: ITypes.CreateSetParams = ITypes.CreateSetParams(operatorSetId=set_id, strategies=strategies, slasher=self.taskSlasher)
    extcall IAM(sigcheck.allocationManager).createRedistributingOperatorSets(self, [p], [recipient], [resolver])
    sigcheck._enable_bls(set_id, strategies)
    log ExecutorOperatorSetCreated(operatorSetId=set_id, appId=appId, redistributionRecipient=recipient, resolver=resolver, thresholdBps=thresholdBps)
    return set_id


@external
def registerTaskType(operatorSetId: uint32, imageDigest: bytes32, feeToken: address, fee: uint256, timeout: uint256, certKind: uint8, thresholdBps: uint256) -> uint32:
    """
    @notice Register a task type of the caller's app: tasks run `imageDigest` (active in the
            ComputeAVS registry), cost `fee` of `feeToken`, expire `timeout` blocks after creation
            (at most MAX_TASK_TIMEOUT; for BLS also inside the registry's staleness window) and are
            certified by `thresholdBps` of the executor set's stake with certificates of
            `certKind` (1 ECDSA, 2 BLS). A type never changes; register a new one instead.
    @param operatorSetId An executor set of the caller's app.
    @param imageDigest The image tasks run.
    @param feeToken The ERC-20 token fees are paid in.
    @param fee The fee per task (may be zero).
    @param timeout Blocks after creation within which a result is accepted.
    @param certKind 1: ECDSA signatures, 2: a BLS certificate.
    @param thresholdBps Signed stake needed, basis points of the set's stake (at least the set's floor).
    @return The task type id.
    """
    appId: bytes32 = self.executorSetApp[operatorSetId]
    assert appId != empty(bytes32), "unknown executor set"
    self._only_app_owner(appId)
    assert staticcall IComputeAVS(computeAVS).isImageActive(appId, imageDigest), "image not active"
    assert feeToken != empty(address), "zero fee token"
    assert timeout != 0, "zero timeout"
    assert timeout <= MAX_TASK_TIMEOUT, "timeout over cap"
    assert certKind == CERT_ECDSA or certKind == CERT_BLS, "unknown certificate kind"
    assert thresholdBps <= BPS and thresholdBps >= sigcheck.thresholdBps[operatorSetId], "bad threshold bps"
    if certKind == CERT_BLS:
        reg: address = sigcheck.blsRegistry
        assert reg != empty(address) and len(staticcall IBLSRegistry(reg).quorums(operatorSetId)) != 0, "set has no bls keys"
        # a certificate at the task's reference block (creation - 1) must still be fresh at the deadline
        assert timeout + 1 <= staticcall IBLSViews(reg).maxStaleness(), "timeout over staleness"
    type_id: uint32 = self.taskTypeCount + 1
    self.taskTypeCount = type_id
    self.taskTypes[type_id] = ITaskMailbox.TaskType(appId=appId, operatorSetId=operatorSetId, imageDigest=imageDigest, feeToken=feeToken, fee=fee, timeout=timeout, certKind=certKind, thresholdBps=thresholdBps, active=True)
    log TaskTypeRegistered(taskType=type_id, appId=appId, operatorSetId=operatorSetId, imageDigest=imageDigest, feeToken=feeToken, fee=fee, timeout=timeout, certKind=certKind, thresholdBps=thresholdBps)
    return type_id


@external
def disableTaskType(taskType: uint32):
    """
    @notice Stop accepting new tasks of a type (its open tasks run to their end).
    @param taskType The task type id.
    """
    app: bytes32 = self.taskTypes[taskType].appId
    assert app != empty(bytes32), "unknown task type"
    self._only_app_owner(app)
    assert self.taskTypes[taskType].active, "task type disabled"
    self.taskTypes[taskType].active = False
    log TaskTypeDisabled(taskType=taskType)


# ---------------------------------------------------------------- registrar callbacks

@external
def registerOperator(operator: address, avs: address, operatorSetIds: DynArray[uint32, 16], data: Bytes[1024]):
    """
    @notice AllocationManager callback on registration to executor sets. `data`: the ECDSA key's
            registration (abi.encode(address signingKey, uint8 v, bytes32 r, bytes32 s)), followed
            for a BLS set by the BLS registration, or empty to reuse the operator's keys.
    @param operator The operator.
    @param avs Must be this contract.
    @param operatorSetIds The sets the operator registers for.
    @param data Registration data from the operator.
    """
    assert msg.sender == sigcheck.allocationManager, "only allocation manager"
    assert avs == self, "wrong avs"
    for id: uint32 in operatorSetIds:
        sigcheck._add_member(id, operator, data)


@external
def deregisterOperator(operator: address, avs: address, operatorSetIds: DynArray[uint32, 16]):
    """
    @notice AllocationManager callback on deregistration: the operator stops counting as a signer.
    @param operator The operator.
    @param avs Must be this contract.
    @param operatorSetIds The sets the operator leaves.
    """
    assert msg.sender == sigcheck.allocationManager, "only allocation manager"
    assert avs == self, "wrong avs"
    for id: uint32 in operatorSetIds:
        sigcheck._remove_member(id, operator)


@external
@view
def supportsAVS(avs: address) -> bool:
    """
    @notice This registrar serves only this AVS.
    @param avs The AVS.
    @return Whether `avs` is this contract.
    """
    return avs == self


# ---------------------------------------------------------------- tasks

@internal
@view
def _task_hash(count: uint256, params: TaskParams) -> bytes32:
    return keccak256(abi_encode(count, self, chain.id, params))


@external
@nonreentrant
def createTask(params: TaskParams) -> bytes32:
    """
    @notice Create a task: escrow its fee (pulled from the caller by transferFrom; what arrives is
            escrowed, so fee-on-transfer tokens are safe) and emit its hash
            keccak256(abi.encode(taskCount, mailbox, chainid, params)). Results are certified
            against the executor set at the block before this one (the reference block).
    @param params (refundCollector, taskType, fee: must equal the type's fee, payload: the input).
    @return The task hash.
    """
    t: ITaskMailbox.TaskType = self.taskTypes[params.taskType]
    assert t.appId != empty(bytes32), "unknown task type"
    assert t.active, "task type disabled"
    assert params.fee == t.fee, "wrong fee"
    assert params.refundCollector != empty(address), "zero refund collector"
    assert staticcall IComputeAVS(computeAVS).isImageActive(t.appId, t.imageDigest), "image not active"
    count: uint256 = self.taskCount
    task_hash: bytes32 = self._task_hash(count, params)
    self.taskCount = count + 1
    received: uint256 = 0
    if t.fee != 0:
        received = self._pull(t.feeToken, t.fee)
        self._tasks[task_hash].fee = received
    # the fields set now (the rest stay zero until a result or a refund)
    self._tasks[task_hash].creator = msg.sender
    self._tasks[task_hash].refundCollector = params.refundCollector
    self._tasks[task_hash].taskType = params.taskType
    self._tasks[task_hash].createdBlock = block.number
    self._tasks[task_hash].inputHash = keccak256(params.payload)
    log TaskCreated(creator=msg.sender, taskHash=task_hash, taskType=params.taskType, operatorSetId=t.operatorSetId, referenceBlock=block.number - 1, refundCollector=params.refundCollector, fee=received, deadline=block.number + t.timeout, taskCount=count, payload=params.payload)
    return task_hash


@internal
@pure
def _message_hash(task_hash: bytes32, result: Bytes[MAX_RESULT]) -> bytes32:
    return keccak256(abi_encode(task_hash, result))


@internal
@view
def _certificate_digest(task_hash: bytes32, result: Bytes[MAX_RESULT]) -> bytes32:
    return keccak256(abi_encode(RESULT_DOMAIN, chain.id, self, self._message_hash(task_hash, result)))


@internal
@view
def _ecdsa_signers(task_type: uint32, set_id: uint32, digest: bytes32, cert: Bytes[MAX_CERT]) -> (DynArray[address, MAX_SIGNERS], DynArray[uint256, MAX_SIGNERS], uint256, uint256):
    # cert = abi.encode((uint8 v, bytes32 r, bytes32 s)[]) by strictly ascending signing keys of
    # current members; stake is allocated stake now (the module keeps no history)
    sigs: DynArray[sigcheck.Signature, MAX_SIGNERS] = abi_decode(cert, DynArray[sigcheck.Signature, MAX_SIGNERS])
    members: DynArray[address, MAX_SIGNERS] = sigcheck._members[set_id]
    opset: ITypes.OperatorSet = ITypes.OperatorSet(avs=self, id=set_id)
    am: address = sigcheck.allocationManager
    strategies: DynArray[address, MAX_STRATEGIES] = staticcall IStakeViews(am).getStrategiesInOperatorSet(opset)
    rows: DynArray[DynArray[uint256, MAX_STRATEGIES], MAX_SIGNERS] = staticcall IStakeViews(am).getAllocatedStake(opset, members, strategies)
    total: uint256 = 0
    stake: DynArray[uint256, MAX_SIGNERS] = []
    for row: DynArray[uint256, MAX_STRATEGIES] in rows:
        s: uint256 = 0
        for x: uint256 in row:
            s += x
        stake.append(s)
        total += s
    signers: DynArray[address, MAX_SIGNERS] = []
    stakes: DynArray[uint256, MAX_SIGNERS] = []
    signed: uint256 = 0
    prev: uint256 = 0
    for sig: sigcheck.Signature in sigs:
        key: address = sigcheck._recover(digest, sig)
        assert convert(key, uint256) > prev, "bad certificate: signers not ascending"
        prev = convert(key, uint256)
        op: address = sigcheck.operatorOfKey[key]
        idx: uint256 = sigcheck._member_index[set_id][op]
        assert op != empty(address) and idx != 0, "bad certificate"
        signers.append(op)
        stakes.append(stake[idx - 1])
        signed += stake[idx - 1]
    self._threshold(task_type, signed, total)
    return signers, stakes, signed, total


@internal
@view
def _bls_signers(task_type: uint32, set_id: uint32, ref: uint256, digest: bytes32, cert: Bytes[MAX_CERT], signer_ids: DynArray[bytes32, MAX_SIGNERS]) -> (DynArray[address, MAX_SIGNERS], DynArray[uint256, MAX_SIGNERS], uint256, uint256):
    # cert = the registry's certificate (abi.encode(uint32 referenceBlock, G1Point[] nonSigners,
    # G2Point apkG2, G1Point sigma)) at the task's reference block; signer_ids = the signers'
    # operator ids, strictly ascending, every member at the reference block that is no non-signer
    # (checked: members then, disjoint from the non-signers, stakes summing to the signed stake)
    reg: address = sigcheck.blsRegistry
    assert len(cert) >= 32 and convert(extract32(cert, 0), uint256) == ref, "wrong reference block"
    status: uint8 = 0
    signed: uint256 = 0
    total: uint256 = 0
    status, signed, total = staticcall IBLSViews(reg).checkCertificate(set_id, digest, cert, empty(address))
    assert status == 1, "bad certificate"
    # the registry decoded the certificate: its head is (referenceBlock, offset of nonSigners,
    # apkG2, sigma), nonSigners = length, then (X, Y) per key
    base: uint256 = convert(extract32(cert, 32), uint256) + 32
    n_ns: uint256 = convert(extract32(cert, base - 32), uint256)
    signers: DynArray[address, MAX_SIGNERS] = []
    stakes: DynArray[uint256, MAX_SIGNERS] = []
    sum: uint256 = 0
    prev: uint256 = 0
    j: uint256 = 0
    ref32: uint32 = convert(ref, uint32)
    for oid: bytes32 in signer_ids:
        o: uint256 = convert(oid, uint256)
        assert o > prev, "signer ids not ascending"
        prev = o
        # both lists ascend (the registry checked the non-signers' order): merge
        for _: uint256 in range(MAX_SIGNERS):
            if j >= n_ns or convert(keccak256(slice(cert, base + 64 * j, 64)), uint256) >= o:
                break
            j += 1
        assert j >= n_ns or convert(keccak256(slice(cert, base + 64 * j, 64)), uint256) != o, "signer is a non-signer"
        member: bool = False
        st: DynArray[uint256, 8] = []
        member, st = staticcall IBLSRegistry(reg).operatorStakeAt(set_id, oid, ref32)
        assert member, "signer not a member"
        s: uint256 = 0
        for x: uint256 in st:
            s += x
        signers.append(staticcall IBLSViews(reg).operatorOfKey(oid))
        stakes.append(s)
        sum += s
    assert sum == signed, "signer ids incomplete"
    self._threshold(task_type, signed, total)
    return signers, stakes, signed, total


@internal
@view
def _certify(task_type: uint32, ref: uint256, digest: bytes32, cert: Bytes[MAX_CERT], signer_ids: DynArray[bytes32, MAX_SIGNERS]) -> (DynArray[address, MAX_SIGNERS], DynArray[uint256, MAX_SIGNERS], uint256, uint256):
    set_id: uint32 = self.taskTypes[task_type].operatorSetId
    if self.taskTypes[task_type].certKind == CERT_BLS:
        return self._bls_signers(task_type, set_id, ref, digest, cert, signer_ids)
    assert len(signer_ids) == 0, "signer ids with ecdsa"
    return self._ecdsa_signers(task_type, set_id, digest, cert)


@internal
@view
def _threshold(task_type: uint32, signed: uint256, total: uint256):
    assert total != 0, "executor set has no stake"
    assert signed * BPS >= total * self.taskTypes[task_type].thresholdBps, "certificate below threshold"


@external
@nonreentrant
def submitResult(taskHash: bytes32, executorCert: Bytes[MAX_CERT], result: Bytes[MAX_RESULT], record: bytes32, signerIds: DynArray[bytes32, MAX_SIGNERS]):
    """
    @notice Accept a task's result with its executor set's certificate over
            certificateDigest(taskHash, result) and pay the fee: the fee split,
            floor(fee * feeSplit / 10,000) with the split in force now, is owed to the fee
            split collector if one is set (FeePaid names it; it withdraws with withdrawFees),
            the rest to the signers, pro rata to the stake each signed with (the rounding
            remainder to the first signer; fees are withdrawn with withdrawFees). Refused after
            the deadline or once a result is in.
    @param taskHash The task.
    @param executorCert ECDSA: abi.encode((uint8,bytes32,bytes32)[]) by ascending signing keys;
           BLS: the registry's certificate at the task's reference block.
    @param result The result bytes (the image's output).
    @param record The DA record of the task's input, output and receipt (blob key or certificate
           hash; zero: none).
    @param signerIds BLS: the signers' operator ids, ascending (empty for ECDSA).
    """
    created: uint256 = self._tasks[taskHash].createdBlock
    assert created != 0, "unknown task"
    assert not self._tasks[taskHash].verified, "duplicate result"
    task_type: uint32 = self._tasks[taskHash].taskType
    assert block.number <= created + self.taskTypes[task_type].timeout, "task expired"
    signers: DynArray[address, MAX_SIGNERS] = []
    stakes: DynArray[uint256, MAX_SIGNERS] = []
    signed: uint256 = 0
    total: uint256 = 0
    signers, stakes, signed, total = self._certify(task_type, created - 1, self._certificate_digest(taskHash, result), executorCert, signerIds)
    result_hash: bytes32 = keccak256(result)
    self._tasks[taskHash].verified = True
    self._tasks[taskHash].resultHash = result_hash
    if record != empty(bytes32):
        self._tasks[taskHash].record = record
    self._tasks[taskHash].signersHash = keccak256(abi_encode(signers))
    # the fee split, rounded down, to the collector (none while unset); the rest pro rata to
    # signed stake, the first signer also taking the rounding remainder: the sum is the fee
    # (nothing is credited for a zero fee); and the signers' stakes hash-chained
    fee: uint256 = self._tasks[taskHash].fee
    token: address = self.taskTypes[task_type].feeToken
    collector: address = self.feeSplitCollector
    split: uint256 = 0
    if collector != empty(address):
        split = fee * convert(self.feeSplit, uint256) // BPS
        self._credit(taskHash, collector, token, split)
    net: uint256 = fee - split
    rest: uint256 = 0
    h: bytes32 = empty(bytes32)
    i: uint256 = 0
    for s: uint256 in stakes:
        h = keccak256(abi_encode(h, s))
        if i != 0:
            share: uint256 = net * s // signed
            rest += share
            self._credit(taskHash, signers[i], token, share)
        i += 1
    self._credit(taskHash, signers[0], token, net - rest)
    self.signerStakesHash[taskHash] = h
    log TaskVerified(aggregator=msg.sender, taskHash=taskHash, taskType=task_type, resultHash=result_hash, record=record, signedStake=signed, totalStake=total, signers=signers, result=result)


@external
@nonreentrant
def payFee(taskHash: bytes32, operator: address, token: address, amount: uint256):
    """
    @notice Pay `operator` (or the fee split collector) a fee for `taskHash` as a task's own fee
            is paid: `amount` of `token` is pulled from the caller (transferFrom: approve it
            first), what arrives is owed to `operator` (FeePaid) and withdrawn with withdrawFees.
            Fees come only with their tokens, so nobody is credited out of thin air; the mailbox
            does not check the task or the amount (VerifiedEscrow's releaseToCertifiers calls it
            for a certified task's certifiers, each with its share). Anyone may call.
    @param taskHash The task the fee is for (named in FeePaid).
    @param operator Whom the fee is owed to.
    @param token The fee token.
    @param amount The amount pulled from the caller.
    """
    self._credit(taskHash, operator, token, self._pull(token, amount))


@internal
def _pull(token: address, amount: uint256) -> uint256:
    # pull `amount` of `token` from the caller; what arrives is held (fee-on-transfer tokens are safe)
    before: uint256 = staticcall IERC20(token).balanceOf(self)
    assert extcall IERC20(token).transferFrom(msg.sender, self, amount, default_return_value=True), "fee transfer failed"
    received: uint256 = staticcall IERC20(token).balanceOf(self) - before
    self.feesHeld[token] += received
    return received


@internal
def _credit(task_hash: bytes32, who: address, token: address, amount: uint256):
    if amount != 0:
        self.feesOwed[who][token] += amount
        log FeePaid(taskHash=task_hash, operator=who, token=token, amount=amount)


@external
@nonreentrant
def refundFee(taskHash: bytes32):
    """
    @notice Return an expired task's escrowed fee to its refund collector (anyone may call).
    @param taskHash The task.
    """
    task: Task = self._tasks[taskHash]
    assert task.creator != empty(address), "unknown task"
    assert not task.verified, "task verified"
    assert self._status(task) == STATUS_EXPIRED, "task not expired"
    assert not task.refunded, "fee already refunded"
    self._tasks[taskHash].refunded = True
    token: address = self.taskTypes[task.taskType].feeToken
    if task.fee != 0:
        self.feesHeld[token] -= task.fee
        assert extcall IERC20(token).transfer(task.refundCollector, task.fee, default_return_value=True), "refund transfer failed"
    log FeeRefunded(taskHash=taskHash, refundCollector=task.refundCollector, token=token, amount=task.fee)


@external
@nonreentrant
def withdrawFees(token: address) -> uint256:
    """
    @notice Withdraw the caller's earned fees in `token`.
    @param token The fee token.
    @return The amount sent.
    """
    amount: uint256 = self.feesOwed[msg.sender][token]
    assert amount != 0, "no fees owed"
    self.feesOwed[msg.sender][token] = 0
    self.feesHeld[token] -= amount
    assert extcall IERC20(token).transfer(msg.sender, amount, default_return_value=True), "fee withdrawal failed"
    log FeesWithdrawn(operator=msg.sender, token=token, amount=amount)
    return amount


# ---------------------------------------------------------------- views

@external
@view
def getTaskStatus(taskHash: bytes32) -> uint8:
    """
    @notice NONE 0 (unknown), CREATED 1, VERIFIED 2, EXPIRED 3 (past the deadline without a result).
    @param taskHash The task.
    @return The status.
    """
    return self._status(self._tasks[taskHash])


@internal
@view
def _status(task: Task) -> uint8:
    if task.creator == empty(address):
        return STATUS_NONE
    if task.verified:
        return STATUS_VERIFIED
    if block.number > task.createdBlock + self.taskTypes[task.taskType].timeout:
        return STATUS_EXPIRED
    return STATUS_CREATED


@external
@view
def getTaskInfo(taskHash: bytes32) -> ITaskMailbox.TaskInfo:
    """
    @notice Everything stored about a task, with its status and deadline.
    @param taskHash The task.
    @return The task's record (all zero for an unknown task).
    """
    task: Task = self._tasks[taskHash]
    deadline: uint256 = 0
    ref: uint256 = 0
    if task.creator != empty(address):
        deadline = task.createdBlock + self.taskTypes[task.taskType].timeout
        ref = task.createdBlock - 1
    return ITaskMailbox.TaskInfo(creator=task.creator, refundCollector=task.refundCollector, taskType=task.taskType, fee=task.fee, createdBlock=task.createdBlock, referenceBlock=ref, deadline=deadline, inputHash=task.inputHash, status=self._status(task), refunded=task.refunded, resultHash=task.resultHash, record=task.record, signersHash=task.signersHash)


@external
@view
def verifyResult(taskHash: bytes32, executorCert: Bytes[MAX_CERT], result: Bytes[MAX_RESULT], signerIds: DynArray[bytes32, MAX_SIGNERS]) -> (DynArray[address, MAX_SIGNERS], DynArray[uint256, MAX_SIGNERS], uint256, uint256):
    """
    @notice Check a certificate over `result` for a task as submitResult does (its type's set,
            kind and threshold, its reference block), at any time; reverts on a bad one.
    @param taskHash The task.
    @param executorCert The certificate (as submitResult takes it).
    @param result The result bytes.
    @param signerIds BLS: the signers' operator ids, ascending (empty for ECDSA).
    @return (signers, their stakes, signed stake, total stake).
    """
    created: uint256 = self._tasks[taskHash].createdBlock
    assert created != 0, "unknown task"
    return self._certify(self._tasks[taskHash].taskType, created - 1, self._certificate_digest(taskHash, result), executorCert, signerIds)


@external
@view
def getTaskResult(taskHash: bytes32) -> (bytes32, bytes32):
    """
    @notice A verified task's result hash and DA record (the result bytes are in TaskVerified).
    @param taskHash The task.
    @return (keccak256(result), record).
    """
    task: Task = self._tasks[taskHash]
    assert task.verified, "task not verified"
    return task.resultHash, task.record


@external
@view
def getMessageHash(taskHash: bytes32, result: Bytes[MAX_RESULT]) -> bytes32:
    """
    @notice Hourglass's message hash keccak256(abi.encode(taskHash, result)).
    @param taskHash The task.
    @param result The result bytes.
    @return The message hash.
    """
    return self._message_hash(taskHash, result)


@external
@view
def certificateDigest(taskHash: bytes32, result: Bytes[MAX_RESULT]) -> bytes32:
    """
    @notice What a certificate signs: keccak256(abi.encode(RESULT_DOMAIN, chainid, mailbox,
            getMessageHash(taskHash, result))) (ECDSA signers sign it; BLS signers sign
            blsDigest(it, referenceBlock)).
    @param taskHash The task.
    @param result The result bytes.
    @return The certificate digest.
    """
    return self._certificate_digest(taskHash, result)
