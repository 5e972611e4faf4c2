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
