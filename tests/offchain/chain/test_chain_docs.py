"""The deployment docs name only what exists: requirement files, make targets, tools/run commands
and `ape run deploy` options (each was once wrong in a doc)."""

import re

from offchain.settings import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _text() -> str:
    return "\n".join(p.read_text() for p in DOCS)


def test_named_requirement_files_exist():
    named = set(re.findall(r"\brequirements[-\w]*\.(?:txt|lock)\b", _text()))
    assert named and all((ROOT / n).exists() for n in named), sorted(
        n for n in named if not (ROOT / n).exists()
    )


def test_named_make_targets_exist():
    targets = set(re.findall(r"^([a-z][a-z-]*):", (ROOT / "Makefile").read_text(), re.M))
    named = set(re.findall(r"`make ([a-z][a-z-]*)", _text())) | set(
        re.findall(r"^\s+make ([a-z][a-z-]*)", _text(), re.M)
    )
    assert {"devnet", "devnet-stop"} <= named
    assert named <= targets, sorted(named - targets)


def test_named_tools_run_commands_exist():
    cases = set(re.findall(r"^\s+([a-z-]+)\)", (ROOT / "tools" / "run").read_text(), re.M))
    named = set(re.findall(r"tools/run ([a-z-]+)", _text()))
    assert "deploy" in named and named <= cases, sorted(named - cases)


def test_deploy_options_in_the_docs_exist():
    script = (ROOT / "scripts" / "deploy.py").read_text()
    doc = (ROOT / "docs" / "deploy.md").read_text()
    for opt in set(re.findall(r"`(--[a-z-]+)", doc)) - {"--network"}:
        assert f'"{opt}"' in script, opt
    assert "network_option()" in script
