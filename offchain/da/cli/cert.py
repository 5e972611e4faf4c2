"""``eigen da cert verify CERT``: a real EigenDA V2/V3 certificate, checked offline.

CERT is a file holding the certificate as 0x-hex text (what EigenDA's proxy returns and its test data
stores) or as raw bytes, or ``-`` for standard input. Every check of :func:`offchain.da.cert.verify_cert`
is printed with its result, then the on-chain checks that need chain state at the reference block, which
this command does not do.

Exit status (``offchain/cli.py``): 0 every offline check passed (the chain-state checks listed as NOT
CHECKED remain); 1 a check failed (INVALID); 2 the file cannot be read or is not a well-formed certificate.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from offchain.da.cert import VERSION_NAMES, batch_header_hash, blob_key, parse_cert, verify_cert
from offchain.da.errors import CertError, DAInputError


def read_cert_file(name: str) -> bytes | str:
    """The certificate in ``name`` (``-``: stdin): hex text when it reads as such, else raw bytes."""
    try:
        raw = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
    except OSError as exc:
        raise DAInputError(f"cannot read certificate {name}: {exc.strerror or exc}") from exc
    if not raw:
        raise CertError(f"{name}: empty file")
    if raw[:1] == b"\x01":  # the altDA prefix: a binary certificate
        return raw
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError as exc:
        raise CertError(f"{name}: neither a binary certificate (first byte 0x01) nor hex text") from exc


def cmd_cert_verify(args: argparse.Namespace) -> int:
    cert = parse_cert(read_cert_file(args.cert))
    verdict = verify_cert(cert)
    if args.json:
        out: dict[str, Any] = {
            "version": VERSION_NAMES[cert.version],
            "blob_key": blob_key(cert).hex(),
            "batch_header_hash": batch_header_hash(cert).hex(),
            "reference_block": cert.reference_block,
            "passed_offline": verdict.passed,
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in verdict.checks],
            "not_checked": verdict.not_checked,
        }
        print(json.dumps(out, indent=2))
    else:
        print(
            f"EigenDA {VERSION_NAMES[cert.version]} certificate: blob key {blob_key(cert).hex()}, "
            f"{cert.blob_commitment.length} symbols, reference block {cert.reference_block}"
        )
        for c in verdict.checks:
            mark = {True: "ok", False: "FAIL", None: "NOT CHECKED"}[c.ok]
            print(f"  {mark:11} {c.name}: {c.detail}")
        print(f"NOT CHECKED (needs chain state at reference block {cert.reference_block}):")
        for line in verdict.not_checked:
            print(f"  - {line}")
        if verdict.passed:
            print("PASS (offline checks only; the chain-state checks above remain)")
        else:
            print("INVALID: " + "; ".join(f"{c.name}: {c.detail}" for c in verdict.failed))
    return 0 if verdict.passed else 1


def register(sub: Any) -> None:
    """``eigen da cert verify`` under the ``eigen da`` sub-parsers ``sub``."""
    cert = sub.add_parser("cert", help="EigenDA V2/V3 certificates")
    csub = cert.add_subparsers(dest="cert_command", metavar="ACTION")
    cert.set_defaults(func=lambda a: (cert.print_help(sys.stderr), 2)[1])
    ver = csub.add_parser(
        "verify",
        help="check a certificate offline: length pairings, BLS signature, Merkle inclusion (exit 0 pass, "
        "1 invalid, 2 malformed)",
    )
    ver.add_argument("cert", help="certificate file: 0x-hex text or raw bytes; - reads standard input")
    ver.add_argument("--json", action="store_true", help="print the verdict as JSON (default: text)")
    ver.set_defaults(func=cmd_cert_verify)
