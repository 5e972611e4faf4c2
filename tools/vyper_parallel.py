"""`vyper` for ape's compile, one source file per CPU at a time (tools/vyper-parallel/vyper runs it).

ape-vyper compiles a project with a single `vyper F1 F2 ... -f FORMATS [options]` process, which uses one
core: about 2 minutes for this project's contracts on a 2-core machine. This front-end takes the same
command, compiles each file in its own forked worker (the vyper package is imported once, before the
fork) with the same options, and prints the outputs in the order of the files, exactly as one process
would (vyper compiles each input file on its own). Any other command, and any failure, is vyper's own:
a compile error is printed as vyper prints it and the exit status is 1.
"""

import contextlib
import multiprocessing
import os
import sys
import tempfile
import traceback

SOURCE_SUFFIXES = (".vy", ".vyi")


def split_argv(argv: list[str]) -> tuple[list[str], list[str]] | None:
    """(source files, options) when `argv` is files followed by options with an output format, else None."""
    files = []
    for i, arg in enumerate(argv):
        if arg.startswith("-"):
            options = argv[i:]
            break
        if not arg.endswith(SOURCE_SUFFIXES):
            return None
        files.append(arg)
    else:
        return None
    if len(files) < 2 or "-f" not in options or "--standard-json" in options:
        return None
    return files, options


def compile_one(job: tuple[str, list[str]]) -> tuple[int, str, str]:
    """Compile one file as `vyper FILE OPTIONS` would: (exit status, stdout, stderr)."""
    from vyper.cli.vyper_compile import _parse_args

    path, options = job
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        saved = sys.stdout
        sys.stdout = out  # vyper writes its output to sys.stdout's file descriptor
        status = 0
        try:
            with contextlib.redirect_stderr(err):
                _parse_args([path, *options])
        except SystemExit as exc:  # argparse's refusals
            status = exc.code if isinstance(exc.code, int) else 1
        except BaseException:  # noqa: BLE001 - reported exactly as the interpreter would
            traceback.print_exc(file=err)
            status = 1
        finally:
            out.flush()
            sys.stdout = saved
        out.seek(0)
        err.seek(0)
        return status, out.read(), err.read()


def main() -> int:
    argv = sys.argv[1:]
    split = split_argv(argv)
    workers = min(len(os.sched_getaffinity(0)), len(split[0])) if split else 1
    if split is None or workers < 2:
        from vyper.cli.vyper_compile import _parse_cli_args

        return _parse_cli_args() or 0
    import vyper.cli.vyper_compile  # noqa: F401 - imported once, before the fork

    files, options = split
    # Largest first, so that no long compile starts last; results are printed in the given order.
    order = sorted(range(len(files)), key=lambda i: -os.path.getsize(files[i]))
    results: dict[int, tuple[int, str, str]] = {}
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        for i, result in zip(
            order, pool.imap(compile_one, [(files[i], options) for i in order]), strict=True
        ):
            results[i] = result
    for i in range(len(files)):
        status, out, err = results[i]
        if status:
            sys.stderr.write(err)
            return status
    for i in range(len(files)):
        sys.stdout.write(results[i][1])
        sys.stderr.write(results[i][2])
    return 0


if __name__ == "__main__":
    sys.exit(main())
