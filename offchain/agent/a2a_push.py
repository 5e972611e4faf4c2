"""A2A push notifications from the agent's side: webhook URLs checked against server-side request
forgery, and a sender that posts each task update (a StreamResponse, ``application/a2a+json``) to
each configured webhook in order, with the configured ``Authorization`` and token, retried a
bounded number of times, never holding up the task.

A webhook must be ``http`` or ``https``, carry no credentials in its URL, and reach only public
addresses: loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7), link-local (169.254/16, the
cloud metadata address among them), shared, multicast, reserved and unspecified ones are refused,
IPv4 embedded in IPv6 included. ``EIGEN_A2A_PUSH_ALLOW_LOOPBACK=1`` admits loopback (local tests).
The URL is checked when the config is created; at delivery the host is resolved, every address is
checked, and the request goes to the checked address (the name kept for ``Host`` and TLS), so a
DNS answer that changes in between (rebinding) cannot redirect it; redirects are not followed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from offchain import settings
from offchain.agent.errors import A2AError, A2AInvalidParamsError
from offchain.httpservice import logger

LOG = logger("agent.a2a.push")
MAX_URL = 2048
TIMEOUT_S = 10.0  # one POST (the specification recommends 10 to 30 s)
ATTEMPTS = 3  # per update: the first try and two retries
BACKOFF_S = 0.25  # doubled after each failed try
QUEUE = 256  # updates waiting per webhook; beyond, the oldest is dropped (and logged)
TOKEN_HEADER = "X-A2A-Notification-Token"
MEDIA_TYPE = "application/a2a+json"


def _address_allowed(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, loopback: bool) -> bool:
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if inner is not None:
            return _address_allowed(inner, loopback)
    if ip.is_loopback:
        return loopback
    return ip.is_global and not ip.is_multicast and not ip.is_reserved


def check_webhook(
    url: Any, loopback: bool | None = None, what: str = "webhook", err: type[A2AError] = A2AInvalidParamsError
) -> tuple[str, str, int]:
    """(scheme, host, port) of a webhook URL fit to be posted to (`err` naming why not; `what`:
    what the URL is for); a host name is checked again, resolved, at delivery."""
    allow = settings.a2a_push_allow_loopback() if loopback is None else loopback
    if not isinstance(url, str) or not 0 < len(url) <= MAX_URL:
        raise err(f"a {what} url is a string of 1 to {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise err(f"the {what} url is malformed") from None
    if parts.scheme not in ("http", "https"):
        raise err(f"a {what} is http or https, not {parts.scheme[:16]!r}")
    if parts.username is not None or parts.password is not None:
        raise err(f"a {what} url carries no credentials (use authentication)")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise err(f"the {what} url has no host")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None and not _address_allowed(ip, allow):
        raise err(f"the {what}'s address {host} is not public: refused")
    if ip is None and (host == "localhost" or host.endswith(".localhost")) and not allow:
        raise err(f"the {what}'s host {host} is loopback: refused")
    return parts.scheme, host, port or (443 if parts.scheme == "https" else 80)


async def resolve_webhook(host: str, port: int, loopback: bool | None = None) -> str:
    """The address to post to: `host` resolved, every address it has checked (one that is not
    public refuses them all); A2AInvalidParamsError otherwise."""
    allow = settings.a2a_push_allow_loopback() if loopback is None else loopback
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise A2AInvalidParamsError(f"the webhook's host {host} does not resolve: {exc}") from None
    addrs = {str(info[4][0]).split("%")[0] for info in infos}
    for a in addrs:
        if not _address_allowed(ipaddress.ip_address(a), allow):
            raise A2AInvalidParamsError(f"the webhook's host {host} resolves to {a}, which is not public")
    if not addrs:
        raise A2AInvalidParamsError(f"the webhook's host {host} has no address")
    return sorted(addrs)[0]


@dataclass
class _Hook:
    config: dict[str, Any]
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=lambda: asyncio.Queue(QUEUE))
    worker: asyncio.Task[None] | None = None


class PushSender:
    """Posts task updates to webhooks: one queue and one worker per config, so that each webhook
    gets a task's updates in order and a slow or failing one holds up nobody. `sent` is called
    with (config id, update, HTTP status or None) after each update's last try (tests, metrics).
    `verify`: the TLS context https webhooks are checked with (default: the system's roots)."""

    def __init__(
        self,
        sent: Callable[[str, dict[str, Any], int | None], None] | None = None,
        verify: ssl.SSLContext | None = None,
    ) -> None:
        self._hooks: dict[str, _Hook] = {}
        self._http: httpx.AsyncClient | None = None
        self.sent = sent
        self.verify: ssl.SSLContext | bool = True if verify is None else verify

    def post(self, key: str, config: dict[str, Any], update: dict[str, Any]) -> None:
        """Queue `update` for the webhook of `config` (`key`: the task and config ids)."""
        hook = self._hooks.get(key)
        if hook is None or hook.config != config:
            if hook is not None and hook.worker is not None:
                hook.worker.cancel()
            hook = self._hooks[key] = _Hook(dict(config))
        if hook.queue.full():
            dropped = hook.queue.get_nowait()
            LOG.warning("a2a_push_dropped", extra={"config": key, "update": list(dropped)})
        hook.queue.put_nowait(update)
        if hook.worker is None or hook.worker.done():
            hook.worker = asyncio.ensure_future(self._drain(key, hook))

    def forget(self, key: str) -> None:
        """Stop posting to a deleted config (what is queued is dropped)."""
        hook = self._hooks.pop(key, None)
        if hook is not None and hook.worker is not None:
            hook.worker.cancel()

    async def close(self) -> None:
        for key in list(self._hooks):
            self.forget(key)
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _drain(self, key: str, hook: _Hook) -> None:
        while not hook.queue.empty():
            update = hook.queue.get_nowait()
            status = await self._deliver(hook.config, update)
            if self.sent is not None:
                self.sent(key, update, status)

    async def _deliver(self, config: dict[str, Any], update: dict[str, Any]) -> int | None:
        """POST one update, retried with exponential backoff up to ATTEMPTS tries; the last HTTP
        status (None: never answered, or refused before sending)."""
        if self._http is None:
            self._http = httpx.AsyncClient(
                timeout=TIMEOUT_S, follow_redirects=False, trust_env=False, verify=self.verify
            )
        url = config["url"]
        headers = {"Content-Type": MEDIA_TYPE}
        auth = config.get("authentication")
        if isinstance(auth, dict):
            headers["Authorization"] = f"{auth['scheme']} {auth.get('credentials', '')}".strip()
        if config.get("token"):
            headers[TOKEN_HEADER] = config["token"]
        status: int | None = None
        for attempt in range(ATTEMPTS):
            if attempt:
                await asyncio.sleep(BACKOFF_S * 2 ** (attempt - 1))
            try:
                scheme, host, port = check_webhook(url)
                ip = await resolve_webhook(host, port)
                target = httpx.URL(url).copy_with(host=ip)
                ext = {"sni_hostname": host} if scheme == "https" else {}
                h = headers | {"Host": urlsplit(url).netloc}
                r = await self._http.post(target, json=update, headers=h, extensions=ext)
                status = r.status_code
                if 200 <= status < 300:
                    return status
                LOG.info("a2a_push_refused", extra={"url": url[:128], "status": status, "try": attempt + 1})
            except A2AInvalidParamsError as exc:  # the webhook's host is (now) not public: never sent
                LOG.warning("a2a_push_blocked", extra={"url": url[:128], "reason": str(exc)})
                return None
            except httpx.HTTPError as exc:
                LOG.info("a2a_push_failed", extra={"url": url[:128], "error": repr(exc), "try": attempt + 1})
        return status
