# pragma version ~=0.4.3
"""
@title slash_fate
@notice The fate of a slash held in a SlashEscrow, as contracts that judge work by it read it
        (VerifiedEscrow pays by it, TaskValidator answers by it): work proven wrong stays wrong
        once its slash is final (released, or past the escrow window, when nobody can cancel it
        any more; nothing slashed: nothing to cancel), waits while the set's resolver may still
        cancel the slash, and is overturned (the work was right) once the slash was cancelled.
@dev A stateless module: `from ..lib import slash_fate`, then `slash_fate._fate(...)`,
     `slash_fate._task_fate(...)` and `slash_fate._escrow_of(...)`. Revert strings:
     "wrong signer list".
"""

from ..interfaces import ITaskMailbox
from ..interfaces import ITypes
from ..interfaces import ISlashEscrowRelease as ISlashEscrow

MAX_SIGNERS: constant(uint256) = 64

# SlashEscrow statuses
SLASH_PENDING: constant(uint8) = 1
SLASH_CANCELLED: constant(uint8) = 3

# The fate of work proven wrong (0: no fault proven).
FATE_FINAL: constant(uint8) = 1  # the fault stands
FATE_PENDING: constant(uint8) = 2  # the set's resolver may still cancel the slash
FATE_CANCELLED: constant(uint8) = 3  # the slash was cancelled: the verdict was overturned


interface ISlashEscrowSource:
    def allocationManager() -> address: view
    def delegation() -> address: view
    def slashEscrow() -> address: view


interface IMailboxSlasher:
    def taskSlasher() -> address: view


interface ITaskSlasher:
    def faultSlashed(taskHash: bytes32, operator: address) -> bool: view
    def faultSlashId(taskHash: bytes32, operator: address) -> uint256: view


@internal
@view
def _escrow_of(avs: address) -> address:
    # the SlashEscrow holding the slashes of `avs`'s sets: its AllocationManager's DelegationManager's
    am: address = staticcall ISlashEscrowSource(avs).allocationManager()
    return staticcall ISlashEscrowSource(staticcall ISlashEscrowSource(am).delegation()).slashEscrow()


@internal
@view
def _fate(escrow: address, avs: address, set_id: uint32, slash_id: uint256) -> uint8:
    # the fate of slash `slash_id` of (avs, set_id) in the SlashEscrow `escrow` (0: unslashed, final)
    if slash_id == 0:
        return FATE_FINAL
    rec: ITypes.SlashRecord = staticcall ISlashEscrow(escrow).getSlash(avs, set_id, slash_id)
    if rec.status == SLASH_CANCELLED:
        return FATE_CANCELLED
    if rec.status == SLASH_PENDING and block.number <= convert(rec.resolveBlock, uint256):
        return FATE_PENDING
    return FATE_FINAL


@internal
@view
def _task_fate(mailbox: address, escrow: address, info: ITaskMailbox.TaskInfo, task_hash: bytes32, signers: DynArray[address, MAX_SIGNERS]) -> uint8:
    # A VERIFIED TaskMailbox task's fault: every successful fault proof (TaskSlasher) marks at
    # least one of the certifying operators; the work stands proven wrong once any of their
    # slashes is final (or one was not slashed), waits while one may still be cancelled, and is
    # overturned when every one was cancelled (0: no fault proven). `signers`: the certifying
    # operators as TaskVerified listed them; `escrow`: the mailbox's SlashEscrow.
    assert keccak256(abi_encode(signers)) == info.signersHash, "wrong signer list"
    slasher: address = staticcall IMailboxSlasher(mailbox).taskSlasher()
    if slasher == empty(address):
        return 0
    set_id: uint32 = 0
    fate: uint8 = 0
    for op: address in signers:
        if not staticcall ITaskSlasher(slasher).faultSlashed(task_hash, op):
            continue
        if fate == 0:
            set_id = (staticcall ITaskMailbox(mailbox).taskTypes(info.taskType)).operatorSetId
        f: uint8 = self._fate(escrow, mailbox, set_id, staticcall ITaskSlasher(slasher).faultSlashId(task_hash, op))
        if f == FATE_FINAL:
            return FATE_FINAL
        if fate != FATE_PENDING:
            fate = f
    return fate
