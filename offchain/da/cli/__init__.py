"""``eigen da``: the EigenDA commands (:mod:`.eigenda`: encode, verify, recover, bundle) and the PeerDAS
commands (:mod:`.peerdas`: ``eigen da peerdas cells|verify|recover``), certificates (:mod:`.cert`:
``eigen da cert verify``), the network processes (:mod:`.network`: ``eigen da node``), with the options they share in
:mod:`.options`."""

from __future__ import annotations

import sys
from typing import Any

from offchain.da.cli import cert, eigenda, network, peerdas


def register(subparsers: Any) -> None:
    da = subparsers.add_parser("da", help="EigenDA-compatible blob encoding, verification and recovery")
    sub = da.add_subparsers(dest="da_command", metavar="ACTION")
    da.set_defaults(func=lambda a: (da.print_help(sys.stderr), 2)[1])
    eigenda.register(sub)  # eigen da encode|verify|recover|bundle
    peerdas.register(sub)  # eigen da peerdas cells|verify|recover
    cert.register(sub)  # eigen da cert verify
    network.register(sub)  # eigen da node
