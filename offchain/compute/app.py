"""Run an image as a long-running app: checked digest -> fresh rootfs -> sandboxed process with network.

A task (:func:`offchain.compute.executor.execute_task`) is a pure function: no network, one input,
one output, a deadline. An app (:func:`start_app`, e.g. the trading agent) talks JSON lines on
stdin/stdout for as long as it runs and, with ``share_net`` (the default for apps), reaches the
host's network (its loopback included: anvil and HTTP services on 127.0.0.1). The image is checked
exactly as for a task (:func:`~offchain.compute.image.open_image` against the registry's digest,
every blob against its descriptor) before anything is unpacked or run, and the rootfs is removed
when the app is closed.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from offchain.compute.errors import (
    AppError,
    BlobDigestMismatch,
    ImageDigestMismatch,
    SandboxFileError,
    SandboxUnavailable,
    UnsupportedImage,
)
from offchain.compute.image import ImageConfig, open_image
from offchain.compute.sandbox import AppLimits, Limits, SandboxProcess, find_bwrap, start_sandboxed
from offchain.compute.unpack import UnpackLimits, UnpackReport, unpack_image

__all__ = [
    "App",
    "AppError",
    "AppLimits",
    "BlobDigestMismatch",
    "ImageDigestMismatch",
    "SandboxFileError",
    "SandboxUnavailable",
    "UnsupportedImage",
    "start_app",
]


class App:
    """A started app (:func:`start_app`): ``process`` (a :class:`SandboxProcess`, with ``stdin`` /
    ``stdout`` / ``stderr`` pipes), ``digest``, ``config``, ``rootfs``; :meth:`request` for one JSON
    line each way; :meth:`close` (also on leaving a ``with`` block) stops it and removes the rootfs."""

    def __init__(
        self, process: SandboxProcess, digest: str, config: ImageConfig, work: Path, unpacked: UnpackReport
    ) -> None:
        self.process = process
        self.digest = digest
        self.config = config
        self.rootfs = work / "rootfs"
        self.unpacked = unpacked
        self._work = work
        self._buf = b""

    @property
    def stdin(self) -> IO[bytes]:
        assert self.process.stdin is not None
        return self.process.stdin

    @property
    def stdout(self) -> IO[bytes]:
        assert self.process.stdout is not None
        return self.process.stdout

    @property
    def stderr(self) -> IO[bytes] | None:
        return self.process.stderr

    def readline(self, timeout: float = 30.0) -> bytes:
        """One line of the app's stdout (without the newline); AppError when the app ends first or
        writes none within ``timeout`` seconds."""
        fd = self.stdout.fileno()
        os.set_blocking(fd, False)
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AppError(f"the app wrote no line within {timeout} s")
                if not sel.select(timeout=left):
                    continue
                data = os.read(fd, 1 << 16)
                if not data:
                    raise AppError(f"the app closed its output (exit status {self.process.poll()})")
                self._buf += data
        line, _, self._buf = self._buf.partition(b"\n")
        return line

    def request(self, message: Any, timeout: float = 30.0) -> Any:
        """Write ``message`` as one JSON line, read one JSON line back (AppError when the app ended,
        timed out or answered something that is not JSON)."""
        try:
            self.stdin.write(json.dumps(message).encode() + b"\n")
            self.stdin.flush()
        except (BrokenPipeError, ValueError) as exc:
            raise AppError(f"the app no longer reads its input (exit status {self.process.poll()})") from exc
        line = self.readline(timeout)
        try:
            return json.loads(line)
        except ValueError as exc:
            raise AppError(f"the app answered a line that is not JSON: {line[:200]!r}") from exc

    def close(self) -> int:
        """Stop every process of the app and remove its rootfs; the app's exit status. Idempotent."""
        try:
            return self.process.stop()
        finally:
            shutil.rmtree(self._work, ignore_errors=True)

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_app(
    image_path: str | Path,
    digest: str,
    *,
    workdir: str | Path,
    share_net: bool = True,
    files: dict[str, bytes] | None = None,
    env: tuple[str, ...] | list[str] = (),
    limits: Limits | None = None,
    unpack_limits: UnpackLimits | None = None,
    uid: int | None = None,
    bwrap: str | None = None,
    stderr: int | IO[bytes] | None = subprocess.PIPE,
) -> App:
    """Check the image at ``image_path`` against ``digest`` (``sha256:<hex>``, the registry's) as
    :func:`~offchain.compute.executor.execute_task` does, unpack it to a fresh rootfs under
    ``workdir`` (which the sandbox uid must be able to search) and start its Entrypoint + Cmd with its
    Env (then ``env``) in its WorkingDir under :func:`~offchain.compute.sandbox.start_sandboxed`.
    ``limits`` defaults to :class:`AppLimits`. ``stderr``: where the app's stderr goes, a
    ``subprocess`` target (default a pipe, :attr:`App.stderr`, which the caller must drain or the
    app blocks once it is full; ``subprocess.DEVNULL`` or an open file otherwise)."""
    for item in env:
        if "=" not in item or item.startswith("="):
            raise AppError(f"app env {item!r} is not NAME=VALUE")
    find_bwrap(bwrap)  # no sandbox, no app: fail before reading the image
    with open_image(image_path, digest) as img:
        config = img.config
        work = Path(tempfile.mkdtemp(prefix="eigen-app-", dir=workdir))
        try:
            os.chmod(work, 0o711)
            report = unpack_image(img, work / "rootfs", unpack_limits)
            img.close()
            if not (work / "rootfs" / config.working_dir.lstrip("/")).is_dir():
                raise UnsupportedImage(f"the image's WorkingDir {config.working_dir} is not a directory")
            process = start_sandboxed(
                work / "rootfs",
                config.argv,
                env=[*config.env, *env],
                cwd=config.working_dir,
                share_net=share_net,
                files=files,
                limits=limits or AppLimits(),
                uid=uid,
                bwrap=bwrap,
                stderr=stderr,
            )
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
    return App(process, img.digest, config, work, report)
