"""``eigen agent ...``: x402 payments between agents (docs/agent.md).

    eigen agent facilitator --rpc URL --key KEY --token ADDR [--settler ADDR] [--host H] [--port N]
    eigen agent pay URL --key KEY --token ADDR --chain-id N --budget UNITS [--method M] [--json BODY]

``facilitator`` serves x402 v2's ``/verify``, ``/settle`` and ``/supported`` for the EIP-3009 token
(``exact``) and, with ``--settler`` (contracts/agent/UptoSettler.vy), ``upto``; it sends the
settlements from KEY, which pays the gas. ``pay`` requests URL and pays a 402 within the budget
(atomic units of the token), then prints the response and the settlement as JSON. Keys are
0x + 64 hex digits or a file holding them. Every bad input is one line and exit status 2.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from offchain import cliargs


def register(sub: Any) -> None:
    p = sub.add_parser(
        "agent",
        help="x402 payments between agents: facilitator, paying client (docs/agent.md)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])
    s = p.add_subparsers(dest="agent_command", metavar="COMMAND")

    f = s.add_parser("facilitator", help="serve an x402 facilitator (/verify, /settle, /supported)")
    f.add_argument("--rpc", required=True, help="the chain's JSON-RPC URL")
    f.add_argument("--key", required=True, help="the settling account's key (0x + 64 hex, or a file)")
    f.add_argument("--token", required=True, help="the EIP-3009 token's address")
    f.add_argument("--settler", default=None, help="the UptoSettler's address (enables upto)")
    f.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback only)")
    f.add_argument("--port", type=cliargs.port, default=4020, help="port to listen on")
    f.set_defaults(func=_facilitator)

    y = s.add_parser("pay", help="request a URL, paying its 402 within a budget")
    y.add_argument("url", help="the resource")
    y.add_argument("--key", required=True, help="the payer's key (0x + 64 hex, or a file)")
    y.add_argument("--token", required=True, help="the token to pay in (address)")
    y.add_argument("--chain-id", type=cliargs.uint(64), required=True, help="the chain's id")
    y.add_argument("--budget", type=cliargs.uint(256), required=True, help="the most to pay, in atomic units")
    y.add_argument("--method", default="GET", choices=("GET", "POST"), help="HTTP method")
    y.add_argument("--json", default=None, help="a JSON body to send (POST)")
    y.set_defaults(func=_pay)


def _key(ref: str) -> str:
    from offchain.agent.errors import PaymentPayloadError

    text = ref
    if not ref.startswith("0x") and Path(ref).is_file():
        text = Path(ref).read_text().strip()
    body = text.removeprefix("0x")
    if len(body) != 64 or any(c not in "0123456789abcdefABCDEF" for c in body):
        raise PaymentPayloadError("a key is 0x and 64 hex digits, or a file holding them")
    return "0x" + body


def _address(text: str, what: str) -> str:
    from eth_utils import is_hex_address, to_checksum_address

    from offchain.agent.errors import PaymentPayloadError

    if not is_hex_address(text):
        raise PaymentPayloadError(f"{what} must be a 20-byte hex address: got {text!r}")
    return to_checksum_address(text)


def _facilitator(args: argparse.Namespace) -> int:
    from offchain.agent.evm import EvmFacilitator
    from offchain.agent.facilitator import create_app
    from offchain.chain.agent import Settler, StableToken
    from offchain.chain.sdk import _connect, load_abis
    from offchain.httpservice import ServiceServer

    key = _key(args.key)
    w3 = _connect(args.rpc)
    abis = load_abis()
    token = StableToken(w3, _address(args.token, "--token"), abis["StableToken"])
    settler = (
        None
        if args.settler is None
        else Settler(w3, _address(args.settler, "--settler"), abis["UptoSettler"])
    )
    fac = EvmFacilitator(w3, key, [token], settler)
    server = ServiceServer(create_app(fac), args.host, args.port)
    print(json.dumps({"url": server.url, **fac.supported()}), flush=True)
    server.run()
    return 0


def _pay(args: argparse.Namespace) -> int:
    from offchain.agent.client import PayingClient

    body = None if args.json is None else json.loads(args.json)
    client = PayingClient(_key(args.key), args.chain_id, _address(args.token, "--token"), args.budget)
    r = (
        client.request(args.method, args.url, json=body)
        if body is not None
        else client.request(args.method, args.url)
    )
    out: dict[str, Any] = {"status": r.status_code, "spent": client.spent}
    try:
        out["body"] = r.json()
    except ValueError:
        out["body"] = r.text
    if client.receipts:
        out["settlement"] = client.receipts[-1].settlement.to_json()
    print(json.dumps(out, indent=1))
    return 0 if r.status_code < 400 else 1
