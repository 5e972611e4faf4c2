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
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from offchain import cliargs
from offchain.compute.attest import verify_evidence
from offchain.compute.devtee import DevTEE, dev_policy, init_dir, load_dir
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


def cmd_image_build(args: argparse.Namespace) -> int:
    from offchain.compute.imagebuild import build_image

    built = build_image(
        args.dir,
        args.out,
        entrypoint=args.entrypoint,
        cmd=args.cmd,
        env=args.env,
        workdir=args.workdir,
        interpreters=args.interpreter_layer,
        compression=args.compression,
        ref=args.ref,
    )
    _print(built.to_json())
    return 0


def cmd_image_build_python(args: argparse.Namespace) -> int:
    from offchain.compute.errors import ImageBuildError
    from offchain.compute.pyimage import build_python_image

    files: dict[str, Path] = {}
    for item in args.file or []:
        image_path, sep, host = item.partition("=")
        if not sep or not image_path or not host:
            raise ImageBuildError(f"--file {item!r} is not IMGPATH=HOSTPATH")
        files[image_path] = Path(host)
    built = build_python_image(
        args.out,
        module=args.module,
        files=files,
        extra_packages=args.package or (),
        env=args.env or (),
        compression=args.compression,
        ref=args.ref,
    )
    _print({k: v for k, v in built.to_json().items() if k in ("digest", "out", "layers", "bytes")})
    return 0


def cmd_image_unpack(args: argparse.Namespace) -> int:
    from offchain.compute.image import open_image
    from offchain.compute.unpack import UnpackLimits, unpack_image

    parse_digest(args.digest)
    with open_image(args.image, args.digest, ref=args.ref) as img:
        report = unpack_image(img, args.out, UnpackLimits(max_bytes=args.max_mb << 20))
        config = img.config
    _print(
        {
            "digest": args.digest,
            "rootfs": str(args.out),
            "argv": config.argv,
            "env": list(config.env),
            "working_dir": config.working_dir,
            "entries": report.entries,
            "bytes": report.written,
            "skipped": report.skipped,
        }
    )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    # arguments, output paths and the dev TEE are checked before the image is read
    from offchain.compute.executor import dev_enclave, execute_task
    from offchain.compute.sandbox import Limits

    parse_digest(args.digest)
    app_id = bytes(32) if args.app_id is None else _hex_arg(args.app_id, "--app-id")
    if len(app_id) != 32:
        raise ComputeReceiptError(f"--app-id must be 32 bytes, not {len(app_id)}")
    limits = Limits(
        wall_s=args.wall_s,
        cpu_s=args.cpu_s,
        memory_bytes=args.memory_mb << 20,
        nproc=args.nproc,
        output_bytes=args.output_limit_mb << 20,
    )
    ca = load_dir(Path(args.devtee))
    input_data = _read(args.input, "input", MAX_DOCUMENT)
    outcome = execute_task(
        args.image,
        args.digest,
        input_data,
        enclave=dev_enclave(ca),
        limits=limits,
        at=_time(args.at),
        app_id=app_id,
        chain_id=args.chain_id,
    )
    _write(args.receipt, outcome.receipt.dumps() + "\n", "receipt")
    summary = {
        "digest": outcome.image_digest,
        "receipt": str(args.receipt),
        "receipt_digest": "0x" + outcome.receipt.receipt.digest().hex(),
        "output_bytes": len(outcome.output),
        "wall_s": round(outcome.sandbox.wall_s, 4),
    }
    if args.output is None:
        sys.stdout.buffer.write(outcome.output)
        sys.stdout.flush()
    else:
        try:
            args.output.write_bytes(outcome.output)
        except OSError as exc:
            raise OutputPathError(f"cannot write output {args.output}: {exc.strerror or exc}") from exc
        _print({**summary, "output": str(args.output)})
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


def _out_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o",
        "--out",
        required=True,
        type=cliargs.path,
        help="OCI layout to write: a new or empty directory, or a tar if it ends in .tar",
    )


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

    img = _parser(c_sub, "image", "build and unpack OCI images (docs/compute.md)")
    i_sub = img.add_subparsers(dest="image_command", metavar="COMMAND")
    ib = _parser(i_sub, "build", "a small reproducible OCI image from a directory (static binary or script)")
    ib.add_argument("dir", type=cliargs.path, help="directory whose files go under /app in the image")
    _out_option(ib)
    ib.add_argument(
        "--entrypoint",
        help="file of DIR (or an absolute path in the image) to run (default: DIR's only executable file)",
    )
    ib.add_argument(
        "--cmd",
        action="append",
        metavar="ARG",
        help="argument after the entrypoint (repeatable; default: none)",
    )
    ib.add_argument(
        "--env",
        action="append",
        metavar="NAME=VALUE",
        help="environment variable (repeatable; default: PATH only)",
    )
    ib.add_argument("--workdir", default="/app", help="working directory in the image")
    ib.add_argument(
        "--interpreter-layer",
        action="append",
        metavar="EXE",
        help="host executable to put, with the libraries ldd lists, in the interpreter layer "
        "(repeatable; default: only the entry's #! interpreter and its libraries)",
    )
    ib.add_argument("--compression", choices=("gzip", "none"), default="gzip", help="layer compression")
    ib.add_argument("--ref", help="org.opencontainers.image.ref.name annotation (default: none)")
    ib.set_defaults(func=cmd_image_build)
    ip = _parser(
        i_sub,
        "build-python",
        "a reproducible OCI image running `python3 -m MODULE`: this interpreter, its standard library "
        "and MODULE's import closure (docs/compute.md, Python images and apps)",
    )
    ip.add_argument("module", help="module to run, e.g. offchain.agent.trading_app")
    _out_option(ip)
    ip.add_argument(
        "--file",
        action="append",
        metavar="IMGPATH=HOSTPATH",
        help="also put host file HOSTPATH at IMGPATH under /app (repeatable; default: none)",
    )
    ip.add_argument(
        "--package",
        action="append",
        metavar="NAME",
        help="also pack this top-level package and its imports, e.g. one MODULE imports lazily "
        "(repeatable; default: none)",
    )
    ip.add_argument(
        "--env",
        action="append",
        metavar="NAME=VALUE",
        help="environment variable (repeatable; default: PATH, PYTHONPATH and the PYTHON* run settings)",
    )
    ip.add_argument("--compression", choices=("gzip", "none"), default="none", help="layer compression")
    ip.add_argument("--ref", help="org.opencontainers.image.ref.name annotation (default: none)")
    ip.set_defaults(func=cmd_image_build_python)
    iu = _parser(i_sub, "unpack", "check an image's digest and blobs, then unpack its layers safely")
    iu.add_argument("image", help="OCI layout (directory or tar), docker-archive tar or blob-store directory")
    iu.add_argument("--digest", required=True, help="expected image digest, sha256:<hex>")
    iu.add_argument(
        "-o",
        "--out",
        required=True,
        type=cliargs.path,
        help="rootfs directory to create (must not exist or be empty)",
    )
    iu.add_argument("--ref", help="image name when the layout holds several (default: the only image)")
    iu.add_argument("--max-mb", type=cliargs.uint(32), default=1024, help="cap on the unpacked size, MiB")
    iu.set_defaults(func=cmd_image_unpack)

    run = _parser(c_sub, "run", "run one task: image checked against --digest, sandboxed, receipt signed")
    run.add_argument(
        "image", help="OCI layout (directory or tar), docker-archive tar or blob-store directory"
    )
    run.add_argument("--digest", required=True, help="the image digest the registry names, sha256:<hex>")
    run.add_argument(
        "--input", required=True, metavar="F", help="the task's input (given on stdin and at /input/data)"
    )
    run.add_argument("--devtee", required=True, metavar="DIR", help="dev-TEE directory (from `devtee init`)")
    run.add_argument(
        "--receipt", required=True, metavar="RECEIPT", type=cliargs.output_file, help="write the receipt here"
    )
    run.add_argument(
        "-o",
        "--output",
        metavar="F",
        type=cliargs.output_file,
        help="write the output here (default: stdout)",
    )
    run.add_argument("--wall-s", type=float, default=30.0, help="wall-clock limit, seconds")
    run.add_argument("--cpu-s", type=cliargs.uint(32), default=10, help="CPU-time limit per process, seconds")
    run.add_argument(
        "--memory-mb", type=cliargs.uint(32), default=512, help="address-space limit per process, MiB"
    )
    run.add_argument("--nproc", type=cliargs.uint(32), default=64, help="process limit of the sandbox uid")
    run.add_argument("--output-limit-mb", type=cliargs.uint(32), default=16, help="stdout cap, MiB")
    run.add_argument("--at", metavar="TIME", help="receipt time, ISO 8601 UTC (default: now)")
    run.add_argument("--app-id", help="32-byte app id, hex (default: 32 zero bytes)")
    run.add_argument(
        "--chain-id", type=cliargs.uint(256), default=0, help="chain id the receipt is bound to (uint256)"
    )
    run.set_defaults(func=cmd_run)

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
    _register_task(c_sub)
    _register_deploy(c_sub)
    _register_eigentrust(c_sub)

    ra = _parser(r_sub, "abi", "print the receipt's ABI tuple type and field order")
    ra.set_defaults(func=cmd_receipt_abi)


# ---- eigen compute task ... (the task mailbox, docs/compute-network.md) ---------------------------


def _mailbox_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rpc", help="a node's JSON-RPC URL (default: the devnet's)")
    p.add_argument(
        "--deployment", type=cliargs.path, help="a deployment record or devnet.json (default: the devnet's)"
    )
    p.add_argument("--abi", type=cliargs.path, help="a folder of ABI files (default: ape's .build/)")
    p.add_argument("--mailbox", help="TaskMailbox address (default: the deployment's task_mailbox)")


def _register_deploy(c_sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    dp = _parser(
        c_sub,
        "deploy",
        "register an image in the app's image registry and a task type running it on the mailbox",
    )
    dp.add_argument("image", help="OCI layout (directory or tar) or docker-archive tar")
    dp.add_argument("--ref", help="image name when the layout holds several (default: the only image)")
    _mailbox_args(dp)
    dp.add_argument(
        "--set", dest="set_id", required=True, type=cliargs.uint(32), help="the app's executor set id"
    )
    pol = dp.add_mutually_exclusive_group(required=True)
    pol.add_argument(
        "--policy",
        metavar="P",
        help="the attestation policy (JSON) the image's enclaves meet (default: none; this or --devtee)",
    )
    pol.add_argument(
        "--devtee",
        metavar="DIR",
        help="the dev TEE's policy for this image, a `devtee init` directory (default: none; this or --policy)",
    )
    dp.add_argument("--fee-token", required=True, help="the ERC-20 fees are paid in (address or name)")
    dp.add_argument("--fee", type=cliargs.uint(256), default=0, help="fee per task, in the token's units")
    dp.add_argument(
        "--timeout", type=cliargs.uint(64), default=100, help="blocks after creation a result is accepted"
    )
    dp.add_argument(
        "--cert", choices=("ecdsa", "bls"), default="ecdsa", help="the certificates results carry"
    )
    dp.add_argument(
        "--threshold-bps", type=cliargs.uint(16), default=6667, help="signed stake needed, basis points"
    )
    dp.add_argument("--version", help="the image's version label (default: the digest's first 12 hex digits)")
    dp.add_argument(
        "--upgrade-by",
        type=cliargs.uint(64),
        help="unix time until which the app's previous image is still accepted (default: one day from "
        "the chain's head; ignored for an app's first image)",
    )
    dp.add_argument(
        "--publish",
        type=cliargs.path,
        metavar="DIR",
        help="also copy the image into this executors' image directory, named by digest (default: no copy)",
    )
    dp.add_argument("--key", required=True, help="the app owner's key: 0x+64 hex, a file, or a devnet name")
    dp.set_defaults(func=cmd_deploy)


def _register_task(c_sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    t = _parser(c_sub, "task", "tasks on the mailbox: submit one, read its status and certified result")
    _mailbox_args(t)
    t_sub = t.add_subparsers(dest="task_command", metavar="COMMAND")
    ts = _parser(t_sub, "submit", "createTask: escrow the type's fee, print the task hash")
    ts.add_argument("--type", dest="task_type", required=True, type=cliargs.uint(32), help="task type id")
    ts.add_argument("--payload", required=True, metavar="FILE", help="the task's input (at most 4096 bytes)")
    ts.add_argument(
        "--key",
        required=True,
        help="the creator's key: 0x+64 hex, a file holding it, or a devnet account name",
    )
    ts.add_argument("--refund-to", help="where an expired task's fee goes (default: the creator)")
    ts.set_defaults(func=cmd_task_submit)
    st = _parser(t_sub, "status", "a task's status and record (JSON)")
    st.add_argument("task_hash", help="0x + 64 hex digits")
    st.set_defaults(func=cmd_task_status)
    tr = _parser(t_sub, "result", "a verified task's result, signers and stake (JSON)")
    tr.add_argument("task_hash", help="0x + 64 hex digits")
    tr.add_argument(
        "-o",
        "--output",
        type=cliargs.output_file,
        metavar="F",
        help="also write the raw result bytes here (default: only the JSON)",
    )
    tr.add_argument(
        "--record-cert",
        type=cliargs.path,
        metavar="F",
        help="the task's DA certificate (the aggregator's records/0x<hash>.cert.json): fetch the record "
        "of input, output and receipt from DA and verify it against the chain (default: the chain's result only)",
    )
    tr.add_argument(
        "--da-config",
        type=cliargs.path,
        metavar="F",
        help="the DA client config (as `eigen da get --config`; default: none)",
    )
    tr.set_defaults(func=cmd_task_result)
    rf = _parser(t_sub, "refund", "refund expired tasks' fees to their refund collectors (refundFee)")
    rf.add_argument("task_hash", nargs="*", help="0x + 64 hex digits (any number)")
    rf.add_argument(
        "--since-block",
        type=cliargs.uint(64),
        help="also every task created from this block on that expired unrefunded (default: only the named)",
    )
    rf.add_argument("--key", required=True, help="the account sending refundFee (0x+64 hex, file, or name)")
    rf.set_defaults(func=cmd_task_refund)
    ex = _parser(
        t_sub, "executor", "one operator's executor: watch the mailbox, run tasks, post signed results"
    )
    ex.add_argument("--operator", required=True, help="the operator's address (or a devnet account name)")
    ex.add_argument(
        "--signing-key",
        help="the operator's registered ECDSA signing key (0x+64 hex or a file), for ECDSA task types "
        "(default: none, BLS task types only)",
    )
    ex.add_argument(
        "--bls-keystore",
        type=cliargs.path,
        help="the operator's BLS key as registered in the BLSRegistry (an `eigen bls keygen` keystore), "
        "for BLS task types (default: none, ECDSA task types only)",
    )
    ex.add_argument(
        "--bls-password-file",
        type=cliargs.path,
        help="the BLS keystore's password (a file, one line; default: none)",
    )
    ex.add_argument("--set", dest="set_id", required=True, type=cliargs.uint(32), help="its executor set id")
    ex.add_argument(
        "--images", required=True, type=cliargs.path, help="image directory (files named by digest)"
    )
    ex.add_argument("--devtee", required=True, metavar="DIR", help="dev-TEE directory (from `devtee init`)")
    ex.add_argument("--state", required=True, type=cliargs.path, help="the cursor file (JSON; created)")
    ex.add_argument("--aggregator", required=True, metavar="URL", help="the aggregator, http://host:port")
    ex.add_argument(
        "--from-block",
        type=cliargs.uint(64),
        help="first block to watch when --state does not exist (default: the next block)",
    )
    ex.add_argument("--interval", type=float, default=2.0, help="seconds between polls")
    ex.add_argument("--once", action="store_true", help="poll once and exit (default: poll forever)")
    ex.set_defaults(func=cmd_task_executor)
    ag = _parser(t_sub, "aggregator", "collect executors' signed results over HTTP, certify and submit")
    ag.add_argument(
        "--key", required=True, help="the account paying for submitResult (0x+64 hex, file, or name)"
    )
    ag.add_argument(
        "--evidence", required=True, type=cliargs.path, help="folder for minority responses (JSON)"
    )
    ag.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback only)")
    ag.add_argument("--port", type=cliargs.port, default=8790, help="port to listen on")
    ag.add_argument(
        "--disperser", metavar="URL", help="record each certified task to DA here (default: none)"
    )
    ag.add_argument(
        "--da-key", metavar="KEY", help="the DA payer's key (0x+64 hex, file, or name; default: none)"
    )
    ag.add_argument(
        "--records",
        type=cliargs.path,
        metavar="DIR",
        help="folder for the records' DA certificates (JSON; default: none)",
    )
    ag.add_argument(
        "--refund-interval",
        type=float,
        default=30.0,
        metavar="S",
        help="seconds between refunds of expired pending tasks (0: never; default: 30)",
    )
    ag.set_defaults(func=cmd_task_aggregator)


def _register_eigentrust(c_sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    et = _parser(
        c_sub, "eigentrust", "EigenTrust in exact fixed point: graphs, scores, the task image, audits"
    )
    e_sub = et.add_subparsers(dest="eigentrust_command", metavar="COMMAND")
    en = _parser(e_sub, "encode", "a trust graph's canonical encoding (the task payload) from CSV files")
    en.add_argument("--edges", required=True, type=cliargs.path, help="CSV of from,to,weight (addresses)")
    en.add_argument("--pretrust", required=True, type=cliargs.path, help="CSV of peer,weight (addresses)")
    en.add_argument("--epoch", type=cliargs.uint(64), default=0, help="the graph's epoch")
    en.add_argument("--alpha", default="0.5", help="weight of the pre-trust: 0.2, 20%% or 1/5")
    en.add_argument(
        "--epsilon",
        type=cliargs.uint(64),
        default=0,
        help="stop once the L1 change is at most this (10^-18 units)",
    )
    en.add_argument("--max-iterations", type=cliargs.uint(16), default=100, help="iteration cap (1-10000)")
    en.add_argument("-o", "--out", required=True, type=cliargs.output_file, help="file for the encoding")
    en.set_defaults(func=cmd_eigentrust_encode)
    er = _parser(e_sub, "run", "compute a graph's scores with the reference implementation; print JSON")
    er.add_argument("graph", help="an encoded graph (from `encode`, or a task's payload)")
    er.add_argument("--proofs", action="store_true", help="print each peer's Merkle proof too")
    er.add_argument(
        "-o",
        "--out",
        type=cliargs.output_file,
        help="also write the 160-byte task result here (default: not written)",
    )
    er.set_defaults(func=cmd_eigentrust_run)
    ei = _parser(e_sub, "image", "build the task image (the C kernel, linked statically, in one layer)")
    ei.add_argument("-o", "--out", required=True, type=cliargs.path, help="OCI layout: a directory or a .tar")
    ei.set_defaults(func=cmd_eigentrust_image)
    ea = _parser(e_sub, "audit", "re-execute a certified EigenTrust task; prove responses it finds wrong")
    _mailbox_args(ea)
    ea.add_argument("task_hash", help="0x + 64 hex digits")
    ea.add_argument(
        "--evidence", type=cliargs.path, help="the aggregator's evidence file for the task (default: none)"
    )
    ea.add_argument(
        "--key", help="account sending the fault proofs (0x+64 hex, file, or name; default: judge only)"
    )
    ea.set_defaults(func=cmd_eigentrust_audit)


def cmd_eigentrust_encode(args: argparse.Namespace) -> int:
    from eth_hash.auto import keccak

    from offchain.compute.eigentrust import graph_from_csv, parse_fraction_wad

    g = graph_from_csv(
        _read(str(args.edges), "edges").decode(errors="replace"),
        _read(str(args.pretrust), "pre-trust").decode(errors="replace"),
        epoch=args.epoch,
        alpha=parse_fraction_wad(args.alpha),
        epsilon=args.epsilon,
        max_iterations=args.max_iterations,
    )
    data = g.encode()
    _write_bytes(args.out, data, "graph")
    _print(
        {
            "out": str(args.out),
            "bytes": len(data),
            "input_hash": "0x" + keccak(data).hex(),
            "peers": len(g.peers),
            "pretrusted": len(g.pretrust),
            "edges": len(g.edges),
        }
    )
    return 0


def cmd_eigentrust_run(args: argparse.Namespace) -> int:
    from eth_utils import to_checksum_address

    from offchain.compute.eigentrust import compute

    s = compute(_read(args.graph, "graph", limit=None))
    peers = []
    for k, (p, v) in enumerate(zip(s.graph.peers, s.scores, strict=True)):
        row: dict[str, Any] = {"peer": to_checksum_address(p), "score": str(v)}
        if args.proofs:
            row |= {"index": k, "proof": "0x" + s.proof(p)[2].hex()}
        peers.append(row)
    result = s.result()
    if args.out is not None:
        _write_bytes(args.out, result, "result")
    _print(
        {
            "epoch": s.graph.epoch,
            "input_hash": "0x" + s.input_hash.hex(),
            "root": "0x" + s.root.hex(),
            "iterations": s.iterations,
            "score_sum": str(sum(s.scores)),
            "result": "0x" + result.hex(),
            "scores": peers,
        }
    )
    return 0


def cmd_eigentrust_image(args: argparse.Namespace) -> int:
    from offchain.compute.eigentrust import build_eigentrust_image

    _print(build_eigentrust_image(args.out).to_json())
    return 0


def cmd_eigentrust_audit(args: argparse.Namespace) -> int:
    from offchain.chain.eigentrust import EigenTrustVerifier
    from offchain.compute.taskrun import Response

    h = _task_hash(args.task_hash)
    responses = []
    if args.evidence is not None:
        try:
            ev = json.loads(_read(str(args.evidence), "evidence"))
            items = ev["responses"]
            if not isinstance(items, list):
                raise TypeError("responses is not a list")
        except (ValueError, KeyError, TypeError) as exc:
            raise InputFileError(
                f"evidence {args.evidence} is not an aggregator's evidence file: {exc}"
            ) from None
        responses = [Response.from_json(r) for r in items]
    d, mb = _mailbox(args)
    if args.key is not None:
        mb.account = d.key(args.key)
    audit = EigenTrustVerifier(mb).audit(h, responses, prove=args.key is not None)
    _print(audit.to_json())
    return 0 if audit.certified_ok else 1


def _mailbox(args: argparse.Namespace) -> Any:
    from offchain.chain.sdk import Deployment
    from offchain.chain.task_mailbox import Web3TaskMailbox

    if args.deployment is not None:
        d = Deployment.load(args.deployment, rpc=args.rpc, abi_source=args.abi)
    elif args.rpc is not None:
        d = Deployment.load(args.rpc, abi_source=args.abi)
    else:
        d = Deployment.load("devnet", abi_source=args.abi)
    return d, Web3TaskMailbox(d, d.resolve(args.mailbox, "mailbox") if args.mailbox else None)


def _task_hash(text: str) -> bytes:
    h = _hex_arg(text, "the task hash")
    if len(h) != 32:
        raise ComputeError(f"a task hash is 0x + 64 hex digits, not {text!r}")
    return h


def cmd_deploy(args: argparse.Namespace) -> int:
    from offchain.chain.task_mailbox import CERT_KINDS

    image = image_digest(args.image, args.ref)
    if args.policy is not None:
        policy = Policy.from_file(args.policy)
    else:
        policy = dev_policy(load_dir(Path(args.devtee)), image.raw)
    d, mb = _mailbox(args)
    account = d.key(args.key)
    # published first: a copy named by digest is harmless if the registration then fails, while a
    # registered image its executors cannot find would fail every task
    published = None if args.publish is None else _publish(Path(args.image), args.publish, image.raw)
    upgrade_by = args.upgrade_by
    if upgrade_by is None:
        upgrade_by = int(d.w3.eth.get_block("latest")["timestamp"]) + 86_400
    out = mb.deploy_image(
        account,
        image.raw,
        args.set_id,
        policy.hash(),
        fee_token=d.resolve(args.fee_token, "fee token"),
        fee=args.fee,
        timeout=args.timeout,
        cert_kind=CERT_KINDS[args.cert],
        threshold_bps=args.threshold_bps,
        version=args.version if args.version is not None else image.raw.hex()[:12],
        upgrade_by=upgrade_by,
    )
    if published is not None:
        out["published"] = str(published)
    _print(out)
    return 0


def _publish(src: Path, store: Path, digest: bytes) -> Path:
    """Copy the image at ``src`` into the executors' image directory ``store`` under its digest (the
    name an ImageStore looks for), keeping a tarball's suffix; an existing copy is left as it is."""
    suffix = next(
        (x for x in (".tar.gz", ".tar", ".oci") if src.name.endswith(x)), "" if src.is_dir() else ".tar"
    )
    dest = store / (digest.hex() + suffix)
    try:
        store.mkdir(parents=True, exist_ok=True)
        if not dest.exists():
            tmp = store / f".{dest.name}.partial"
            if src.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
                shutil.copytree(src, tmp, symlinks=True)
            else:
                shutil.copyfile(src, tmp)
            os.replace(tmp, dest)
    except OSError as exc:
        raise InputFileError(f"cannot publish the image into {store}: {exc.strerror or exc}") from exc
    return dest


def cmd_task_submit(args: argparse.Namespace) -> int:
    from offchain.chain.task_mailbox import MAX_PAYLOAD, TaskParams

    payload = _read(args.payload, "payload", MAX_PAYLOAD)
    d, mb = _mailbox(args)
    account = d.key(args.key)
    fee = int(mb.contract.functions.taskTypes(args.task_type).call()[4])
    refund = d.resolve(args.refund_to, "refund address") if args.refund_to else account.address
    h = mb.create_task(account, TaskParams(refund, args.task_type, fee, payload))
    print("0x" + h.hex())
    return 0


def cmd_task_status(args: argparse.Namespace) -> int:
    h = _task_hash(args.task_hash)
    _, mb = _mailbox(args)
    info = mb.info(h)
    out = {k: ("0x" + v.hex() if isinstance(v, bytes) else v) for k, v in info.__dict__.items()} | {
        "task_hash": "0x" + h.hex()
    }
    print(json.dumps(out, indent=1))
    return 0 if info.status != "NONE" else 1


def cmd_task_result(args: argparse.Namespace) -> int:
    h = _task_hash(args.task_hash)
    if (args.record_cert is None) != (args.da_config is None):
        raise ComputeError("--record-cert and --da-config go together")
    _, mb = _mailbox(args)
    r = mb.result(h)
    out = r | {"result": "0x" + r["result"].hex()}
    if args.record_cert is not None:
        out["da_record"] = _da_record(mb, h, args.record_cert, args.da_config)
    if args.output is not None:
        _write_bytes(args.output, r["result"], "result")
    _print(out)
    return 0


def cmd_task_refund(args: argparse.Namespace) -> int:
    hashes = [_task_hash(h) for h in args.task_hash]
    if not hashes and args.since_block is None:
        raise ComputeError("name the task(s) to refund, or --since-block N to refund every expired one")
    d, mb = _mailbox(args)
    account = d.key(args.key)
    if args.since_block is not None:
        hashes += [h for h in mb.expired_unrefunded(args.since_block) if h not in hashes]
    infos = {h: mb.info(h) for h in hashes}
    for h, info in infos.items():  # every named task checked before anything is sent
        if info.status != "EXPIRED" or info.refunded:
            state = "already refunded" if info.refunded else f"{info.status}, not expired"
            raise ComputeError(f"task 0x{h.hex()} is {state}: no refund")
    out = []
    for h, info in infos.items():
        tx = mb.refund(h, account)
        out.append(
            {
                "task_hash": "0x" + h.hex(),
                "refund_collector": info.refund_collector,
                "amount": info.fee,
                "tx": "0x" + bytes(tx).hex(),
            }
        )
    _print({"refunded": out})
    return 0


def _da_record(mb: Any, h: bytes, cert_file: Path, da_config: Path) -> dict[str, Any]:
    """The task's DA record, fetched with `eigen da get CERT --config C` (its checks and its config
    handling) once the certificate is known to be the task's, then checked against the chain."""
    import tempfile

    from offchain.chain.task_mailbox import check_record
    from offchain.da.cli.network import register_client

    try:
        cert = json.loads(cert_file.read_text())
    except (OSError, ValueError) as exc:
        raise ComputeError(f"--record-cert {cert_file}: not a readable JSON certificate: {exc}") from None
    info = mb.record_of(h, cert)
    parser = argparse.ArgumentParser(prog="eigen da")
    register_client(parser.add_subparsers())
    with tempfile.TemporaryDirectory() as tmp:
        got = Path(tmp) / "record"
        get = parser.parse_args(["get", str(cert_file), "--config", str(da_config), "--out", str(got)])
        get.func(get)
        rec = check_record(got.read_bytes(), info, h, info.result_hash)
    return {
        "verified": True,
        "input": "0x" + rec["input"].hex(),
        "enclave_signer": rec["receipt"]["receipt"]["enclaveSigner"],
        "receipt_digest": rec["receipt"]["digest"],
    }


def _write_bytes(out: Path, data: bytes, what: str) -> None:
    try:
        out.write_bytes(data)
    except OSError as exc:
        raise OutputPathError(f"cannot write the {what} to {out}: {exc.strerror or exc}") from exc


def cmd_task_executor(args: argparse.Namespace) -> int:
    import time

    from eth_keys import keys

    from offchain.bls.cli import open_keystore
    from offchain.chain.task_mailbox import BlsSigner, EcdsaSigner, OperatorSigner
    from offchain.compute.executor import dev_enclave
    from offchain.compute.taskrun import Executor, ImageStore, http_sink

    if not args.interval > 0:
        raise ComputeError(f"--interval must be a positive number of seconds, not {args.interval}")
    if args.signing_key is None and args.bls_keystore is None:
        raise ComputeError(
            "an executor needs --signing-key (ECDSA task types), --bls-keystore (BLS), or both"
        )
    if (args.bls_keystore is None) != (args.bls_password_file is None):
        raise ComputeError("--bls-keystore and --bls-password-file go together")
    ca = load_dir(Path(args.devtee))
    images = ImageStore(args.images)
    d, mb = _mailbox(args)
    operator = d.resolve(args.operator, "operator")
    ecdsa = bls = None
    if args.signing_key is not None:
        ecdsa = EcdsaSigner(operator, keys.PrivateKey(bytes(d.key(args.signing_key).key)))
    if args.bls_keystore is not None:
        bls = BlsSigner(operator, open_keystore(args.bls_keystore, args.bls_password_file))
    signer = OperatorSigner(ecdsa, bls) if ecdsa and bls else ecdsa or bls
    start = args.from_block if args.from_block is not None else mb.head() + 1
    sink = http_sink(args.aggregator)
    ex = Executor(mb, signer, images, args.set_id, dev_enclave(ca), sink, args.state, start_block=start)
    seen = 0
    while True:
        for r in ex.poll():
            _print({"task_hash": "0x" + r.task_hash.hex(), "result": "0x" + r.result.hex(), "posted": True})
        for f in ex.failures[seen:]:
            print(
                json.dumps({"task_hash": "0x" + f.task_hash.hex(), "error": f.kind, "message": f.error}),
                file=sys.stderr,
            )
        seen = len(ex.failures)
        if args.once:
            return 0
        time.sleep(args.interval)


def cmd_task_aggregator(args: argparse.Namespace) -> int:
    import threading
    import time

    from offchain.chain.task_mailbox import Web3TaskMailbox
    from offchain.compute.taskrun import Aggregator
    from offchain.errors import EigenError
    from offchain.httpservice import ServiceServer

    if not args.refund_interval >= 0:
        raise ComputeError(f"--refund-interval must be 0 or a number of seconds, not {args.refund_interval}")
    da = (args.disperser, args.da_key, args.records)
    if any(v is not None for v in da) and not all(v is not None for v in da):
        raise ComputeError("--disperser, --da-key and --records go together (DA records of every task)")
    d, mb = _mailbox(args)
    certifier = Web3TaskMailbox(d, mb.address, account=d.key(args.key))
    recorder = None
    if args.disperser is not None:
        from offchain.chain.task_mailbox import DARecorder

        recorder = DARecorder(certifier, args.disperser, bytes(d.key(args.da_key).key), args.records)
    agg = Aggregator(certifier, args.evidence, recorder=recorder)
    server = ServiceServer(agg.app(), args.host, args.port)
    if args.refund_interval > 0:

        def expire() -> None:
            while True:
                time.sleep(args.refund_interval)
                try:
                    for h in agg.expire():
                        print(json.dumps({"refunded": "0x" + h.hex()}), flush=True)
                except EigenError as exc:  # the node away for a while: tried again next round
                    print(json.dumps({"error": type(exc).__name__, "message": str(exc)}), file=sys.stderr)

        threading.Thread(target=expire, name="aggregator-expiry", daemon=True).start()
    print(json.dumps({"aggregator": server.url, "mailbox": mb.address}), flush=True)
    server.run()
    return 0
