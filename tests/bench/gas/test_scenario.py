"""bench/gas/scenario.py: the struct helper and the guard on the number of operator sets."""

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench" / "gas"))

import scenario  # noqa: E402 - after the path set-up


def test_withdrawal_tuple_from_a_list_or_a_struct():
    fields = ("0xs", "0xd", "0xw", 7, 100, ("0xa",), (5,))
    want = ("0xs", "0xd", "0xw", 7, 100, ["0xa"], [5])
    assert scenario.withdrawal_tuple(list(fields)) == want
    names = ("staker", "delegatedTo", "withdrawer", "nonce", "startBlock", "strategies", "scaledShares")
    assert scenario.withdrawal_tuple(SimpleNamespace(**dict(zip(names, fields, strict=True)))) == want


def test_too_few_operator_sets_is_refused_before_any_call():
    calls = []
    side = scenario.Side(
        *(None,) * 5,
        tokens={},
        strategies={},
        set_ids=[1, 2, 3],
        withdrawal_delay_blocks=0,
        allocate=calls.append,
        queue=calls.append,
        release=calls.append,
    )
    with pytest.raises(ValueError, match="2 repetitions need 4 operator sets, the side has 3"):
        scenario.run(side, 2)
    assert calls == []
