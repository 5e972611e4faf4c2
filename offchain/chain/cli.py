"""``eigen chain ...``: the devnet, operators, AVSs and ABIs (docs/avs-quickstart.md).

    eigen chain devnet up|down|status
    eigen chain addresses
    eigen chain abi --out DIR
    eigen chain operator register|allocate|status|register-key
    eigen chain avs create-set|slash|release

The deployment is the running devnet's (``.devnet/``, or ``--devnet DIR``) unless ``--rpc URL``
(with the record ``ape run deploy`` wrote for that chain) or ``--deployment FILE`` names another.
Keys (``--key``) are 0x + 64 hex digits, a file holding them, or a devnet account name
(``avs``, ``operator-1``, ...); addresses may be given as devnet account names too. Every bad input
is one line and exit status 2.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from offchain import cliargs


def register(sub: Any) -> None:
    p = sub.add_parser(
        "chain",
        help="devnet, operators, AVSs and ABIs (docs/avs-quickstart.md)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--devnet",
        type=cliargs.path,
        default=None,
        help="the devnet folder (default: .devnet in the checkout)",
    )
    p.add_argument("--rpc", default=None, help="a node's JSON-RPC URL (default: the devnet's)")
    p.add_argument("--deployment", type=Path, default=None, help="a deployment record or devnet.json to use")
    p.add_argument("--abi", type=Path, default=None, help="a folder of ABI files (default: ape's .build/)")
    p.add_argument("--json", action="store_true", help="print results as JSON")
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])
    s = p.add_subparsers(dest="chain_command", metavar="COMMAND")

    dv = s.add_parser("devnet", help="a persistent local chain with everything deployed and seeded")
    dvs = dv.add_subparsers(dest="devnet_command", metavar="ACTION")
    dvs.add_parser("up", help="start (or restart) the devnet and print its addresses").set_defaults(
        func=_devnet_up
    )
    dvs.add_parser("down", help="stop the devnet (its state is kept)").set_defaults(func=_devnet_down)
    dvs.add_parser("status", help="whether the devnet runs, and where").set_defaults(func=_devnet_status)
    dv.set_defaults(func=lambda a: (dv.print_help(), 2)[1])

    s.add_parser("addresses", help="print the deployment's addresses (JSON)").set_defaults(func=_addresses)
    ab = s.add_parser("abi", help="write each contract's ABI as JSON (for non-ape clients)")
    ab.add_argument(
        "--out", type=cliargs.path, required=True, help="the folder to write <Contract>.json into"
    )
    ab.set_defaults(func=_abi)

    op = s.add_parser("operator", help="register, allocate, status")
    ops = op.add_subparsers(dest="operator_command", metavar="ACTION")
    op.set_defaults(func=lambda a: (op.print_help(), 2)[1])
    r = ops.add_parser("register", help="register as an operator, and for operator sets")
    _key(r)
    r.add_argument("--avs", default=None, help="the AVS whose sets to join (address or account name)")
    _sets_option(r)
    r.add_argument(
        "--allocation-delay",
        type=int,
        default=1,
        help="blocks before an allocation takes effect (default: 1)",
    )
    r.add_argument("--metadata-uri", default="", help="the operator's metadata URI (default: empty)")
    r.add_argument(
        "--accept-redistribution", action="store_true", help="consent to sets that redistribute slashed stake"
    )
    r.set_defaults(func=_register)
    al = ops.add_parser("allocate", help="allocate a share of the operator's stake to a set")
    _key(al)
    al.add_argument("--avs", required=True, help="the set's AVS (address or account name)")
    al.add_argument("--set", type=int, required=True, help="the operator set id")
    al.add_argument("--magnitude", required=True, help="share of the stake in each strategy: 0.25 or 25%%")
    _strategies_option(al)
    al.set_defaults(func=_allocate)
    rk = ops.add_parser(
        "register-key",
        help="join operator sets with a BLS key (proof of possession), or rotate it (docs/bls.md)",
    )
    _key(rk)
    rk.add_argument("--avs", required=True, help="the sets' AVS (address or account name)")
    _sets_option(rk)
    rk.add_argument(
        "--bls-keystore", type=cliargs.path, required=True, help="the BLS keystore (eigen bls keygen)"
    )
    rk.add_argument("--password-file", type=cliargs.path, required=True, help="the keystore's password file")
    rk.add_argument("--registry", default=None, help="the BLSRegistry (default: the AVS's registrar)")
    rk.add_argument(
        "--rotate", action="store_true", help="queue a rotation to this key in the set(s) instead of joining"
    )
    rk.set_defaults(func=_register_key)
    st = ops.add_parser("status", help="an operator's stake, magnitudes and sets")
    st.add_argument("operator", help="the operator (address or account name)")
    st.add_argument("--avs", default=None, help="the AVS of the sets named (address or account name)")
    _sets_option(st)
    st.set_defaults(func=_status)

    avs = s.add_parser("avs", help="create-set, slash, release")
    avss = avs.add_subparsers(dest="avs_command", metavar="ACTION")
    avs.set_defaults(func=lambda a: (avs.print_help(), 2)[1])
    cs = avss.add_parser("create-set", help="create an operator set of the AVS whose key signs")
    _key(cs)
    cs.add_argument("--set", type=int, required=True, help="the new set's id")
    cs.add_argument("--strategies", required=True, help="comma-separated symbols (stETH,rETH) or addresses")
    cs.add_argument("--redistribute-to", default=None, help="slashed stake goes here instead of being burnt")
    cs.add_argument("--resolver", default=None, help="may cancel escrowed slashes (default: none)")
    cs.add_argument("--slasher", default=None, help="may slash (default: the AVS)")
    cs.add_argument(
        "--metadata-uri", default="", help="the AVS's metadata URI if it registers now (default: empty)"
    )
    cs.set_defaults(func=_create_set)
    sl = avss.add_parser("slash", help="slash an operator's allocation to a set (as its slasher)")
    _key(sl)
    sl.add_argument("--operator", required=True, help="the operator (address or account name)")
    sl.add_argument("--set", type=int, required=True, help="the operator set id")
    sl.add_argument("--wad", required=True, help="share of the allocation to slash: 0.1 or 10%%")
    sl.add_argument("--avs", default=None, help="the set's AVS (default: the key's address)")
    _strategies_option(sl)
    sl.add_argument("--description", default="", help="the reason, kept in the event (256 bytes at most)")
    sl.set_defaults(func=_slash)
    rl = avss.add_parser("release", help="release an escrowed slash once its window has passed (anyone)")
    _key(rl)
    rl.add_argument("--avs", default=None, help="the set's AVS (default: the key's address)")
    rl.add_argument("--set", type=int, required=True, help="the operator set id")
    rl.add_argument("--slash-id", type=int, required=True, help="the slash id that `avs slash` printed")
    rl.set_defaults(func=_release)


def _strategies_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--strategies", default=None, help="comma-separated symbols or addresses (default: the set's)"
    )


def _sets_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--set", dest="sets", type=int, action="append", default=[], help="an operator set id (repeatable)"
    )


def _key(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--key", required=True, help="private key: 0x+64 hex, a file holding it, or a devnet account name"
    )


# ---- helpers ------------------------------------------------------------------------------------


def _load(args: argparse.Namespace, live: bool = True) -> Any:
    from offchain.chain.sdk import Deployment

    if args.deployment is not None:
        d = Deployment.load(args.deployment, rpc=args.rpc, abi_source=args.abi)
    elif args.rpc is not None:
        d = Deployment.load(args.rpc, devnet_dir=args.devnet, abi_source=args.abi)
    else:
        d = Deployment.load("devnet", devnet_dir=args.devnet, abi_source=args.abi)
    if live:
        d.check_live()
    return d


def _print(args: argparse.Namespace, result: Any, line: str) -> int:
    print(json.dumps(result, default=str) if args.json else line)
    return 0


def _strategies(d: Any, text: str | None) -> list[str] | None:
    if text is None:
        return None
    from offchain.chain.errors import ChainInputError

    refs = [t.strip() for t in text.split(",") if t.strip()]
    if not refs:
        raise ChainInputError("--strategies names no strategy")
    return [d.strategy(t) for t in refs]


def _units(x: int) -> str:
    """A WAD-scaled amount (token units of 18 decimals, or a magnitude) as a decimal number."""
    from decimal import Decimal

    v = (Decimal(x) / 10**18).normalize()
    return f"{v:f}"


def _amounts(xs: list[int]) -> str:
    return ", ".join(_units(x) for x in xs)


# ---- commands -----------------------------------------------------------------------------------


def _devnet_up(args: argparse.Namespace) -> int:
    from offchain.chain import devnet

    info = devnet.up(args.devnet)
    print(f"rpc: {info['rpc_url']}  chain id: {info['chain_id']}")
    print(json.dumps(info["addresses"], indent=2))
    print(
        "accounts (anvil's public test keys): "
        + ", ".join(f"{n} {a['address']}" for n, a in info["accounts"].items())
    )
    return 0


def _devnet_down(args: argparse.Namespace) -> int:
    from offchain.chain import devnet

    devnet.down(args.devnet)
    return 0


def _devnet_status(args: argparse.Namespace) -> int:
    from offchain.chain import devnet

    st = devnet.status(args.devnet)
    line = (
        f"running (pid {st['pid']}) at {st['rpc_url']}" if st["running"] else f"not running ({st['folder']})"
    )
    _print(args, st, line)
    return 0 if st["running"] else 1


def _addresses(args: argparse.Namespace) -> int:
    d = _load(args, live=False)
    print(json.dumps(d.addresses, indent=2))
    return 0


def _abi(args: argparse.Namespace) -> int:
    from offchain.chain.sdk import export_abis

    files = export_abis(args.out, args.abi)
    return _print(args, [str(f) for f in files], f"wrote {len(files)} ABI files to {args.out}")


def _register(args: argparse.Namespace) -> int:
    from offchain.chain import sdk

    d = _load(args)
    acct = d.key(args.key)
    avs = d.resolve(args.avs, "AVS") if args.avs else None
    r = sdk.register_operator(
        d, acct, avs, args.sets, args.allocation_delay, args.metadata_uri, args.accept_redistribution
    )
    what = "registered as an operator" if r["registered_as_operator"] else "already an operator"
    sets = f"; joined set(s) {', '.join(map(str, r['sets']))} of {avs}" if r["sets"] else ""
    return _print(args, r, f"{acct.address}: {what}{sets}")


def _register_key(args: argparse.Namespace) -> int:
    from offchain.bls.cli import open_keystore
    from offchain.chain import bls_registry

    d = _load(args)
    acct = d.key(args.key)
    avs = d.resolve(args.avs, "AVS")
    registry = d.resolve(args.registry, "registry") if args.registry else None
    sk = open_keystore(args.bls_keystore, args.password_file)
    r = bls_registry.register_key(d, acct, avs, args.sets, sk, registry, rotate=args.rotate)
    verb = "queued a rotation to" if args.rotate else "joined with"
    return _print(
        args,
        r,
        f"{acct.address}: {verb} BLS key {r['operator_id']} in set(s) {', '.join(map(str, r['sets']))} "
        f"of {avs} (registry {r['registry']})",
    )


def _allocate(args: argparse.Namespace) -> int:
    from offchain.chain import sdk

    d = _load(args)
    acct = d.key(args.key)
    wad = sdk.parse_fraction(args.magnitude, "--magnitude", allow_zero=True)
    r = sdk.allocate(d, acct, d.resolve(args.avs, "AVS"), args.set, wad, _strategies(d, args.strategies))
    return _print(
        args,
        r,
        f"{acct.address}: magnitude {args.magnitude} to set {args.set} from block {r['effect_block']}",
    )


def _status(args: argparse.Namespace) -> int:
    from offchain.chain import sdk

    d = _load(args)
    avs = d.resolve(args.avs, "AVS") if args.avs else None
    r = sdk.operator_status(d, d.resolve(args.operator, "operator"), avs, args.sets)
    lines = [
        f"{r['operator']}: {'an operator' if r['is_operator'] else 'not an operator'} (block {r['block']})"
    ]
    for sym, v in r["strategies"].items():
        lines.append(
            f"  {sym:8} delegated {_units(v['delegated_shares'])}  max magnitude {_units(v['max_magnitude'])}"
            f"  encumbered {_units(v['encumbered_magnitude'])}"
        )
    for sid, v in r["sets"].items():
        lines.append(f"  set {sid} of {v['avs']}: registered {v['registered']}, slashable {v['slashable']}")
        for sym, a in v["allocations"].items():
            lines.append(
                f"    {sym:8} magnitude {_units(a['magnitude'])}  allocated stake {_units(v['allocated_stake'][sym])}"
            )
    return _print(args, r, "\n".join(lines))


def _create_set(args: argparse.Namespace) -> int:
    from offchain.chain import sdk

    d = _load(args)
    acct = d.key(args.key)
    r = sdk.create_set(
        d,
        acct,
        args.set,
        _strategies(d, args.strategies),
        d.resolve(args.redistribute_to, "recipient") if args.redistribute_to else None,
        d.resolve(args.resolver, "resolver") if args.resolver else None,
        d.resolve(args.slasher, "slasher") if args.slasher else None,
        args.metadata_uri,
    )
    fate = f"redistributed to {r['redistribution_recipient']}" if r["redistribution_recipient"] else "burnt"
    return _print(
        args,
        r,
        f"created set {args.set} of {acct.address} ({len(r['strategies'])} strategies; slashed stake is {fate})",
    )


def _slash(args: argparse.Namespace) -> int:
    from offchain.chain import sdk

    d = _load(args)
    acct = d.key(args.key)
    wad = sdk.parse_fraction(args.wad, "--wad")
    avs = d.resolve(args.avs, "AVS") if args.avs else None
    r = sdk.slash(
        d,
        acct,
        d.resolve(args.operator, "operator"),
        args.set,
        wad,
        avs,
        _strategies(d, args.strategies),
        args.description,
    )
    held = ", ".join(f"{_units(a)} {d.symbol(s)}" for s, a in zip(r["strategies"], r["amounts"], strict=True))
    return _print(
        args,
        r,
        f"slash {r['slash_id']} of set {args.set}: {r['operator']} lost {held} (in escrow); "
        f"releasable from block {r['resolve_block']}",
    )


def _release(args: argparse.Namespace) -> int:
    from offchain.chain import sdk

    d = _load(args)
    acct = d.key(args.key)
    avs = d.resolve(args.avs, "AVS") if args.avs else acct.address
    r = sdk.release(d, acct, avs, args.set, args.slash_id)
    return _print(
        args,
        r,
        f"released slash {args.slash_id} of set {args.set}: {_amounts(r['amounts'])} (tokens) to {r['recipient']}",
    )
