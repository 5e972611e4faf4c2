# pragma version ~=0.4.3
"""
@title PauserRegistry
@notice The protocol's emergency brake, after EigenLayer's PauserRegistry and Pausable: pausers may
        pause, one unpauser may unpause, and each guarded function has its own flag in the
        bitmap of its contract. Flags (EigenLayer's indices): StrategyManager 0 deposits,
        DelegationManager 2 withdrawal completion, AllocationManager 1 slashing, SlashEscrow 0
        escrow release. Pausing only stops; no role here can move, burn or redirect anyone's funds.
@dev As EigenLayer, each core contract keeps its own bitmap (contracts/permissions/pausable.vy:
     a local read in every guarded call) and this registry holds the roles. Unlike EigenLayer,
     pause and unpause are called here, naming the target contract (`pause(target, status)`),
     and this registry writes the target's bitmap: the role checks and the set-only /
     clear-only rules then live once, here, instead of in contracts at EIP-170's size limit.
     See docs/restaking.md, "Security".
"""

from ..interfaces import IPausable

MAX_PAUSERS: constant(uint256) = 16
PAUSE_ALL: constant(uint256) = max_value(uint256)

event PauserStatusChanged:
    pauser: indexed(address)
    canPause: bool

event UnpauserChanged:
    previousUnpauser: indexed(address)
    newUnpauser: indexed(address)

event Paused:
    account: indexed(address)
    target: indexed(address)
    newPausedStatus: uint256

event Unpaused:
    account: indexed(address)
    target: indexed(address)
    newPausedStatus: uint256

# account -> may pause.
isPauser: public(HashMap[address, bool])
# The one account that may unpause and appoint pausers.
unpauser: public(address)


@deploy
def __init__(_pausers: DynArray[address, MAX_PAUSERS], _unpauser: address):
    """
    @notice Deploy with the pausers and the unpauser (EigenLayer's constructor).
    @param _pausers The accounts that may pause.
    @param _unpauser The account that may unpause and change the pausers.
    """
    assert _unpauser != empty(address), "zero address"
    for p: address in _pausers:
        assert p != empty(address), "zero address"
        self.isPauser[p] = True
        log PauserStatusChanged(pauser=p, canPause=True)
    self.unpauser = _unpauser
    log UnpauserChanged(previousUnpauser=empty(address), newUnpauser=_unpauser)


@external
def setIsPauser(newPauser: address, canPause: bool):
    """
    @notice Appoint or remove a pauser (unpauser only).
    @param newPauser The account.
    @param canPause True to let it pause, False to revoke.
    """
    assert msg.sender == self.unpauser, "only unpauser"
    assert newPauser != empty(address), "zero address"
    self.isPauser[newPauser] = canPause
    log PauserStatusChanged(pauser=newPauser, canPause=canPause)


@external
def setUnpauser(newUnpauser: address):
    """
    @notice Hand the unpauser role to another account (unpauser only).
    @param newUnpauser The new unpauser.
    """
    assert msg.sender == self.unpauser, "only unpauser"
    assert newUnpauser != empty(address), "zero address"
    log UnpauserChanged(previousUnpauser=self.unpauser, newUnpauser=newUnpauser)
    self.unpauser = newUnpauser


@external
def pause(target: address, newPausedStatus: uint256):
    """
    @notice Set more flags of `target` (pausers only); every flag set now must stay set.
    @param target The core contract (StrategyManager, DelegationManager, AllocationManager,
           SlashEscrow).
    @param newPausedStatus Its new bitmap (a superset of the current one).
    """
    assert self.isPauser[msg.sender], "only pauser"
    current: uint256 = staticcall IPausable(target).paused()
    assert newPausedStatus & current == current, "invalid new paused status"
    extcall IPausable(target).setPausedStatus(newPausedStatus)
    log Paused(account=msg.sender, target=target, newPausedStatus=newPausedStatus)


@external
def pauseAll(target: address):
    """
    @notice Set every flag of `target` (pausers only).
    @param target The core contract.
    """
    assert self.isPauser[msg.sender], "only pauser"
    extcall IPausable(target).setPausedStatus(PAUSE_ALL)
    log Paused(account=msg.sender, target=target, newPausedStatus=PAUSE_ALL)


@external
def unpause(target: address, newPausedStatus: uint256):
    """
    @notice Clear flags of `target` (unpauser only); no flag clear now may be set by this call.
    @param target The core contract.
    @param newPausedStatus Its new bitmap (a subset of the current one).
    """
    assert msg.sender == self.unpauser, "only unpauser"
    current: uint256 = staticcall IPausable(target).paused()
    assert newPausedStatus & current == newPausedStatus, "invalid new paused status"
    extcall IPausable(target).setPausedStatus(newPausedStatus)
    log Unpaused(account=msg.sender, target=target, newPausedStatus=newPausedStatus)


@external
@view
def isPaused(target: address, index: uint8) -> bool:
    """
    @notice Whether flag `index` of `target` is paused (EigenLayer's `paused(uint8)` on the
            target; the target's `paused()` gives the whole bitmap).
    @param target The core contract.
    @param index The flag.
    @return True if paused.
    """
    return (staticcall IPausable(target).paused() >> convert(index, uint256)) & 1 == 1
