"""tools/vyper-parallel/vyper (tools/compile.sh's `vyper`): the output of one `vyper` process over several
files, a file per CPU; errors and every other command are vyper's own."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FRONT = ROOT / "tools" / "vyper-parallel" / "vyper"
VYPER = Path(sys.executable).with_name("vyper")
FILES = ["contracts/mocks/MockERC20.vy", "contracts/lib/erc20.vy", "contracts/permissions/PauserRegistry.vy"]
SRC = re.compile(r"-?\d+:-?\d+:-?\d+")  # an AST node's "start:length:source"
FORMATS = ["-f", "bytecode,bytecode_runtime,abi,source_map,userdoc,devdoc,ast", "-p", str(ROOT)]


def _run(exe, *args, cwd=ROOT):
    return subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def _strip_source_ids(line: str):
    """An output line as JSON with the AST's and source map's source ids (numbered per process) removed."""
    try:
        data = json.loads(line)
    except ValueError:
        return line

    def walk(x):
        if isinstance(x, dict):
            # pc_pos_map_compressed and pc_ast_map hold source numbers; pc_pos_map (ape's PC map) does not
            return {
                k: walk(v)
                for k, v in x.items()
                if k not in ("pc_pos_map_compressed", "pc_ast_map", "source_id")
            }
        if isinstance(x, list):
            return [walk(v) for v in x]
        if isinstance(x, str) and SRC.fullmatch(x):
            return x.rsplit(":", 1)[0]  # "start:length:source"
        return x

    return walk(data)


def test_the_same_output_as_one_vyper_process():
    one = _run(VYPER, *FILES, *FORMATS)
    parallel = _run(FRONT, *FILES, *FORMATS)
    assert one.returncode == parallel.returncode == 0, parallel.stderr
    a, b = one.stdout.splitlines(), parallel.stdout.splitlines()
    assert len(a) == len(b) == 7 * len(FILES)
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        if i % 7 in (0, 1, 2, 4, 5):  # bytecode, runtime bytecode, ABI, userdoc, devdoc: byte for byte
            assert x == y
        else:  # source map and AST: the same but for the per-process source numbering
            assert _strip_source_ids(x) == _strip_source_ids(y)


def test_a_compile_error_is_vypers_and_fails(tmp_path):
    bad = tmp_path / "Bad.vy"
    bad.write_text("# pragma version ~=0.4.3\nx: uint256 =\n")
    out = _run(FRONT, FILES[0], str(bad), *FORMATS)
    assert out.returncode == 1 and out.stdout == ""
    assert "SyntaxException" in out.stderr and "Bad.vy" in out.stderr


def test_other_commands_go_to_vyper_unchanged():
    assert _run(FRONT, "--version").stdout == _run(VYPER, "--version").stdout
    single = _run(FRONT, FILES[0], "-f", "abi", "-p", str(ROOT))
    assert (
        single.returncode == 0 and single.stdout == _run(VYPER, FILES[0], "-f", "abi", "-p", str(ROOT)).stdout
    )


def test_compile_sh_puts_it_first_on_path():
    text = (ROOT / "tools" / "compile.sh").read_text()
    assert 'export PATH="$PWD/tools/vyper-parallel:$PATH"' in text
    assert os.access(FRONT, os.X_OK) and shutil.which("vyper", path=str(FRONT.parent)) == str(FRONT)
