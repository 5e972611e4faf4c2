"""Suite-wide test configuration.

Hypothesis profiles: ``ci`` (default; sized so the whole suite stays well inside CI's budget on
2 cores) and ``long`` (``EIGEN_PROFILE=long``) for deep fuzzing runs. Both have no deadline (a
transaction on a local chain can take tens of milliseconds) and no example database.
"""

import os
import tempfile

import pytest
from ape.logging import logger as ape_logger
from hypothesis import HealthCheck, settings

from offchain import settings as eigen_settings
from offchain.chain.anvil import anvil_without_step_traces, ape_without_repeated_lookups

settings.register_profile(
    "ci",
    max_examples=25,
    stateful_step_count=20,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    derandomize=False,
)
settings.register_profile(
    "long",
    max_examples=500,
    stateful_step_count=60,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
settings.load_profile(eigen_settings.hypothesis_profile())

# anvil without ape-foundry's --steps-tracing: it keeps every opcode of every transaction (with stack and
# memory) for ape's coverage and source tracebacks, which the suite does not use, and a module that
# registers hundreds of BLS keys (tests/contracts/test_fuzz_bls.py) would exhaust memory with it.
anvil_without_step_traces()
# ape's per-call lookups of what cannot change (the chain id, the transaction type, the block gas limit)
# cost more than the calls themselves: answered once.
ape_without_repeated_lookups()

# `eigen da encode` keeps FK20 tables in $EIGEN_DA_CACHE (default .cache/da in the checkout): tests use a
# fresh directory per run, so no run reads a table another run wrote.
if eigen_settings.DA_CACHE.raw() is None:  # unset (an empty value means off)
    os.environ[eigen_settings.DA_CACHE.name] = tempfile.mkdtemp(prefix="eigen-da-cache-")


# `ape test` logs at WARNING, but pytest-xdist's workers (tools/test.sh runs the suite on several) start
# without ape's command line, at INFO: every transaction then prints "INFO: Confirmed ..." to stdout,
# inside the output that CLI tests parse as JSON. Workers take the controller's level.
@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    node.workerinput["ape_log_level"] = ape_logger.level


def pytest_configure(config):
    level = getattr(config, "workerinput", {}).get("ape_log_level")
    if level is not None:
        ape_logger.set_level(level)


# ape's pytest plugin keys its chain isolation by fixture *name*: a test's fixtures are listed once per
# scope at which any collected module defines that name, and a name's scope is the first one it saw.
# A function-scoped fixture that shares its name with a module-scoped one elsewhere is then set up
# before the test's snapshot and its chain state outlives the test (a module-scoped `ops` in
# tests/offchain/bls made tests/contracts/test_da_cert_verifier's `ops` leak an operator set from one
# test into the next). Such clashes stop the run.
CHAIN_FIXTURES = frozenset({"chain", "accounts", "project", "networks", "Contract", "compilers"})


def chain_scope_clashes(defs: dict) -> dict[str, list[str]]:
    """Names of fixtures defined at more than one scope where some definition reaches the chain,
    with their scopes. `defs` maps a fixture name to its definitions (objects with `scope` and
    `argnames`), as pytest's fixture manager holds them."""
    reach: dict[str, bool] = {}

    def reaches(name: str, seen: frozenset = frozenset()) -> bool:
        if name in CHAIN_FIXTURES:
            return True
        if name in seen or name not in defs:
            return False
        if name not in reach:
            reach[name] = any(reaches(a, seen | {name}) for d in defs[name] for a in d.argnames)
        return reach[name]

    return {
        name: sorted({d.scope for d in ds})
        for name, ds in defs.items()
        if len({d.scope for d in ds}) > 1 and reaches(name)
    }


# ape's `chain.isolate()` swallows every exception raised in its block (ape 0.8.51, ChainManager.isolate:
# `except Exception: pass`), failed asserts included: a test written in one cannot fail. Isolate with
# `snap = chain.snapshot()` ... `chain.restore(snap)` in a `finally` instead; collecting a module that
# calls it stops the run.
SWALLOWING_CALLS = (".isolate(",)


def swallowing_modules(paths) -> list[str]:
    """The files among `paths` whose source calls ape's exception-swallowing `chain.isolate()`."""
    return sorted(
        str(p) for p in set(paths) if any(c in p.read_text(encoding="utf-8") for c in SWALLOWING_CALLS)
    )


# The slowest modules, slowest first (figures of a full run, 2026-12-06), started before the rest: with
# pytest-xdist's loadfile distribution a long module handed out last runs alone at the end while the
# other workers idle. Every other module keeps its collection order; a module's tests keep theirs.
SLOW_FIRST = (
    "tests/e2e/test_token_demo.py",
    "tests/offchain/compute/test_compute_taskrun.py",
    "tests/offchain/da/network/test_da_network_devchain.py",
    "tests/offchain/da/network/test_da_network_devnet.py",
    "tests/contracts/test_fuzz_restaking.py",  # 59 s before ape stopped asking for code before each call
    "tests/contracts/test_rewards_challenge_steps.py",
    "tests/offchain/crypto/test_g2_native.py",
    "tests/offchain/chain/test_chain_devnet.py",
    "tests/offchain/crypto/test_g1_native.py",
    "tests/contracts/test_rewards_challenge.py",
    "tests/offchain/agent/test_agent_trading.py",
    "tests/e2e/test_avs_quickstart.py",
    "tests/contracts/test_unit_allocation.py",
    "tests/contracts/test_rewards_challenge_avs.py",
    "tests/contracts/test_rewards_challenge_large.py",
)


def slow_first(items, root) -> list:
    """`items` with the SLOW_FIRST modules' tests first, in that list's order (a stable sort)."""
    rank = {path: i for i, path in enumerate(SLOW_FIRST)}

    def key(item):
        try:
            rel = item.path.relative_to(root).as_posix()
        except ValueError:
            rel = ""
        return rank.get(rel, len(SLOW_FIRST))

    return sorted(items, key=key)


def pytest_collection_modifyitems(session, config, items):
    import pytest

    if bad := swallowing_modules(item.path for item in items if item.path.suffix == ".py"):
        raise pytest.UsageError(
            "ape's chain.isolate() swallows the exceptions of its block (a test in it cannot fail); "
            f"use chain.snapshot()/chain.restore() in a finally: {bad}"
        )
    if clashes := chain_scope_clashes(session._fixturemanager._arg2fixturedefs):
        raise pytest.UsageError(
            "fixtures that reach the chain share a name across scopes (ape isolates by name, so the "
            f"narrower one would escape its snapshot); rename one of each: {clashes}"
        )
    items[:] = slow_first(items, config.rootpath)
