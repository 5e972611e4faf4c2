"""bench/gas/eigenlayer_ref.py: import resolution, the source closure, and a clear typed error for
every missing or wrong input (checkout, OpenZeppelin, compiler), before anything is compiled."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench" / "gas"))

import eigenlayer_ref as ref  # noqa: E402 - after the path set-up

AM = ref.TARGETS["AllocationManager"]


def _checkout(tmp_path: Path, solc: str = ref.SOLC_VERSION) -> Path:
    """A stand-in checkout: foundry.toml pinning `solc` and every target as a small source that
    imports through both remappings and a relative path."""
    root = tmp_path / "el"
    (root / "lib").mkdir(parents=True)
    (root / "foundry.toml").write_text(f"[profile.default]\nsolc_version = '{solc}'\n")
    for unit in set(ref.TARGETS.values()):
        if unit.startswith("src/"):
            p = root / unit
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text('import "@openzeppelin/contracts/a.sol";\nimport {X} from "../mixins/M.sol";\n')
    (root / "src/contracts/mixins").mkdir(parents=True, exist_ok=True)
    (root / "src/contracts/mixins/M.sol").write_text('import "@openzeppelin-upgrades/contracts/b.sol";\n')
    (root / "src/test/mixins").mkdir(parents=True, exist_ok=True)
    (root / "src/test/mixins/M.sol").write_text("")
    return root


def _deps(tmp_path: Path, oz: str = ref.OZ_VERSION, solc: str | None = ref.SOLC_VERSION) -> Path:
    deps = tmp_path / "deps"
    for pkg, files in (
        (
            "@openzeppelin/contracts",
            {"a.sol": "", "proxy/transparent/ProxyAdmin.sol": 'import "../../a.sol";'},
        ),
        ("@openzeppelin/contracts-upgradeable", {"b.sol": ""}),
    ):
        d = deps / "node_modules" / pkg
        d.mkdir(parents=True)
        (d / "package.json").write_text(json.dumps({"version": oz}))
        for name, text in files.items():
            (d / name).parent.mkdir(parents=True, exist_ok=True)
            (d / name).write_text(text)
    (
        deps / "node_modules/@openzeppelin/contracts/proxy/transparent/TransparentUpgradeableProxy.sol"
    ).write_text("")
    if solc is not None:
        (deps / "node_modules/solc").mkdir(parents=True)
        (deps / "node_modules/solc/package.json").write_text(json.dumps({"version": solc}))
    return deps


def test_imports_resolve_relative_and_through_foundry_remappings():
    assert ref._resolve("src/contracts/core/A.sol", "../interfaces/I.sol") == "src/contracts/interfaces/I.sol"
    assert ref._resolve("src/contracts/core/A.sol", "./B.sol") == "src/contracts/core/B.sol"
    assert ref._resolve("src/x.sol", "@openzeppelin/contracts/a.sol") == ref.OZ_LIB + "contracts/a.sol"
    assert (
        ref._resolve("src/x.sol", "@openzeppelin-upgrades/contracts/b.sol") == ref.OZU_LIB + "contracts/b.sol"
    )
    with pytest.raises(ref.EigenLayerRefError, match="leaves the source tree"):
        ref._resolve("a.sol", "../../b.sol")


def test_closure_follows_imports_into_the_npm_packages(tmp_path):
    sources = ref._Sources(_checkout(tmp_path), _deps(tmp_path)).closure([AM, ref.TARGETS["ProxyAdmin"]])
    assert set(sources) == {
        AM,
        "src/contracts/mixins/M.sol",
        ref.OZ_LIB + "contracts/a.sol",
        ref.OZU_LIB + "contracts/b.sol",
        ref.TARGETS["ProxyAdmin"],
    }


def test_populated_lib_submodules_are_preferred_over_npm(tmp_path):
    root = _checkout(tmp_path)
    sub = root / ref.OZ_LIB / "contracts"
    sub.mkdir(parents=True)
    (sub / "package.json").write_text(json.dumps({"version": ref.OZ_VERSION}))
    (sub / "a.sol").write_text("// from the submodule\n")
    sources = ref._Sources(root, _deps(tmp_path)).closure([AM])
    assert sources[ref.OZ_LIB + "contracts/a.sol"] == "// from the submodule\n"


def test_missing_openzeppelin_is_a_typed_error_naming_the_install(tmp_path):
    with pytest.raises(ref.EigenLayerRefError, match="no --eigenlayer-deps was given"):
        ref._Sources(_checkout(tmp_path), None)
    with pytest.raises(
        ref.EigenLayerRefError, match=r"npm install --prefix DEPS @openzeppelin/contracts@4\.9\.0"
    ):
        ref._Sources(_checkout(tmp_path / "again"), tmp_path / "nowhere")


def test_wrong_openzeppelin_version_is_refused(tmp_path):
    with pytest.raises(ref.EigenLayerRefError, match=r"is 4\.8\.0, EigenLayer v1\.12\.0 pins 4\.9\.0"):
        ref._Sources(_checkout(tmp_path), _deps(tmp_path, oz="4.8.0"))


def test_a_missing_source_is_named(tmp_path):
    root = _checkout(tmp_path)
    (root / "src/contracts/mixins/M.sol").unlink()
    with pytest.raises(ref.EigenLayerRefError, match="source src/contracts/mixins/M.sol not found"):
        ref._Sources(root, _deps(tmp_path)).closure([AM])


def test_build_refuses_what_is_not_an_eigenlayer_checkout(tmp_path):
    with pytest.raises(ref.EigenLayerRefError, match="is not an eigenlayer-contracts checkout"):
        ref.build(tmp_path, None, tmp_path / "cache")


def test_build_refuses_a_checkout_pinning_another_compiler(tmp_path):
    with pytest.raises(ref.EigenLayerRefError, match=r"pins solc 0\.8\.27, not 0\.8\.30"):
        ref.build(_checkout(tmp_path, solc="0.8.27"), _deps(tmp_path), tmp_path / "cache")


def test_build_refuses_sources_other_than_v1_12_0(tmp_path):
    with pytest.raises(ref.EigenLayerRefError, match=f"expected {ref.SOURCES_SHA256}") as e:
        ref.build(_checkout(tmp_path), _deps(tmp_path), tmp_path / "cache")
    assert "not EigenLayer v1.12.0" in str(e.value)
    assert not (tmp_path / "cache").exists()  # refused before compiling anything


def test_the_compiler_must_be_solcjs_at_the_pinned_version(tmp_path):
    with pytest.raises(ref.EigenLayerRefError, match=r"npm install --prefix DEPS solc@0\.8\.30"):
        ref._solc_command(_deps(tmp_path, solc=None))
    with pytest.raises(ref.EigenLayerRefError, match=r"is 0\.8\.29, EigenLayer v1\.12\.0 pins 0\.8\.30"):
        ref._solc_command(_deps(tmp_path / "x", solc="0.8.29"))
    with pytest.raises(ref.EigenLayerRefError, match="solcjs not found"):
        ref._solc_command(None)


def test_sources_digest_depends_on_names_and_texts():
    base = ref.sources_digest({"a.sol": "x", "b.sol": "y"})
    assert base == ref.sources_digest({"b.sol": "y", "a.sol": "x"})
    assert base != ref.sources_digest({"a.sol": "x", "b.sol": "z"})
    assert base != ref.sources_digest({"a.sol": "x", "c.sol": "y"})
    assert base != ref.sources_digest({"a.solx": "", "b.sol": "y"})


def test_only_the_old_create_set_overload_is_dropped():
    def fn(arity):
        comps = [{"name": f"f{i}", "type": "uint32"} for i in range(arity)]
        return {
            "type": "function",
            "name": "createOperatorSets",
            "inputs": [{"type": "address"}, {"type": "tuple[]", "components": comps}],
        }

    other = {"type": "function", "name": "slashOperator", "inputs": [{"type": "address"}]}
    assert ref._abi_without_overload([fn(2), fn(3), other], "createOperatorSets", 2) == [fn(3), other]


def _fake_compiler(monkeypatch, tmp_path, output: dict | str, rc: int = 0) -> Path:
    """Accept the stand-in checkout's sources and answer as solcjs would with `output`; returns the
    file each call of the compiler appends a line to."""
    calls = tmp_path / "calls"
    text = output if isinstance(output, str) else json.dumps(output)
    script = (
        "import sys; sys.stdin.read(); open(sys.argv[1], 'a').write('x\\n'); "
        "sys.stdout.write(sys.argv[2]); sys.stderr.write('boom'); sys.exit(int(sys.argv[3]))"
    )
    monkeypatch.setattr(
        ref, "_solc_command", lambda deps: [sys.executable, "-c", script, str(calls), text, str(rc)]
    )
    root, deps = _checkout(tmp_path), _deps(tmp_path)
    digest = ref.sources_digest(ref._Sources(root, deps).closure(sorted(set(ref.TARGETS.values()))))
    monkeypatch.setattr(ref, "SOURCES_SHA256", digest)
    return calls


def _output(code: str = "6001") -> dict:
    contracts: dict = {}
    for name, unit in ref.TARGETS.items():
        contracts.setdefault(unit, {})[name] = {"abi": [], "evm": {"bytecode": {"object": code}}}
    return {"contracts": contracts}


def test_build_compiles_once_and_reuses_the_cache(monkeypatch, tmp_path):
    calls = _fake_compiler(monkeypatch, tmp_path, _output())
    arts, digest = ref.build(tmp_path / "el", tmp_path / "deps", tmp_path / "cache")
    assert set(arts) == set(ref.TARGETS) and arts["DelegationManager"].bytecode == "0x6001"
    again, digest2 = ref.build(tmp_path / "el", tmp_path / "deps", tmp_path / "cache")
    assert (again, digest2) == (arts, digest)
    assert calls.read_text() == "x\n"  # the second build read the cache
    assert [p.suffix for p in (tmp_path / "cache").iterdir()] == [".json"]


@pytest.mark.parametrize(
    ("output", "rc", "message"),
    [
        ("", 1, r"solcjs failed \(1\): boom"),
        ("not json", 0, "solcjs printed no JSON"),
        (
            {"errors": [{"severity": "error", "formattedMessage": "TypeError: x"}]},
            0,
            "compilation failed:\nTypeError: x",
        ),
        ({"contracts": {}}, 0, "PauserRegistry missing from the compiler output"),
        (_output("73__$abc$__"), 0, "needs library linking"),
    ],
)
def test_compiler_failures_are_typed_errors_and_only_whole_answers_are_cached(
    monkeypatch, tmp_path, output, rc, message
):
    _fake_compiler(monkeypatch, tmp_path, output, rc)
    with pytest.raises(ref.EigenLayerRefError, match=message):
        ref.build(tmp_path / "el", tmp_path / "deps", tmp_path / "cache")
    cached = list((tmp_path / "cache").glob("*")) if (tmp_path / "cache").exists() else []
    assert all(json.loads(p.read_text()) == output for p in cached)  # only complete answers are kept


def test_every_operation_has_an_expected_effect():
    assert set(ref.EXPECT) == set(ref.CALLS)


def test_a_call_that_did_nothing_is_refused():
    booked = ("BurnOrRedistributableSharesIncreased", {"shares": 5})
    ref.check_effect("slash (1 strategy)", [("Transfer", {}), booked])
    with pytest.raises(ref.EigenLayerRefError, match="emitted 0 BurnOrRedistributableSharesIncreased"):
        ref.check_effect("slash (1 strategy)", [("OperatorSlashed", {})])
    with pytest.raises(ref.EigenLayerRefError, match="with non-zero shares, expected 3"):
        ref.check_effect(
            "slash (3 strategies)", [booked, booked, ("BurnOrRedistributableSharesIncreased", {"shares": 0})]
        )
    with pytest.raises(ref.EigenLayerRefError, match="emitted 2 SlashingWithdrawalQueued"):
        ref.check_effect("undelegate (3 strategies)", [("SlashingWithdrawalQueued", {})] * 2)
