# pragma version ~=0.4.3
"""
@title permissioned
@notice EigenLayer's PermissionControllerMixin for the core contracts: whether the caller may act
        for an operator or AVS account, asked of the PermissionController with the called
        function's own selector (so an appointee is granted per function, as in EigenLayer).
@dev Stateless: `from ..permissions import permissioned`, then
     `assert permissioned._can_call(PERMISSION_CONTROLLER, account), "<reason>"`. Under a
     delegatecall (the extensions) `self` and the calldata are the calling contract's, so the
     target asked about is that contract and the selector that of its entry point.
"""

from ..interfaces import IPermissionController


@internal
@view
def _can_call(controller: address, account: address) -> bool:
    return staticcall IPermissionController(controller).canCall(account, msg.sender, self, convert(slice(msg.data, 0, 4), bytes4))
