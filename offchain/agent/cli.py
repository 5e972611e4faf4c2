"""``eigen agent ...``: x402 payments between agents (docs/agent.md).

    eigen agent facilitator --rpc URL --key KEY --token ADDR [--settler ADDR] [--escrow ADDR] [--host H] [--port N]
    eigen agent pay URL --key KEY --token ADDR --chain-id N --budget UNITS [--method M] [--json BODY]
    eigen agent escrow {release,refund,show} ID --rpc URL --escrow ADDR [--key KEY]
    eigen agent settle [ID ...] --rpc URL --escrow ADDR --key KEY [--payee ADDR] [--payer ADDR] [--from-block N]
    eigen agent history AGENT_ID [--deployment RECORD] [--rpc URL] [--from-block N] [--json]
                              [--disperser URL --da-config CLIENT_JSON]

``facilitator`` serves x402 v2's ``/verify``, ``/settle`` and ``/supported`` for the EIP-3009 token
(``exact``), with ``--settler`` (contracts/agent/UptoSettler.vy) ``upto``, and with ``--escrow``
(contracts/agent/VerifiedEscrow.vy) ``verified``; it sends the
settlements from KEY, which pays the gas. ``pay`` requests URL and pays a 402 within the budget
(atomic units of the token), then prints the response and the settlement as JSON. ``escrow``
releases a verified payment to its payee, refunds it to its payer, or shows it (anyone may send a
release or refund; the certifying operators are read from the task's TaskVerified event). ``settle``
is the keeper (offchain.agent.keeper): for the escrows named, or every held one to --payee / from
--payer, it sends what is due (confirm a certified task, bind an inference receipt found on chain,
release after the challenge window, refund) and prints each step as JSON. Keys are
0x + 64 hex digits or a file holding them. ``history`` prints what the chain holds about an agent
(ERC-8004 identity, feedback, validations, its TaskMailbox tasks and inference receipts, its
verified-escrow and x402 exact/upto payments, the slashes proven against its work, the DA records the
chain names), read from the contracts a deployment record names (default: the running devnet's);
with ``--disperser`` and ``--da-config`` (the DA network's client.json) each DA record is fetched by
its certificate, verified and decoded. Every bad input is one line and exit status 2.
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
    f.add_argument("--escrow", default=None, help="the VerifiedEscrow's address (enables verified)")
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

    e = s.add_parser("escrow", help="release, refund or show a verified (escrowed) payment")
    e.add_argument("action", choices=("release", "refund", "show"), help="what to do")
    e.add_argument("id", help="the escrow id (0x + 64 hex)")
    e.add_argument("--rpc", required=True, help="the chain's JSON-RPC URL")
    e.add_argument("--escrow", required=True, help="the VerifiedEscrow's address")
    e.add_argument("--key", default=None, help="the sending account's key (release, refund)")
    e.set_defaults(func=_escrow)

    k = s.add_parser("settle", help="keeper: confirm, bind, release or refund verified payments that are due")
    k.add_argument("ids", nargs="*", help="escrow ids (0x + 64 hex); none: every held one")
    k.add_argument("--rpc", required=True, help="the chain's JSON-RPC URL")
    k.add_argument("--escrow", required=True, help="the VerifiedEscrow's address")
    k.add_argument("--key", required=True, help="the sending account's key (0x + 64 hex, or a file)")
    k.add_argument("--payee", default=None, help="only escrows paying this address")
    k.add_argument("--payer", default=None, help="only escrows paid by this address")
    k.add_argument(
        "--from-block", type=cliargs.uint(64), default=0, help="the first block to read events from"
    )
    k.set_defaults(func=_settle)

    h = s.add_parser(
        "history",
        help="an agent's record from the chain (and DA): identity, feedback, validations, tasks, payments, slashes",
    )
    h.add_argument("agent_id", type=cliargs.uint(256), help="the ERC-8004 agent id")
    h.add_argument("--devnet", type=cliargs.path, default=None, help="the devnet folder (default: .devnet)")
    h.add_argument("--rpc", default=None, help="a node's JSON-RPC URL (default: the devnet's)")
    h.add_argument("--deployment", type=Path, default=None, help="a deployment record or devnet.json")
    h.add_argument("--abi", type=Path, default=None, help="a folder of ABI files (default: ape's .build/)")
    h.add_argument(
        "--from-block", type=cliargs.uint(64), default=0, help="the first block to read events from"
    )
    h.add_argument("--json", action="store_true", help="print JSON instead of tables")
    h.add_argument("--disperser", default=None, help="the DA disperser's URL (certificates by blob key)")
    h.add_argument(
        "--da-config",
        type=cliargs.path,
        default=None,
        help="the DA network's client.json (relays, validators)",
    )
    h.set_defaults(func=_history)


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
    from offchain.chain.agent import Escrow, Settler, StableToken
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
    escrow = (
        None if args.escrow is None else Escrow(w3, _address(args.escrow, "--escrow"), abis["VerifiedEscrow"])
    )
    fac = EvmFacilitator(w3, key, [token], settler, escrow=escrow)
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


def _escrow_id(text: str) -> bytes:
    from offchain.agent.errors import PaymentPayloadError

    body = text.removeprefix("0x")
    if not text.startswith("0x") or len(body) != 64 or any(c not in "0123456789abcdefABCDEF" for c in body):
        raise PaymentPayloadError(f"an escrow id is 0x and 64 hex digits: got {text!r}")
    return bytes.fromhex(body)


def _settle(args: argparse.Namespace) -> int:
    from offchain.agent.keeper import Keeper
    from offchain.chain.agent import Escrow, Sender
    from offchain.chain.sdk import _connect, load_abis

    ids = [_escrow_id(i) for i in args.ids]
    payee = None if args.payee is None else _address(args.payee, "--payee")
    payer = None if args.payer is None else _address(args.payer, "--payer")
    key = _key(args.key)
    w3 = _connect(args.rpc)
    abis = load_abis()
    escrow = Escrow(w3, _address(args.escrow, "--escrow"), abis["VerifiedEscrow"])
    keeper = Keeper(escrow, Sender(w3, key), abis["TaskMailbox"], abis["InferenceDisputes"], args.from_block)
    steps = keeper.run(ids or keeper.held(payee, payer))
    print(json.dumps([s.to_json() for s in steps], indent=1))
    return 0


def _escrow(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from offchain.agent.errors import PaymentPayloadError
    from offchain.chain.agent import Escrow, Sender
    from offchain.chain.sdk import _connect, load_abis

    eid = _escrow_id(args.id)
    if args.action != "show" and args.key is None:
        raise PaymentPayloadError(f"escrow {args.action} sends a transaction: give --key")
    key = None if args.key is None else _key(args.key)
    w3 = _connect(args.rpc)
    abis = load_abis()
    escrow = Escrow(w3, _address(args.escrow, "--escrow"), abis["VerifiedEscrow"])
    out: dict[str, Any] = {"id": "0x" + eid.hex()}
    if args.action != "show":
        rec = escrow.get(eid)
        signers = escrow.task_signers(rec.ref, abis["TaskMailbox"]) if rec.state == "held" else []
        call = (escrow.release if args.action == "release" else escrow.refund)(eid, signers)
        sender = Sender(w3, key)
        sender.simulate(call)  # a refusal is its revert reason, before any gas is spent
        out["transaction"] = "0x" + sender.send(call).hex()
    rec = escrow.get(eid)
    out |= {k: ("0x" + v.hex() if isinstance(v, bytes) else v) for k, v in asdict(rec).items()}
    print(json.dumps(out, indent=1))
    return 0


def _history(args: argparse.Namespace) -> int:
    from offchain.agent.errors import HistoryOptionsError
    from offchain.agent.history import agent_history, render
    from offchain.chain.cli import _load  # the same deployment lookup as `eigen chain`

    records = None
    if (args.disperser is None) != (args.da_config is None):
        raise HistoryOptionsError(
            "--disperser and --da-config go together (the DA records' certificates and contents)"
        )
    if args.disperser is not None:
        from offchain.agent.trading import DARecords

        records = DARecords(args.disperser, b"", args.da_config)  # reads only: no dispersal key
    h = agent_history(_load(args), args.agent_id, args.from_block, records)
    print(json.dumps(h, indent=1) if args.json else render(h))
    return 0
