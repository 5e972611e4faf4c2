"""Run a command of an unpacked image under bubblewrap, with no network and hard resource limits.

:func:`run_sandboxed` runs a task to its end; :func:`start_sandboxed` starts a long-running app in
the same sandbox (no wall-clock limit, the host's network only when asked, read-only bound files).

What the task gets (``bwrap`` arguments built by :func:`bwrap_args`):

- every namespace new (``--unshare-all``: user, pid, network, ipc, uts, cgroup), so no network at all
  (only a loopback device that is down), its own pid 1, and no further user namespaces
  (``--disable-userns``);
- the rootfs bound read-only at ``/`` and nothing else of the host: a fresh ``/proc``, a minimal
  ``/dev`` (null, zero, full, random, urandom, tty), a size-capped tmpfs at ``/tmp``, the input as a
  read-only file ``/input/data`` (a copy, not a bind of a host path) and on stdin;
- no environment but the image's (``--clearenv``), the image's working directory, a new session
  (``--new-session``: no TIOCSTI into the caller's terminal), killed when the caller dies
  (``--die-with-parent``);
- when the caller is root, the sandbox runs as an unprivileged uid (65534, nobody, by default): as
  root, RLIMIT_NPROC would not apply and the user namespace would map back to uid 0;
- resource limits set before ``bwrap`` starts and inherited by everything in the sandbox: RLIMIT_CPU
  (SIGXCPU at the limit, SIGKILL a second later), RLIMIT_AS (address space), RLIMIT_NPROC (processes
  of the sandbox uid, so one uid per concurrent task), RLIMIT_FSIZE (largest file written),
  RLIMIT_CORE 0 (no core dumps leave the sandbox), RLIMIT_NOFILE;
- a wall-clock deadline, after which ``bwrap`` is killed and with it the task's pid namespace (every
  process in it), and a cap on stdout, past which the same happens.

Failures are typed (:mod:`offchain.compute.errors`): ``SandboxUnavailable`` (no ``bwrap``, or it
cannot set the sandbox up: never run unsandboxed), ``SandboxTimeout`` (wall or CPU),
``SandboxMemoryExceeded``, ``SandboxCrashed`` (exit status or signal), ``OutputTooLarge``.

How a failure is classified: ``bwrap`` reports the task's status (a signal ``n`` as ``128 + n``) on
its status descriptor; while the task runs its main process's CPU time and peak address space
(``/proc/PID/stat``, ``VmPeak``) are sampled every few milliseconds. SIGXCPU, or SIGKILL with the CPU
limit used, is a CPU timeout; any other abnormal end after the address space reached half the memory
limit is a memory failure (a program that fails an allocation reacts in its own way: an error exit, an
abort or a segmentation fault); the rest are crashes.
"""

from __future__ import annotations

import json
import os
import resource
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from offchain.compute.errors import (
    OutputTooLarge,
    SandboxCrashed,
    SandboxFileError,
    SandboxMemoryExceeded,
    SandboxTimeout,
    SandboxUnavailable,
)
from offchain.errors import ComputeError

SANDBOX_UID = 65534  # nobody
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
INPUT_PATH = "/input/data"
SAMPLE_S = 0.005
_CLK_TCK = os.sysconf("SC_CLK_TCK")
# Top folders a bound file may not live in: the sandbox's own mounts, and the image's usual folders.
RESERVED_TOPS = frozenset(
    {"proc", "dev", "tmp", "input", "app", "usr", "lib", "lib64", "bin", "sbin", "etc", "root"}
)
_INSTALL = "install Debian's bubblewrap package (tools/bootstrap.sh does, as root)"


@dataclass(frozen=True)
class Limits:
    """Per-task limits. ``memory_bytes`` caps the address space of each process of the task."""

    wall_s: float = 30.0
    cpu_s: int = 10
    memory_bytes: int = 512 << 20
    nproc: int = 64
    fsize_bytes: int = 64 << 20
    tmpfs_bytes: int = 64 << 20
    output_bytes: int = 16 << 20
    stderr_bytes: int = 64 << 10  # the tail kept for diagnostics
    nofile: int = 256

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise ComputeError(f"sandbox limit {name} must be a positive number, not {value!r}")
        if self.nproc < 4:
            raise ComputeError("sandbox limit nproc must be at least 4 (bwrap and its init count too)")


@dataclass(frozen=True)
class SandboxResult:
    output: bytes
    stderr: bytes
    wall_s: float
    cpu_s: float  # the main process's CPU time, as last sampled
    peak_vm: int  # the main process's peak address space, bytes, as last sampled
    pid_namespace: int | None  # inode of the task's pid namespace (gone once the task ended)


def find_bwrap(path: str | None = None) -> str:
    """The ``bwrap`` executable (``path``, else the one on PATH); SandboxUnavailable when missing."""
    found = path if path is not None else shutil.which("bwrap")
    if found is None or not os.path.isfile(found) or not os.access(found, os.X_OK):
        where = path if path is not None else "on PATH"
        raise SandboxUnavailable(
            f"bubblewrap (bwrap) is not found {where}: {_INSTALL}; tasks never run unsandboxed"
        )
    return found


def _check_reachable(rootfs: Path, uid: int) -> None:
    """The sandbox uid must be able to reach the rootfs (bwrap binds it with that uid's rights)."""
    for d in [rootfs, *rootfs.parents]:
        st = d.stat()
        if st.st_uid != uid and not st.st_mode & 0o001:
            raise SandboxUnavailable(
                f"rootfs {rootfs}: {d} (mode {st.st_mode & 0o777:o}) cannot be searched by the sandbox uid "
                f"{uid}; unpack images under a directory others can search"
            )


def _missing_mount_points(rootfs: Path) -> list[str]:
    return [n for n in ("proc", "dev", "tmp", "input") if not (rootfs / n).is_dir()]


def data_file_tops(paths: Sequence[str]) -> list[str]:
    """The top folders (``/run`` of ``/run/enclave/key``) of files bound into the sandbox, each
    mounted as a small read-only tmpfs; SandboxFileError for a path that is not absolute and two
    levels deep at least, or whose top folder is one the sandbox mounts itself."""
    tops = set()
    for path in paths:
        parts = path.split("/")
        if (
            not path.startswith("/")
            or len(parts) < 3
            or any(p in ("", ".", "..") for p in parts[1:])
            or "\0" in path
        ):
            raise SandboxFileError(f"sandbox file path {path!r} must be absolute, normal and under a folder")
        if parts[1] in RESERVED_TOPS:
            raise SandboxFileError(
                f"sandbox file path {path!r} is under /{parts[1]}, which the sandbox mounts itself"
            )
        tops.add("/" + parts[1])
    return sorted(tops)


def bwrap_args(
    bwrap: str,
    rootfs: Path,
    argv: Sequence[str],
    env: Sequence[str],
    cwd: str,
    limits: Limits,
    fds: tuple[int, int],
    *,
    share_net: bool = False,
    data_files: Sequence[tuple[int, str]] = (),
) -> list[str]:
    """The bubblewrap command line (``fds``: the status descriptor and the input copy's).
    ``share_net``: keep the host's network namespace (apps only, never tasks); ``data_files``:
    (descriptor, sandbox path) of read-only files, each top folder a tmpfs (:func:`data_file_tops`)."""
    status_fd, input_fd = fds
    args = [
        bwrap,
        "--unshare-all",
        *(["--share-net"] if share_net else []),
        "--unshare-user",
        "--disable-userns",
        "--die-with-parent",
        "--new-session",
    ]
    args += ["--ro-bind", str(rootfs), "/", "--proc", "/proc", "--dev", "/dev"]
    args += ["--size", str(limits.tmpfs_bytes), "--tmpfs", "/tmp"]
    args += ["--size", "65536", "--tmpfs", "/input", "--ro-bind-data", str(input_fd), INPUT_PATH]
    args += ["--remount-ro", "/input"]
    tops = data_file_tops([path for _, path in data_files])
    for top in tops:
        args += ["--size", "1048576", "--tmpfs", top]
    for fd, path in data_files:
        args += ["--ro-bind-data", str(fd), path]
    for top in tops:
        args += ["--remount-ro", top]
    args += ["--hostname", "sandbox", "--chdir", cwd, "--clearenv"]
    names = set()
    for item in env:
        name, _, value = item.partition("=")
        names.add(name)
        args += ["--setenv", name, value]
    if "PATH" not in names:
        args += ["--setenv", "PATH", DEFAULT_PATH]
    args += ["--json-status-fd", str(status_fd), "--", *argv]
    return args


def _rlimits(limits: Limits):  # noqa: ANN202 - a preexec_fn
    wanted = (
        (resource.RLIMIT_CPU, int(limits.cpu_s), int(limits.cpu_s) + 1),
        (resource.RLIMIT_AS, int(limits.memory_bytes), int(limits.memory_bytes)),
        (resource.RLIMIT_NPROC, int(limits.nproc), int(limits.nproc)),
        (resource.RLIMIT_FSIZE, int(limits.fsize_bytes), int(limits.fsize_bytes)),
        (resource.RLIMIT_CORE, 0, 0),
        (resource.RLIMIT_NOFILE, int(limits.nofile), int(limits.nofile)),
    )

    def apply() -> None:  # runs in the child between fork and exec: only setrlimit calls
        for res, soft, hard in wanted:
            _, cur_hard = resource.getrlimit(res)
            if cur_hard != resource.RLIM_INFINITY:
                soft, hard = min(soft, cur_hard), min(hard, cur_hard)
            resource.setrlimit(res, (soft, hard))

    return apply


class _Sampler:
    """CPU time and peak address space of the task's processes (bwrap's init in the task's pid
    namespace and its descendants), read from /proc; the largest of each over the processes."""

    def __init__(self) -> None:
        self.pid: int | None = None
        self.cpu_s = 0.0
        self.peak_vm = 0

    def _tree(self) -> list[int]:
        assert self.pid is not None
        pids, todo = [], [self.pid]
        while todo and len(pids) < 4096:
            pid = todo.pop()
            pids.append(pid)
            try:
                with open(f"/proc/{pid}/task/{pid}/children", "rb") as fh:
                    todo += [int(c) for c in fh.read().split()]
            except OSError:
                continue
        return pids[1:]  # bwrap's own init is not the task

    def sample(self) -> None:
        if self.pid is None:
            return
        for pid in self._tree():
            try:
                with open(f"/proc/{pid}/stat", "rb") as fh:
                    fields = fh.read().rsplit(b")", 1)[1].split()
                with open(f"/proc/{pid}/status", "rb") as fh:
                    status = fh.read()
            except (OSError, IndexError):
                continue  # gone meanwhile
            self.cpu_s = max(self.cpu_s, (int(fields[11]) + int(fields[12])) / _CLK_TCK)
            for line in status.splitlines():
                if line.startswith(b"VmPeak:"):
                    self.peak_vm = max(self.peak_vm, int(line.split()[1]) * 1024)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Kill bwrap's process group; bwrap's death takes the pid namespace (every task process) along."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _prepare(rootfs: Path, argv: Sequence[str], uid: int | None, tops: Sequence[str] = ()) -> int | None:
    """Check the command and the sandbox uid, create the rootfs's mount points; the uid to run as
    (None: the caller's)."""
    if not argv:
        raise ComputeError("nothing to run: empty argv")
    run_uid: int | None = None
    if os.geteuid() == 0:
        run_uid = SANDBOX_UID if uid is None else uid
        if run_uid == 0:
            raise SandboxUnavailable("the sandbox does not run as root (RLIMIT_NPROC would not apply)")
        _check_reachable(rootfs, run_uid)
    elif uid is not None and uid != os.geteuid():
        raise SandboxUnavailable("only root can choose the sandbox uid")
    missing = _missing_mount_points(rootfs) + [t[1:] for t in tops if not (rootfs / t[1:]).is_dir()]
    if missing:
        try:
            for name in missing:
                (rootfs / name).mkdir(mode=0o755, exist_ok=True)
        except OSError as exc:
            raise SandboxUnavailable(f"rootfs {rootfs} lacks the mount points {missing}: {exc}") from exc
    return run_uid


def _popen(
    args: list[str],
    stdin: int | IO[bytes],
    stderr: int | IO[bytes] | None,
    fds: Sequence[int],
    run_uid: int | None,
    limits: Limits,
) -> subprocess.Popen[bytes]:
    """Start bwrap (``args``) in its own session as ``run_uid``, with the limits set, only ``fds``
    passed and an empty environment."""
    try:
        return subprocess.Popen(
            args,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=stderr,
            pass_fds=tuple(fds),
            start_new_session=True,
            env={},
            user=run_uid,
            group=run_uid,
            extra_groups=[] if run_uid is not None else None,
            preexec_fn=_rlimits(limits),  # noqa: PLW1509 - only setrlimit calls
        )
    except OSError as exc:
        raise SandboxUnavailable(f"cannot start {args[0]}: {exc}") from exc


def run_sandboxed(
    rootfs: str | Path,
    argv: Sequence[str],
    *,
    stdin: bytes = b"",
    env: Sequence[str] = (),
    cwd: str = "/",
    limits: Limits | None = None,
    bwrap: str | None = None,
    uid: int | None = None,
) -> SandboxResult:
    """Run ``argv`` in ``rootfs`` under bubblewrap with ``stdin`` as its input; return its stdout.
    ``uid``: the host uid the sandbox runs as when the caller is root (default 65534)."""
    limits = limits or Limits()
    exe = find_bwrap(bwrap)
    rootfs = Path(rootfs).resolve()
    run_uid = _prepare(rootfs, argv, uid)
    with tempfile.TemporaryFile() as in_stdin, tempfile.TemporaryFile() as in_copy:
        for fh in (in_stdin, in_copy):
            fh.write(stdin)
            fh.flush()
            fh.seek(0)
        status_r, status_w = os.pipe()
        args = bwrap_args(exe, rootfs, argv, env, cwd, limits, (status_w, in_copy.fileno()))
        start = time.monotonic()
        try:
            proc = _popen(args, in_stdin, subprocess.PIPE, (status_w, in_copy.fileno()), run_uid, limits)
        except SandboxUnavailable:
            os.close(status_r)
            raise
        finally:
            os.close(status_w)
        return _supervise(proc, status_r, limits, start)


def _supervise(proc: subprocess.Popen[bytes], status_r: int, limits: Limits, start: float) -> SandboxResult:
    assert proc.stdout is not None and proc.stderr is not None
    sel = selectors.DefaultSelector()
    for fd, key in ((proc.stdout.fileno(), "out"), (proc.stderr.fileno(), "err"), (status_r, "status")):
        os.set_blocking(fd, False)
        sel.register(fd, selectors.EVENT_READ, key)
    out, err, status = bytearray(), bytearray(), bytearray()
    sampler, docs = _Sampler(), []
    deadline = start + limits.wall_s
    failure: str | None = None
    try:
        while sel.get_map():
            now = time.monotonic()
            if now >= deadline:
                failure = "wall"
                break
            for key, _ in sel.select(timeout=min(SAMPLE_S, deadline - now)):
                data = os.read(key.fd, 1 << 16)
                if not data:
                    sel.unregister(key.fd)
                elif key.data == "out":
                    out += data
                elif key.data == "err":
                    err += data
                    del err[: max(0, len(err) - limits.stderr_bytes)]
                else:
                    status += data
            if len(out) > limits.output_bytes:
                failure = "output"
                break
            if sampler.pid is None and b"\n" in status:
                docs = _status_docs(status)
                sampler.pid = next((d["child-pid"] for d in docs if "child-pid" in d), None)
            sampler.sample()
        if failure is None:
            try:  # every pipe closed: bwrap still must end by the deadline
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                failure = "wall"
    finally:
        if failure is not None or proc.poll() is None:
            _kill(proc)
        proc.wait()
        sel.close()
        proc.stdout.close()
        proc.stderr.close()
        status += _drain(status_r)
        os.close(status_r)
    docs = _status_docs(status)
    init = next((d["child-pid"] for d in docs if "child-pid" in d), None)
    if init is not None:
        _wait_gone(init)
    wall = time.monotonic() - start
    tail = bytes(err)
    pidns = next((d.get("pid-namespace") for d in docs if "child-pid" in d), None)
    if failure == "wall":
        raise SandboxTimeout(f"the task ran past its wall-clock limit of {limits.wall_s} s", "wall", tail)
    if failure == "output":
        raise OutputTooLarge(f"the task wrote more than {limits.output_bytes} bytes to stdout", tail)
    last = tail.decode(errors="replace").strip().rsplit("\n", 1)[-1]
    if not any("child-pid" in d for d in docs) or (proc.returncode == 1 and last.startswith("bwrap: ")):
        text = tail.decode(errors="replace").strip()
        raise SandboxUnavailable(f"bwrap could not set the sandbox up (exit {proc.returncode}): {text}", tail)
    code = next((d["exit-code"] for d in docs if "exit-code" in d), proc.returncode)
    if code == 0:
        return SandboxResult(bytes(out), tail, wall, sampler.cpu_s, sampler.peak_vm, pidns)
    sig = code - 128 if 128 < code <= 128 + 64 else None
    if sig == signal.SIGXCPU or (sig == signal.SIGKILL and sampler.cpu_s >= limits.cpu_s - 0.05):
        raise SandboxTimeout(f"the task used its CPU-time limit of {limits.cpu_s} s", "cpu", tail)
    if 2 * sampler.peak_vm >= limits.memory_bytes:
        raise SandboxMemoryExceeded(
            f"the task failed (status {code}) at {sampler.peak_vm} bytes of address space, "
            f"limit {limits.memory_bytes}",
            sampler.peak_vm,
            tail,
        )
    what = f"signal {signal.Signals(sig).name}" if sig in set(signal.Signals) else f"exit status {code}"
    raise SandboxCrashed(f"the task ended with {what}", None if sig else code, sig, tail)


def _wait_gone(pid: int, timeout_s: float = 10.0) -> None:
    """Wait until the task's init (bwrap's pid 1 in the task's namespace) has exited: the kernel
    kills and reaps every other process of the namespace before its init becomes a zombie, so after
    this nothing of the task runs."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                state = fh.read().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            return
        if state in (b"Z", b"X"):
            return
        time.sleep(0.002)
    raise SandboxUnavailable(f"the task's processes did not exit within {timeout_s} s of being killed")


def _drain(fd: int) -> bytes:
    os.set_blocking(fd, False)
    chunks = []
    while True:
        try:
            data = os.read(fd, 1 << 16)
        except BlockingIOError:
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def _status_docs(raw: bytes | bytearray) -> list[dict[str, int]]:
    """bwrap's --json-status-fd output: one JSON object per line."""
    docs = []
    for line in bytes(raw).splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            docs.append(obj)
    return docs


@dataclass(frozen=True)
class AppLimits(Limits):
    """Limits of a long-running app (:func:`start_sandboxed`): no wall-clock limit applies (the app
    lives until stopped); CPU time is the app's whole life's, and Python with its packages needs a
    larger address space than a task kernel."""

    wall_s: float = 1.0  # unused: apps have no deadline
    cpu_s: int = 7 * 24 * 3600
    memory_bytes: int = 8 << 30
    nproc: int = 256
    nofile: int = 1024


class SandboxProcess:
    """A long-running sandboxed process (:func:`start_sandboxed`), like a ``subprocess.Popen``:
    ``stdin`` / ``stdout`` / ``stderr`` binary pipes (``stderr`` None unless piped), ``pid`` (of
    ``bwrap``), :meth:`poll`, :meth:`wait`, :meth:`stop` (kills everything in the sandbox), and a
    context manager that stops it."""

    def __init__(self, proc: subprocess.Popen[bytes], status_r: int) -> None:
        self._proc = proc
        self._status_r = status_r
        self._status = bytearray()
        self.stdin, self.stdout, self.stderr = proc.stdin, proc.stdout, proc.stderr
        self.pid = proc.pid
        self.init_pid: int | None = None  # the sandbox's pid 1, seen from the host

    def _read_status(self, timeout_s: float) -> None:
        """Read bwrap's status lines until the sandbox's init pid is known (or bwrap ends)."""
        sel = selectors.DefaultSelector()
        sel.register(self._status_r, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout_s
        try:
            while self.init_pid is None and time.monotonic() < deadline:
                if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                    continue
                data = os.read(self._status_r, 1 << 16)
                if not data:
                    break
                self._status += data
                self.init_pid = next(
                    (d["child-pid"] for d in _status_docs(self._status) if "child-pid" in d), None
                )
        finally:
            sel.close()

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode

    def poll(self) -> int | None:
        """None while the sandbox runs, else bwrap's exit status (the app's, or 128 + a signal)."""
        return self._proc.poll()

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the app to end (``subprocess.TimeoutExpired`` after ``timeout`` seconds)."""
        return self._proc.wait(timeout)

    def stop(self) -> int:
        """Kill bwrap and with it every process of the sandbox; wait until none is left. Returns the
        exit status (negative: the signal that ended bwrap). Idempotent."""
        if self._proc.poll() is None:
            _kill(self._proc)
        self._proc.wait()
        if self._status_r >= 0:
            self._status += _drain(self._status_r)
            os.close(self._status_r)
            self._status_r = -1
        if self.init_pid is not None:
            _wait_gone(self.init_pid)
        for pipe in (self.stdin, self.stdout, self.stderr):
            if pipe is not None:
                try:
                    pipe.close()
                except OSError:  # a write buffered for a reader that is gone
                    pass
        return self._proc.returncode

    def __enter__(self) -> SandboxProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_sandboxed(
    rootfs: str | Path,
    argv: Sequence[str],
    *,
    env: Sequence[str] = (),
    cwd: str = "/",
    share_net: bool = False,
    files: dict[str, bytes] | None = None,
    limits: Limits | None = None,
    uid: int | None = None,
    bwrap: str | None = None,
    stderr: int | IO[bytes] | None = subprocess.PIPE,
) -> SandboxProcess:
    """Start ``argv`` in ``rootfs`` under the same bubblewrap sandbox as :func:`run_sandboxed`
    (every namespace new, the rootfs read-only, the same resource limits but no wall-clock one),
    for a long-running app: it lives until :meth:`SandboxProcess.stop`. ``share_net`` keeps the
    host's network (``--share-net``: the app can reach the host's loopback and beyond; tasks never
    get it). ``files``: sandbox path -> bytes, bound read-only (a copy, like the task input), e.g.
    ``{"/run/enclave/key": key}``; their top folders become read-only tmpfs mounts. ``stderr``: a
    ``subprocess`` target for the app's stderr (default a pipe, which the caller must drain)."""
    limits = limits or AppLimits()
    files = dict(files or {})
    for path, data in files.items():
        if not isinstance(data, bytes):
            raise SandboxFileError(f"sandbox file {path!r} must be bytes, not {type(data).__name__}")
    tops = data_file_tops(list(files))
    exe = find_bwrap(bwrap)
    rootfs = Path(rootfs).resolve()
    run_uid = _prepare(rootfs, argv, uid, tops)
    copies = [tempfile.TemporaryFile() for _ in range(len(files) + 1)]  # the (empty) input, then files
    status_r, status_w = os.pipe()
    try:
        for fh, data in zip(copies[1:], files.values(), strict=True):
            fh.write(data)
            fh.flush()
            fh.seek(0)
        data_files = [(fh.fileno(), path) for fh, path in zip(copies[1:], files, strict=True)]
        args = bwrap_args(
            exe,
            rootfs,
            argv,
            env,
            cwd,
            limits,
            (status_w, copies[0].fileno()),
            share_net=share_net,
            data_files=data_files,
        )
        fds = (status_w, *(fh.fileno() for fh in copies))
        proc = _popen(args, subprocess.PIPE, stderr, fds, run_uid, limits)
    except SandboxUnavailable:
        os.close(status_r)
        raise
    finally:
        os.close(status_w)
        for fh in copies:
            fh.close()
    sp = SandboxProcess(proc, status_r)
    sp._read_status(10.0)
    if sp.init_pid is None:
        tail = b""
        if sp.stderr is not None and _wait_quietly(proc, 5.0):
            tail = sp.stderr.read()[-limits.stderr_bytes :]
        code = sp.stop()
        text = tail.decode(errors="replace").strip()
        raise SandboxUnavailable(f"bwrap could not set the sandbox up (exit {code}): {text}", tail)
    return sp


def _wait_quietly(proc: subprocess.Popen[bytes], timeout_s: float) -> bool:
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        return False
    return True
