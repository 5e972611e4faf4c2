"""Unit tests for PermissionController (EigenLayer's semantics and ABI names): an account with no
admins acts for itself; admins are added in two steps and the last cannot be removed; appointees
may call one (target, selector) each; every revert path has its reason."""

import ape
import pytest
from eth_utils import function_signature_to_4byte_selector

from tests.contracts.support import ZERO, A, evs, one

SEL = function_signature_to_4byte_selector(
    "modifyAllocations(address,((address,uint32),address[],uint64[],uint64[])[])"
)
SEL2 = function_signature_to_4byte_selector(
    "slashOperator(address,(address,uint32,address[],uint256[],string))"
)


@pytest.fixture
def pc(w, project):
    return w.owner.deploy(project.PermissionController)


def addrs(xs):
    return sorted(A(x) for x in xs)


def test_account_without_admins_acts_for_itself(w, pc):
    acct, other = w.op, w.other
    assert pc.isAdmin(acct, acct) and not pc.isAdmin(acct, other)
    assert addrs(pc.getAdmins(acct)) == [A(acct)] and list(pc.getPendingAdmins(acct)) == []
    assert pc.canCall(acct, acct, w.am, SEL) and not pc.canCall(acct, other, w.am, SEL)
    for fn, args in (
        (pc.addPendingAdmin, (acct, other)),
        (pc.removePendingAdmin, (acct, other)),
        (pc.removeAdmin, (acct, acct)),
        (pc.setAppointee, (acct, other, w.am, SEL)),
        (pc.removeAppointee, (acct, other, w.am, SEL)),
    ):
        with ape.reverts("not admin"):
            fn(*args, sender=other)


def test_two_step_admins_and_the_last_admin_stays(w, pc):
    acct, a1, a2 = w.op, w.other, w.resolver
    r = pc.addPendingAdmin(acct, a1, sender=acct)
    e = one(r, "PendingAdminAdded", pc)
    assert (A(e.account), A(e.admin)) == (A(acct), A(a1))
    assert pc.isPendingAdmin(acct, a1) and addrs(pc.getPendingAdmins(acct)) == [A(a1)]
    assert not pc.isAdmin(acct, a1)  # pending is not yet admin
    with ape.reverts("admin already pending"):
        pc.addPendingAdmin(acct, a1, sender=acct)
    with ape.reverts("zero address"):
        pc.addPendingAdmin(acct, ZERO, sender=acct)
    with ape.reverts("admin not pending"):
        pc.acceptAdmin(acct, sender=a2)
    r = pc.acceptAdmin(acct, sender=a1)
    assert (A(one(r, "AdminSet", pc).account), A(one(r, "AdminSet", pc).admin)) == (A(acct), A(a1))
    assert not pc.isPendingAdmin(acct, a1) and list(pc.getPendingAdmins(acct)) == []
    # from its first admin on, the account no longer acts for itself
    assert pc.isAdmin(acct, a1) and not pc.isAdmin(acct, acct)
    assert addrs(pc.getAdmins(acct)) == [A(a1)]
    assert not pc.canCall(acct, acct, w.am, SEL) and pc.canCall(acct, a1, w.am, SEL)
    with ape.reverts("not admin"):
        pc.addPendingAdmin(acct, a2, sender=acct)
    with ape.reverts("admin already set"):
        pc.addPendingAdmin(acct, a1, sender=a1)
    with ape.reverts("cannot have zero admins"):
        pc.removeAdmin(acct, a1, sender=a1)
    # a second admin, then the first can go
    pc.addPendingAdmin(acct, a2, sender=a1)
    with ape.reverts("admin not pending"):
        pc.removePendingAdmin(acct, w.staker, sender=a1)
    r = pc.removePendingAdmin(acct, a2, sender=a1)
    assert A(one(r, "PendingAdminRemoved", pc).admin) == A(a2)
    with ape.reverts("admin not pending"):
        pc.acceptAdmin(acct, sender=a2)
    pc.addPendingAdmin(acct, a2, sender=a1)
    pc.acceptAdmin(acct, sender=a2)
    assert addrs(pc.getAdmins(acct)) == addrs([a1, a2])
    with ape.reverts("admin not set"):
        pc.removeAdmin(acct, w.staker, sender=a2)
    with ape.reverts("not admin"):
        pc.removeAdmin(acct, a1, sender=acct)
    r = pc.removeAdmin(acct, a1, sender=a2)
    assert A(one(r, "AdminRemoved", pc).admin) == A(a1)
    assert addrs(pc.getAdmins(acct)) == [A(a2)] and not pc.isAdmin(acct, a1)
    with ape.reverts("cannot have zero admins"):
        pc.removeAdmin(acct, a2, sender=a2)
    # the account can be made an admin of itself again
    pc.addPendingAdmin(acct, acct, sender=a2)
    pc.acceptAdmin(acct, sender=acct)
    assert pc.isAdmin(acct, acct)
    # admins are per account
    assert pc.isAdmin(w.op2, w.op2) and not pc.isAdmin(w.op2, a2)


def test_appointees_per_target_and_selector(w, pc):
    acct, ap, ap2 = w.avs, w.other, w.resolver
    r = pc.setAppointee(acct, ap, w.am, SEL, sender=acct)
    e = one(r, "AppointeeSet", pc)
    assert (A(e.account), A(e.appointee), A(e.target), bytes(e.selector)) == (A(acct), A(ap), A(w.am), SEL)
    with ape.reverts("appointee already set"):
        pc.setAppointee(acct, ap, w.am, SEL, sender=acct)
    with ape.reverts("zero address"):
        pc.setAppointee(acct, ZERO, w.am, SEL, sender=acct)
    pc.setAppointee(acct, ap, w.am, SEL2, sender=acct)
    pc.setAppointee(acct, ap2, w.am, SEL, sender=acct)
    pc.setAppointee(acct, ap, w.dm, SEL, sender=acct)
    assert (
        pc.canCall(acct, ap, w.am, SEL)
        and pc.canCall(acct, ap, w.am, SEL2)
        and pc.canCall(acct, ap, w.dm, SEL)
    )
    assert pc.canCall(acct, ap2, w.am, SEL) and not pc.canCall(acct, ap2, w.am, SEL2)
    assert not pc.canCall(acct, ap2, w.dm, SEL)  # another target
    assert not pc.canCall(w.avs2, ap, w.am, SEL)  # another account
    assert not pc.isAdmin(acct, ap)  # an appointee is no admin
    with ape.reverts("not admin"):
        pc.setAppointee(acct, ap2, w.am, SEL2, sender=ap)
    assert addrs(pc.getAppointees(acct, w.am, SEL)) == addrs([ap, ap2])
    assert addrs(pc.getAppointees(acct, w.am, SEL2)) == [A(ap)]
    targets, selectors = pc.getAppointeePermissions(acct, ap)
    assert sorted(zip([A(t) for t in targets], [bytes(s) for s in selectors], strict=True)) == sorted(
        [(A(w.am), SEL), (A(w.am), SEL2), (A(w.dm), SEL)]
    )
    r = pc.removeAppointee(acct, ap, w.am, SEL, sender=acct)
    e = one(r, "AppointeeRemoved", pc)
    assert (A(e.appointee), A(e.target), bytes(e.selector)) == (A(ap), A(w.am), SEL)
    with ape.reverts("appointee not set"):
        pc.removeAppointee(acct, ap, w.am, SEL, sender=acct)
    assert not pc.canCall(acct, ap, w.am, SEL) and pc.canCall(acct, ap, w.am, SEL2)
    assert addrs(pc.getAppointees(acct, w.am, SEL)) == [A(ap2)]
    assert len(pc.getAppointeePermissions(acct, ap)[0]) == 2
    # once the account has admins, they manage its appointees; appointments survive
    pc.addPendingAdmin(acct, w.recipient, sender=acct)
    pc.acceptAdmin(acct, sender=w.recipient)
    with ape.reverts("not admin"):
        pc.removeAppointee(acct, ap2, w.am, SEL, sender=acct)
    assert pc.canCall(acct, ap2, w.am, SEL)
    pc.removeAppointee(acct, ap2, w.am, SEL, sender=w.recipient)
    assert list(pc.getAppointees(acct, w.am, SEL)) == []


def test_set_size_is_bounded(w, pc, accounts):
    acct = w.op
    for i in range(64):
        pc.setAppointee(acct, w.other, w.am, i.to_bytes(4, "big"), sender=acct)
    with ape.reverts("too many"):
        pc.setAppointee(acct, w.other, w.am, (64).to_bytes(4, "big"), sender=acct)
    targets, selectors = pc.getAppointeePermissions(acct, w.other)
    assert sorted(bytes(s) for s in selectors) == [i.to_bytes(4, "big") for i in range(64)]
    assert (
        len(
            evs(
                pc.removeAppointee(acct, w.other, w.am, (5).to_bytes(4, "big"), sender=acct),
                "AppointeeRemoved",
            )
        )
        == 1
    )
    pc.setAppointee(acct, w.other, w.am, (64).to_bytes(4, "big"), sender=acct)


# ---------------------------------------------------------------- the core consults it


def _sel(sig):
    return function_signature_to_4byte_selector(sig)


def _modify(w, sender, n):
    cur = w.am.getAllocation(w.op, w.opset(1), w.strats["TKA"]).currentMagnitude
    p = [(w.opset(1), [w.strats["TKA"]], [cur + 1 + n], [cur])]
    return w.am.modifyAllocations(w.op, p, sender=sender)


def _undelegate(w, sender, n):
    if not w.dm.isDelegated(w.staker):
        w.dm.delegateTo(w.op, (b"", 0), b"\x00" * 32, sender=w.staker)
    return w.dm.undelegate(w.staker, sender=sender)


def _slash(w, sender, n):
    s = w.strats["TKA"]
    return w.am.slashOperator(w.avs, (w.op, 1, [s], [10**15], "d"), sender=sender)


# (name, whose permission, contract, selector signature, revert reason, call(w, sender, attempt));
# the call succeeds for a permitted sender on attempts 0 and 1 (each attempt differs).
CORE_ENTRY_POINTS = [
    (
        "modifyAllocations",
        "op",
        "am",
        "modifyAllocations(address,((address,uint32),address[],uint64[],uint64[])[])",
        "only operator",
        _modify,
    ),
    (
        "registerForOperatorSets",
        "op",
        "am",
        "registerForOperatorSets(address,(address,uint32[],bytes))",
        "only operator",
        lambda w, s, n: w.am.registerForOperatorSets(w.op, (w.avs, [3 + n], b""), sender=s),
    ),
    (
        "deregisterFromOperatorSets",
        "op",
        "am",
        "deregisterFromOperatorSets((address,address,uint32[]))",
        "only operator or avs",
        lambda w, s, n: w.am.deregisterFromOperatorSets((w.op, w.avs, [1 + n]), sender=s),
    ),
    (
        "setAllocationDelay",
        "op",
        "am",
        "setAllocationDelay(address,uint32)",
        "only operator",
        lambda w, s, n: w.am.setAllocationDelay(w.op, 5 + n, sender=s),
    ),
    (
        "setRedistributionConsent",
        "op",
        "am",
        "setRedistributionConsent(address,(address,uint32),bool)",
        "only operator",
        lambda w, s, n: w.am.setRedistributionConsent(w.op, w.opset(1), n == 0, sender=s),
    ),
    (
        "createOperatorSets",
        "avs",
        "am",
        "createOperatorSets(address,(uint32,address[],address)[])",
        "only avs",
        lambda w, s, n: w.am.createOperatorSets(w.avs, [(10 + n, [], ZERO)], sender=s),
    ),
    (
        "createOperatorSets+resolvers",
        "avs",
        "am",
        "createOperatorSets(address,(uint32,address[],address)[],address[])",
        "only avs",
        lambda w, s, n: w.am.createOperatorSets(w.avs, [(20 + n, [], ZERO)], [w.resolver], sender=s),
    ),
    (
        "createRedistributingOperatorSets",
        "avs",
        "am",
        "createRedistributingOperatorSets(address,(uint32,address[],address)[],address[])",
        "only avs",
        lambda w, s, n: w.am.createRedistributingOperatorSets(
            w.avs, [(30 + n, [], ZERO)], [w.recipient], sender=s
        ),
    ),
    (
        "createRedistributingOperatorSets+resolvers",
        "avs",
        "am",
        "createRedistributingOperatorSets(address,(uint32,address[],address)[],address[],address[])",
        "only avs",
        lambda w, s, n: w.am.createRedistributingOperatorSets(
            w.avs, [(40 + n, [], ZERO)], [w.recipient], [ZERO], sender=s
        ),
    ),
    (
        "addStrategiesToOperatorSet",
        "avs",
        "am",
        "addStrategiesToOperatorSet(address,uint32,address[])",
        "only avs",
        lambda w, s, n: w.am.addStrategiesToOperatorSet(w.avs, 2 + n, [w.strats["TKC"]], sender=s),
    ),
    (
        "removeStrategiesFromOperatorSet",
        "avs",
        "am",
        "removeStrategiesFromOperatorSet(address,uint32,address[])",
        "only avs",
        lambda w, s, n: w.am.removeStrategiesFromOperatorSet(w.avs, 2 + n, [w.strats["TKB"]], sender=s),
    ),
    (
        "updateAVSMetadataURI",
        "avs",
        "am",
        "updateAVSMetadataURI(address,string)",
        "only avs",
        lambda w, s, n: w.am.updateAVSMetadataURI(w.avs, f"ipfs://{n}", sender=s),
    ),
    (
        "setAVSRegistrar",
        "avs",
        "am",
        "setAVSRegistrar(address,address)",
        "only avs",
        lambda w, s, n: w.am.setAVSRegistrar(w.avs, ZERO, sender=s),
    ),
    (
        "updateSlasher",
        "avs",
        "am",
        "updateSlasher((address,uint32),address)",
        "only avs",
        lambda w, s, n: w.am.updateSlasher(w.opset(1), w.resolver, sender=s),
    ),
    (
        "slashOperator",
        "avs",
        "am",
        "slashOperator(address,(address,uint32,address[],uint256[],string))",
        "only slasher",
        _slash,
    ),
    (
        "modifyOperatorDetails",
        "op",
        "dm",
        "modifyOperatorDetails(address,address)",
        "only operator",
        lambda w, s, n: w.dm.modifyOperatorDetails(w.op, ZERO, sender=s),
    ),
    (
        "updateOperatorMetadataURI",
        "op",
        "dm",
        "updateOperatorMetadataURI(address,string)",
        "only operator",
        lambda w, s, n: w.dm.updateOperatorMetadataURI(w.op, f"ipfs://{n}", sender=s),
    ),
    ("undelegate", "op", "dm", "undelegate(address)", "unauthorized", _undelegate),
]


@pytest.fixture
def core(w):
    """An operator (allocation delay 0) with a delegated staker, allocated to set 1 of four
    burning sets (TKA, TKB), registered for sets 1 and 2."""
    w.register_operator(w.op, delay=0)
    w.deposit(w.staker, "TKA", 10**21)
    w.dm.delegateTo(w.op, (b"", 0), b"\x00" * 32, sender=w.staker)
    w.create_sets(ids=(1, 2, 3, 4), syms=("TKA", "TKB"))
    w.register_for_sets(w.op, (1, 2))
    w.allocate(w.op, 1, {"TKA": 10**17})
    w.chain.mine(1)
    return w


@pytest.mark.parametrize("case", CORE_ENTRY_POINTS, ids=[c[0] for c in CORE_ENTRY_POINTS])
def test_core_entry_point_consults_the_permission_controller(core, case):
    """Each entry point that acts for an operator or AVS asks the deployment's PermissionController
    (EigenLayer's checkCanCall, with the entry point's own selector): a stranger is refused, an
    appointee for that (contract, selector) may call until removed, and once the account has
    admins only they act for it (the account itself too is refused), a removed admin no longer."""
    w = core
    _name, whose, contract, sig, reason, call = case
    pc, account = w.d.permission_controller, getattr(w, whose)
    target, sel, stranger, admin = getattr(w, contract), _sel(sig), w.other, w.avs2
    assert pc.address == w.dm.permissionController() == w.am.permissionController()
    with ape.reverts(reason):
        call(w, stranger, 0)
    pc.setAppointee(
        account, stranger, target, _sel("registerAsOperator(address,uint32,string)"), sender=account
    )
    with ape.reverts(reason):  # appointed for another function only
        call(w, stranger, 0)
    pc.setAppointee(account, stranger, target, sel, sender=account)
    call(w, stranger, 0)
    pc.removeAppointee(account, stranger, target, sel, sender=account)
    with ape.reverts(reason):
        call(w, stranger, 1)
    pc.addPendingAdmin(account, admin, sender=account)
    pc.acceptAdmin(account, sender=admin)
    with ape.reverts(reason):  # the account acts for itself only while it has no admins
        call(w, account, 1)
    call(w, admin, 1)
    pc.addPendingAdmin(account, account, sender=admin)
    pc.acceptAdmin(account, sender=account)
    pc.removeAdmin(account, admin, sender=account)
    with ape.reverts(reason):
        call(w, admin, 2)


def test_extensions_check_the_manager_not_themselves(core):
    """Under delegatecall the target asked about is the manager: an appointee granted on the
    extension's address gets nothing."""
    w = core
    pc = w.d.permission_controller
    sig = "updateOperatorMetadataURI(address,string)"
    pc.setAppointee(w.op, w.other, w.dm.extension(), _sel(sig), sender=w.op)
    with ape.reverts("only operator"):
        w.dm.updateOperatorMetadataURI(w.op, "x", sender=w.other)
    sig = "updateAVSMetadataURI(address,string)"
    pc.setAppointee(w.avs, w.other, w.am.extension(), _sel(sig), sender=w.avs)
    with ape.reverts("only avs"):
        w.am.updateAVSMetadataURI(w.avs, "x", sender=w.other)
