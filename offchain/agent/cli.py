"""``eigen agent ...``: x402 payments between agents (docs/agent.md).

    eigen agent facilitator --rpc URL --key KEY --token ADDR [--settler ADDR] [--escrow ADDR] [--host H] [--port N]
    eigen agent pay URL --key KEY --token ADDR --chain-id N --budget UNITS [--method M] [--json BODY]
    eigen agent escrow {release,refund,show} ID --rpc URL --escrow ADDR [--key KEY]
    eigen agent settle [ID ...] --rpc URL --escrow ADDR --key KEY [--payee ADDR] [--payer ADDR] [--from-block N] [--vault ADDR]
    eigen agent data-agent --rpc URL --key KEY --amm ADDR --token ADDR --price UNITS --facilitator URL
                           [--tls-cert PEM --tls-key PEM [--client-ca PEM --callers JSON
                            [--no-require-client-cert] [--revocation MODE] [--crl FILE ...]
                            [--revocation-soft-fail] [--crl-grace S] [--crl-issuer PEM ...]
                            [--ocsp-get]]]
    eigen agent inference-seller --rpc URL --operator-key KEY --key KEY --disputes ADDR --token ADDR
                                 --facilitator URL [--scheme verified|exact|upto] [--price UNITS]
                                 [--per-token UNITS] [--window S] [--model GGUF | --tiny SEED]
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
release after the challenge window, refund; with --vault, credit what it refunded to that AgentVault
back to the vault's budgets) and prints each step as JSON. Keys are
0x + 64 hex digits or a file holding them. ``history`` prints what the chain holds about an agent
(ERC-8004 identity, feedback, validations, its TaskMailbox tasks and inference receipts, its
verified-escrow and x402 exact/upto payments, the slashes proven against its work, the DA records the
chain names), read from the contracts a deployment record names (default: the running devnet's);
with ``--disperser`` and ``--da-config`` (the DA network's client.json) each DA record is fetched by
its certificate, verified and decoded. ``data-agent`` serves the data agent over A2A (its skill
``market-feed``: the signed feed of a step of the AMM, paid through the x402 extension at the price,
settled by the facilitator); with ``--tls-cert``/``--tls-key`` over HTTPS, with ``--client-ca`` and
``--callers`` its callers are named by TLS client certificate (mutual TLS), and ``--revocation``
refuses certificates their CA revoked (CRL, OCSP, either; fail closed unless
``--revocation-soft-fail``; delta CRLs, indirect CRLs of the ``--crl-issuer`` certificates, OCSP by
GET with ``--ocsp-get``). ``inference-seller`` sells deterministic inference over HTTP x402
(``GET /inference``; ``verified`` by default: paid into the facilitator's escrow on the request's
digest, released once the receipt stands), its receipts signed by the operator key and registered
on InferenceDisputes from KEY; its offers come from the facilitator's ``/supported``. Each TLS option has an ``EIGEN_A2A_*`` setting (docs/settings.md) the
option overrides. Every bad input is one line and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from offchain import cliargs, settings
from offchain.ai.cli import _add_model_args, _service

if TYPE_CHECKING:
    from offchain.agent.a2a_mtls import MutualTLS


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
    k.add_argument(
        "--vault",
        default=None,
        help="an AgentVault: credit what the escrow refunded to it back to its budgets",
    )
    k.set_defaults(func=_settle)

    d = s.add_parser(
        "data-agent",
        help="serve the data agent over A2A (the signed USDC/dETH feed, paid by x402 exact), TLS and mutual TLS optional",
    )
    d.add_argument("--rpc", required=True, help="the chain's JSON-RPC URL")
    d.add_argument("--key", required=True, help="the key signing feeds and paid (0x + 64 hex, or a file)")
    d.add_argument("--amm", required=True, help="the ConstantProductAMM's address (the feed's pool)")
    d.add_argument("--token", required=True, help="the EIP-3009 token the feed is paid in (address)")
    d.add_argument("--price", type=cliargs.uint(256), required=True, help="a feed's price, in atomic units")
    d.add_argument(
        "--facilitator", required=True, help="the x402 facilitator's URL (eigen agent facilitator)"
    )
    d.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; loopback only without TLS)",
    )
    d.add_argument("--port", type=cliargs.port, default=4030, help="port to listen on (default 4030)")
    d.add_argument(
        "--store",
        default=None,
        help="the task store: a SQLite path or postgresql DSN (default $EIGEN_A2A_STORE)",
    )
    add_tls_options(d)
    d.set_defaults(func=_data_agent)

    i = s.add_parser(
        "inference-seller",
        help="sell deterministic inference over x402 (verified: paid only once the receipt stands)",
    )
    i.add_argument("--rpc", required=True, help="the chain's JSON-RPC URL")
    i.add_argument(
        "--operator-key",
        required=True,
        help="the inference operator's key, signing the receipts (0x + 64 hex, or a file)",
    )
    i.add_argument(
        "--key",
        required=True,
        help="the seller's key: registers the receipts on InferenceDisputes (pays their gas) and is paid",
    )
    i.add_argument("--disputes", required=True, help="the InferenceDisputes contract (address)")
    i.add_argument("--token", required=True, help="the EIP-3009 token inference is paid in (address)")
    i.add_argument(
        "--facilitator", required=True, help="the x402 facilitator's URL (eigen agent facilitator)"
    )
    i.add_argument(
        "--scheme",
        choices=("verified", "exact", "upto"),
        default="verified",
        help="verified (default: escrowed, released once the receipt's challenge window passed or it was "
        "upheld, refunded when it is proven wrong), exact, or upto (--per-token a generated token)",
    )
    i.add_argument("--price", type=cliargs.uint(256), default=0, help="an answer's price, in atomic units")
    i.add_argument(
        "--per-token", type=cliargs.uint(256), default=0, help="upto: the price of a generated token"
    )
    i.add_argument(
        "--window",
        type=cliargs.positive_int,
        default=3600,
        help="verified: seconds after the first offer for a request until it may be refunded (default 3600)",
    )
    i.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    i.add_argument("--port", type=cliargs.port, default=4031, help="port to listen on (default 4031)")
    _add_model_args(i)
    i.set_defaults(func=_inference_seller)

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
    from offchain.agent.vault import AgentVault
    from offchain.chain.agent import Escrow, Sender
    from offchain.chain.sdk import _connect, load_abis

    ids = [_escrow_id(i) for i in args.ids]
    payee = None if args.payee is None else _address(args.payee, "--payee")
    payer = None if args.payer is None else _address(args.payer, "--payer")
    key = _key(args.key)
    w3 = _connect(args.rpc)
    abis = load_abis()
    escrow = Escrow(w3, _address(args.escrow, "--escrow"), abis["VerifiedEscrow"])
    vault = (
        None if args.vault is None else AgentVault(w3, _address(args.vault, "--vault"), abis["AgentVault"])
    )
    keeper = Keeper(
        escrow, Sender(w3, key), abis["TaskMailbox"], abis["InferenceDisputes"], args.from_block, vault
    )
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


def add_tls_options(p: argparse.ArgumentParser) -> None:
    """An A2A server command's TLS, mutual TLS and revocation options (each defaulting to its
    ``EIGEN_A2A_*`` setting, read by :func:`tls_of`)."""
    g = p.add_argument_group("TLS and mutual TLS (each option overrides its EIGEN_A2A_* setting)")
    file: dict[str, Any] = {"type": cliargs.input_file}
    flag: dict[str, Any] = {"action": argparse.BooleanOptionalAction}
    options: tuple[tuple[str, dict[str, Any], str], ...] = (
        (
            "--tls-cert",
            file,
            "the agent's certificate chain, PEM (default $EIGEN_A2A_TLS_CERT; unset: plain HTTP)",
        ),
        ("--tls-key", file, "its private key, PEM (default $EIGEN_A2A_TLS_KEY)"),
        (
            "--client-ca",
            file,
            "CAs of callers' client certificates, PEM: mutual TLS (default $EIGEN_A2A_CLIENT_CA; unset: none)",
        ),
        (
            "--require-client-cert",
            flag,
            "refuse a handshake without a client certificate (default $EIGEN_A2A_REQUIRE_CLIENT_CERT, 1: yes)",
        ),
        (
            "--callers",
            file,
            'JSON file {"uri:spiffe://acme/alice": "alice", "sha256:<hex>": "bob", ...} naming callers by '
            "certificate (default $EIGEN_A2A_CALLERS; needed with --client-ca)",
        ),
        (
            "--revocation",
            {"choices": settings.REVOCATION_MODES},
            "check callers' certificates for revocation: none, crl, ocsp, either (OCSP, else the CRL) "
            "(default $EIGEN_A2A_REVOCATION, none)",
        ),
        (
            "--crl",
            file | {"action": "append"},
            "a CRL file (DER or PEM), used before distribution points; repeatable "
            "(default $EIGEN_A2A_CRL_FILES; none: distribution points only)",
        ),
        (
            "--revocation-soft-fail",
            flag,
            "let a certificate through when its CRL/OCSP source cannot be reached "
            "(default $EIGEN_A2A_REVOCATION_SOFT_FAIL; unset: refuse, fail closed)",
        ),
        (
            "--crl-grace",
            {"type": cliargs.seconds},
            "seconds a CRL is still taken past its nextUpdate (default $EIGEN_A2A_CRL_GRACE, 0)",
        ),
        (
            "--crl-issuer",
            file | {"action": "append"},
            "a CRL issuer's certificate(s), PEM: indirect CRLs of the distribution points naming it; "
            "repeatable (default $EIGEN_A2A_CRL_ISSUERS; none)",
        ),
        (
            "--ocsp-get",
            flag,
            "send OCSP requests by GET, without a nonce: cacheable answers (RFC 5019) "
            "(default $EIGEN_A2A_OCSP_GET; unset: POST with a nonce)",
        ),
    )
    for name, kind, text in options:
        g.add_argument(name, default=None, help=text, **kind)


def _file_setting(value: str | None, name: str) -> Path | None:
    """A file named by a setting, checked as the option's would be."""
    from offchain.errors import SettingError

    if value is None:
        return None
    problem = cliargs.input_file_problem(Path(value))
    if problem:
        raise SettingError(f"{name}: {problem}")
    return Path(value)


@dataclass(frozen=True)
class ServerTLS:
    """What :func:`tls_of` makes of the TLS options: the TLS context (None: plain HTTP), the
    mutual TLS policy (None: no client certificates) and whether the host may be beyond loopback."""

    context: ssl.SSLContext | None
    mtls: MutualTLS | None
    loopback_only: bool


def tls_of(args: argparse.Namespace) -> ServerTLS:
    """The TLS options of :func:`add_tls_options`, each from the command line or else its setting,
    checked together (AgentOptionsError, SettingError, ValueError: one line, exit 2)."""
    from offchain.agent.a2a_mtls import MutualTLS
    from offchain.agent.a2a_revocation import Revocation
    from offchain.agent.errors import AgentOptionsError

    cert_s, key_s, ca_s = settings.a2a_tls_files()
    cert = args.tls_cert or _file_setting(cert_s, "EIGEN_A2A_TLS_CERT")
    key = args.tls_key or _file_setting(key_s, "EIGEN_A2A_TLS_KEY")
    ca = args.client_ca or _file_setting(ca_s, "EIGEN_A2A_CLIENT_CA")
    callers = args.callers or _file_setting(settings.a2a_callers(), "EIGEN_A2A_CALLERS")
    required = args.require_client_cert
    required = settings.a2a_require_client_cert() if required is None else required
    mode = args.revocation or settings.a2a_revocation()
    crls = (
        args.crl
        if args.crl is not None
        else [_file_setting(f, "EIGEN_A2A_CRL_FILES") for f in settings.a2a_crl_files()]
    )
    soft = args.revocation_soft_fail
    soft = settings.a2a_revocation_soft_fail() if soft is None else soft
    grace = settings.a2a_crl_grace() if args.crl_grace is None else args.crl_grace
    crl_issuers = (
        args.crl_issuer
        if args.crl_issuer is not None
        else [_file_setting(f, "EIGEN_A2A_CRL_ISSUERS") for f in settings.a2a_crl_issuers()]
    )
    ocsp_get = settings.a2a_ocsp_get() if args.ocsp_get is None else args.ocsp_get
    if (cert is None) != (key is None):
        raise AgentOptionsError("--tls-cert and --tls-key go together (the agent's certificate and its key)")
    if ca is not None and cert is None:
        raise AgentOptionsError("--client-ca needs TLS: give --tls-cert and --tls-key")
    if (ca is None) != (callers is None):
        raise AgentOptionsError("--client-ca and --callers go together (the callers' CAs and who they are)")
    if mode != "none" and ca is None:
        raise AgentOptionsError(f"--revocation {mode} checks client certificates: give --client-ca")
    if crls and mode not in ("crl", "either"):
        raise AgentOptionsError("--crl files are read in --revocation crl or either")
    if crl_issuers and mode not in ("crl", "either"):
        raise AgentOptionsError("--crl-issuer certificates are read in --revocation crl or either")
    if ocsp_get and mode not in ("ocsp", "either"):
        raise AgentOptionsError("--ocsp-get asks OCSP: --revocation ocsp or either")
    if cert is None:
        return ServerTLS(None, None, True)
    mtls = None
    if ca is not None:
        assert callers is not None
        try:
            names = json.loads(callers.read_text())
        except (ValueError, UnicodeError):
            raise AgentOptionsError(f"{callers}: the callers file is not JSON") from None
        if not isinstance(names, dict):
            raise AgentOptionsError(f"{callers}: the callers file is a JSON object (certificate -> caller)")
        revocation = None
        if mode != "none":
            revocation = Revocation(
                mode,
                crl_files=[c for c in crls if c is not None],
                fail_closed=not soft,
                crl_grace_s=grace,
                crl_issuers=[c for c in crl_issuers if c is not None],
                ocsp_get=ocsp_get,
            )
        mtls = MutualTLS(ca.read_bytes(), names, revocation=revocation)
        ctx = mtls.server_context(cert, key, required=required)  # type: ignore[arg-type]
    else:
        from offchain.httptls import server_context

        ctx = server_context(cert, key)  # type: ignore[arg-type]
    return ServerTLS(ctx, mtls, False)


def _data_agent(args: argparse.Namespace) -> int:
    from eth_account import Account

    from offchain.agent.facilitator import HTTPFacilitator
    from offchain.agent.trading import FEED_SKILL, data_agent_a2a
    from offchain.agent.x402 import PaymentRequirements, caip2
    from offchain.chain.agent import StableToken
    from offchain.chain.sdk import _connect, load_abis
    from offchain.httpservice import ServiceServer

    tls = tls_of(args)  # (before the chain: a bad option is refused at once)
    key = _key(args.key)
    w3 = _connect(args.rpc)
    abis = load_abis()
    token = StableToken(w3, _address(args.token, "--token"), abis["StableToken"])
    amm = w3.eth.contract(address=_address(args.amm, "--amm"), abi=abis["ConstantProductAMM"])
    payee = Account.from_key(key).address
    offer = PaymentRequirements(
        "exact",
        caip2(w3.eth.chain_id),
        args.price,
        token.address,
        payee,
        60,
        {"name": token.name, "version": "2"},
    )
    server = data_agent_a2a(
        w3, amm, key, (offer,), HTTPFacilitator(args.facilitator), mtls=tls.mtls, store=args.store
    )
    http = ServiceServer(server.app(), args.host, args.port, tls=tls.context, loopback_only=tls.loopback_only)
    out = {"url": http.url, "skill": FEED_SKILL, "payee": payee, "price": str(args.price)}
    out |= {
        "mtls": tls.mtls is not None,
        "revocation": "none" if tls.mtls is None or tls.mtls.revocation is None else tls.mtls.revocation.mode,
    }
    print(json.dumps(out), flush=True)
    http.run()
    return 0


def _inference_seller(args: argparse.Namespace) -> int:
    from eth_account import Account

    from offchain.agent.errors import PaymentSchemeError
    from offchain.agent.evm import Offers
    from offchain.agent.facilitator import HTTPFacilitator
    from offchain.agent.inference_agent import InferenceSaleError, InferenceSeller
    from offchain.agent.x402 import caip2
    from offchain.chain.agent import Sender, StableToken
    from offchain.chain.sdk import _connect, load_abis
    from offchain.httpservice import ServiceServer

    operator_key, key = _key(args.operator_key), _key(args.key)
    token_addr = _address(args.token, "--token")
    disputes_addr = _address(args.disputes, "--disputes")
    w3 = _connect(args.rpc)
    abis = load_abis()
    token = StableToken(w3, token_addr, abis["StableToken"])
    facilitator = HTTPFacilitator(args.facilitator)
    offers = Offers.from_supported(
        facilitator.supported_sync(), {token.address: token.name}, caip2(w3.eth.chain_id)
    )
    if args.scheme == "verified" and (offers.escrow is None or "inference" not in offers.escrow_kinds):
        raise PaymentSchemeError("the facilitator's escrow settles no verified inference payments")
    if args.scheme == "upto" and offers.settler is None:
        raise PaymentSchemeError("the facilitator has no upto settler")
    priced = args.per_token if args.scheme == "upto" else args.price
    if priced <= 0:
        what = "--per-token" if args.scheme == "upto" else "--price"
        raise InferenceSaleError(f"{args.scheme} inference needs {what} above zero")
    svc = _service(args)
    payee = Account.from_key(key).address

    def clock() -> float:
        return float(w3.eth.get_block("pending")["timestamp"])

    seller = InferenceSeller(
        svc, bytes.fromhex(operator_key[2:]), offers.requirements, token.address, payee,
        w3.eth.contract(address=disputes_addr, abi=abis["InferenceDisputes"]), Sender(w3, key), clock,
        scheme=args.scheme, price=args.price, per_token=args.per_token, window_s=args.window,
    )  # fmt: skip
    http = ServiceServer(seller.http_app(facilitator), args.host, args.port)
    out = {"url": http.url + "/inference", "scheme": args.scheme, "payee": payee}
    out |= {"operator": Account.from_key(operator_key).address, "model": "0x" + svc.model.sha256.hex()}
    print(json.dumps(out), flush=True)
    http.run()
    return 0
