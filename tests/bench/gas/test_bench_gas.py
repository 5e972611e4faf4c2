"""bench/gas/bench_gas.py: its arguments, the comparison rows and ratios against EigenLayer, and a
clear error (no chain started) when the EigenLayer reference cannot be built."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench" / "gas"))

import bench_gas  # noqa: E402 - after the path set-up
import eigenlayer_ref  # noqa: E402
import scenario  # noqa: E402


def test_every_operation_has_an_eigenlayer_call():
    assert set(eigenlayer_ref.CALLS) == set(scenario.OPERATIONS)
    assert len(scenario.OPERATIONS) == len(set(scenario.OPERATIONS))


def test_arguments():
    args = bench_gas.parse_args(["--eigenlayer", "el", "--eigenlayer-deps", "deps", "--reps", "3"])
    assert (args.eigenlayer, args.eigenlayer_deps, args.reps) == (Path("el"), Path("deps"), 3)
    assert bench_gas.parse_args([]).eigenlayer is None


@pytest.mark.parametrize("argv", [["--eigenlayer-deps", "deps"], ["--reps", "0"], ["--reps", "x"]])
def test_bad_arguments_exit_with_usage(argv, capsys):
    with pytest.raises(SystemExit) as e:
        bench_gas.parse_args(argv)
    assert e.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_rows_compare_execution_gas_with_eigenlayer():
    ours = {"register as operator": [71_000, 70_000, 90_000], "slash (1 strategy)": [241_000]}
    el = {"register as operator": [121_000, 121_000, 150_000], "slash (1 strategy)": [221_000]}
    bare = {"register as operator": [101_000], "slash (1 strategy)": [181_000]}
    rows = bench_gas.rows_of(ours, el, bare)
    reg, slash = rows
    assert (reg["median"], reg["min"], reg["max"], reg["execution_gas_median"]) == (
        71_000,
        70_000,
        90_000,
        50_000,
    )
    assert reg["eigenlayer_execution_gas_median"] == 100_000
    assert reg["ratio_execution_vs_eigenlayer"] == 0.5
    assert reg["ratio_execution_vs_eigenlayer_no_proxy"] == 0.625
    assert reg["eigenlayer_call"] == "DelegationManager.registerAsOperator"
    assert slash["ratio_execution_vs_eigenlayer"] == 1.1
    assert slash["ratio_execution_vs_eigenlayer_no_proxy"] == 1.375
    assert bench_gas.above_eigenlayer(rows) == ["slash (1 strategy)"]
    assert bench_gas.above_eigenlayer(rows, "eigenlayer_no_proxy") == ["slash (1 strategy)"]


def test_equal_gas_counts_as_not_below():
    rows = bench_gas.rows_of({"slash (1 strategy)": [121_000]}, {"slash (1 strategy)": [121_000]})
    assert bench_gas.above_eigenlayer(rows) == ["slash (1 strategy)"]


def test_without_eigenlayer_the_rows_keep_the_peer_only():
    (row,) = bench_gas.rows_of({"register as operator": [89_946]})
    assert row["peer_gas"] == 89_480
    assert not any(k.startswith("eigenlayer") for k in row)


def test_an_operation_missing_from_the_eigenlayer_run_is_an_error():
    with pytest.raises(eigenlayer_ref.EigenLayerRefError, match="no figure for 'slash"):
        bench_gas.rows_of({"slash (1 strategy)": [1]}, {"register as operator": [1]})


def test_an_unusable_checkout_fails_before_any_chain(tmp_path, capsys):
    assert bench_gas.main(["--eigenlayer", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "EigenLayer reference" in err and "is not an eigenlayer-contracts checkout" in err
