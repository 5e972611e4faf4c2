# pragma version ~=0.4.3
"""
@title TaskValidator
@notice An ERC-8004 validator whose answers are backed by slashable stake: it answers
        ValidationRegistry requests addressed to it from what the compute and AI dispute paths
        certified on chain, never from anyone's word. Anyone may ask it to answer; the answer is
        read, not chosen.
        - A compute task (kind 1): the request hash commits to a TaskMailbox task and the result
          hash the agent claims (zero: any certified result). 100 when the task is VERIFIED by its
          executor set's certificate with that result and no fault proof slashed its certifying
          operators; 0 when the task EXPIRED, its certified result is another, or a fault was
          proven (the signers then lost stake through the TaskSlasher). A task still open cannot
          be answered yet.
        - An inference receipt (kind 2): the request hash commits to an InferenceDisputes receipt
          digest. 100 once the receipt is final (its challenge window passed unchallenged, or the
          inference set upheld it); 0 when the set proved it wrong (its operator was slashed) or a
          challenge expired with no verdict (nothing vouches for the output); 100 again
          ("inference-overturned") when the set's resolver cancelled the slash of a receipt proven
          wrong: a lying majority's verdict, overturned, does not stay on the honest operator's
          record. A receipt in its challenge window or under challenge cannot be answered yet.
        The task's creator (or the receipt's client or operator) must be the agent the request
        names, as its owner or its agent wallet; work of anyone else is answered 0, so an agent
        cannot borrow another's record. Answers can be repeated (the registry keeps the last): a
        fault proven after a 100 turns it into 0 on the next call.
@dev requestHash(agentId, kind, ref, expected, salt) = keccak256(abi_encode(REQUEST_DOMAIN,
     chainid, this validator, agentId, kind, ref, expected, salt)) (the agent is in it, so a request
     filed under another agent is never answered; the salt lets the agent file again if someone
     took its hash first); the agent's owner files it with
     ValidationRegistry.validationRequest(this, agentId, uri, requestHash). Revert strings:
     "no mailbox", "no disputes", "unknown", "not this validator", "wrong agent", "unknown task", "task pending",
     "wrong signer list", "unknown receipt", "no verdict yet".
"""

from ..interfaces import ITaskMailbox
from ..interfaces import ISlashEscrowRelease as IEscrow

MAX_SIGNERS: constant(uint256) = 64
MAX_TAG: constant(uint256) = 64
MAX_URI: constant(uint256) = 512

KIND_TASK: public(constant(uint8)) = 1
KIND_INFERENCE: public(constant(uint8)) = 2
REQUEST_DOMAIN: public(constant(bytes32)) = keccak256("eigen.agent.ValidationRequest.v1")

TASK_CREATED: constant(uint8) = 1
TASK_VERIFIED: constant(uint8) = 2
TASK_EXPIRED: constant(uint8) = 3

RECEIPT_NONE: constant(uint8) = 0
RECEIPT_FAULTY: constant(uint8) = 4
RECEIPT_EXPIRED: constant(uint8) = 5

ESCROW_CANCELLED: constant(uint8) = 3  # SlashEscrow: the set's resolver cancelled the slash


interface IValidationRegistry:
    def getValidationStatus(requestHash: bytes32) -> (address, uint256, uint8, bytes32, String[MAX_TAG], uint256): view
    def validationResponse(requestHash: bytes32, response: uint8, responseURI: String[MAX_URI], responseHash: bytes32, tag: String[MAX_TAG]): nonpayable
    def getIdentityRegistry() -> address: view


interface IIdentity:
    def ownerOf(agentId: uint256) -> address: view
    def getAgentWallet(agentId: uint256) -> address: view


interface IMailboxSlasher:
    def taskSlasher() -> address: view


interface ITaskSlasher:
    def faultSlashed(taskHash: bytes32, operator: address) -> bool: view


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


@deploy
def __init__(_registry: address, _mailbox: address, _disputes: address):
    """
    @param _registry The ERC-8004 ValidationRegistry this validator answers.
    @param _mailbox The TaskMailbox whose certified tasks answer kind 1 (zero: none).
    @param _disputes The InferenceDisputes whose verdicts answer kind 2 (zero: none).
    """
    assert _registry != empty(address), "bad registry"
    registry = _registry
    identity = staticcall IValidationRegistry(_registry).getIdentityRegistry()
    mailbox = _mailbox
    disputes = _disputes


@internal
@view
def _request_hash(agent_id: uint256, kind: uint8, ref: bytes32, expected: bytes32, salt: bytes32) -> bytes32:
    return keccak256(abi_encode(REQUEST_DOMAIN, chain.id, self, agent_id, kind, ref, expected, salt))


@external
@view
def requestHash(agentId: uint256, kind: uint8, ref: bytes32, expected: bytes32, salt: bytes32) -> bytes32:
    """
    @notice The request hash agent `agentId` files for this validator to check `ref` (kind 1: a
            task hash with the expected result hash, zero: any; kind 2: a receipt digest, expected
            zero), with any `salt`.
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
    return who == staticcall IIdentity(identity).ownerOf(agent_id) or who == staticcall IIdentity(identity).getAgentWallet(agent_id)


@internal
def _answer(request_hash: bytes32, agent_id: uint256, kind: uint8, ref: bytes32, response: uint8, response_hash: bytes32, tag: String[MAX_TAG]) -> uint8:
    extcall IValidationRegistry(registry).validationResponse(request_hash, response, "", response_hash, tag)
    log Answered(requestHash=request_hash, agentId=agent_id, kind=kind, ref=ref, response=response, tag=tag)
    return response


@internal
@view
def _fault_proven(info: ITaskMailbox.TaskInfo, task_hash: bytes32, signers: DynArray[address, MAX_SIGNERS]) -> bool:
    assert keccak256(abi_encode(signers)) == info.signersHash, "wrong signer list"
    slasher: address = staticcall IMailboxSlasher(mailbox).taskSlasher()
    if slasher == empty(address):
        return False
    for op: address in signers:
        if staticcall ITaskSlasher(slasher).faultSlashed(task_hash, op):
            return True
    return False


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
           TaskSlasher's fault records); ignored otherwise.
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
    if self._fault_proven(info, taskHash, signers):
        return self._answer(request_hash, agent_id, KIND_TASK, taskHash, 0, info.resultHash, "fault-proven")
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
        if c.slashId != 0:
            esc: address = staticcall IInferenceDisputes(disputes).slashEscrow()
            set_id: uint32 = staticcall IInferenceDisputes(disputes).operatorSetId()
            if (staticcall IEscrow(esc).getSlash(disputes, set_id, c.slashId)).status == ESCROW_CANCELLED:
                return self._answer(request_hash, agent_id, KIND_INFERENCE, receiptDigest, 100, c.output, "inference-overturned")
        return self._answer(request_hash, agent_id, KIND_INFERENCE, receiptDigest, 0, c.output, "inference-faulty")
    if staticcall IInferenceDisputes(disputes).isFinalized(receiptDigest):
        return self._answer(request_hash, agent_id, KIND_INFERENCE, receiptDigest, 100, c.output, "inference-final")
    assert c.status == RECEIPT_EXPIRED, "no verdict yet"
    return self._answer(request_hash, agent_id, KIND_INFERENCE, receiptDigest, 0, c.output, "inference-unresolved")
