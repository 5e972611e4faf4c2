"""Where a DA network's processes serve gRPC, as an ``ape run deploy --components da`` record names it
(``da.grpc``) and ``config/deploy.yaml``'s ``da`` section sets it (offchain/chain/deploy.py). A leaf module:
the deploy code and the network's configuration (offchain/da/network/config.py) both read it."""

from __future__ import annotations

from typing import Any

__all__ = ["DA_GRPC_DEFAULTS", "DA_MAX_VALIDATORS", "da_grpc_problem"]

# Where the DA network's processes serve gRPC, recorded in the record's ``da.grpc`` so a client connects from
# the record alone (``eigen da put --deployment``) and ``eigen da devnet up --deployment`` listens there:
# the disperser at ``disperser_port``, validator i at ``node_port + i`` (up to DA_MAX_VALIDATORS of them).
DA_GRPC_DEFAULTS = {"host": "127.0.0.1", "disperser_port": 9201, "node_port": 9101}
DA_MAX_VALIDATORS = 64
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]")


def da_grpc_problem(grpc: Any) -> str | None:
    """What is wrong with a ``da.grpc`` mapping ({host, disperser_port, node_port}), or None: a host name or
    address (no scheme, port or path), ports in [1, 65535], the validators' range ``node_port`` ..
    ``node_port + 63`` inside it and clear of the disperser's port."""
    if not isinstance(grpc, dict) or set(grpc) != set(DA_GRPC_DEFAULTS):
        return f"expected {{{', '.join(DA_GRPC_DEFAULTS)}}}, got {grpc!r}"
    host = grpc["host"]
    if not isinstance(host, str) or not host or not set(host) <= _HOST_CHARS or "://" in host:
        return f"host: {host!r} is not a host name or address"
    for k in ("disperser_port", "node_port"):
        v = grpc[k]
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 65535:
            return f"{k}: {v!r} is not a port in [1, 65535]"
    last = grpc["node_port"] + DA_MAX_VALIDATORS - 1
    if last > 65535:
        return (
            f"node_port: {grpc['node_port']} leaves no room for {DA_MAX_VALIDATORS} validators (up to {last})"
        )
    if grpc["node_port"] <= grpc["disperser_port"] <= last:
        return (
            f"disperser_port: {grpc['disperser_port']} is inside the validators' range "
            f"{grpc['node_port']}..{last}"
        )
    return None
