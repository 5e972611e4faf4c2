# pragma version ~=0.4.3
"""
@title PermissionController
@notice Who may act for an operator or AVS account, after EigenLayer's PermissionController
        (ELIP-003, same function names and semantics): an account with no admins acts for
        itself; once it has admins only they act for it (the account itself included only if
        it is one of them), and appointees may call one (target, selector) each for it.
        Admins are added in two steps (addPendingAdmin, then acceptAdmin by the new admin); the
        last admin cannot be removed.
@dev Sets are enumerable (index + position maps, swap-and-pop on removal). Each set holds at most
     MAX_SET_SIZE entries, so every view returns a bounded array. A permission is the word
     `target << 96 | selector << 64` (EigenLayer's encoding). Revert strings: "not admin",
     "admin already set", "admin already pending", "admin not pending", "admin not set",
     "cannot have zero admins", "appointee already set", "appointee not set", "too many",
     "zero address".
"""

from ..interfaces import IPermissionController

implements: IPermissionController

MAX_SET_SIZE: constant(uint256) = 64

event PendingAdminAdded:
    account: indexed(address)
    admin: address

event PendingAdminRemoved:
    account: indexed(address)
    admin: address

event AdminSet:
    account: indexed(address)
    admin: address

event AdminRemoved:
    account: indexed(address)
    admin: address

event AppointeeSet:
    account: indexed(address)
    appointee: indexed(address)
    target: address
    selector: bytes4

event AppointeeRemoved:
    account: indexed(address)
    appointee: indexed(address)
    target: address
    selector: bytes4

# Address sets, by set id (keccak of the account and what the set holds): members by position,
# the number of members, and each member's position plus one (0: not a member).
_addrAt: HashMap[bytes32, HashMap[uint256, address]]
_addrLen: HashMap[bytes32, uint256]
_addrPos: HashMap[bytes32, HashMap[address, uint256]]
# Permission sets of an appointee, by set id (keccak of the account and the appointee), alike.
_permAt: HashMap[bytes32, HashMap[uint256, bytes32]]
_permLen: HashMap[bytes32, uint256]
_permPos: HashMap[bytes32, HashMap[bytes32, uint256]]


# ---------------------------------------------------------------- set helpers

@internal
@pure
def _admins_id(account: address) -> bytes32:
    return keccak256(abi_encode(account, convert(1, uint256)))


@internal
@pure
def _pending_id(account: address) -> bytes32:
    return keccak256(abi_encode(account, convert(2, uint256)))


@internal
@pure
def _appointees_id(account: address, perm: bytes32) -> bytes32:
    return keccak256(abi_encode(account, perm))


@internal
@pure
def _perms_id(account: address, appointee: address) -> bytes32:
    return keccak256(abi_encode(account, appointee, convert(3, uint256)))


@internal
@pure
def _perm(target: address, selector: bytes4) -> bytes32:
    return convert((convert(target, uint256) << 96) | (convert(convert(selector, bytes32), uint256) >> 224 << 64), bytes32)


@internal
def _addr_add(set_id: bytes32, a: address) -> bool:
    if self._addrPos[set_id][a] != 0:
        return False
    n: uint256 = self._addrLen[set_id]
    assert n < MAX_SET_SIZE, "too many"
    self._addrAt[set_id][n] = a
    self._addrPos[set_id][a] = n + 1
    self._addrLen[set_id] = n + 1
    return True


@internal
def _addr_remove(set_id: bytes32, a: address) -> bool:
    pos: uint256 = self._addrPos[set_id][a]
    if pos == 0:
        return False
    last: uint256 = self._addrLen[set_id] - 1
    if pos - 1 != last:
        moved: address = self._addrAt[set_id][last]
        self._addrAt[set_id][pos - 1] = moved
        self._addrPos[set_id][moved] = pos
    self._addrAt[set_id][last] = empty(address)
    self._addrPos[set_id][a] = 0
    self._addrLen[set_id] = last
    return True


@internal
@view
def _addr_list(set_id: bytes32) -> DynArray[address, MAX_SET_SIZE]:
    out: DynArray[address, MAX_SET_SIZE] = []
    for i: uint256 in range(MAX_SET_SIZE):
        if i >= self._addrLen[set_id]:
            break
        out.append(self._addrAt[set_id][i])
    return out


@internal
def _perm_add(set_id: bytes32, p: bytes32) -> bool:
    if self._permPos[set_id][p] != 0:
        return False
    n: uint256 = self._permLen[set_id]
    assert n < MAX_SET_SIZE, "too many"
    self._permAt[set_id][n] = p
    self._permPos[set_id][p] = n + 1
    self._permLen[set_id] = n + 1
    return True


@internal
def _perm_remove(set_id: bytes32, p: bytes32) -> bool:
    pos: uint256 = self._permPos[set_id][p]
    if pos == 0:
        return False
    last: uint256 = self._permLen[set_id] - 1
    if pos - 1 != last:
        moved: bytes32 = self._permAt[set_id][last]
        self._permAt[set_id][pos - 1] = moved
        self._permPos[set_id][moved] = pos
    self._permAt[set_id][last] = empty(bytes32)
    self._permPos[set_id][p] = 0
    self._permLen[set_id] = last
    return True


@internal
@view
def _is_admin(account: address, caller: address) -> bool:
    admins: bytes32 = self._admins_id(account)
    if self._addrLen[admins] == 0:
        return caller == account
    return self._addrPos[admins][caller] != 0


@internal
@view
def _check_admin(account: address):
    assert self._is_admin(account, msg.sender), "not admin"


# ---------------------------------------------------------------- admins

@external
def addPendingAdmin(account: address, admin: address):
    """
    @notice Propose `admin` as an admin of `account` (an admin of the account only; while it
            has none, the account itself). The proposal takes effect when `admin` accepts it.
    @param account The operator or AVS account.
    @param admin The proposed admin.
    """
    self._check_admin(account)
    assert admin != empty(address), "zero address"
    assert self._addrPos[self._admins_id(account)][admin] == 0, "admin already set"
    assert self._addr_add(self._pending_id(account), admin), "admin already pending"
    log PendingAdminAdded(account=account, admin=admin)


@external
def removePendingAdmin(account: address, admin: address):
    """
    @notice Withdraw a proposal (an admin of the account only).
    @param account The account.
    @param admin The pending admin.
    """
    self._check_admin(account)
    assert self._addr_remove(self._pending_id(account), admin), "admin not pending"
    log PendingAdminRemoved(account=account, admin=admin)


@external
def acceptAdmin(account: address):
    """
    @notice Become an admin of `account` (the caller must be a pending admin of it). From the
            first admin on, the account itself acts for itself only if it is an admin too.
    @param account The account.
    """
    assert self._addr_remove(self._pending_id(account), msg.sender), "admin not pending"
    self._addr_add(self._admins_id(account), msg.sender)
    log AdminSet(account=account, admin=msg.sender)


@external
def removeAdmin(account: address, admin: address):
    """
    @notice Remove an admin of `account` (an admin only); the last admin cannot be removed.
    @param account The account.
    @param admin The admin to remove.
    """
    self._check_admin(account)
    admins: bytes32 = self._admins_id(account)
    assert self._addrLen[admins] > 1, "cannot have zero admins"
    assert self._addr_remove(admins, admin), "admin not set"
    log AdminRemoved(account=account, admin=admin)


# ---------------------------------------------------------------- appointees

@external
def setAppointee(account: address, appointee: address, target: address, selector: bytes4):
    """
    @notice Let `appointee` call `selector` on `target` for `account` (an admin only).
    @param account The account.
    @param appointee The appointee.
    @param target The contract (e.g. the AllocationManager).
    @param selector The function selector.
    """
    self._check_admin(account)
    assert appointee != empty(address), "zero address"
    perm: bytes32 = self._perm(target, selector)
    assert self._perm_add(self._perms_id(account, appointee), perm), "appointee already set"
    self._addr_add(self._appointees_id(account, perm), appointee)
    log AppointeeSet(account=account, appointee=appointee, target=target, selector=selector)


@external
def removeAppointee(account: address, appointee: address, target: address, selector: bytes4):
    """
    @notice Withdraw one permission of an appointee (an admin only).
    @param account The account.
    @param appointee The appointee.
    @param target The contract.
    @param selector The function selector.
    """
    self._check_admin(account)
    perm: bytes32 = self._perm(target, selector)
    assert self._perm_remove(self._perms_id(account, appointee), perm), "appointee not set"
    self._addr_remove(self._appointees_id(account, perm), appointee)
    log AppointeeRemoved(account=account, appointee=appointee, target=target, selector=selector)


# ---------------------------------------------------------------- views

@external
@view
def isAdmin(account: address, caller: address) -> bool:
    """
    @notice Whether `caller` is an admin of `account` (the account itself while it has none).
    @param account The account.
    @param caller The address asked about.
    @return True if an admin.
    """
    return self._is_admin(account, caller)


@external
@view
def isPendingAdmin(account: address, pendingAdmin: address) -> bool:
    """
    @notice Whether `pendingAdmin` was proposed as an admin of `account` and has not accepted.
    @param account The account.
    @param pendingAdmin The address asked about.
    @return True if pending.
    """
    return self._addrPos[self._pending_id(account)][pendingAdmin] != 0


@external
@view
def getAdmins(account: address) -> DynArray[address, MAX_SET_SIZE]:
    """
    @notice The admins of `account`; `[account]` while it has none.
    @param account The account.
    @return The admins (unordered).
    """
    admins: bytes32 = self._admins_id(account)
    if self._addrLen[admins] == 0:
        return [account]
    return self._addr_list(admins)


@external
@view
def getPendingAdmins(account: address) -> DynArray[address, MAX_SET_SIZE]:
    """
    @notice The pending admins of `account`.
    @param account The account.
    @return The pending admins (unordered).
    """
    return self._addr_list(self._pending_id(account))


@external
@view
def canCall(account: address, caller: address, target: address, selector: bytes4) -> bool:
    """
    @notice Whether `caller` may call `selector` on `target` for `account`: an admin (the
            account itself while it has none), or an appointee for that (target, selector).
    @param account The account acted for.
    @param caller The caller.
    @param target The contract called.
    @param selector The function selector.
    @return True if allowed.
    """
    if self._is_admin(account, caller):
        return True
    return self._permPos[self._perms_id(account, caller)][self._perm(target, selector)] != 0


@external
@view
def getAppointees(account: address, target: address, selector: bytes4) -> DynArray[address, MAX_SET_SIZE]:
    """
    @notice The appointees that may call `selector` on `target` for `account` (admins not included).
    @param account The account.
    @param target The contract.
    @param selector The function selector.
    @return The appointees (unordered).
    """
    return self._addr_list(self._appointees_id(account, self._perm(target, selector)))


@external
@view
def getAppointeePermissions(account: address, appointee: address) -> (DynArray[address, MAX_SET_SIZE], DynArray[bytes4, MAX_SET_SIZE]):
    """
    @notice Every (target, selector) `appointee` may call for `account`.
    @param account The account.
    @param appointee The appointee.
    @return (targets, selectors), pairwise (unordered).
    """
    set_id: bytes32 = self._perms_id(account, appointee)
    targets: DynArray[address, MAX_SET_SIZE] = []
    selectors: DynArray[bytes4, MAX_SET_SIZE] = []
    for i: uint256 in range(MAX_SET_SIZE):
        if i >= self._permLen[set_id]:
            break
        p: uint256 = convert(self._permAt[set_id][i], uint256)
        targets.append(convert(p >> 96, address))
        selectors.append(convert(convert((p >> 64) & ((1 << 32) - 1), uint32), bytes4))
    return targets, selectors
