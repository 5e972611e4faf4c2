# pragma version ~=0.4.3
"""
@title VerifiedEscrow
@notice Verified settlement for x402 (the `verified` scheme): the client's payment is held here
        and reaches the server agent only once the work it paid for is certified on-chain, here a
        TaskMailbox task VERIFIED by its executor set's certificate (with the result the client
        expected, when it named one). The client gets the payment back when the task expired,
        when its own deadline passed without a certified result, when the certified result is not
        the one it expected, or when a fault was proven against the certified result through the
        TaskSlasher (which slashed the certifying operators' stake).
        The client signs EIP-3009 ReceiveWithAuthorization(from, to = this escrow, value, validAfter,
        validBefore, nonce) with nonce = keccak256(abi_encode(payee, kind, ref, expectedResult,
        deadline, salt)) (escrowNonce): only this contract can pull the funds, and only under
        exactly those terms, so whoever submits the deposit (the x402 facilitator) can neither
        redirect the payment nor change what it is conditioned on. The escrow id is
        keccak256(abi_encode(token, payer, nonce)) (escrowId), known to the client before it pays.
@dev Every escrow settles once: HELD -> RELEASED or HELD -> REFUNDED. release and refund take the
     certifying operators as TaskVerified listed them (checked against the task's signersHash) to
     read TaskSlasher.faultSlashed: a fault proven before the release refunds the client and bars
     the release; one proven after it is answered by the slash alone. Revert strings: "zero
     payee", "zero amount", "unknown kind", "unknown task", "task expired", "deadline passed",
     "escrow exists", "unknown escrow", "escrow settled", "task not verified", "result mismatch",
     "fault proven", "wrong signer list", "not refundable", "transfer failed", plus the token's.
"""

from ..interfaces import IEIP3009
from ..interfaces import ITaskMailbox

MAX_SIGNERS: constant(uint256) = 64

# The kinds of work an escrow can be conditioned on.
KIND_TASK: public(constant(uint8)) = 1  # a TaskMailbox task hash

STATUS_NONE: constant(uint8) = 0
STATUS_VERIFIED: constant(uint8) = 2
STATUS_EXPIRED: constant(uint8) = 3

HELD: constant(uint8) = 1
RELEASED: constant(uint8) = 2
REFUNDED: constant(uint8) = 3

# Why a refund was allowed (the Refunded event's reason).
REFUND_EXPIRED: constant(uint8) = 1  # the mailbox task expired without a result
REFUND_DEADLINE: constant(uint8) = 2  # the escrow's deadline passed without a certified result
REFUND_MISMATCH: constant(uint8) = 3  # the certified result is not the expected one
REFUND_FAULT: constant(uint8) = 4  # a fault proof against the certified result succeeded


interface IMailboxSlasher:
    def taskSlasher() -> address: view


interface ITaskSlasher:
    def faultSlashed(taskHash: bytes32, operator: address) -> bool: view


struct Escrow:
    token: address
    payer: address
    payee: address
    amount: uint256
    kind: uint8
    ref: bytes32
    expectedResult: bytes32  # keccak256(result); zero: any certified result
    deadline: uint256  # unix seconds: refundable after it unless certified
    state: uint8  # 0 none, 1 held, 2 released, 3 refunded


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

event Released:
    id: indexed(bytes32)
    payee: indexed(address)
    amount: uint256

event Refunded:
    id: indexed(bytes32)
    payer: indexed(address)
    amount: uint256
    reason: uint8


# The TaskMailbox whose certified tasks release payments.
mailbox: public(immutable(address))
escrows: public(HashMap[bytes32, Escrow])


@deploy
def __init__(_mailbox: address):
    """
    @param _mailbox The TaskMailbox (its taskSlasher is read at refund time).
    """
    assert _mailbox != empty(address), "zero mailbox"
    mailbox = _mailbox


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
            hold it for `payee` until the work `ref` is certified. Anyone may submit it.
    @return The escrow id.
    """
    assert payee != empty(address), "zero payee"
    assert amount != 0, "zero amount"
    assert kind == KIND_TASK, "unknown kind"
    assert deadline > block.timestamp, "deadline passed"
    status: uint8 = (staticcall ITaskMailbox(mailbox).getTaskInfo(ref)).status
    assert status != STATUS_NONE, "unknown task"
    assert status != STATUS_EXPIRED, "task expired"
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
def _fault_proven(info: ITaskMailbox.TaskInfo, task_hash: bytes32, signers: DynArray[address, MAX_SIGNERS]) -> bool:
    # every successful fault proof marks at least one of the certifying operators
    assert keccak256(abi_encode(signers)) == info.signersHash, "wrong signer list"
    slasher: address = staticcall IMailboxSlasher(mailbox).taskSlasher()
    for op: address in signers:
        if staticcall ITaskSlasher(slasher).faultSlashed(task_hash, op):
            return True
    return False


@external
@nonreentrant
def release(id: bytes32, signers: DynArray[address, MAX_SIGNERS]):
    """
    @notice Pay the payee: the task is VERIFIED, with the expected result if one was named, and no
            fault was proven against it. Anyone may call.
    @param id The escrow.
    @param signers The task's certifying operators, as TaskVerified listed them.
    """
    e: Escrow = self._held(id)
    info: ITaskMailbox.TaskInfo = staticcall ITaskMailbox(mailbox).getTaskInfo(e.ref)
    assert info.status == STATUS_VERIFIED, "task not verified"
    assert e.expectedResult == empty(bytes32) or info.resultHash == e.expectedResult, "result mismatch"
    assert not self._fault_proven(info, e.ref, signers), "fault proven"
    self.escrows[id].state = RELEASED
    assert extcall IEIP3009(e.token).transfer(e.payee, e.amount), "transfer failed"
    log Released(id=id, payee=e.payee, amount=e.amount)


@external
@nonreentrant
def refund(id: bytes32, signers: DynArray[address, MAX_SIGNERS]):
    """
    @notice Return the payment to the payer: the task expired; or the deadline passed without a
            certified result; or the certified result is not the expected one; or a fault was
            proven against it. Anyone may call.
    @param id The escrow.
    @param signers For a VERIFIED task, its certifying operators as TaskVerified listed them
           (ignored otherwise).
    """
    e: Escrow = self._held(id)
    info: ITaskMailbox.TaskInfo = staticcall ITaskMailbox(mailbox).getTaskInfo(e.ref)
    reason: uint8 = 0
    if info.status == STATUS_VERIFIED:
        if e.expectedResult != empty(bytes32) and info.resultHash != e.expectedResult:
            reason = REFUND_MISMATCH
        elif self._fault_proven(info, e.ref, signers):
            reason = REFUND_FAULT
    elif info.status == STATUS_EXPIRED:
        reason = REFUND_EXPIRED
    elif block.timestamp > e.deadline:
        reason = REFUND_DEADLINE
    assert reason != 0, "not refundable"
    self.escrows[id].state = REFUNDED
    assert extcall IEIP3009(e.token).transfer(e.payer, e.amount), "transfer failed"
    log Refunded(id=id, payer=e.payer, amount=e.amount, reason=reason)
