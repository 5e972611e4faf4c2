#!/usr/bin/env bash
# Compile the contracts (ape compile) so that .build matches the sources. ape recompiles only the
# files whose content differs from the copy in its manifest, and a compile stopped half-way (killed,
# or interrupted) can leave the new sources' copy beside contract types built from the old ones,
# which no later compile repairs: tests then run old bytecode. A stamp of the sources, written
# after a compile that finished, tells: when it is missing or differs, every contract is compiled
# again (--force); when it matches, ape's own check is enough. ape-vyper runs one `vyper` process for
# all the files it compiles; tools/vyper-parallel/vyper, first on PATH here, compiles them a file per CPU
# with the same output.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/tools/vyper-parallel:$PATH"
want=$( (find contracts -type f \( -name '*.vy' -o -name '*.vyi' \) -print0 | sort -z | xargs -0 sha256sum
         cat ape-config.yaml) | sha256sum | cut -d' ' -f1)
stamp=.build/.sources.sha256
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    ape compile >/dev/null
else
    ape compile --force >/dev/null
    echo "$want" > "$stamp"
fi
