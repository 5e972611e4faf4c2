"""``eigen attest ...`` and ``eigen compute ...``.

Exit status: 0 accepted / done, 1 rejected (including evidence or an event log that does not
parse), 2 usage or input error: a file that cannot be read, an output path that cannot be written
(checked before any work), a bad policy, time or value. Input errors are typed ``EigenError``s, which
``offchain.cli.main`` prints as one line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from offchain import cliargs
from offchain.compute.attest import verify_evidence
from offchain.compute.devtee import DevTEE, init_dir, load_dir
from offchain.compute.errors import (
    ComputeReceiptError,
    EvidenceFormatError,
    InputFileError,
    OutputPathError,
)
from offchain.compute.eventlog import load_event_log
from offchain.compute.oci import image_digest, parse_digest
from offchain.compute.pki import TrustStore, fingerprint, load_pem_certs
from offchain.compute.policy import Check, Policy, Verdict, parse_time
from offchain.compute.receipt import ReceiptBundle, receipt_abi, verify_receipt
from offchain.compute.tdx import TdxCollateral
from offchain.errors import ComputeError

# Evidence, collateral, event logs, policies, roots and receipts are small (a quote is at most 64 KiB,
# a PCK CRL tens of KiB); anything larger is refused before it is read into memory.
MAX_DOCUMENT = 64 << 20


def _read(path: str, what: str, limit: int | None = MAX_DOCUMENT) -> bytes:
    try:
        with open(path, "rb") as fh:
            if limit is not None and os.fstat(fh.fileno()).st_size > limit:
                raise InputFileError(f"{what} {path} is larger than {limit} bytes")
            data = fh.read() if limit is None else fh.read(limit + 1)
    except OSError as exc:
        raise InputFileError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    if limit is not None and len(data) > limit:
        raise InputFileError(f"{what} {path} is larger than {limit} bytes")
    return data


def _policy(path: str) -> Policy:
    return Policy.loads(_read(path, "policy"), f"policy {path}")


def _write(out: Path, text: str, what: str) -> None:
    try:
        out.write_text(text)
    except OSError as exc:
        raise OutputPathError(f"cannot write {what} {out}: {exc.strerror or exc}") from exc


def _hex_arg(text: str, what: str) -> bytes:
    try:
        return bytes.fromhex(text.removeprefix("0x"))
    except ValueError as exc:
        raise ComputeError(f"{what} must be hex, not {text!r}") from exc


def _print(obj: Any) -> None:
    json.dump(obj, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


def _trust(args: argparse.Namespace, policy: Policy) -> tuple[TrustStore, Policy]:
    """Roots named with --trust-root are added to the trust store and to the policy's pinned set."""
    extra = [c for p in args.trust_root or [] for c in load_pem_certs(_read(p, "trust root"), p)]
    if not extra:
        return TrustStore.default(), policy
    pol = Policy.from_json(
        {**policy.to_json(), "trusted_roots": sorted({*policy.trusted_roots, *map(fingerprint, extra)})}
    )
    return TrustStore.default().with_roots(extra), pol


def _time(text: str | None) -> datetime | None:
    return None if text is None else parse_time(text)


def _finish(v: Verdict) -> int:
    _print(v.to_json())
    return 0 if v.accepted else 1


def cmd_attest_verify(args: argparse.Namespace) -> int:
    raw = _read(args.file, "evidence")
    policy = _policy(args.policy) if args.policy else Policy()
    trust, policy = _trust(args, policy)
    collateral = (
        TdxCollateral.from_files([_read(p, "collateral") for p in args.collateral])
        if args.collateral
        else None
    )
    log = None if args.event_log is None else _read(args.event_log, "event log")
    at = _time(args.at) or datetime.now(UTC)
    try:
        events = None if log is None else load_event_log(log)
        v = verify_evidence(raw, collateral, at=at, policy=policy, trust=trust, events=events)
    except EvidenceFormatError as exc:
        v = Verdict("unknown", at, policy_hash=policy.hash())
        v.checks.append(Check("parse", False, f"{type(exc).__name__}: {exc}"))
    return _finish(v)


def cmd_digest(args: argparse.Namespace) -> int:
    _print(image_digest(args.image, args.ref).to_json())
    return 0


def cmd_devtee_init(args: argparse.Namespace) -> int:
    seed = None
    if args.seed is not None:
        seed = _hex_arg(args.seed, "--seed")
        if not seed:
            raise ComputeError("--seed must not be empty (leave it out for a random seed)")
    ca = init_dir(Path(args.dir), seed, force=args.force)
    _print(
        {
            "dir": str(args.dir),
            "root": str(Path(args.dir) / "root.pem"),
            "root_fingerprint": ca.root_fingerprint,
        }
    )
    return 0


def cmd_receipt_make(args: argparse.Namespace) -> int:
    # every argument and the output path (cliargs.output_file, at parse time) are checked before the
    # enclave key signs anything
    out = args.out
    if (args.image is None) == (args.image_digest is None):
        raise ComputeReceiptError("give exactly one of --image and --image-digest")
    app_id = bytes(32) if args.app_id is None else _hex_arg(args.app_id, "--app-id")
    if len(app_id) != 32:
        raise ComputeReceiptError(f"--app-id must be 32 bytes, not {len(app_id)}")
    at = _time(args.at) or datetime.now(UTC).replace(microsecond=0)
    ca = load_dir(Path(args.devtee))
    input_data, output_data = _read(args.input, "input", None), _read(args.output, "output", None)
    digest = parse_digest(args.image_digest) if args.image is None else image_digest(args.image).raw
    bundle = DevTEE(ca, digest).run(input_data, output_data, at, app_id=app_id, chain_id=args.chain_id)
    text = bundle.dumps()
    if out is not None:
        _write(out, text + "\n", "receipt")
        _print(
            {
                "receipt": str(out),
                "digest": "0x" + bundle.receipt.digest().hex(),
                "enclaveSigner": bundle.receipt.enclaveSigner,
            }
        )
    else:
        sys.stdout.write(text + "\n")
    return 0


def cmd_receipt_verify(args: argparse.Namespace) -> int:
    bundle = ReceiptBundle.loads(_read(args.receipt, "receipt"))
    caller = _policy(args.policy) if args.policy else None
    trust, _ = _trust(args, Policy())
    return _finish(verify_receipt(bundle, at=_time(args.at), trust=trust, policy=caller))


def cmd_receipt_abi(args: argparse.Namespace) -> int:
    typ, names = receipt_abi()
    _print({"type": typ, "fields": list(names)})
    return 0


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows "(default: X)" after every option whose default is a value; an option whose default is
    None says in its own help what leaving it out does."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default is None or "default" in text:
            return text
        return super()._get_help_string(action) or text


def _parser(sub: argparse._SubParsersAction, name: str, text: str) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    return sub.add_parser(name, help=text, description=text, formatter_class=_HelpFormatter)  # type: ignore[no-any-return]


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    attest = _parser(subparsers, "attest", "TEE attestation evidence (Intel TDX, AWS Nitro)")
    a_sub = attest.add_subparsers(dest="attest_command", metavar="COMMAND")
    v = _parser(a_sub, "verify", "verify a TDX quote or Nitro document; print a JSON verdict")
    v.add_argument(
        "file", help="evidence: TDX quote v4/v5 or Nitro COSE_Sign1 (type detected from the bytes)"
    )
    v.add_argument(
        "--collateral",
        action="append",
        metavar="F",
        help="TDX collateral: dcap-qvl JSON, or Intel PCS tcbInfo/enclaveIdentity JSON and DER CRLs "
        "(repeatable; default: none, so a TDX quote is rejected)",
    )
    v.add_argument(
        "--event-log",
        metavar="F",
        help="TDX: an event log to replay into RTMR0-3: binary CCEL (TCG2), dstack JSON, or "
        "CoCo's cc_eventlog; the first event that does not fit is named (default: none)",
    )
    v.add_argument("--at", metavar="TIME", help="verification time, ISO 8601 UTC (default: now)")
    v.add_argument("--policy", metavar="P", help="policy JSON (default: the strict built-in policy)")
    v.add_argument(
        "--trust-root",
        action="append",
        metavar="PEM",
        help="also trust this root, e.g. a test CA (repeatable; default: Intel's and AWS's roots only)",
    )
    v.set_defaults(func=cmd_attest_verify)

    compute = _parser(subparsers, "compute", "image digests, development TEE, receipts")
    c_sub = compute.add_subparsers(dest="compute_command", metavar="COMMAND")
    d = _parser(c_sub, "digest", "OCI digest of an image layout or docker-archive tarball")
    d.add_argument("image", help="OCI image layout (directory or tar) or docker-archive tarball")
    d.add_argument("--ref", help="image name when the layout/archive holds several (default: the only image)")
    d.set_defaults(func=cmd_digest)

    dt = _parser(c_sub, "devtee", "development TEE (Nitro-format evidence from a local test CA)")
    dt_sub = dt.add_subparsers(dest="devtee_command", metavar="COMMAND")
    di = _parser(dt_sub, "init", "create a dev-TEE directory (CA seed + root.pem)")
    di.add_argument("dir", type=cliargs.path, help="directory to create (its parents are created too)")
    di.add_argument("--seed", help="hex seed of the CA keys (default: 32 random bytes)")
    di.add_argument(
        "--force", action="store_true", help="replace an existing dev-TEE CA in DIR (its old key is lost)"
    )
    di.set_defaults(func=cmd_devtee_init)

    r = _parser(c_sub, "receipt", "make, verify or describe execution receipts")
    r_sub = r.add_subparsers(dest="receipt_command", metavar="COMMAND")
    rm = _parser(r_sub, "make", "run the dev TEE: attest and sign a receipt")
    rm.add_argument("--devtee", required=True, metavar="DIR", help="dev-TEE directory (from `devtee init`)")
    rm.add_argument(
        "--image",
        help="OCI layout or docker-archive to take the digest from (default: none; give this or --image-digest)",
    )
    rm.add_argument("--image-digest", help="sha256:<hex> image digest (default: none; give this or --image)")
    rm.add_argument("--input", required=True, metavar="F", help="the job's input file")
    rm.add_argument("--output", required=True, metavar="F", help="the job's output file")
    rm.add_argument("--at", metavar="TIME", help="time of the run, ISO 8601 UTC (default: now)")
    rm.add_argument("--app-id", help="32-byte app id, hex (default: 32 zero bytes)")
    rm.add_argument(
        "--chain-id", type=cliargs.uint(256), default=0, help="chain id the receipt is bound to (uint256)"
    )
    rm.add_argument(
        "-o",
        "--out",
        metavar="RECEIPT",
        type=cliargs.output_file,
        help="write the receipt here (default: print it to stdout)",
    )
    rm.set_defaults(func=cmd_receipt_make)
    rv = _parser(r_sub, "verify", "verify a receipt file; print a JSON verdict")
    rv.add_argument("receipt", help="receipt file (from `receipt make`)")
    rv.add_argument("--at", metavar="TIME", help="verification time (default: the receipt's own time)")
    rv.add_argument(
        "--policy", metavar="P", help="require the receipt's policy to be this one (default: any policy)"
    )
    rv.add_argument(
        "--trust-root",
        action="append",
        metavar="PEM",
        help="trust this root, e.g. the dev TEE's root.pem (repeatable; default: Intel's and AWS's only)",
    )
    rv.set_defaults(func=cmd_receipt_verify)
    ra = _parser(r_sub, "abi", "print the receipt's ABI tuple type and field order")
    ra.set_defaults(func=cmd_receipt_abi)
