import ape

from tests.contracts.support import NO_SIG, SALT0, WAD


def test_full_flow(w):
    w.register_operator(w.op)
    w.create_sets(ids=(1,), syms=("TKA",), redistributing=True, resolver=w.resolver)
    w.am.setRedistributionConsent(w.op, w.opset(1), True, sender=w.op)
    w.register_for_sets(w.op, (1,))
    w.deposit(w.staker, "TKA", 1000 * WAD)
    w.dm.delegateTo(w.op, NO_SIG, SALT0, sender=w.staker)
    assert w.op_shares(w.op, "TKA") == 1000 * WAD
    w.allocate(w.op, 1, {"TKA": WAD // 2})
    stake = w.am.getAllocatedStake(w.opset(1), [w.op], [w.strats["TKA"]])
    assert stake[0][0] == 500 * WAD
    r = w.slash(w.op, 1, {"TKA": WAD // 10})
    ev = [e for e in r.events if e.event_name == "OperatorSlashed"][0]
    assert ev.slashId == 1 and list(ev.wadSlashed) == [WAD // 20]  # 10% of a 50% allocation
    assert w.op_shares(w.op, "TKA") == 950 * WAD
    assert w.withdrawable(w.staker, "TKA") == 950 * WAD
    assert w.tokens["TKA"].balanceOf(w.esc) == 50 * WAD
    with ape.reverts("resolution window open"):
        w.esc.releaseSlash(w.avs, 1, 1, sender=w.other)
    w.mine(11)
    w.esc.releaseSlash(w.avs, 1, 1, sender=w.other)
    assert w.tokens["TKA"].balanceOf(w.recipient) == 50 * WAD
