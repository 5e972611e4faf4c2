"""``eigen da node --config FILE``: run a DA validator node (docs/da-network.md)."""

from __future__ import annotations

import argparse
import json
from typing import Any


def cmd_node(args: argparse.Namespace) -> int:
    from offchain.da.network.config import node_config
    from offchain.da.network.service import log, node_server

    cfg = node_config(args.config)
    server, node, store = node_server(cfg)
    info = {"event": "node_listening", "url": server.url, "operator_id": node.operator_id.hex()}
    print(json.dumps(info), flush=True)  # the bound URL (port 0 picks one), for whoever started the node
    log.info("node_listening", extra={"url": server.url, "operator_id": node.operator_id.hex()})
    try:
        server.run()
    finally:
        store.close()
    return 0


def register(sub: Any) -> None:
    node = sub.add_parser(
        "node",
        help="run a DA validator node: StoreChunks (verify, store, BLS-sign) and GetChunks over HTTP+JSON",
        description=(
            "Serve EigenDA V2's validator API (POST /v2/StoreChunks, /v2/GetChunks) as configured by FILE "
            "(JSON or YAML: host, port, bls_key_file, store_dir, srs, network; docs/da-network.md). Prints one "
            "JSON line with the bound URL, then logs JSON lines to stderr."
        ),
    )
    node.add_argument("--config", required=True, metavar="FILE", help="the node's configuration file")
    node.set_defaults(func=cmd_node)
