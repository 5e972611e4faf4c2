"""The suite's own guards (tests/conftest.py): fixtures that reach the chain must not share a name
across scopes, since ape's isolation is keyed by fixture name; no test may use ape's isolation
context manager, which swallows exceptions; workers of a parallel run log like `ape test`."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.conftest import chain_scope_clashes


def fx(scope, *argnames):
    return SimpleNamespace(scope=scope, argnames=argnames)


def test_a_chain_fixture_named_like_a_wider_one_elsewhere_is_a_clash() -> None:
    # the case that leaked: test_da_cert_verifier's function-scoped `ops` (bw -> w -> chain) and a
    # module-scoped `ops` of keystores in tests/offchain/bls
    defs = {
        "ops": [fx("function", "bw", "chain"), fx("module", "tmp_path_factory")],
        "bw": [fx("function", "w")],
        "w": [fx("function", "project", "accounts")],
        "tmp_path_factory": [fx("session")],
    }
    assert chain_scope_clashes(defs) == {"ops": ["function", "module"]}


def test_reach_is_transitive_and_cycles_end() -> None:
    defs = {
        "a": [fx("function", "b")],
        "b": [fx("function", "c"), fx("module", "a")],
        "c": [fx("session", "deployment")],
        "deployment": [fx("session", "accounts")],
    }
    assert chain_scope_clashes(defs) == {"b": ["function", "module"]}


def test_names_off_chain_or_at_one_scope_are_not_clashes() -> None:
    defs = {
        "ca": [fx("function", "tmp_path"), fx("module")],  # off chain: isolation does not matter
        "bw": [fx("function", "chain"), fx("function", "chain")],  # one scope
    }
    assert chain_scope_clashes(defs) == {}


def test_ape_isolate_swallows_failures(chain) -> None:
    """Why the guard below exists: an assert failing inside ape's isolation block does not fail."""
    isolate = getattr(chain, "isol" + "ate")
    reached = []
    with isolate():
        reached.append(1)
        raise AssertionError("never seen")
    assert reached == [1]


def test_modules_calling_ape_isolate_are_refused(tmp_path) -> None:
    from tests.conftest import swallowing_modules

    bad, good = tmp_path / "test_bad.py", tmp_path / "test_good.py"
    bad.write_text("def test_x(chain):\n    with chain.iso" + "late():\n        assert False\n")
    good.write_text("def test_y(chain):\n    snap = chain.snapshot()\n    chain.restore(snap)\n")
    assert swallowing_modules([bad, good, bad]) == [str(bad)]


def test_a_test_process_logs_at_the_level_ape_test_was_given(request) -> None:
    # pytest-xdist's workers start without ape's command line (at INFO, where every transaction prints
    # "INFO: Confirmed ..." into the stdout that CLI tests parse): they take the controller's level
    from ape.logging import logger

    workerinput = getattr(request.config, "workerinput", None)
    if workerinput is None:
        pytest.skip("one process: `ape test` set the level itself")
    assert logger.level == workerinput["ape_log_level"]


def test_slow_modules_start_first_and_each_named_module_exists():
    """The SLOW_FIRST modules' tests come first, in that order; the rest keep theirs, and a module's
    tests keep theirs. Every module the list names exists (a renamed one would lose its place)."""
    from pathlib import Path

    from tests.conftest import SLOW_FIRST, slow_first

    root = Path(__file__).resolve().parent.parent
    assert all((root / p).is_file() for p in SLOW_FIRST)

    def item(path, name):
        return SimpleNamespace(path=root / path, name=name)

    items = [
        item("tests/a.py", "a1"),
        item(SLOW_FIRST[1], "s1"),
        item("tests/a.py", "a2"),
        item(SLOW_FIRST[0], "f1"),
        item(SLOW_FIRST[1], "s2"),
        item("tests/b.py", "b1"),
        SimpleNamespace(path=Path("/elsewhere/c.py"), name="c1"),
    ]
    assert [i.name for i in slow_first(items, root)] == ["f1", "s1", "s2", "a1", "a2", "b1", "c1"]
