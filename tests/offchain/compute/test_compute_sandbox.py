"""The sandbox and the executor step: images run under bubblewrap; every escape attempt fails typed."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from offchain.cli import main
from offchain.compute.devtee import init_dir
from offchain.compute.errors import (
    ImageDigestMismatch,
    OutputTooLarge,
    SandboxCrashed,
    SandboxMemoryExceeded,
    SandboxTimeout,
    SandboxUnavailable,
)
from offchain.compute.executor import dev_enclave, execute_task
from offchain.compute.image import open_image
from offchain.compute.imagebuild import build_image
from offchain.compute.pki import TrustStore
from offchain.compute.receipt import verify_receipt
from offchain.compute.sandbox import Limits, find_bwrap, run_sandboxed
from offchain.compute.testca import NitroTestCA
from offchain.compute.unpack import unpack_image
from offchain.errors import ComputeError
from tests.offchain.compute.support import reachable_dir, script_app, static_binary

AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
CA = NitroTestCA(seed=b"sandbox-tests")
ROOT_CALLER = os.geteuid() == 0
# RLIMIT_NPROC counts every process of the sandbox's uid: a root caller gives the sandbox its own uid,
# a user's sandbox shares the count with the user's other processes, so only root tests a small cap
NPROC = 16 if ROOT_CALLER else 1 << 16
# the tests' sandboxes run as their own uid (root callers), apart from any other user of uid 65534
TEST_UID = 61010 if ROOT_CALLER else None
# generous wall clocks: the CPU limits must trip first even on a loaded machine
FAST = Limits(wall_s=60, cpu_s=2, memory_bytes=64 << 20, nproc=NPROC, output_bytes=1 << 20)


def _bwrap_works() -> str | None:
    """Why the sandbox cannot run on this machine (None when it can)."""
    try:
        exe = find_bwrap()
    except SandboxUnavailable:
        return "bubblewrap is not installed (tools/bootstrap.sh installs it)"
    args = [exe, "--unshare-all", "--unshare-user", "--ro-bind", "/", "/", "true"]
    probe = subprocess.run(
        args, capture_output=True, text=True, check=False, user=65534 if ROOT_CALLER else None
    )
    return None if probe.returncode == 0 else f"bwrap cannot create a sandbox here: {probe.stderr.strip()}"


_NO_SANDBOX = _bwrap_works()
needs_bwrap = pytest.mark.skipif(_NO_SANDBOX is not None, reason=str(_NO_SANDBOX))
needs_own_uid = pytest.mark.skipif(not ROOT_CALLER, reason="only a root caller gives the sandbox its own uid")


@pytest.fixture
def work():
    with reachable_dir() as path:
        yield path


def shell_rootfs(work: Path, body: str, **kw) -> tuple[Path, list[str], str]:
    """Build a #!/bin/sh image of ``body``, unpack it; (rootfs, argv, digest). Each call in its own
    folder of ``work``."""
    work = work / f"t{len(os.listdir(work))}"
    work.mkdir()
    src = script_app(work, body)
    built = build_image(src, work / "img", **kw)
    with open_image(work / "img", built.digest) as img:
        unpack_image(img, work / "rootfs")
        return work / "rootfs", img.config.argv, built.digest


def binary_rootfs(work: Path, name: str, source: str) -> Path:
    exe = static_binary(work, name, source)
    src = work / "src"
    src.mkdir()
    exe.rename(src / name)
    built = build_image(src, work / "img")
    with open_image(work / "img", built.digest) as img:
        unpack_image(img, work / "rootfs")
    return work / "rootfs"


def sh(work: Path, body: str, stdin: bytes = b"", limits: Limits = FAST, **kw):
    rootfs, argv, _ = shell_rootfs(work, body)
    kw.setdefault("uid", TEST_UID)
    return run_sandboxed(rootfs, argv, stdin=stdin, limits=limits, cwd="/app", **kw)


def test_missing_bwrap_is_a_clear_error_and_nothing_runs(work):
    with pytest.raises(SandboxUnavailable, match="bubblewrap"):
        find_bwrap("/nonexistent/bwrap")
    src = script_app(work, "echo ran\n")
    built = build_image(src, work / "img")
    with pytest.raises(SandboxUnavailable, match="never run unsandboxed"):
        execute_task(
            work / "img", built.digest, b"", enclave=dev_enclave(CA), bwrap="/nonexistent/bwrap", workdir=work
        )
    assert sorted(os.listdir(work)) == ["img", "src"]  # not even unpacked


def test_limits_are_validated():
    with pytest.raises(ComputeError, match="cpu_s"):
        Limits(cpu_s=0)
    with pytest.raises(ComputeError, match="nproc"):
        Limits(nproc=2)


@needs_bwrap
def test_script_runs_and_receipt_verifies(work):
    src = script_app(work, 'read x; read y < /input/data; echo "hello $x $y"\n')
    built = build_image(src, work / "img.tar")
    out = execute_task(work / "img.tar", built.digest, b"bob\n", enclave=dev_enclave(CA), at=AT, workdir=work)
    assert out.output == b"hello bob bob\n"
    r = out.receipt.receipt
    assert r.imageDigest == bytes.fromhex(built.digest[7:]) and r.timestamp == int(AT.timestamp())
    verdict = verify_receipt(out.receipt, trust=TrustStore.default().with_roots([CA.root]))
    assert verdict.accepted, verdict.to_json()
    assert sorted(os.listdir(work)) == ["img.tar", "src"]  # the rootfs is gone


@needs_bwrap
def test_digest_mismatch_is_refused_before_running(work):
    _, _, digest = shell_rootfs(work, "echo ran\n")
    wrong = "sha256:" + ("0" if digest[7] != "0" else "1") + digest[8:]
    runs = work / "runs"
    runs.mkdir()
    with pytest.raises(ImageDigestMismatch):
        execute_task(work / "t0/img", wrong, b"", enclave=dev_enclave(CA), workdir=runs)
    assert os.listdir(runs) == []  # nothing unpacked


@needs_bwrap
def test_static_binary_image_runs(work):
    rootfs = binary_rootfs(
        work,
        "echo",
        "#include <stdio.h>\nint main(void){int c; while((c=getchar())!=EOF) putchar(c^32); return 0;}\n",
    )
    assert run_sandboxed(rootfs, ["/app/echo"], stdin=b"abc", limits=FAST, uid=TEST_UID).output == b"ABC"


@needs_bwrap
def test_environment_is_the_images_and_pid_is_namespaced(work):
    body = 'echo "pid=$$ home=$HOME user=$USER"; export -p\n'
    res = sh(work, body)
    lines = res.output.decode().splitlines()
    assert lines[0] == "pid=2 home= user="
    exported = {line.split()[-1].split("=")[0] for line in lines[1:] if line.startswith("export")}
    assert exported <= {"PATH", "PWD", "OLDPWD"}


@needs_bwrap
def test_root_filesystem_is_read_only_and_tmp_is_writable(work):
    body = (
        "for p in /x /app/x /bin/x /input/x /etc/x /proc/x; do\n"
        '  if (echo x > "$p") 2>/dev/null; then echo "wrote $p"; fi\n'
        "done\n"
        "echo x > /tmp/ok && echo tmp-ok\n"
    )
    assert sh(work, body).output == b"tmp-ok\n"
    assert not (work / "t0/rootfs/x").exists() and not (work / "t0/rootfs/app/x").exists()


@needs_bwrap
def test_host_files_are_not_visible(work):
    body = (
        "for p in /etc/shadow /etc/passwd /work /root /home /usr /var /sys/class /run; do\n"
        '  if [ -e "$p" ]; then echo "sees $p"; fi\n'
        "done\n"
        "echo done\n"
    )
    assert sh(work, body).output == b"done\n"


@needs_bwrap
def test_no_network(work):
    rootfs = binary_rootfs(
        work,
        "net",
        r"""
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
static void try(const char *ip, int port) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) { printf("%s socket-failed\n", ip); return; }
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET; a.sin_port = htons(port); inet_pton(AF_INET, ip, &a.sin_addr);
    if (connect(s, (struct sockaddr *)&a, sizeof a) == 0) printf("%s CONNECTED\n", ip);
    else printf("%s refused errno=%d\n", ip, errno);
    close(s);
}
int main(int argc, char **argv) { try("127.0.0.1", atoi(argv[1])); try("1.1.1.1", 53); try("10.0.0.1", 80); return 0; }
""",
    )
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(0.2)
        port = listener.getsockname()[1]
        out = run_sandboxed(rootfs, ["/app/net", str(port)], limits=FAST, uid=TEST_UID).output.decode()
        assert "CONNECTED" not in out and out.count("refused") == 3, out
        with pytest.raises(TimeoutError):
            listener.accept()


@needs_bwrap
@needs_own_uid
def test_process_limit_caps_a_fork_loop(work):
    rootfs = binary_rootfs(
        work,
        "forks",
        r"""
#include <stdio.h>
#include <unistd.h>
int main(void) {
    int n = 0;
    for (int i = 0; i < 500; i++) { pid_t p = fork(); if (p == 0) { pause(); _exit(0); } if (p > 0) n++; }
    printf("%d\n", n);
    return 0;
}
""",
    )
    out = run_sandboxed(rootfs, ["/app/forks"], limits=FAST, uid=61000).output
    assert 0 < int(out) < FAST.nproc


@needs_bwrap
@needs_own_uid
def test_fork_bomb_ends_typed_and_leaves_nothing_behind(work):
    uid = 61001
    limits = Limits(wall_s=3, cpu_s=2, memory_bytes=64 << 20, nproc=16)
    with pytest.raises((SandboxTimeout, SandboxCrashed)):
        sh(work, "f() { f | f & }; f; while :; do :; done\n", limits=limits, uid=uid)
    left = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields["Uid"].split()[0] == str(uid) and not fields["State"].strip().startswith("Z"):
            left.append((pid, fields["Name"].strip(), fields["State"].strip()))  # running, not a zombie
    assert left == []


@needs_bwrap
def test_memory_hog_is_typed(work):
    with pytest.raises(SandboxMemoryExceeded) as exc:
        sh(work, "x=aaaaaaaa; while :; do x=$x$x; done\n")
    assert exc.value.peak * 2 >= FAST.memory_bytes


@needs_bwrap
def test_infinite_loop_hits_the_cpu_limit(work):
    with pytest.raises(SandboxTimeout) as exc:
        sh(work, "while :; do :; done\n", limits=Limits(wall_s=60, cpu_s=1))
    assert exc.value.kind == "cpu"
    with pytest.raises(SandboxTimeout) as exc:  # SIGXCPU ignored: the hard limit kills it
        sh(work, "trap '' XCPU; while :; do :; done\n", limits=Limits(wall_s=60, cpu_s=1))
    assert exc.value.kind == "cpu"


@needs_bwrap
def test_wall_clock_limit_kills_the_task(work):
    # stdout and stderr closed first: the deadline holds without the pipes
    with pytest.raises(SandboxTimeout) as exc:
        sh(work, "exec >&- 2>&-; while :; do :; done\n", limits=Limits(wall_s=1.5, cpu_s=60))
    assert exc.value.kind == "wall"


@needs_bwrap
def test_huge_output_is_cut_off(work):
    with pytest.raises(OutputTooLarge):
        sh(work, "while :; do echo xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; done\n")


@needs_bwrap
def test_crashes_are_typed_with_status_and_stderr(work):
    with pytest.raises(SandboxCrashed) as exc:
        sh(work, "echo oops >&2; exit 3\n")
    assert (exc.value.exit_code, exc.value.signal, exc.value.stderr) == (3, None, b"oops\n")
    with pytest.raises(SandboxCrashed) as exc:
        sh(work, "kill -SEGV $$\n")
    assert (exc.value.exit_code, exc.value.signal) == (None, 11)


@needs_bwrap
@needs_own_uid
def test_rootfs_the_sandbox_uid_cannot_reach_is_refused(tmp_path):
    src = script_app(tmp_path, "echo hi\n")
    built = build_image(src, tmp_path / "img")
    with open_image(tmp_path / "img", built.digest) as img:
        unpack_image(img, tmp_path / "rootfs")
    tmp_path.chmod(0o700)
    with pytest.raises(SandboxUnavailable, match="cannot be searched"):
        run_sandboxed(tmp_path / "rootfs", ["/app/run.sh"], limits=FAST)


@needs_bwrap
def test_cli_run(work, capsys):
    src = script_app(work, 'read x; echo "got $x"\n')
    digest = build_image(src, work / "img").digest
    init_dir(work / "tee", seed=b"cli")
    (work / "in").write_bytes(b"42\n")
    args = ["compute", "run", str(work / "img"), "--input", str(work / "in"), "--devtee", str(work / "tee")]
    rc = main([*args, "--digest", digest, "--receipt", str(work / "r.json"), "-o", str(work / "out")])
    assert rc == 0, capsys.readouterr().err
    summary = json.loads(capsys.readouterr().out)
    assert (work / "out").read_bytes() == b"got 42\n" and summary["digest"] == digest
    assert (
        main(
            ["compute", "receipt", "verify", str(work / "r.json"), "--trust-root", str(work / "tee/root.pem")]
        )
        == 0
    )
    capsys.readouterr()
    bad = "sha256:" + "0" * 64
    assert main([*args, "--digest", bad, "--receipt", str(work / "r2.json")]) == 2
    assert "ImageDigestMismatch" in capsys.readouterr().err and not (work / "r2.json").exists()


def test_a_bwrap_that_cannot_set_up_is_unavailable_not_a_crash(work):
    fake = work / "bwrap"
    fake.write_text(
        "#!/bin/sh\necho 'bwrap: Creating new namespace failed: Operation not permitted' >&2\nexit 1\n"
    )
    fake.chmod(0o755)
    rootfs = work / "rootfs"
    rootfs.mkdir(mode=0o755)
    with pytest.raises(SandboxUnavailable, match="Creating new namespace failed") as exc:
        run_sandboxed(rootfs, ["/app/run"], limits=FAST, bwrap=str(fake))
    assert b"Operation not permitted" in exc.value.stderr
