"""The executor's step for one task: image -> checked digest -> rootfs -> sandbox -> output + receipt.

:func:`execute_task` takes the image file, the digest the on-chain registry names for it, the task's
input bytes, the limits and an enclave (the development TEE, or a real TEE's signer where the
machine has one), and returns the output with a receipt signed by the enclave key whose evidence
measures the image digest. Nothing of the image is unpacked before its digest matches, nothing runs
outside the sandbox, and the rootfs is removed afterwards whatever happened.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from offchain.compute.devtee import DevTEE
from offchain.compute.errors import ComputeReceiptError, UnsupportedImage
from offchain.compute.image import open_image
from offchain.compute.policy import Policy, require_utc
from offchain.compute.receipt import ReceiptBundle
from offchain.compute.sandbox import Limits, SandboxResult, find_bwrap, run_sandboxed
from offchain.compute.testca import NitroTestCA
from offchain.compute.unpack import UnpackLimits, UnpackReport, unpack_image


class Enclave(Protocol):
    """What signs a task's receipt: attests at ``at`` and binds image, input, output and time."""

    def run(
        self,
        input_data: bytes,
        output_data: bytes,
        at: datetime,
        *,
        app_id: bytes = ...,
        chain_id: int = ...,
        policy: Policy | None = ...,
    ) -> ReceiptBundle: ...


def dev_enclave(ca: NitroTestCA) -> Callable[[bytes], Enclave]:
    """An enclave factory for :func:`execute_task`: the development TEE of ``ca`` for an image."""
    return lambda digest: DevTEE(ca, digest)


@dataclass(frozen=True)
class TaskOutcome:
    output: bytes
    receipt: ReceiptBundle
    image_digest: str
    sandbox: SandboxResult
    unpacked: UnpackReport


def execute_task(
    image: str | Path,
    expected_digest: str,
    input_data: bytes,
    *,
    enclave: Callable[[bytes], Enclave],
    limits: Limits | None = None,
    unpack_limits: UnpackLimits | None = None,
    at: datetime | None = None,
    app_id: bytes = bytes(32),
    chain_id: int = 0,
    policy: Policy | None = None,
    workdir: str | Path | None = None,
    bwrap: str | None = None,
    uid: int | None = None,
) -> TaskOutcome:
    """Run one task. ``expected_digest`` (``sha256:<hex>``) is the registry's; ``workdir`` is where
    the rootfs is unpacked (default: the system's temporary directory; the sandbox uid must be able
    to search it); ``at`` is the receipt's time (default: now, whole seconds)."""
    if at is not None:
        at = require_utc(at)
    find_bwrap(bwrap)  # no sandbox, no task: fail before reading the image
    with open_image(image, expected_digest) as img:
        digest, config = img.digest, img.config
        work = Path(tempfile.mkdtemp(prefix="eigen-task-", dir=workdir))
        try:
            os.chmod(work, 0o711)
            rootfs = work / "rootfs"
            report = unpack_image(img, rootfs, unpack_limits)
            img.close()
            if not (rootfs / config.working_dir.lstrip("/")).is_dir():
                raise UnsupportedImage(f"the image's WorkingDir {config.working_dir} is not a directory")
            result = run_sandboxed(
                rootfs,
                config.argv,
                stdin=input_data,
                env=config.env,
                cwd=config.working_dir,
                limits=limits,
                bwrap=bwrap,
                uid=uid,
            )
        finally:
            shutil.rmtree(work, ignore_errors=True)
    when = at or datetime.now(UTC).replace(microsecond=0)
    raw = bytes.fromhex(digest[7:])
    bundle = enclave(raw).run(
        input_data, result.output, when, app_id=app_id, chain_id=chain_id, policy=policy
    )
    if bundle.receipt.imageDigest != raw:
        raise ComputeReceiptError("the enclave signed a receipt for another image than the one it ran")
    return TaskOutcome(result.output, bundle, digest, result, report)
