"""``eigen rewards ...``: distribution trees, claim proofs and claims (docs/rewards.md).

    eigen rewards root --earnings FILE
    eigen rewards proof --earnings FILE --earner ADDR [--token ADDR]... [--root-index N] [--out FILE]
    eigen rewards verify --claim FILE [--root HEX]
    eigen rewards status --earnings FILE --avs ADDR --earner ADDR [--root-index N]
    eigen rewards claim --earnings FILE --avs ADDR --key KEY [--earner ADDR] [--recipient ADDR]
                        [--token ADDR]... [--root-index N]
    eigen rewards refund --avs ADDR [--key KEY] [--nonce N]... [--distribution N]...
    eigen rewards watch --trees DIR --key KEY [--avs ADDR]... [--once] [--interval S] [--no-record]
                       [--step-days N]

``--earnings`` is the distribution: JSON ``{earner: {token: cumulative earnings}}`` (amounts as
integers or decimal strings). ``root`` prints the root of EigenLayer's two-level tree over it;
``proof`` writes an earner's claim in EigenLayer's claim-vector format; ``verify`` checks one
(exit 1 when a proof does not hold). ``status`` and ``claim`` work against a deployment (the
running devnet's unless ``--rpc`` or ``--deployment`` names another) and the root posted for the
AVS that equals the distribution's. ``refund`` shows what an AVS can take back of its escrow (per
submission what ``refundSubmission`` would pay now, or the contract's reason, and per on-chain
distribution its undistributed rounding) and, given ``--key`` (anyone's: the tokens go to the AVS),
sends the refunds (every one refundable now, or the ``--nonce`` and ``--distribution`` named).
``watch`` is the watcher: it records each day's block for the
sets paid today or ever paid by an operator-directed submission (``recordDay``), recomputes
every pending root from the chain (total-stake, unique-stake and operator-directed submissions; the published
distributions in ``--trees``, named ``0x<root>.json``) and challenges a wrong one with the proof of
one differing leaf (over several transactions, ``--step-days`` recorded days a step, when no
differing leaf fits one); one JSON line per root, every ``--interval`` seconds or once (``--once``). Keys are 0x + 64 hex digits, a file holding them, or a devnet
account name. Every bad input is one line and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from offchain import cliargs


def register(sub: Any) -> None:
    p = sub.add_parser(
        "rewards",
        help="rewards distribution trees, proofs and claims (docs/rewards.md)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])
    s = p.add_subparsers(dest="rewards_command", metavar="COMMAND")

    r = s.add_parser("root", help="the distribution root of an earnings file")
    _earnings(r)
    r.set_defaults(func=_root)

    pf = s.add_parser("proof", help="an earner's claim (EigenLayer's claim-vector JSON)")
    _earnings(pf)
    pf.add_argument("--earner", required=True, help="the earner's address")
    _tokens(pf)
    pf.add_argument("--root-index", type=cliargs.uint(32), default=0, help="the root's index on chain")
    pf.add_argument(
        "--out", type=cliargs.output_file, default=None, help="write the claim here (default: stdout)"
    )
    pf.set_defaults(func=_proof)

    v = s.add_parser("verify", help="check a claim's proofs (exit 1 if one does not hold)")
    v.add_argument("--claim", type=cliargs.path, required=True, help="a claim in EigenLayer's vector format")
    v.add_argument("--root", default=None, help="the root to check against (default: the file's Root)")
    v.set_defaults(func=_verify)

    st = s.add_parser("status", help="what an earner has claimed and can claim")
    _chain(st)
    _earnings(st)
    st.add_argument("--avs", required=True, help="the AVS whose root and escrow pay")
    st.add_argument("--earner", required=True, help="the earner")
    st.add_argument(
        "--root-index", type=cliargs.uint(32), default=None, help="the root (default: the newest equal)"
    )
    st.set_defaults(func=_status)

    c = s.add_parser("claim", help="claim an earner's earnings")
    _chain(c)
    _earnings(c)
    c.add_argument("--avs", required=True, help="the AVS whose root and escrow pay")
    c.add_argument(
        "--key", required=True, help="the earner's or its claimer's key (0x+64 hex, a file, a devnet name)"
    )
    c.add_argument("--earner", default=None, help="the earner (default: the key's account)")
    c.add_argument("--recipient", default=None, help="who receives the tokens (default: the earner)")
    _tokens(c)
    c.add_argument(
        "--root-index", type=cliargs.uint(32), default=None, help="the root (default: the newest equal)"
    )
    c.set_defaults(func=_claim)

    rf = s.add_parser("refund", help="show (and with --key send) an AVS's refunds of undistributed escrow")
    _chain(rf)
    rf.add_argument("--avs", required=True, help="the AVS whose escrow is refunded (it receives the tokens)")
    rf.add_argument("--key", default=None, help="the sender's key (anyone's; default: show only)")
    rf.add_argument(
        "--nonce", type=cliargs.uint(64), action="append", default=None, help="a submission (repeatable)"
    )
    rf.add_argument(
        "--distribution",
        type=cliargs.uint(64),
        action="append",
        default=None,
        help="an on-chain distribution id (repeatable)",
    )
    rf.set_defaults(func=_refund)

    _register_watch(s)


def _earnings(p: argparse.ArgumentParser) -> None:
    p.add_argument("--earnings", type=cliargs.path, required=True, help="JSON {earner: {token: cumulative}}")


def _tokens(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--token", action="append", default=None, help="a token to claim (repeatable; default: all)"
    )


def _register_watch(s: Any) -> None:
    w = s.add_parser("watch", help="check pending roots against the chain and challenge wrong ones")
    _chain(w)
    w.add_argument("--trees", type=cliargs.path, required=True, help="folder of published distributions")
    w.add_argument("--key", required=True, help="the challenger's key (0x+64 hex, a file, a devnet name)")
    w.add_argument("--avs", action="append", default=None, help="an AVS to watch (repeatable; default: all)")
    w.add_argument("--once", action="store_true", help="one pass, then exit")
    w.add_argument("--interval", type=cliargs.positive_int, default=60, help="seconds between passes")
    w.add_argument("--no-record", action="store_true", help="do not record days (recordDay)")
    w.add_argument(
        "--step-days",
        type=cliargs.positive_int,
        default=None,
        help="recorded days per step of a challenge over several transactions (default 4, at most 32)",
    )
    w.set_defaults(func=_watch)


def _watch(args: argparse.Namespace) -> int:
    import time

    from offchain.chain import rewards

    d = _deployment(args)
    account = d.key(args.key)
    avss = [d.resolve(a, "avs") for a in args.avs] if args.avs else None
    step_days = args.step_days or rewards.DAYS_PER_STEP
    while True:
        for rep in rewards.watch_once(d, account, args.trees, avss, not args.no_record, step_days):
            print(json.dumps(rep), flush=True)
        if args.once:
            return 0
        time.sleep(args.interval)


def _chain(p: argparse.ArgumentParser) -> None:
    p.add_argument("--devnet", type=cliargs.path, default=None, help="the devnet folder (default: .devnet)")
    p.add_argument("--rpc", default=None, help="a node's JSON-RPC URL (default: the devnet's)")
    p.add_argument("--deployment", type=Path, default=None, help="a deployment record or devnet.json")
    p.add_argument("--abi", type=Path, default=None, help="a folder of ABI files (default: ape's .build/)")


def _tree(args: argparse.Namespace) -> Any:
    from offchain.rewards.merkle import DistributionTree

    return DistributionTree(args.earnings.read_text())


def _root(args: argparse.Namespace) -> int:
    t = _tree(args)
    print(json.dumps({"root": "0x" + t.root.hex(), "earners": len(t.earners)}))
    return 0


def _proof(args: argparse.Namespace) -> int:
    t = _tree(args)
    c = t.claim(args.earner, args.token, args.root_index)
    text = json.dumps(c.to_json(t.root), indent=2) + "\n"
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text)
    return 0


def _verify(args: argparse.Namespace) -> int:
    from offchain import abi
    from offchain.rewards.errors import ProofError, RewardsInputError
    from offchain.rewards.merkle import Claim

    claim, root = Claim.from_json(args.claim.read_text())
    if args.root is not None:
        root = abi.b32(args.root, "--root", RewardsInputError)
    if root is None:
        raise RewardsInputError("the claim names no Root: give --root")
    try:
        claim.verify(root)
    except ProofError as exc:
        print(f"INVALID: {exc}")
        return 1
    print(f"VALID: {claim.earner} in 0x{root.hex()} ({len(claim.token_leaves)} token leaves)")
    return 0


def _deployment(args: argparse.Namespace) -> Any:
    from offchain.chain.cli import _load  # the same deployment lookup as `eigen chain`

    return _load(args)


def _status(args: argparse.Namespace) -> int:
    from offchain.chain import rewards

    d = _deployment(args)
    print(
        json.dumps(
            rewards.status(
                d, d.resolve(args.avs, "avs"), _tree(args), d.resolve(args.earner, "earner"), args.root_index
            )
        )
    )
    return 0


def _claim(args: argparse.Namespace) -> int:
    from offchain.chain import rewards

    d = _deployment(args)
    out = rewards.claim(
        d,
        d.key(args.key),
        d.resolve(args.avs, "avs"),
        _tree(args),
        earner=d.resolve(args.earner, "earner") if args.earner else None,
        recipient=d.resolve(args.recipient, "recipient") if args.recipient else None,
        tokens=args.token,
        root_index=args.root_index,
    )
    print(json.dumps(out))
    return 0


def _refund(args: argparse.Namespace) -> int:
    from offchain.chain import rewards

    d = _deployment(args)
    avs = d.resolve(args.avs, "avs")
    if args.key is None:
        print(json.dumps(rewards.refunds(d, avs)))
        return 0
    named = args.nonce is not None or args.distribution is not None
    out = rewards.refund(
        d,
        d.key(args.key),
        avs,
        nonces=(args.nonce or []) if named else None,
        distribution_ids=(args.distribution or []) if named else None,
    )
    print(json.dumps(out))
    return 0
