"""``eigen attest ...`` and ``eigen compute ...``.

Exit status: 0 accepted / done, 1 rejected (including evidence that does not parse), 2 usage or
input error (unreadable file, bad policy, bad time).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from offchain.compute.attest import verify_evidence
from offchain.compute.devtee import DevTEE, init_dir, load_dir
from offchain.compute.errors import ComputeReceiptError, EvidenceFormatError, InputFileError
from offchain.compute.oci import image_digest, parse_digest
from offchain.compute.pki import TrustStore, fingerprint, load_pem_certs
from offchain.compute.policy import Check, Policy, Verdict, parse_time
from offchain.compute.receipt import ReceiptBundle, receipt_abi, verify_receipt
from offchain.compute.tdx import TdxCollateral


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InputFileError(f"cannot read {what} {path}: {exc}") from exc


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
    policy = Policy.from_file(args.policy) if args.policy else Policy()
    trust, policy = _trust(args, policy)
    collateral = (
        TdxCollateral.from_files([_read(p, "collateral") for p in args.collateral])
        if args.collateral
        else None
    )
    at = _time(args.at) or datetime.now(UTC)
    try:
        v = verify_evidence(raw, collateral, at=at, policy=policy, trust=trust)
    except EvidenceFormatError as exc:
        v = Verdict("unknown", at, policy_hash=policy.hash())
        v.checks.append(Check("parse", False, f"{type(exc).__name__}: {exc}"))
    return _finish(v)


def cmd_digest(args: argparse.Namespace) -> int:
    _print(image_digest(args.image, args.ref).to_json())
    return 0


def cmd_devtee_init(args: argparse.Namespace) -> int:
    seed = bytes.fromhex(args.seed) if args.seed else None
    ca = init_dir(Path(args.dir), seed)
    _print(
        {"dir": args.dir, "root": str(Path(args.dir) / "root.pem"), "root_fingerprint": ca.root_fingerprint}
    )
    return 0


def cmd_receipt_make(args: argparse.Namespace) -> int:
    ca = load_dir(Path(args.devtee))
    if (args.image is None) == (args.image_digest is None):
        raise ComputeReceiptError("give exactly one of --image and --image-digest")
    digest = parse_digest(args.image_digest) if args.image_digest else image_digest(args.image).raw
    try:
        app_id = bytes.fromhex(args.app_id.removeprefix("0x")) if args.app_id else bytes(32)
    except ValueError as exc:
        raise ComputeReceiptError("--app-id must be 32 bytes of hex") from exc
    at = _time(args.at) or datetime.now(UTC).replace(microsecond=0)
    bundle = DevTEE(ca, digest).run(
        _read(args.input, "input"), _read(args.output, "output"), at, app_id=app_id, chain_id=args.chain_id
    )
    text = bundle.dumps()
    if args.out:
        Path(args.out).write_text(text + "\n")
        _print(
            {
                "receipt": args.out,
                "digest": "0x" + bundle.receipt.digest().hex(),
                "enclaveSigner": bundle.receipt.enclaveSigner,
            }
        )
    else:
        sys.stdout.write(text + "\n")
    return 0


def cmd_receipt_verify(args: argparse.Namespace) -> int:
    bundle = ReceiptBundle.loads(_read(args.receipt, "receipt"))
    caller = Policy.from_file(args.policy) if args.policy else None
    trust, _ = _trust(args, Policy())
    return _finish(verify_receipt(bundle, at=_time(args.at), trust=trust, policy=caller))


def cmd_receipt_abi(args: argparse.Namespace) -> int:
    typ, names = receipt_abi()
    _print({"type": typ, "fields": list(names)})
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    attest = subparsers.add_parser("attest", help="TEE attestation evidence (Intel TDX, AWS Nitro)")
    a_sub = attest.add_subparsers(dest="attest_command", metavar="COMMAND")
    v = a_sub.add_parser("verify", help="verify a TDX quote or Nitro document; print a JSON verdict")
    v.add_argument(
        "file", help="evidence: TDX quote v4/v5 or Nitro COSE_Sign1 (type detected from the bytes)"
    )
    v.add_argument(
        "--collateral",
        action="append",
        metavar="F",
        help="TDX collateral: dcap-qvl JSON, or Intel PCS tcbInfo/enclaveIdentity JSON and DER CRLs (repeatable)",
    )
    v.add_argument("--at", metavar="TIME", help="verification time, ISO 8601 UTC (default: now)")
    v.add_argument("--policy", metavar="P", help="policy JSON (default: the strict built-in policy)")
    v.add_argument(
        "--trust-root", action="append", metavar="PEM", help="also trust this root (e.g. a test CA)"
    )
    v.set_defaults(func=cmd_attest_verify)

    compute = subparsers.add_parser("compute", help="image digests, development TEE, receipts")
    c_sub = compute.add_subparsers(dest="compute_command", metavar="COMMAND")
    d = c_sub.add_parser("digest", help="OCI digest of an image layout or docker-archive tarball")
    d.add_argument("image")
    d.add_argument("--ref", help="image name when the layout/archive holds several")
    d.set_defaults(func=cmd_digest)

    dt = c_sub.add_parser("devtee", help="development TEE (Nitro-format evidence from a local test CA)")
    dt_sub = dt.add_subparsers(dest="devtee_command", metavar="COMMAND")
    di = dt_sub.add_parser("init", help="create a dev-TEE directory (CA seed + root.pem)")
    di.add_argument("dir")
    di.add_argument("--seed", help="hex seed (default: random)")
    di.set_defaults(func=cmd_devtee_init)

    r = c_sub.add_parser("receipt", help="make, verify or describe execution receipts")
    r_sub = r.add_subparsers(dest="receipt_command", metavar="COMMAND")
    rm = r_sub.add_parser("make", help="run the dev TEE: attest and sign a receipt")
    rm.add_argument("--devtee", required=True, metavar="DIR")
    rm.add_argument("--image", help="OCI layout or docker-archive to take the digest from")
    rm.add_argument("--image-digest", help="sha256:<hex> image digest")
    rm.add_argument("--input", required=True, metavar="F")
    rm.add_argument("--output", required=True, metavar="F")
    rm.add_argument("--at", metavar="TIME", help="time of the run, ISO 8601 UTC (default: now)")
    rm.add_argument("--app-id", help="32-byte app id (hex)")
    rm.add_argument("--chain-id", type=int, default=0)
    rm.add_argument("-o", "--out", metavar="RECEIPT")
    rm.set_defaults(func=cmd_receipt_make)
    rv = r_sub.add_parser("verify", help="verify a receipt file; print a JSON verdict")
    rv.add_argument("receipt")
    rv.add_argument("--at", metavar="TIME", help="verification time (default: the receipt's own time)")
    rv.add_argument("--policy", metavar="P", help="require the receipt's policy to be this one")
    rv.add_argument(
        "--trust-root", action="append", metavar="PEM", help="trust this root (the dev TEE's root.pem)"
    )
    rv.set_defaults(func=cmd_receipt_verify)
    ra = r_sub.add_parser("abi", help="print the receipt's ABI tuple type and field order")
    ra.set_defaults(func=cmd_receipt_abi)
