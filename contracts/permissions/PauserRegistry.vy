# pragma version ~=0.4.3
"""
@title PauserRegistry
@notice The protocol's emergency brake, after EigenLayer's PauserRegistry and Pausable: pausers may
        pause, one unpauser may unpause, and each guarded function has its own flag in a bitmap.
        Flags: 0 deposits (StrategyManager.depositIntoStrategy), 1 withdrawal completion
        (DelegationManager.completeQueuedWithdrawal(s)), 2 slashing
        (AllocationManager.slashOperator), 3 escrow release (SlashEscrow.releaseSlash).
        Pausing only stops; no role here can move, burn or redirect anyone's funds.
@dev EigenLayer keeps a bitmap in each Pausable contract; here one bitmap serves the core (one
     registry, one place to look). Function names follow EigenLayer's (`paused(uint8)` is
     `isPaused(uint8)`: Vyper has no overloading). See docs/restaking.md, "Security".
"""

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
    newPausedStatus: uint256

event Unpaused:
    account: indexed(address)
    newPausedStatus: uint256

# account -> may pause.
isPauser: public(HashMap[address, bool])
# The one account that may unpause and appoint pausers.
unpauser: public(address)
# Bit i set: the function guarded by flag i is paused.
_paused: uint256


@deploy
def __init__(_pausers: DynArray[address, MAX_PAUSERS], _unpauser: address, _initialPausedStatus: uint256):
    """
    @notice Deploy with the pausers, the unpauser and the initial flags (normally 0).
    @param _pausers The accounts that may pause.
    @param _unpauser The account that may unpause and change the pausers.
    @param _initialPausedStatus The initial bitmap of paused flags.
    """
    assert _unpauser != empty(address), "zero address"
    for p: address in _pausers:
        assert p != empty(address), "zero address"
        self.isPauser[p] = True
        log PauserStatusChanged(pauser=p, canPause=True)
    self.unpauser = _unpauser
    log UnpauserChanged(previousUnpauser=empty(address), newUnpauser=_unpauser)
    self._paused = _initialPausedStatus


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
def pause(newPausedStatus: uint256):
    """
    @notice Set more flags (pausers only); every flag set now must stay set.
    @param newPausedStatus The new bitmap (a superset of the current one).
    """
    assert self.isPauser[msg.sender], "only pauser"
    assert newPausedStatus & self._paused == self._paused, "invalid new paused status"
    self._paused = newPausedStatus
    log Paused(account=msg.sender, newPausedStatus=newPausedStatus)


@external
def pauseAll():
    """
    @notice Set every flag (pausers only).
    """
    assert self.isPauser[msg.sender], "only pauser"
    self._paused = PAUSE_ALL
    log Paused(account=msg.sender, newPausedStatus=PAUSE_ALL)


@external
def unpause(newPausedStatus: uint256):
    """
    @notice Clear flags (unpauser only); no flag clear now may be set by this call.
    @param newPausedStatus The new bitmap (a subset of the current one).
    """
    assert msg.sender == self.unpauser, "only unpauser"
    assert newPausedStatus & self._paused == newPausedStatus, "invalid new paused status"
    self._paused = newPausedStatus
    log Unpaused(account=msg.sender, newPausedStatus=newPausedStatus)


@external
@view
def paused() -> uint256:
    """
    @notice The bitmap of paused flags.
    @return The bitmap.
    """
    return self._paused


@external
@view
def isPaused(index: uint8) -> bool:
    """
    @notice Whether flag `index` is paused (EigenLayer's `paused(uint8)`).
    @param index The flag (0 deposits, 1 withdrawal completion, 2 slashing, 3 escrow release).
    @return True if paused.
    """
    return (self._paused >> convert(index, uint256)) & 1 == 1
