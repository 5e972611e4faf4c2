"""A small long-running app for checking a Python image and the app sandbox (``python -m
offchain.compute.selftest_app``): one JSON request a line on stdin, one JSON answer a line on stdout.

Requests (``op``): ``hello`` (the Python and web3 versions: the packed packages import; web3 is
imported then, lazily, so a build names it in ``extra_packages``), ``address`` (the Ethereum
address of the 32-byte hex ``key``, computed with eth_account), ``connect`` (open a TCP connection to ``host``:``port``, send ``send`` and answer what
comes back), ``read`` / ``write`` (a file at ``path``), ``exit``. A failing request is answered
``{"ok": false, "error": "<type>: <message>"}``; the app goes on.
"""

from __future__ import annotations

import json
import platform
import socket
import sys
from typing import Any


def handle(req: dict[str, Any]) -> dict[str, Any]:
    op = req.get("op")
    if op == "hello":
        import web3  # lazily, as apps often do: the image names it in extra_packages

        return {"python": platform.python_version(), "web3": web3.__version__}
    if op == "address":
        from eth_account import Account

        return {"address": Account.from_key(bytes.fromhex(req["key"])).address}
    if op == "connect":
        with socket.create_connection((req["host"], int(req["port"])), timeout=5) as conn:
            conn.sendall(req.get("send", "").encode())
            return {"got": conn.recv(1 << 16).decode(errors="replace")}
    if op == "read":
        with open(req["path"], "rb") as fh:
            return {"data": fh.read().decode(errors="replace")}
    if op == "write":
        with open(req["path"], "wb") as fh:
            fh.write(req.get("data", "").encode())
        return {}
    raise ValueError(f"unknown op {op!r}")


def main() -> int:
    for line in sys.stdin:
        try:
            req = json.loads(line)
            if req.get("op") == "exit":
                return 0
            answer = {"ok": True, **handle(req)}
        except Exception as exc:  # noqa: BLE001 - every failure is an answer
            answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
