# pragma version ~=0.4.3
"""
@title pausable
@notice The pause flags of one core contract, after EigenLayer's Pausable: each contract keeps
        its own bitmap (one storage word, read locally by its guarded functions, no external
        call), and only the PauserRegistry may change it, on behalf of its pausers (set flags)
        and its unpauser (clear flags).
@dev A Vyper module: `from ..permissions import pausable`, `initializes: pausable`,
     `exports: (pausable.pauserRegistry, pausable.paused, pausable.setPausedStatus)`,
     `pausable.__init__(registry)` in the constructor and `pausable._check_not_paused(FLAG)` at
     the top of each guarded function. The role checks and the set-only / clear-only rules live
     in the PauserRegistry (`pause(target, ...)`, `unpause(target, ...)`), so each contract
     carries only these few bytes (the core contracts are at EIP-170's size limit).
     Revert strings: "paused", "only pauser registry", "zero address".
"""

# The PauserRegistry: the only writer of this contract's flags.
pauserRegistry: public(immutable(address))
# Bit i set: the function guarded by flag i is paused.
_paused: uint256


@deploy
def __init__(_pauserRegistry: address):
    """
    @notice Take the pause flags' writer; nothing is paused.
    @param _pauserRegistry The PauserRegistry.
    """
    assert _pauserRegistry != empty(address), "zero address"
    pauserRegistry = _pauserRegistry


@internal
@view
def _check_not_paused(index: uint256):
    """
    @notice Revert "paused" if flag `index` is set.
    """
    assert self._paused & (1 << index) == 0, "paused"


@external
def setPausedStatus(newPausedStatus: uint256):
    """
    @notice Write this contract's pause flags (the PauserRegistry only, after checking the
            caller's role and that a pause only sets and an unpause only clears flags).
    @param newPausedStatus The new bitmap.
    """
    assert msg.sender == pauserRegistry, "only pauser registry"
    self._paused = newPausedStatus


@external
@view
def paused() -> uint256:
    """
    @notice This contract's bitmap of paused flags (bit i: flag i paused).
    @return The bitmap.
    """
    return self._paused
