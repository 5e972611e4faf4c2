# pragma version ~=0.4.3
"""
@title TaskValidator
@notice An ERC-8004 validator whose answers are backed by slashable stake: it answers
        ValidationRegistry requests addressed to it from what the compute and AI dispute paths
        certified on chain, never from anyone's word. Anyone may ask it to answer; the answer is
        read, not chosen.
        A slash's fate (contracts/lib/slash_fate.vy, as VerifiedEscrow pays by it): work proven
        wrong is answered 0 with a *pending* tag while the set's resolver may still cancel the
        slash (soft finality, in ERC-8004's words), 0 with a final tag once the slash is final
        (released, past the escrow window, or the operator was no longer slashable), and, once
        the slash was cancelled (the verdict was overturned: the work was right), as if no
        fault had been proven, with an *overturned* tag. Every kind follows it the same way.
        - A compute task (kind 1): the request hash commits to a TaskMailbox task and the result
          hash the agent claims (zero: any certified result). 100 "task-certified" when the task
          is VERIFIED by its executor set's certificate with that result and no fault proof
          (TaskSlasher) marked its certifying operators; 0 "task-expired" when it EXPIRED, 0
          "result-mismatch" when its certified result is another; a fault proven: 0
          "fault-pending", 0 "fault-proven", or 100 "task-overturned" once every certifying
          operator's slash was cancelled. A task still open cannot be answered yet.
        - An inference receipt (kind 2): the request hash commits to an InferenceDisputes receipt
          digest. 100 "inference-final" once the receipt is final (its challenge window passed
          unchallenged, or the inference set upheld it); 0 "inference-unresolved" when a
          challenge expired with no verdict (nothing vouches for the output); the set proved it
          wrong: 0 "inference-fault-pending", 0 "inference-faulty", or 100
          "inference-overturned" (a lying majority's verdict, overturned, does not stay on the
          honest operator's record). A receipt in its challenge window or under challenge cannot
          be answered yet.
        - A ComputeAVS result (kind 3): the request hash commits to a ComputeAVS receipt digest (a
          TEE-attested result of a registered image, whose digest binds the app, image, input and
          output); the receipt must have been accepted there (submitReceipt). Deterministic app:
          100 "result-accepted", unless a fault proof (ComputeAVS.proveFault: two receipts of the
          same image and input with different outputs) slashed the operator of the receipt's
          enclave key for that input: 0 "result-fault-pending", 0 "result-faulty", or 100
          "result-overturned". A non-deterministic app has no fault proof: 100 "result-attested"
          (the attestation and the enclave key's enrolment by the set's stake vouch for it, no
          slash can).
        The task's creator (the receipt's client or operator; the result's app owner or enclave
        operator) must be the agent the request names, as its owner, its agent wallet or its
        vault (the contract named by its metadata "vault" whose owner() is the agent's owner, e.g.
        an AgentVault that posts the agent's policy tasks); work of
        anyone else is answered 0 ("not-agent-task", "not-agent-receipt", "not-agent-result"), so
        an agent cannot borrow another's record. Answers can be repeated (the registry keeps the
        last): a fault proven after a 100 turns it into 0 on the next call, a slash cancelled
        after a 0 back into 100.
@dev requestHash(agentId, kind, ref, expected, salt) = keccak256(abi_encode(REQUEST_DOMAIN,
     chainid, this validator, agentId, kind, ref, expected, salt)) (the agent is in it, so a request
     filed under another agent is never answered; the salt lets the agent file again if someone
     took its hash first); the agent's owner files it with
     ValidationRegistry.validationRequest(this, agentId, uri, requestHash). Revert strings:
     "bad registry", "no mailbox", "no disputes", "no compute avs", "unknown", "not this validator",
     "wrong agent", "unknown task", "task pending", "wrong signer list", "unknown receipt",
     "no verdict yet", "wrong chain", "receipt not accepted".
"""

from ..lib import slash_fate
from ..interfaces import IComputeAVS
from ..interfaces import ITaskMailbox

MAX_SIGNERS: constant(uint256) = 64
MAX_TAG: constant(uint256) = 64
MAX_URI: constant(uint256) = 512

KIND_TASK: public(constant(uint8)) = 1
KIND_INFERENCE: public(constant(uint8)) = 2
KIND_RESULT: public(constant(uint8)) = 3
REQUEST_DOMAIN: public(constant(bytes32)) = keccak256("eigen.agent.ValidationRequest.v1")

TASK_CREATED: constant(uint8) = 1
TASK_VERIFIED: constant(uint8) = 2
TASK_EXPIRED: constant(uint8) = 3

RECEIPT_NONE: constant(uint8) = 0
RECEIPT_FAULTY: constant(uint8) = 4
RECEIPT_EXPIRED: constant(uint8) = 5


interface IValidationRegistry:
    def getValidationStatus(requestHash: bytes32) -> (address, uint256, uint8, bytes32, String[MAX_TAG], uint256): view
    def validationResponse(requestHash: bytes32, response: uint8, responseURI: String[MAX_URI], responseHash: bytes32, tag: String[MAX_TAG]): nonpayable
    def getIdentityRegistry() -> address: view


interface IIdentity:
    def ownerOf(agentId: uint256) -> address: view
    def getAgentWallet(agentId: uint256) -> address: view
    def getMetadata(agentId: uint256, metadataKey: String[64]) -> Bytes[1024]: view


# InferenceDisputes.claims's record, field for field.
struct Claim:
    client: address
    operator: address
    output: bytes32
    status: uint8
    deadline: uint256
    challenger: address
    bond: uint256
    slashId: uint256
    compensated: bool


interface IInferenceDisputes:
    def claims(receiptDigest: bytes32) -> Claim: view
    def isFinalized(receiptDigest: bytes32) -> bool: view
    def slashEscrow() -> address: view
    def operatorSetId() -> uint32: view


event Answered:
    requestHash: indexed(bytes32)
    agentId: indexed(uint256)
    kind: indexed(uint8)
    ref: bytes32
    response: uint8
    tag: String[MAX_TAG]


registry: public(immutable(address))
identity: public(immutable(address))
mailbox: public(immutable(address))
disputes: public(immutable(address))
computeAVS: public(immutable(address))
# The SlashEscrows holding the slashes of the mailbox's executor sets, InferenceDisputes' set and
# ComputeAVS's sets (read at deployment; zero where that kind is not served).
taskSlashEscrow: public(immutable(address))
inferenceSlashEscrow: public(immutable(address))
resultSlashEscrow: public(immutable(address))


@deploy
def __init__(_registry: address, _mailbox: address, _disputes: address, _computeAVS: address):
    """
    @param _registry The ERC-8004 ValidationRegistry this validator answers.
    @param _mailbox The TaskMailbox whose certified tasks answer kind 1 (zero: none).
    @param _disputes The InferenceDisputes whose verdicts answer kind 2 (zero: none).
    @param _computeAVS The ComputeAVS whose accepted receipts answer kind 3 (zero: none).
    """
    assert _registry != empty(address), "bad registry"
    registry = _registry
    identity = staticcall IValidationRegistry(_registry).getIdentityRegistry()
    mailbox = _mailbox
    disputes = _disputes
    computeAVS = _computeAVS
    escrow: address = empty(address)
    if _mailbox != empty(address):
        escrow = slash_fate._escrow_of(_mailbox)
    taskSlashEscrow = escrow
    escrow = empty(address)
    if _disputes != empty(address):
        escrow = staticcall IInferenceDisputes(_disputes).slashEscrow()
    inferenceSlashEscrow = escrow
    escrow = empty(address)
    if _computeAVS != empty(address):
        escrow = slash_fate._escrow_of(_computeAVS)
    resultSlashEscrow = escrow


@internal
@view
def _request_hash(agent_id: uint256, kind: uint8, ref: bytes32, expected: bytes32, salt: bytes32) -> bytes32:
    return keccak256(abi_encode(REQUEST_DOMAIN, chain.id, self, agent_id, kind, ref, expected, salt))


@external
@view
def requestHash(agentId: uint256, kind: uint8, ref: bytes32, expected: bytes32, salt: bytes32) -> bytes32:
    """
    @notice The request hash agent `agentId` files for this validator to check `ref` (kind 1: a
            task hash with the expected result hash, zero: any; kind 2: an InferenceDisputes
            receipt digest; kind 3: a ComputeAVS receipt digest; expected zero for both), with
            any `salt`.
    """
    return self._request_hash(agentId, kind, ref, expected, salt)


@internal
@view
def _check_request(request_hash: bytes32, agent_id_: uint256):
    validator: address = empty(address)
    agent_id: uint256 = 0
    response: uint8 = 0
    response_hash: bytes32 = empty(bytes32)
    tag: String[MAX_TAG] = ""
    last: uint256 = 0
    validator, agent_id, response, response_hash, tag, last = staticcall IValidationRegistry(registry).getValidationStatus(request_hash)
    assert validator == self, "not this validator"
    assert agent_id == agent_id_, "wrong agent"


@internal
@view
def _is_agent(agent_id: uint256, who: address) -> bool:
    if who == empty(address):
        return False
    owner: address = staticcall IIdentity(identity).ownerOf(agent_id)
    if who == owner or who == staticcall IIdentity(identity).getAgentWallet(agent_id):
        return True
    # the agent's vault: the 20 bytes of its metadata "vault", a contract whose owner() is the agent's
    # owner (docs/agent.md, "The agent's vault"; an owner cannot claim another's contract)
    vault: Bytes[1024] = staticcall IIdentity(identity).getMetadata(agent_id, "vault")
    if len(vault) != 20 or convert(convert(slice(vault, 0, 20), bytes20), address) != who:
        return False
    ok: bool = False
    res: Bytes[32] = b""
    ok, res = raw_call(who, method_id("owner()"), max_outsize=32, is_static_call=True, revert_on_failure=False)
    return ok and len(res) == 32 and convert(convert(res, bytes32), uint256) == convert(owner, uint256)


@internal
def _answer(request_hash: bytes32, agent_id: uint256, kind: uint8, ref: bytes32, response: uint8, response_hash: bytes32, tag: String[MAX_TAG]) -> uint8:
    extcall IValidationRegistry(registry).validationResponse(request_hash, response, "", response_hash, tag)
    log Answered(requestHash=request_hash, agentId=agent_id, kind=kind, ref=ref, response=response, tag=tag)
    return response


@external
def respondTask(agentId: uint256, taskHash: bytes32, expectedResult: bytes32, salt: bytes32, signers: DynArray[address, MAX_SIGNERS]) -> uint8:
    """
    @notice Answer agent `agentId`'s request for a TaskMailbox task (anyone may call; the answer
            is read).
    @param agentId The agent that filed the request.
    @param taskHash The task the request names.
    @param expectedResult The result hash the request names (zero: any certified result).
    @param salt The request's salt.
    @param signers A VERIFIED task's certifying operators as TaskVerified listed them (to read the
           TaskSlasher's fault records and their slashes' fate); ignored otherwise.
    @return The response filed: 100 or 0.
    """
    assert mailbox != empty(address), "no mailbox"
    agent_id: uint256 = agentId
    request_hash: bytes32 = self._request_hash(agent_id, KIND_TASK, taskHash, expectedResult, salt)
    self._check_request(request_hash, agent_id)
    info: ITaskMailbox.TaskInfo = staticcall ITaskMailbox(mailbox).getTaskInfo(taskHash)
    assert info.creator != empty(address), "unknown task"
    if not self._is_agent(agent_id, info.creator):
        return self._answer(request_hash, agent_id, KIND_TASK, taskHash, 0, empty(bytes32), "not-agent-task")
    if info.status == TASK_EXPIRED:
        return self._answer(request_hash, agent_id, KIND_TASK, taskHash, 0, empty(bytes32), "task-expired")
    assert info.status == TASK_VERIFIED, "task pending"
    if expectedResult != empty(bytes32) and info.resultHash != expectedResult:
        return self._answer(request_hash, agent_id, KIND_TASK, taskHash, 0, info.resultHash, "result-mismatch")
    fate: uint8 = slash_fate._task_fate(mailbox, taskSlashEscrow, info, taskHash, signers)
    if fate == slash_fate.FATE_PENDING:
        return self._answer(request_hash, agent_id, KIND_TASK, taskHash, 0, info.resultHash, "fault-pending")
    if fate == slash_fate.FATE_FINAL:
        return self._answer(request_hash, agent_id, KIND_TASK, taskHash, 0, info.resultHash, "fault-proven")
    if fate == slash_fate.FATE_CANCELLED:
        return self._answer(request_hash, agent_id, KIND_TASK, taskHash, 100, info.resultHash, "task-overturned")
    return self._answer(request_hash, agent_id, KIND_TASK, taskHash, 100, info.resultHash, "task-certified")


@external
def respondInference(agentId: uint256, receiptDigest: bytes32, salt: bytes32) -> uint8:
    """
    @notice Answer agent `agentId`'s request for an InferenceDisputes receipt (anyone may call).
    @param agentId The agent that filed the request.
    @param receiptDigest The receipt the request names.
    @param salt The request's salt.
    @return The response filed: 100 or 0.
    """
    assert disputes != empty(address), "no disputes"
    agent_id: uint256 = agentId
    request_hash: bytes32 = self._request_hash(agent_id, KIND_INFERENCE, receiptDigest, empty(bytes32), salt)
    self._check_request(request_hash, agent_id)
    c: Claim = staticcall IInferenceDisputes(disputes).claims(receiptDigest)
    assert c.status != RECEIPT_NONE, "unknown receipt"
    if not (self._is_agent(agent_id, c.client) or self._is_agent(agent_id, c.operator)):
        return self._answer(request_hash, agent_id, KIND_INFERENCE, receiptDigest, 0, empty(bytes32), "not-agent-receipt")
    if c.status == RECEIPT_FAULTY:
        set_id: uint32 = staticcall IInferenceDisputes(disputes).operatorSetId()
        fate: uint8 = slash_fate._fate(inferenceSlashEscrow, disputes, set_id, c.slashId)
        if fate == slash_fate.FATE_PENDING:
            return self._answer(request_hash, agent_id, KIND_INFERENCE, receiptDigest, 0, c.output, "inference-fault-pending")
        if fate == slash_fate.FATE_CANCELLED:
            return self._answer(request_hash, agent_id, KIND_INFERENCE, receiptDigest, 100, c.output, "inference-overturned")
        return self._answer(request_hash, agent_id, KIND_INFERENCE, receiptDigest, 0, c.output, "inference-faulty")
    if staticcall IInferenceDisputes(disputes).isFinalized(receiptDigest):
        return self._answer(request_hash, agent_id, KIND_INFERENCE, receiptDigest, 100, c.output, "inference-final")
    assert c.status == RECEIPT_EXPIRED, "no verdict yet"
    return self._answer(request_hash, agent_id, KIND_INFERENCE, receiptDigest, 0, c.output, "inference-unresolved")


@external
def respondResult(agentId: uint256, receipt: IComputeAVS.Receipt, salt: bytes32) -> uint8:
    """
    @notice Answer agent `agentId`'s request for a ComputeAVS result (anyone may call): the
            request names the receipt's digest (ComputeAVS.receiptDigest), and the receipt must
            have been accepted there.
    @param agentId The agent that filed the request.
    @param receipt The receipt, as submitted to ComputeAVS.
    @param salt The request's salt.
    @return The response filed: 100 or 0.
    """
    assert computeAVS != empty(address), "no compute avs"
    assert receipt.chainId == chain.id, "wrong chain"
    agent_id: uint256 = agentId
    digest: bytes32 = staticcall IComputeAVS(computeAVS).receiptDigest(receipt)
    request_hash: bytes32 = self._request_hash(agent_id, KIND_RESULT, digest, empty(bytes32), salt)
    self._check_request(request_hash, agent_id)
    assert staticcall IComputeAVS(computeAVS).receiptAccepted(digest), "receipt not accepted"
    # an accepted receipt's key was enrolled for its app and image (keys are never re-enrolled)
    operator: address = (staticcall IComputeAVS(computeAVS).enclaves(receipt.enclaveSigner)).operator
    app: IComputeAVS.App = staticcall IComputeAVS(computeAVS).apps(receipt.appId)
    if not (self._is_agent(agent_id, app.owner) or self._is_agent(agent_id, operator)):
        return self._answer(request_hash, agent_id, KIND_RESULT, digest, 0, empty(bytes32), "not-agent-result")
    out: bytes32 = receipt.outputHash
    if not app.deterministic:
        return self._answer(request_hash, agent_id, KIND_RESULT, digest, 100, out, "result-attested")
    fault_key: bytes32 = keccak256(abi_encode(receipt.appId, receipt.imageDigest, receipt.inputHash))
    if staticcall IComputeAVS(computeAVS).faultSlashed(fault_key, operator):
        slash_id: uint256 = staticcall IComputeAVS(computeAVS).faultSlashId(fault_key, operator)
        fate: uint8 = slash_fate._fate(resultSlashEscrow, computeAVS, app.operatorSetId, slash_id)
        if fate == slash_fate.FATE_PENDING:
            return self._answer(request_hash, agent_id, KIND_RESULT, digest, 0, out, "result-fault-pending")
        if fate == slash_fate.FATE_FINAL:
            return self._answer(request_hash, agent_id, KIND_RESULT, digest, 0, out, "result-faulty")
        return self._answer(request_hash, agent_id, KIND_RESULT, digest, 100, out, "result-overturned")
    return self._answer(request_hash, agent_id, KIND_RESULT, digest, 100, out, "result-accepted")
