# pragma version ~=0.4.3
"""
@title VerifiedEscrow
@notice Verified settlement for x402 (the `verified` scheme): the client's payment is held here
        and reaches the server agent only once the work it paid for verified on-chain and its
        challenge window passed with no fault proven; a fault proven in time refunds the client
        (the dispute path itself slashes the operator's stake). Two kinds of work:
        KIND_TASK (ref: a TaskMailbox task hash): the task is VERIFIED by its executor set's
          certificate (with the result the client expected, when it named one); confirmTask then
          opens the escrow's own challenge window of TASK_WINDOW seconds (the mailbox keeps no
          certification time, so the window runs from the confirmation, never less than
          TASK_WINDOW after the certificate); release after it unless a fault was proven through
          the TaskSlasher. TASK_WINDOW = 0: release right after the certificate, no confirmation.
          A fault proven against a certifying operator settles by its slash's fate, as below.
        KIND_INFERENCE (ref: the request digest of offchain.ai.receipt.request_digest: model,
          tokenizer, engine, sampling parameters, prompt): bindReceipt names the InferenceDisputes
          receipt (registered there, for this request, bound to this payer as its client) that
          answers it; release once InferenceDisputes' challenge window passed unchallenged or the
          set confirmed the receipt; refund when a challenge expired unresolved (the receipt never
          verified).
        A slash's fate: when the work was proven wrong (the set proved the receipt wrong; a
        TaskSlasher fault proof against the task's certifying operators) and its operator
        slashed, the payment follows the slash's fate (SlashEscrow): it waits while the set's
        resolver may still cancel the slash ("slash pending"), is refunded once the slash is final
        (released, or its window passed; no slash: at once), and released to the payee if the
        slash was cancelled (the verdict was overturned: the work was right). A task faulting
        several certifying operators is refunded once any of their slashes is final (or one was
        not slashed), and paid only if every one of them was cancelled.
        The payee may be the mailbox itself, which means "the task's certifiers" (KIND_TASK
        only; the nonce binds it like any payee): releaseToCertifiers then splits the payment as
        the mailbox splits a task's own fee: the cloud's feeSplit to its fee split collector, the
        rest to the certifying signers pro rata to the stake each signed with (checked against the
        mailbox's signerStakesHash), the rounding remainder to the first signer, each share
        credited through the mailbox's payFee (pulled from here: feesOwed, withdrawFees).
        Both kinds refund when the client's deadline passed before the work was certified (task)
        or a receipt bound (inference), and a task kind refunds when the task expired or its
        certified result is not the expected one.
        The client signs EIP-3009 ReceiveWithAuthorization(from, to = this escrow, value, validAfter,
        validBefore, nonce) with nonce = keccak256(abi_encode(payee, kind, ref, expectedResult,
        deadline, salt)) (escrowNonce): only this contract can pull the funds, and only under
        exactly those terms, so whoever submits the deposit (the x402 facilitator) can neither
        redirect the payment nor change what it is conditioned on. The escrow id is
        keccak256(abi_encode(token, payer, nonce)) (escrowId), known to the client before it pays.
@dev Every escrow settles once: HELD -> RELEASED or HELD -> REFUNDED. Task release and refund take
     the certifying operators as TaskVerified listed them (checked against the task's signersHash)
     to read TaskSlasher.faultSlashed and faultSlashId; a fault proven after the release is
     answered by the slash alone. Revert strings: "zero payee", "zero amount", "zero ref", "unknown kind", "unknown task",
     "task expired", "deadline passed", "escrow exists", "unknown escrow", "escrow settled",
     "not a task escrow", "not an inference escrow", "task not verified", "result mismatch",
     "window started", "window not started", "challenge window open", "fault proven",
     "wrong signer list", "receipt bound", "no receipt bound", "receipt for another client",
     "receipt for another request", "receipt not registered", "receipt challenged",
     "receipt proven wrong", "receipt unresolved", "slash pending", "not refundable",
     "certifiers of a non-task", "certifiers' payment: releaseToCertifiers",
     "not a certifiers' payment", "wrong stake list", "approve failed", "transfer failed", plus
     the token's and the mailbox's payFee's ("fee transfer failed").
"""

from ..interfaces import IEIP3009
from ..interfaces import ITaskMailbox
from ..lib import slash_fate
from ethereum.ercs import IERC20

MAX_SIGNERS: constant(uint256) = 64
BPS: constant(uint256) = 10000
MAX_PROMPT_TOKENS: constant(uint256) = 512
MAX_OUTPUT_TOKENS: constant(uint256) = 512

# The kinds of work an escrow can be conditioned on.
KIND_TASK: public(constant(uint8)) = 1  # a TaskMailbox task hash
KIND_INFERENCE: public(constant(uint8)) = 2  # an inference request digest (offchain.ai.receipt)

# offchain.ai.receipt.REQUEST_TAG: the request digest's first word.
REQUEST_TAG: constant(bytes32) = keccak256("eigencloud/ai/request/v1")

# TaskMailbox statuses
STATUS_NONE: constant(uint8) = 0
STATUS_VERIFIED: constant(uint8) = 2
STATUS_EXPIRED: constant(uint8) = 3

# InferenceDisputes claim statuses
RECEIPT_NONE: constant(uint8) = 0
RECEIPT_REGISTERED: constant(uint8) = 1
RECEIPT_CHALLENGED: constant(uint8) = 2
RECEIPT_UPHELD: constant(uint8) = 3
RECEIPT_FAULTY: constant(uint8) = 4
RECEIPT_EXPIRED: constant(uint8) = 5

# The fate of a slash, as far as the payment is concerned (contracts/lib/slash_fate.vy; 0: no
# fault proven): final refunds, pending waits, cancelled (the verdict overturned) releases.
FATE_FINAL: constant(uint8) = slash_fate.FATE_FINAL
FATE_PENDING: constant(uint8) = slash_fate.FATE_PENDING
FATE_CANCELLED: constant(uint8) = slash_fate.FATE_CANCELLED

HELD: constant(uint8) = 1
RELEASED: constant(uint8) = 2
REFUNDED: constant(uint8) = 3

# Why a refund was allowed (the Refunded event's reason).
REFUND_EXPIRED: constant(uint8) = 1  # the mailbox task expired without a result
REFUND_DEADLINE: constant(uint8) = 2  # the deadline passed without a certified result / bound receipt
REFUND_MISMATCH: constant(uint8) = 3  # the certified result is not the expected one
REFUND_FAULT: constant(uint8) = 4  # a fault proof (task) or a dispute whose slash is final (inference) proved the work wrong
REFUND_UNRESOLVED: constant(uint8) = 5  # the receipt's challenge expired without a verdict


interface ISlashEscrowSource:
    def slashEscrow() -> address: view


# InferenceDisputes' receipt, field for field (its receiptDigest takes it).
struct InferenceReceipt:
    domain: bytes32
    modelHash: bytes32
    tokenizerHash: bytes32
    engineId: bytes32
    operator: address
    client: address
    seed: uint64
    temperatureMilli: uint32
    topK: uint32
    topPMicro: uint32
    maxTokens: uint32
    promptTokens: DynArray[uint32, MAX_PROMPT_TOKENS]
    outputTokens: DynArray[uint32, MAX_OUTPUT_TOKENS]
    stepsRoot: bytes32
    finishReason: uint8


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
    def receiptDigest(r: InferenceReceipt) -> bytes32: pure
    def operatorSetId() -> uint32: view


struct Escrow:
    token: address
    payer: address
    payee: address
    amount: uint256
    kind: uint8
    ref: bytes32
    expectedResult: bytes32  # task: keccak256(result); inference: the output commitment; zero: any
    deadline: uint256  # unix seconds: refundable after it unless certified (task) or bound (inference)
    state: uint8  # 0 none, 1 held, 2 released, 3 refunded
    receipt: bytes32  # inference: the receipt digest bound to it
    windowEnd: uint256  # task: releasable after it (set by confirmTask)


event Deposited:
    id: indexed(bytes32)
    payer: indexed(address)
    payee: indexed(address)
    token: address
    amount: uint256
    kind: uint8
    ref: bytes32
    expectedResult: bytes32
    deadline: uint256

event TaskConfirmed:
    id: indexed(bytes32)
    taskHash: indexed(bytes32)
    windowEnd: uint256

event ReceiptBound:
    id: indexed(bytes32)
    receiptDigest: indexed(bytes32)
    operator: indexed(address)
    challengeDeadline: uint256

event Released:
    id: indexed(bytes32)
    payee: indexed(address)
    amount: uint256

event Refunded:
    id: indexed(bytes32)
    payer: indexed(address)
    amount: uint256
    reason: uint8


# The TaskMailbox whose certified tasks release KIND_TASK payments (zero: that kind is not served).
mailbox: public(immutable(address))
# The InferenceDisputes whose receipts release KIND_INFERENCE payments (zero: not served).
disputes: public(immutable(address))
# The SlashEscrow holding InferenceDisputes' slashes (read from it at deployment; zero without it).
slashEscrow: public(immutable(address))
# The SlashEscrow holding the mailbox's executor-set slashes (read at deployment through the
# mailbox's AllocationManager and its DelegationManager; zero without a mailbox).
taskSlashEscrow: public(immutable(address))
# Seconds after confirmTask during which a fault proof still refunds a task payment.
TASK_WINDOW: public(immutable(uint256))
escrows: public(HashMap[bytes32, Escrow])


@deploy
def __init__(_mailbox: address, _disputes: address, _taskWindow: uint256):
    """
    @param _mailbox The TaskMailbox (its taskSlasher is read at release and refund); zero: no task kind.
    @param _disputes The InferenceDisputes; zero: no inference kind.
    @param _taskWindow TASK_WINDOW: seconds a confirmed task payment stays open to fault proofs.
    """
    assert _mailbox != empty(address) or _disputes != empty(address), "zero mailbox and disputes"
    mailbox = _mailbox
    disputes = _disputes
    escrow: address = empty(address)
    if _disputes != empty(address):
        escrow = staticcall ISlashEscrowSource(_disputes).slashEscrow()
    slashEscrow = escrow
    escrow = empty(address)
    if _mailbox != empty(address):
        escrow = slash_fate._escrow_of(_mailbox)
    taskSlashEscrow = escrow
    TASK_WINDOW = _taskWindow


@external
@pure
def escrowNonce(payee: address, kind: uint8, ref: bytes32, expectedResult: bytes32, deadline: uint256, salt: bytes32) -> bytes32:
    """
    @notice The EIP-3009 nonce a client signs to pay into escrow on these terms.
    """
    return keccak256(abi_encode(payee, kind, ref, expectedResult, deadline, salt))


@external
@pure
def escrowId(token: address, payer: address, nonce: bytes32) -> bytes32:
    """
    @notice The id of the escrow a deposit with this token, payer and nonce creates.
    """
    return keccak256(abi_encode(token, payer, nonce))


@internal
@pure
def _request_digest(r: InferenceReceipt) -> bytes32:
    return keccak256(abi_encode(REQUEST_TAG, r.modelHash, r.tokenizerHash, r.engineId, r.seed, r.temperatureMilli,
        r.topK, r.topPMicro, r.maxTokens, r.promptTokens))


@external
@pure
def requestDigest(r: InferenceReceipt) -> bytes32:
    """
    @notice The request digest a receipt answers (offchain.ai.receipt.request_digest): a
            KIND_INFERENCE escrow's ref.
    """
    return self._request_digest(r)


@external
@nonreentrant
def deposit(
    token: address,
    payer: address,
    amount: uint256,
    validAfter: uint256,
    validBefore: uint256,
    payee: address,
    kind: uint8,
    ref: bytes32,
    expectedResult: bytes32,
    deadline: uint256,
    salt: bytes32,
    signature: Bytes[256],
) -> bytes32:
    """
    @notice Pull `amount` of `token` from `payer` under its ReceiveWithAuthorization signature and
            hold it for `payee` until the work `ref` verifies. Anyone may submit it.
    @return The escrow id.
    """
    assert payee != empty(address), "zero payee"
    assert amount != 0, "zero amount"
    assert ref != empty(bytes32), "zero ref"
    assert deadline > block.timestamp, "deadline passed"
    assert payee != mailbox or kind == KIND_TASK, "certifiers of a non-task"
    if kind == KIND_TASK and mailbox != empty(address):
        status: uint8 = (staticcall ITaskMailbox(mailbox).getTaskInfo(ref)).status
        assert status != STATUS_NONE, "unknown task"
        assert status != STATUS_EXPIRED, "task expired"
    else:
        # an inference request exists only off-chain until its receipt is registered
        assert kind == KIND_INFERENCE and disputes != empty(address), "unknown kind"
    nonce: bytes32 = keccak256(abi_encode(payee, kind, ref, expectedResult, deadline, salt))
    id: bytes32 = keccak256(abi_encode(token, payer, nonce))
    assert self.escrows[id].state == 0, "escrow exists"
    extcall IEIP3009(token).receiveWithAuthorization(payer, self, amount, validAfter, validBefore, nonce, signature)
    self.escrows[id] = Escrow(
        token=token,
        payer=payer,
        payee=payee,
        amount=amount,
        kind=kind,
        ref=ref,
        expectedResult=expectedResult,
        deadline=deadline,
        state=HELD,
        receipt=empty(bytes32),
        windowEnd=0,
    )
    log Deposited(
        id=id, payer=payer, payee=payee, token=token, amount=amount, kind=kind, ref=ref, expectedResult=expectedResult, deadline=deadline
    )
    return id


@internal
@view
def _held(id: bytes32) -> Escrow:
    e: Escrow = self.escrows[id]
    assert e.state != 0, "unknown escrow"
    assert e.state == HELD, "escrow settled"
    return e


@internal
@view
def _certified(e: Escrow) -> ITaskMailbox.TaskInfo:
    info: ITaskMailbox.TaskInfo = staticcall ITaskMailbox(mailbox).getTaskInfo(e.ref)
    assert info.status == STATUS_VERIFIED, "task not verified"
    assert e.expectedResult == empty(bytes32) or info.resultHash == e.expectedResult, "result mismatch"
    return info


@internal
@view
def _receipt_fate(c: Claim) -> uint8:
    # a receipt proven wrong: the fate of its slash in the disputes' set
    return slash_fate._fate(slashEscrow, disputes, staticcall IInferenceDisputes(disputes).operatorSetId(), c.slashId)


@external
def confirmTask(id: bytes32) -> uint256:
    """
    @notice Open a task payment's challenge window: its task is VERIFIED (with the expected
            result, if one was named); the payment is releasable after TASK_WINDOW seconds
            unless a fault is proven first. Anyone may call (the payee has every reason to).
    @param id The escrow.
    @return The window's end (unix seconds): releasable after it.
    """
    e: Escrow = self._held(id)
    assert e.kind == KIND_TASK, "not a task escrow"
    assert e.windowEnd == 0, "window started"
    self._certified(e)
    end: uint256 = block.timestamp + TASK_WINDOW
    self.escrows[id].windowEnd = end
    log TaskConfirmed(id=id, taskHash=e.ref, windowEnd=end)
    return end


@external
def bindReceipt(id: bytes32, r: InferenceReceipt) -> bytes32:
    """
    @notice Name the InferenceDisputes receipt that answers an inference payment (once, by its
            deadline): it must be registered there, answer the escrow's request (its request
            digest is the escrow's ref), name the payer as its client (whom a slash for it
            compensates) and, if the client named one, carry the expected output commitment.
            Anyone may call.
    @param id The escrow.
    @param r The receipt, as registered.
    @return The receipt digest.
    """
    e: Escrow = self._held(id)
    assert e.kind == KIND_INFERENCE, "not an inference escrow"
    assert e.receipt == empty(bytes32), "receipt bound"
    assert block.timestamp <= e.deadline, "deadline passed"
    assert r.client == e.payer, "receipt for another client"
    assert self._request_digest(r) == e.ref, "receipt for another request"
    digest: bytes32 = staticcall IInferenceDisputes(disputes).receiptDigest(r)
    c: Claim = staticcall IInferenceDisputes(disputes).claims(digest)
    assert c.status != RECEIPT_NONE, "receipt not registered"
    assert e.expectedResult == empty(bytes32) or c.output == e.expectedResult, "result mismatch"
    self.escrows[id].receipt = digest
    log ReceiptBound(id=id, receiptDigest=digest, operator=c.operator, challengeDeadline=c.deadline)
    return digest


@internal
@view
def _releasable(e: Escrow, signers: DynArray[address, MAX_SIGNERS]):
    # release's conditions (the escrow is held)
    if e.kind == KIND_TASK:
        info: ITaskMailbox.TaskInfo = self._certified(e)
        if TASK_WINDOW != 0:
            assert e.windowEnd != 0, "window not started"
            assert block.timestamp > e.windowEnd, "challenge window open"
        fate: uint8 = slash_fate._task_fate(mailbox, taskSlashEscrow, info, e.ref, signers)
        assert fate != FATE_PENDING, "slash pending"
        assert fate == 0 or fate == FATE_CANCELLED, "fault proven"
    else:
        assert e.receipt != empty(bytes32), "no receipt bound"
        c: Claim = staticcall IInferenceDisputes(disputes).claims(e.receipt)
        if c.status == RECEIPT_FAULTY:
            fate: uint8 = self._receipt_fate(c)
            assert fate != FATE_PENDING, "slash pending"
            assert fate == FATE_CANCELLED, "receipt proven wrong"
        else:
            assert c.status != RECEIPT_CHALLENGED, "receipt challenged"
            assert c.status != RECEIPT_EXPIRED, "receipt unresolved"
            assert c.status == RECEIPT_UPHELD or block.timestamp > c.deadline, "challenge window open"


@external
@nonreentrant
def release(id: bytes32, signers: DynArray[address, MAX_SIGNERS]):
    """
    @notice Pay the payee. Task: VERIFIED with the expected result, its challenge window over
            (confirmTask, TASK_WINDOW) and no fault proven. Inference: the bound receipt's
            challenge window passed unchallenged, or the set confirmed it, or the set proved it
            wrong but its resolver cancelled the slash. Anyone may call. A payment to the
            certifiers (payee: the mailbox) is released with releaseToCertifiers.
    @param id The escrow.
    @param signers Task: its certifying operators, as TaskVerified listed them (inference: ignored).
    """
    e: Escrow = self._held(id)
    assert e.payee != mailbox, "certifiers' payment: releaseToCertifiers"
    self._releasable(e, signers)
    self.escrows[id].state = RELEASED
    assert extcall IEIP3009(e.token).transfer(e.payee, e.amount), "transfer failed"
    log Released(id=id, payee=e.payee, amount=e.amount)


@external
@nonreentrant
def releaseToCertifiers(id: bytes32, signers: DynArray[address, MAX_SIGNERS], stakes: DynArray[uint256, MAX_SIGNERS]):
    """
    @notice Pay a task payment whose payee is the mailbox ("the certifiers") to the operators
            that certified its task, when release would pay a payee: the mailbox's fee split
            (floor(amount * feeSplit / 10,000), if a collector is set) is owed to its fee split
            collector, the rest to the signers pro rata to the stake each signed with, the first
            signer also taking the rounding remainder (the shares sum to the amount): a task's own
            fee's split, credited through the mailbox's payFee (its feesOwed; they withdraw with
            withdrawFees). A verified task always has signed stake (a certificate needs at least
            1 bip of a set's non-zero stake), so the split never divides by zero. Anyone may call.
    @param id The escrow.
    @param signers The task's certifying operators, as TaskVerified listed them.
    @param stakes The stake each signed with, in that order (the mailbox's signerStakesHash).
    """
    e: Escrow = self._held(id)
    assert e.payee == mailbox, "not a certifiers' payment"
    self._releasable(e, signers)
    assert len(stakes) == len(signers), "wrong stake list"
    h: bytes32 = empty(bytes32)
    signed: uint256 = 0
    for s: uint256 in stakes:
        h = keccak256(abi_encode(h, s))
        signed += s
    assert h == staticcall ITaskMailbox(mailbox).signerStakesHash(e.ref), "wrong stake list"
    self.escrows[id].state = RELEASED
    assert extcall IERC20(e.token).approve(mailbox, e.amount, default_return_value=True), "approve failed"
    split: uint256 = 0
    collector: address = staticcall ITaskMailbox(mailbox).feeSplitCollector()
    if collector != empty(address):
        split = e.amount * convert(staticcall ITaskMailbox(mailbox).feeSplit(), uint256) // BPS
        self._pay_fee(e, collector, split)
    net: uint256 = e.amount - split
    rest: uint256 = 0
    if signed != 0:  # always (see above); without signed stake the first signer would take it all
        for i: uint256 in range(1, MAX_SIGNERS):
            if i >= len(signers):
                break
            share: uint256 = net * stakes[i] // signed
            rest += share
            self._pay_fee(e, signers[i], share)
    self._pay_fee(e, signers[0], net - rest)
    log Released(id=id, payee=mailbox, amount=e.amount)


@internal
def _pay_fee(e: Escrow, operator: address, amount: uint256):
    if amount != 0:
        extcall ITaskMailbox(mailbox).payFee(e.ref, operator, e.token, amount)


@external
@nonreentrant
def refund(id: bytes32, signers: DynArray[address, MAX_SIGNERS]):
    """
    @notice Return the payment to the payer. Task: it expired; or the deadline passed without a
            certified result; or the certified result is not the expected one; or a fault was
            proven against it. Inference: the deadline passed with no receipt bound; or the bound
            receipt was proven wrong and its slash is final (not while the set's resolver may
            still cancel it: "slash pending"); or its challenge expired unresolved. Anyone may call.
    @param id The escrow.
    @param signers For a VERIFIED task, its certifying operators as TaskVerified listed them
           (ignored otherwise).
    """
    e: Escrow = self._held(id)
    reason: uint8 = 0
    if e.kind == KIND_TASK:
        info: ITaskMailbox.TaskInfo = staticcall ITaskMailbox(mailbox).getTaskInfo(e.ref)
        if info.status == STATUS_VERIFIED:
            if e.expectedResult != empty(bytes32) and info.resultHash != e.expectedResult:
                reason = REFUND_MISMATCH
            else:
                fate: uint8 = slash_fate._task_fate(mailbox, taskSlashEscrow, info, e.ref, signers)
                assert fate != FATE_PENDING, "slash pending"
                if fate == FATE_FINAL:
                    reason = REFUND_FAULT
        elif info.status == STATUS_EXPIRED:
            reason = REFUND_EXPIRED
        elif block.timestamp > e.deadline:
            reason = REFUND_DEADLINE
    elif e.receipt == empty(bytes32):
        if block.timestamp > e.deadline:
            reason = REFUND_DEADLINE
    else:
        c: Claim = staticcall IInferenceDisputes(disputes).claims(e.receipt)
        if c.status == RECEIPT_FAULTY:
            fate: uint8 = self._receipt_fate(c)
            assert fate != FATE_PENDING, "slash pending"
            if fate == FATE_FINAL:
                reason = REFUND_FAULT
        elif c.status == RECEIPT_EXPIRED:
            reason = REFUND_UNRESOLVED
    assert reason != 0, "not refundable"
    self.escrows[id].state = REFUNDED
    assert extcall IEIP3009(e.token).transfer(e.payer, e.amount), "transfer failed"
    log Refunded(id=id, payer=e.payer, amount=e.amount, reason=reason)
