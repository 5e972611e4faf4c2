"""The suite's own guard (tests/conftest.py): fixtures that reach the chain must not share a name
across scopes, since ape's isolation is keyed by fixture name."""

from __future__ import annotations

from types import SimpleNamespace

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
