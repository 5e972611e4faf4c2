"""``eigen da node|disperser --config FILE`` (the network's processes) and ``eigen da put|get`` (its client);
docs/da-network.md."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any


def _quiet_grpc() -> None:
    """gRPC's C core logs a failed TLS handshake (and other transport events) on stderr at INFO; the commands
    report such failures themselves (one line, exit 2), so its logging is ERROR and up unless ``GRPC_VERBOSITY``
    says otherwise. Effective only before ``grpc`` is first imported, hence first in each command."""
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")


def cmd_node(args: argparse.Namespace) -> int:
    _quiet_grpc()
    from offchain.da.network.config import node_config
    from offchain.da.network.service import log, node_server

    cfg = node_config(args.config)
    server, node, store = node_server(cfg, _vault(cfg.payments), _operators(cfg.operators))
    grpc = None
    if cfg.grpc_port is not None:
        from offchain.da.network.rpc import node_grpc

        grpc = node_grpc(node, cfg.host, cfg.grpc_port, max_request_bytes=cfg.max_request_bytes,
                         loopback_only=not cfg.public, tls=cfg.grpc_tls)  # fmt: skip
    info = {
        "event": "node_listening",
        "url": server.url,
        "operator_id": node.operator_id.hex(),
        **_grpc_url(grpc),
    }
    print(json.dumps(info), flush=True)  # the bound URL (port 0 picks one), for whoever started the node
    log.info("node_listening", extra={k: v for k, v in info.items() if k != "event"})
    if grpc is not None:
        grpc.start()
    try:
        server.run()
    finally:
        if grpc is not None:
            grpc.stop()
        store.close()
    return 0


def _grpc_url(grpc: Any) -> dict[str, str]:
    return {} if grpc is None else {"grpc_url": grpc.url}


def _vault(payments: Any) -> Any:
    """The PaymentVault reader a ``payments`` section names (offchain.chain), or None."""
    if payments is None:
        return None
    from offchain.chain.da_contracts import PaymentVaultReader

    return PaymentVaultReader(payments.rpc, payments.vault)


def _claimer(payments: Any, key: bytes) -> Any:
    """What claims the disperser's accepted on-demand payments in the PaymentVault a ``payments`` section
    names, signed (and its gas paid) by the disperser's key (offchain.chain); None without one or when
    EIGEN_DA_CLAIM_INTERVAL is off."""
    from offchain import settings

    if payments is None or settings.da_claim_interval() is None:
        return None
    from offchain.chain.da_contracts import PaymentVaultClaimer

    return PaymentVaultClaimer(payments.rpc, payments.vault, key)


def _operators(operators: Any) -> Any:
    """The BLSRegistry operator source an ``operators`` section names (offchain.chain), or None."""
    if operators is None:
        return None
    from offchain.chain.bls_registry import BLSRegistryReader
    from offchain.da.network.operators import RegistryOperators

    reader = BLSRegistryReader(operators.rpc, operators.registry)
    return RegistryOperators(reader, operators.quorums, operators.reference_block_offset)


def _process(sub: Any, name: str, func: Any, help: str, description: str) -> None:
    """``eigen da NAME --config FILE``: a network process; prints one JSON line with its bound URL."""
    p = sub.add_parser(name, help=help, description=description + " Prints one JSON line with the bound URL.")
    p.add_argument("--config", required=True, metavar="FILE", help=f"the {name}'s configuration file")
    p.set_defaults(func=func)


def register(sub: Any) -> None:
    _process(
        sub, "node", cmd_node,
        "run a DA validator node: StoreChunks (verify, store, BLS-sign) and GetChunks over HTTP+JSON (and gRPC)",
        "Serve EigenDA V2's validator API (POST /v2/StoreChunks, /v2/GetChunks) as configured by FILE (JSON or "
        "YAML: host, port, bls_key_file, store_dir, srs, network; docs/da-network.md); logs JSON lines to stderr.",
    )  # fmt: skip
    _process(
        sub, "disperser", cmd_disperser,
        "run a DA disperser: DisperseBlob, GetBlobStatus, GetBlobCommitment over HTTP+JSON (and gRPC)",
        "Serve EigenDA V2's disperser API as configured by FILE (JSON or YAML: host, port, key_file, srs, network, "
        "metadata; docs/da-network.md); logs JSON lines to stderr.",
    )  # fmt: skip
    _process(
        sub, "relay", cmd_relay,
        "run a DA relay: GetBlob and GetChunks (signed by a known operator) over HTTP+JSON (and gRPC)",
        "Serve EigenDA V2's relay API as configured by FILE (JSON or YAML: host, port, store_dir, srs, network, "
        "disperser_metadata; docs/da-network.md); copies the disperser's certified blobs; logs JSON lines to stderr.",
    )  # fmt: skip
    register_client(sub)
    register_devnet(sub)


def cmd_relay(args: argparse.Namespace) -> int:
    _quiet_grpc()
    from offchain.da.network.config import relay_config
    from offchain.da.network.service import relay_server, rlog

    cfg = relay_config(args.config)
    server, relay, store = relay_server(cfg)
    grpc = None
    if cfg.grpc_port is not None:
        from offchain.da.network.rpc import relay_grpc

        grpc = relay_grpc(relay, cfg.host, cfg.grpc_port, max_request_bytes=cfg.max_request_bytes,
                          loopback_only=not cfg.public, tls=cfg.grpc_tls)  # fmt: skip
    return _serve("relay_listening", server, rlog, relay, store.close, grpc)


def _serve(event: str, server: Any, log: Any, worker: Any, close: Any, grpc: Any = None) -> int:
    """Print the bound URLs (HTTP, and gRPC when ``grpc``), start ``worker``'s thread and the gRPC server, serve
    until stopped; then stop them and ``close``."""
    info = {"url": server.url, **_grpc_url(grpc)}
    print(json.dumps({"event": event, **info}), flush=True)
    log.info(event, extra=info)
    worker.start()
    if grpc is not None:
        grpc.start()
    try:
        server.run()
    finally:
        if grpc is not None:
            grpc.stop()
        worker.stop()
        close()
    return 0


def cmd_disperser(args: argparse.Namespace) -> int:
    _quiet_grpc()
    from offchain.da.network.config import disperser_config
    from offchain.da.network.service import disperser_server, dlog

    cfg = disperser_config(args.config)
    server, disperser = disperser_server(
        cfg, _vault(cfg.payments), _operators(cfg.operators), _claimer(cfg.payments, cfg.key)
    )
    grpc = None
    if cfg.grpc_port is not None:
        from offchain.da.network.rpc import disperser_grpc

        grpc = disperser_grpc(disperser, cfg.host, cfg.grpc_port, max_request_bytes=cfg.max_request_bytes,
                              loopback_only=not cfg.public, tls=cfg.grpc_tls)  # fmt: skip

    def close() -> None:
        disperser.db.close()
        disperser.signing.close()

    return _serve("disperser_listening", server, dlog, disperser, close, grpc)


def _private_key(path: str) -> bytes:
    from offchain.da.errors import DispersalError

    try:
        raw = bytes.fromhex(Path(path).read_text().strip().removeprefix("0x"))
    except ValueError:
        raise DispersalError(f"--key {path}: not hex") from None
    if len(raw) != 32:
        raise DispersalError(f"--key {path}: {len(raw)} bytes, expected a 32-byte secp256k1 key")
    return raw


def _disperser_url(args: argparse.Namespace) -> str:
    """``--disperser URL``, or the disperser of ``--deployment RECORD`` (its ``da.grpc``): one of the two."""
    from offchain.da.errors import DispersalError
    from offchain.da.network.config import deployment_disperser

    if bool(args.disperser) == bool(args.deployment):
        raise DispersalError("--disperser URL or --deployment RECORD: one of the two")
    return args.disperser or deployment_disperser(args.deployment)


def cmd_put(args: argparse.Namespace) -> int:
    _quiet_grpc()
    from offchain.da.network import client

    payload = Path(args.file).read_bytes()
    quorums = tuple(int(q) for q in args.quorums.split(","))
    checker = _cert_checker(args.cert_verifier, args.rpc)
    cert = client.put(
        _disperser_url(args), payload, _private_key(args.key), quorums, timeout_s=args.timeout, payment=args.payment,
        cert_checker=checker, chain_id=_anchor_chain(args.chain_id, checker), disperser_id=args.disperser_id,
        tls=_client_tls(args),
    )  # fmt: skip
    out = Path(args.out or f"{args.file}.cert.json")
    out.write_text(json.dumps(cert, indent=1) + "\n")
    print(json.dumps({"event": "certified", "blob_key": cert["blob_key"], "certificate": str(out)}))
    return 0


def _client_tls(args: argparse.Namespace, section: Any = None, base: Path | None = None) -> Any:
    """The trust for ``grpcs://`` URLs: ``--grpc-ca`` / ``--grpc-cert`` / ``--grpc-key``, else the client
    configuration's ``grpc_tls: {ca, cert, key}`` (paths relative to it); None when neither names one."""
    from offchain.da.network.config import grpc_tls
    from offchain.da.network.service import client_tls

    given = {k: v for k, v in (("ca", args.grpc_ca), ("cert", args.grpc_cert), ("key", args.grpc_key)) if v}
    if given:
        return client_tls(grpc_tls({k: str(Path(v).resolve()) for k, v in given.items()}, Path.cwd()))
    if section is not None:
        if not isinstance(section, dict) or set(section) - {"ca", "cert", "key"}:
            from offchain.da.errors import DispersalError

            raise DispersalError(f"grpc_tls: expected {{ca, cert, key}}, got {section!r}")
        return client_tls(grpc_tls(section, base or Path.cwd()))
    return None


def _tls_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--grpc-ca",
        metavar="PEM",
        help="CA certificates trusted for grpcs:// URLs (default: client.json's grpc_tls, else the system's)",
    )
    p.add_argument(
        "--grpc-cert",
        metavar="PEM",
        help="the client certificate for grpcs:// servers that ask for one (default: client.json's grpc_tls, else none)",
    )
    p.add_argument(
        "--grpc-key",
        metavar="PEM",
        help="its private key, unencrypted PEM (default: client.json's grpc_tls, else none)",
    )


def _anchor_chain(chain_id: int | None, checker: Any) -> int | None:
    """The chain a put's anchor signature names: ``--chain-id``, else the chain ``--rpc`` serves (with
    ``--cert-verifier``), else none (no anchor: a disperser that requires one refuses the put)."""
    from offchain.da.errors import DispersalError

    if chain_id is not None or checker is None:
        return chain_id
    try:
        return int(checker.w3.eth.chain_id)
    except Exception as exc:  # noqa: BLE001 - any failure of the node is the same one-line error
        raise DispersalError(f"--rpc: cannot read the chain id for the anchor signature: {exc}") from None


def _cert_checker(address: str | None, rpc: str | None) -> Any:
    """The EigenDACertVerifier client ``--cert-verifier ADDRESS --rpc URL`` name (offchain.chain), or None."""
    from offchain.da.errors import DispersalError

    if address is None and rpc is None:
        return None
    if not (address and rpc):
        raise DispersalError(
            "--cert-verifier and --rpc go together (or client.json's cert_verifier: {rpc, address})"
        )
    from offchain.chain.da_contracts import CertVerifierClient
    from offchain.chain.errors import ChainInputError

    try:
        return CertVerifierClient(rpc, address)
    except ChainInputError as exc:
        raise DispersalError(f"--cert-verifier: {exc}") from exc


def cmd_get(args: argparse.Namespace) -> int:
    _quiet_grpc()
    from offchain.da.eigenda.encoder import Encoder
    from offchain.da.errors import DispersalError
    from offchain.da.network import client
    from offchain.da.network.config import (
        load_srs,
        network_state,
        operators_config,
        read_file,
        retrieval_urls,
    )

    cert = client.read_certificate(Path(args.cert).read_text())
    client.check_certificate(cert)
    cfg_path = Path(args.config)
    cfg = read_file(cfg_path)
    state, _ = network_state(cfg.get("network"), cfg_path.parent)
    urls = retrieval_urls(cfg.get("network"), cfg_path.parent)
    relays = cfg.get("relays") or {}
    if not isinstance(relays, dict) or not all(
        str(k).isdigit() and isinstance(u, str) for k, u in relays.items()
    ):
        raise DispersalError(f"{cfg_path}: relays: expected {{relay key: URL}}, got {relays!r}")
    verifier = cfg.get("cert_verifier") or {}
    if not isinstance(verifier, dict) or set(verifier) - {"rpc", "address"}:
        raise DispersalError(f"{cfg_path}: cert_verifier: expected {{rpc, address}}, got {verifier!r}")
    checker = _cert_checker(args.cert_verifier or verifier.get("address"), args.rpc or verifier.get("rpc"))
    encoder = Encoder(load_srs(cfg.get("srs"), cfg_path.parent))
    stakes = state.stakes
    source = _operators(operators_config(cfg.get("operators")))
    if source is not None:  # the stakes at the certificate's reference block, from the registry
        stakes = source.state_at(int(cert["signed_batch"]["header"]["reference_block_number"])).stakes
    payload, path = client.get(
        cert, stakes, urls, encoder, relays={int(k): u for k, u in relays.items()}, cert_checker=checker,
        tls=_client_tls(args, cfg.get("grpc_tls"), cfg_path.parent),
    )  # fmt: skip
    print(json.dumps({"event": "retrieved", "served_by": path.served_by, "relay_error": path.relay_error}),
          file=sys.stderr)  # fmt: skip
    if args.out:
        Path(args.out).write_bytes(payload)
    else:
        sys.stdout.buffer.write(payload)
    return 0


def register_client(sub: Any) -> None:
    put = sub.add_parser("put", help="disperse FILE through a disperser; writes its certificate (JSON)")
    put.add_argument("file", metavar="FILE", help="the payload to disperse")
    put.add_argument(
        "--disperser",
        metavar="URL",
        help="the disperser's URL: http://HOST:PORT (HTTP+JSON) or grpc://HOST:PORT (gRPC) (default: none; "
        "this or --deployment is required)",
    )
    put.add_argument(
        "--deployment",
        metavar="RECORD",
        help="instead of --disperser: the gRPC URL of an `ape run deploy --components da` record's disperser "
        "(its da.grpc host and disperser_port) (default: none)",
    )
    put.add_argument(
        "--key", required=True, metavar="KEYFILE", help="the payer's secp256k1 key (32 bytes hex)"
    )
    put.add_argument("--quorums", default="0,1", help="quorum numbers, comma-separated (default 0,1)")
    put.add_argument("-o", "--out", metavar="CERT", help="certificate file (default FILE.cert.json)")
    put.add_argument(
        "--timeout", type=float, default=300.0, help="seconds to wait for COMPLETE (default 300)"
    )
    put.add_argument(
        "--payment",
        choices=("reservation", "on-demand"),
        default="reservation",
        help="pay from the account's reservation (default) or its on-demand deposit in the PaymentVault",
    )
    put.add_argument(
        "--chain-id", type=int, metavar="N",
        help="sign EigenDA's anchor signature for this chain (default: the chain --rpc serves, if given)",
    )  # fmt: skip
    put.add_argument(
        "--disperser-id",
        type=int,
        default=0,
        metavar="N",
        help="the disperser id the anchor names (default 0)",
    )
    _verifier_options(put)
    _tls_options(put)
    put.set_defaults(func=cmd_put)
    get = sub.add_parser(
        "get",
        help="the bytes of a certificate, from the relay (checked against the commitment) or validators' chunks",
    )
    get.add_argument("cert", metavar="CERT", help="a certificate written by eigen da put")
    get.add_argument(
        "--config",
        required=True,
        metavar="FILE",
        help="client config: {network, srs, relays: {relay key: URL} (optional)}",
    )
    get.add_argument("-o", "--out", metavar="FILE", help="output file (default stdout)")
    _verifier_options(get)
    _tls_options(get)
    get.set_defaults(func=cmd_get)


def _verifier_options(p: Any) -> None:
    p.add_argument(
        "--cert-verifier", metavar="ADDRESS",
        help="accept the certificate only when this EigenDACertVerifier's checkDACert returns SUCCESS (with --rpc; default: none, not checked on chain)",
    )  # fmt: skip
    p.add_argument(
        "--rpc", metavar="URL", help="JSON-RPC node of the chain holding the cert verifier (default: none)"
    )


def _devnet_dir(args: argparse.Namespace) -> Path:
    from offchain.settings import ROOT

    return Path(args.dir) if args.dir else ROOT / ".devnet" / "da"


def _devnet_chain(path: Path | None) -> Any:
    """The DA devnet's chain: a chain record file (devnet.json's shape: rpc_url, addresses, accounts), or an
    ``eigen chain devnet`` folder (default the checkout's .devnet), started and deployed first when it is not running."""
    from offchain.chain import devnet as chain_devnet
    from offchain.chain import sdk
    from offchain.da.network.devchain import ChainSpec

    if path is not None and path.is_file():
        return ChainSpec.from_record(path)
    folder = path or sdk.DEVNET_DIR
    chain_devnet.up(folder, log=lambda line: print(line, file=sys.stderr))
    return ChainSpec.from_record(folder / sdk.DEVNET_FILE)


def _with_deployment(chain: Any, path: Path) -> tuple[Any, dict[str, Any]]:
    """The chain with the addresses of an `ape run deploy` record holding a ``da`` section: the devnet uses
    its DA contracts instead of deploying its own (offchain.da.network.devchain); and the record's ``da.grpc``
    (where the disperser and the validators serve gRPC)."""
    from dataclasses import replace

    from offchain.da.errors import DevnetProcessError
    from offchain.da.network.config import record_grpc

    try:
        rec = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DevnetProcessError(f"--deployment {path} is unreadable: {exc}") from None
    if not isinstance(rec, dict) or not isinstance(rec.get("da"), dict) or "allocation_manager" not in rec:
        raise DevnetProcessError(
            f"--deployment {path} is no deployment record with a da section (ape run deploy --components da)"
        )
    grpc = record_grpc(rec, f"--deployment {path}", DevnetProcessError)
    return replace(chain, addresses={k: v for k, v in rec.items() if k != "parameters"}), grpc


def cmd_devnet(args: argparse.Namespace) -> int:
    from offchain.da.errors import DevnetProcessError
    from offchain.da.network import devnet
    from offchain.settings import da_srs_dir

    folder = _devnet_dir(args)
    if args.action == "up":
        payments = None
        if args.payment_vault or args.rpc:
            if not (args.payment_vault and args.rpc):
                raise DevnetProcessError("--payment-vault and --rpc go together")
            payments = {"rpc": args.rpc, "vault": args.payment_vault}
        srs_dir = args.srs or (None if args.test_srs else da_srs_dir())
        if not 1 <= args.validators <= 64:  # before any chain is started
            raise DevnetProcessError(f"--validators {args.validators}: between 1 and 64")
        devnet.srs_spec(srs_dir, args.test_srs)
        chain = grpc = None
        if args.no_chain and args.chain:
            raise DevnetProcessError("--chain and --no-chain: one or the other")
        if not args.no_chain:
            if payments:
                raise DevnetProcessError(
                    "--payment-vault: only with --no-chain (on a chain the devnet deploys its own)"
                )
            chain = _devnet_chain(Path(args.chain) if args.chain else None)
            if args.deployment:
                chain, grpc = _with_deployment(chain, Path(args.deployment))
        elif args.deployment:
            raise DevnetProcessError("--deployment: only on a chain (not with --no-chain)")
        info = devnet.up(
            folder, args.validators, srs_dir=srs_dir, test_srs_symbols=args.test_srs, payments=payments,
            log_level=args.log_level, chain=chain, grpc=grpc,
        )  # fmt: skip
    elif args.action == "configure":
        ports = [args.validator_port] * args.validators if args.validator_port else None
        if ports is None:
            raise DevnetProcessError("configure: --validator-port is required (each validator's port)")
        payments = {"rpc": args.rpc, "vault": args.payment_vault} if args.payment_vault and args.rpc else None
        srs = devnet.srs_spec(args.srs or (None if args.test_srs else da_srs_dir()), args.test_srs)
        configs = devnet.configure(
            folder, args.validators, srs=srs, validator_ports=ports, disperser_port=args.disperser_port,
            relay_port=args.relay_port, validator_url=args.validator_url, relay_url=args.relay_url, host=args.host,
            data_dir=args.data_dir, payments=payments, log_level=args.log_level,
        )  # fmt: skip
        info = {"folder": str(folder.resolve()), "configs": {name: str(cfg) for name, _, cfg in configs}}
    elif args.action == "down":
        info = {"stopped": devnet.down(folder), "folder": str(folder.resolve())}
    else:
        info = devnet.status(folder)
    print(json.dumps(info))
    return 0 if args.action != "status" or info["running"] else 3


def register_devnet(sub: Any) -> None:
    p = sub.add_parser(
        "devnet",
        help="a DA network on loopback: N validators, a disperser and a relay as processes (up, down, status)",
        description="up: start (or keep) N `eigen da node`, one `eigen da disperser` and one `eigen da relay` on "
        "free loopback ports, with keys, configurations and devnet.json in --dir; down: stop them; status: which "
        "run and answer (exit 3 when not all do); configure: only write keys and configurations (deploy/). "
        "Prints one JSON line (docs/da-network.md, Devnet).",
    )
    p.add_argument("action", choices=("up", "down", "status", "configure"), help="what to do")
    p.add_argument("--dir", metavar="DIR", help="the devnet's folder (default .devnet/da in the checkout)")
    p.add_argument("--validators", type=int, default=4, help="validator nodes to start (default 4)")
    p.add_argument("--srs", metavar="DIR", help="EigenDA's SRS files (default $EIGEN_DA_SRS)")
    p.add_argument(
        "--test-srs",
        type=int,
        metavar="SYMBOLS",
        help="an insecure test SRS of SYMBOLS points instead (tests only; default: none, the real SRS)",
    )
    p.add_argument(
        "--payment-vault",
        metavar="ADDRESS",
        help="with --no-chain: meter payments against this PaymentVault ... (default: none, no payments)",
    )
    p.add_argument("--rpc", metavar="URL", help="... on the chain at this JSON-RPC URL (default: none)")
    p.add_argument(
        "--chain",
        metavar="PATH",
        help="up: the chain to deploy the DA contracts on and register the validators in: an `eigen chain devnet` folder "
        "(started first when not running) or a chain record file (rpc_url, addresses, accounts.deployer.key) "
        "(default: the checkout's .devnet)",
    )
    p.add_argument(
        "--deployment",
        metavar="RECORD",
        help="up: use the DA contracts of this `ape run deploy --components da` record on the chain (its AVS and "
        "PaymentVault owner must be the chain's deployer key) instead of deploying the devnet's own (default: none)",
    )
    p.add_argument(
        "--no-chain",
        action="store_true",
        help="up: no chain: equal stakes from network.json, payments unmetered or --payment-vault (default: off)",
    )
    p.add_argument("--log-level", default="info", help="the processes' log level (default info)")
    g = p.add_argument_group("configure (keys and configurations only, for deploy/: nothing is started)")
    g.add_argument(
        "--host",
        default="127.0.0.1",
        help="bind address of every process (non-loopback: public; default 127.0.0.1)",
    )
    g.add_argument(
        "--validator-port", type=int, help="each validator's port (default: none; required by configure)"
    )
    g.add_argument("--disperser-port", type=int, default=9200, help="the disperser's port (default 9200)")
    g.add_argument("--relay-port", type=int, default=9300, help="the relay's port (default 9300)")
    g.add_argument(
        "--validator-url",
        default="http://127.0.0.1:{port}",
        help="how validator {i} is reached (with {i}, {port}; default http://127.0.0.1:{port})",
    )
    g.add_argument(
        "--relay-url",
        default="http://127.0.0.1:{port}",
        help="how clients reach the relay ({port}; default http://127.0.0.1:{port})",
    )
    g.add_argument(
        "--data-dir", default="data", help="where stores and the metadata database live (default data)"
    )
    p.set_defaults(func=cmd_devnet)
