"""Issuer status lists (offchain/agent/status_list.py) and issuer metadata discovery
(offchain/agent/issuers.py) in the merchant's checks of AP2 mandates: tokens and metadata served
by a real local HTTP server, fetched under the SSRF rules (loopback admitted for the test only),
cached by ttl/exp; every refusal typed."""

from __future__ import annotations

import asyncio
import json
import time
import zlib

import pytest

from offchain.agent import ap2, issuers, oid4vp, sdjwt, status_list
from offchain.agent import errors as E
from offchain.agent.a2a import A2AClient
from offchain.agent.a2a_server import _mandate_reason
from offchain.agent.facilitator import LocalFacilitator
from offchain.agent.webfetch import Fetcher
from offchain.httpservice import ServiceServer
from tests.offchain.agent.support import PRICE, a2a_agent, build_world
from tests.offchain.agent.test_agent_a2a import MERCHANT_KEY, currency, delegated
from tests.offchain.agent.test_agent_ap2 import (
    AGENT,
    DEVICE,
    ISSUER,
    M1,
    NOW,
    OTHER,
    TASK,
    TICK,
    USER,
    checkout_jwt,
    closed_checkout,
)

A2A_ISSUER = sdjwt.new_key()
LOCAL = Fetcher(schemes=("http",), loopback=True, timeout_s=10.0, max_bytes=64 * 1024)


class Site:
    """A local web server (uvicorn): path -> (status, content type, body)."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[int, str, bytes]] = {}
        self.hits: list[str] = []
        self.slow: dict[str, tuple[float, float]] = {}  # path -> (stall before answering, per 64 bytes)

        async def app(scope, receive, send) -> None:
            await self.serve(scope, receive, send)

        self.server = ServiceServer(app, log_level="warning").start()
        self.base = self.server.url

    async def serve(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        path = scope["path"] + (f"?{scope['query_string'].decode()}" if scope["query_string"] else "")
        self.hits.append(path)
        status, ctype, body = self.pages.get(path, (404, "text/plain", b"no"))
        stall, drip = self.slow.get(path, (0.0, 0.0))
        await asyncio.sleep(stall)
        headers = [(b"content-type", ctype.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        step = 64 if drip else len(body) or 1
        for i in range(0, len(body), step):
            await asyncio.sleep(drip)
            await send({"type": "http.response.body", "body": body[i : i + step], "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    def put(
        self, path: str, body: bytes | str | dict, ctype: str = "application/json", status: int = 200
    ) -> str:
        raw = (
            json.dumps(body).encode()
            if isinstance(body, dict)
            else body.encode()
            if isinstance(body, str)
            else body
        )
        self.pages[path] = (status, ctype, raw)
        return self.base + path


@pytest.fixture(scope="module")
def site():
    s = Site()
    yield s
    s.server.stop()


class Clock:
    def __init__(self, t: float = NOW) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


ISS = "https://credentials.example"
KEYS = {ISS: ISSUER.public_key()}


def cred(iss=ISS, key=ISSUER, status=None, kid=None):
    claims = {"wallet": USER.address, "name": "Ada"} | ({} if status is None else {"status": status})
    return sdjwt.issue(key, iss, claims, ["name"], DEVICE, iat=NOW - 60, exp=NOW + 86_400, kid=kid)


def checkout_chain(c):
    m = ap2.open_mandate(
        ap2.CHECKOUT_OPEN, AGENT, [ap2.line_items([("feed", [TICK], 1)])], iat=NOW - 10, exp=NOW + 3600
    )
    oc = ap2.delegate(c, DEVICE, m, aud="agent", nonce="d-1", iat=NOW - 10)
    cj = checkout_jwt()
    return closed_checkout(oc, cj), cj


def merchant_check(c, trusted=KEYS, status=None):
    text, cj = checkout_chain(c)
    return ap2.check_checkout(
        text, trusted, merchant=M1["id"], nonce=TASK, checkout_jwt=cj, now=NOW, status=status
    )


def lists(trusted=KEYS, clock=None, **kw):
    return status_list.StatusLists(trusted, fetcher=LOCAL, clock=clock or Clock(), **kw)


def token(uri, statuses, bits=1, key=ISSUER, iat=NOW - 10, **kw):
    return status_list.sign_token(key, uri=uri, statuses=statuses, bits=bits, iat=iat, **kw)


# ---------------------------------------------------------------- status lists


def test_status_list_bits_pack_least_significant_first():
    # the specification's example: 16 entries of 1 bit -> b9 a3
    raw = status_list.pack([1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1], 1)
    assert raw == bytes([0xB9, 0xA3])
    two = status_list.pack([1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3], 2)
    assert two == bytes([0xC9, 0x44, 0xF9])
    assert [status_list.status_at(two, 2, i) for i in range(12)] == [1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3]


def test_a_valid_credential_passes_and_its_list_is_cached_for_its_ttl(site):
    uri = site.put("/sl/1", token(site.base + "/sl/1", [0, 1, 0], ttl=600), status_list.MEDIA_TYPE)
    clock = Clock()
    sl = lists(clock=clock)
    v = merchant_check(cred(status=status_list.status_claim(uri, 0)), status=sl.check)
    assert v.closed["vct"] == ap2.CHECKOUT
    merchant_check(cred(status=status_list.status_claim(uri, 2)), status=sl.check)
    assert sl.fetches == 1
    # the issuer revokes index 0; the merchant sees it once the ttl has passed, not before
    site.put("/sl/1", token(site.base + "/sl/1", [1, 1, 0], iat=NOW + 500, ttl=600), status_list.MEDIA_TYPE)
    clock.t = NOW + 599
    merchant_check(cred(status=status_list.status_claim(uri, 0)), status=sl.check)
    clock.t = NOW + 601
    with pytest.raises(E.CredentialRevokedError, match="revoked"):
        sl.check({"iss": ISS, "status": status_list.status_claim(uri, 0)})
    assert sl.fetches == 2
    # without a status claim: accepted, unless required
    merchant_check(cred(), status=sl.check)
    with pytest.raises(E.StatusListError, match="requires one"):
        merchant_check(cred(), status=lists(require=True).check)


def test_a_revoked_credential_is_refused_by_the_merchant_and_the_a2a_reason_names_it(site):
    uri = site.put("/sl/rev", token(site.base + "/sl/rev", [0, 0, 0, 1]), status_list.MEDIA_TYPE)
    with pytest.raises(E.CredentialRevokedError) as err:
        merchant_check(cred(status=status_list.status_claim(uri, 3)), status=lists().check)
    assert _mandate_reason(err.value) == "mandate_revoked"
    assert ap2.ap2_error(err.value) == ap2.INVALID_CREDENTIAL


def test_a_suspended_credential_is_refused(site):
    uri = site.put("/sl/sus", token(site.base + "/sl/sus", [0, 2, 3], bits=2), status_list.MEDIA_TYPE)
    with pytest.raises(E.CredentialSuspendedError) as err:
        merchant_check(cred(status=status_list.status_claim(uri, 1)), status=lists().check)
    assert _mandate_reason(err.value) == "mandate_suspended"
    with pytest.raises(E.StatusListError, match="not VALID"):
        lists().check({"iss": ISS, "status": status_list.status_claim(uri, 2)})


def test_a_status_list_token_with_a_bad_signature_is_refused(site):
    uri = site.put("/sl/sig", token(site.base + "/sl/sig", [0], key=OTHER), status_list.MEDIA_TYPE)
    with pytest.raises(E.StatusListSignatureError, match="does not verify"):
        merchant_check(cred(status=status_list.status_claim(uri, 0)), status=lists().check)


def test_an_expired_status_list_token_is_refused_and_exp_bounds_the_cache(site):
    uri = site.put("/sl/exp", token(site.base + "/sl/exp", [0], exp=NOW - 1), status_list.MEDIA_TYPE)
    with pytest.raises(E.StatusListExpiredError, match="expired"):
        lists().check({"iss": ISS, "status": status_list.status_claim(uri, 0)})
    uri2 = site.put(
        "/sl/exp2", token(site.base + "/sl/exp2", [0], exp=NOW + 60, ttl=3600), status_list.MEDIA_TYPE
    )
    clock = Clock()
    sl = lists(clock=clock)
    sl.check({"iss": ISS, "status": status_list.status_claim(uri2, 0)})
    assert sl.status_list(ISS, uri2).until == NOW + 60
    clock.t = NOW + 61  # past exp: fetched again, and the same token is now expired
    with pytest.raises(E.StatusListExpiredError):
        sl.check({"iss": ISS, "status": status_list.status_claim(uri2, 0)})
    assert sl.fetches == 2


def test_an_oversized_token_or_a_compression_bomb_is_refused(site):
    big = site.put("/sl/big", "x" * (LOCAL.max_bytes + 1), status_list.MEDIA_TYPE)
    with pytest.raises(E.StatusListError, match="more than"):
        lists().check({"iss": ISS, "status": status_list.status_claim(big, 0)})
    uri = site.base + "/sl/bomb"
    bomb = sdjwt.b64url(zlib.compress(bytes(8 << 20), 9))  # 8 MiB of zeros in a few KiB
    assert len(bomb) < 16 * 1024
    tok = sdjwt.sign_jwt(
        ISSUER, {"typ": status_list.TYP}, {"sub": uri, "iat": NOW, "status_list": {"bits": 1, "lst": bomb}}
    )
    site.put("/sl/bomb", tok, status_list.MEDIA_TYPE)
    with pytest.raises(E.StatusListError, match="inflates to more than"):
        lists().check({"iss": ISS, "status": status_list.status_claim(uri, 0)})
    with pytest.raises(E.StatusListError, match="not ZLIB"):
        status_list.inflate(b"not zlib", 1024)
    with pytest.raises(E.StatusListError, match="truncated"):
        status_list.inflate(zlib.compress(b"abc")[:-3], 1024)


def test_a_slow_status_list_server_is_abandoned(site):
    quick = Fetcher(schemes=("http",), loopback=True, timeout_s=0.5)
    uri = site.put("/sl/drip", token(site.base + "/sl/drip", [0]), status_list.MEDIA_TYPE)
    site.slow["/sl/drip"] = (0.0, 0.2)  # each 64 bytes within the read timeout, the whole beyond it
    t0 = time.monotonic()
    with pytest.raises(E.StatusListError, match="slower than 0.5 s"):
        status_list.StatusLists(KEYS, fetcher=quick, clock=Clock()).check(
            {"iss": ISS, "status": status_list.status_claim(uri, 0)}
        )
    stalled = site.put("/sl/stall", token(site.base + "/sl/stall", [0]), status_list.MEDIA_TYPE)
    site.slow["/sl/stall"] = (1.5, 0.0)
    with pytest.raises(E.StatusListError, match="Timeout"):
        status_list.StatusLists(KEYS, fetcher=quick, clock=Clock()).check(
            {"iss": ISS, "status": status_list.status_claim(stalled, 0)}
        )
    assert time.monotonic() - t0 < 3.0


def test_an_index_out_of_range_or_a_malformed_status_is_refused(site):
    uri = site.put("/sl/short", token(site.base + "/sl/short", [0] * 8), status_list.MEDIA_TYPE)
    with pytest.raises(E.StatusListError, match="outside the status list"):
        lists().check({"iss": ISS, "status": status_list.status_claim(uri, 8)})
    for bad in (
        {"status_list": {"idx": -1, "uri": uri}},
        {"status_list": {"idx": True, "uri": uri}},
        {"x": 1},
        "s",
    ):
        with pytest.raises(E.StatusListError, match="status"):
            lists().check({"iss": ISS, "status": bad})
    other = site.put("/sl/sub", token(site.base + "/sl/elsewhere", [0]), status_list.MEDIA_TYPE)
    with pytest.raises(E.StatusListError, match="sub"):
        lists().check({"iss": ISS, "status": status_list.status_claim(other, 0)})
    missing = site.base + "/sl/none"
    with pytest.raises(E.StatusListError, match="answered 404"):
        lists().check({"iss": ISS, "status": status_list.status_claim(missing, 0)})
    bad_typ = site.put("/sl/typ", sdjwt.sign_jwt(ISSUER, {"typ": "JWT"}, {"sub": site.base + "/sl/typ"}))
    with pytest.raises(E.StatusListError, match="typ"):
        lists().check({"iss": ISS, "status": status_list.status_claim(bad_typ, 0)})


def test_status_lists_are_fetched_only_from_public_addresses():
    strict = status_list.StatusLists(KEYS, clock=Clock())
    for uri, match in [
        ("https://10.0.0.1/sl", "not public"),
        ("https://169.254.169.254/latest", "not public"),
        ("https://[::ffff:127.0.0.1]/sl", "not public"),
        ("https://localhost/sl", "loopback"),
        ("http://status.example/sl", "is https, not"),
        ("https://user:pw@status.example/sl", "credentials"),
        ("file:///etc/passwd", "is https, not"),
    ]:
        with pytest.raises(E.StatusListError, match=match):
            strict.check({"iss": ISS, "status": status_list.status_claim(uri, 0)})
    assert strict.fetches == 7
    # a failure is remembered for retry_s: not fetched again at once
    with pytest.raises(E.StatusListError):
        strict.check({"iss": ISS, "status": status_list.status_claim("https://10.0.0.1/sl", 0)})
    assert strict.fetches == 7


def test_an_openid4vp_verifier_checks_the_presented_credentials_status(site):
    uri = site.put("/sl/vp", token(site.base + "/sl/vp", [0, 1]), status_list.MEDIA_TYPE)
    req = oid4vp.request("verifier", "n-1", [oid4vp.credential_query("user", claims=["name"])])
    for idx, outcome in ((0, None), (1, E.CredentialRevokedError)):
        vp = oid4vp.respond(
            req.to_dict(), {"user": (cred(status=status_list.status_claim(uri, idx)), DEVICE)}, iat=NOW
        )
        if outcome is None:
            got = oid4vp.verify_response(req, vp, KEYS, now=NOW, status=lists().check)
            assert got["user"].credential["status"]["status_list"]["idx"] == 0
        else:
            with pytest.raises(outcome):
                oid4vp.verify_response(req, vp, KEYS, now=NOW, status=lists().check)


def test_prefetch_fetches_only_for_a_signed_root_and_the_cache_is_bounded(site):
    uri = site.put("/sl/pre", token(site.base + "/sl/pre", [0]), status_list.MEDIA_TYPE)
    sl = lists()
    status_list.prefetch([cred(key=OTHER, status=status_list.status_claim(uri, 0)), None, "junk"], KEYS, sl)
    assert sl.fetches == 0  # a forged root's status uri is never fetched
    status_list.prefetch([cred(status=status_list.status_claim(uri, 0))], KEYS, sl)
    assert sl.fetches == 1
    small = lists(max_entries=2)
    uris = [
        site.put(f"/sl/b{i}", token(site.base + f"/sl/b{i}", [0]), status_list.MEDIA_TYPE) for i in range(3)
    ]
    for u in [*uris, uris[2], uris[0]]:
        small.check({"iss": ISS, "status": status_list.status_claim(u, 0)})
    assert small.fetches == 4  # the third list pushed the first out; the third stayed


# ---------------------------------------------------------------- issuer metadata discovery


def publish(site, path, meta=None, jwks_at=None, kid="k1", key=ISSUER):
    iss = site.base + path
    jwk = sdjwt.jwk(key) | {"kid": kid, "use": "sig", "alg": "ES256"}
    rsa = {"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "rsa-1"}
    jwks = {"keys": [rsa, jwk]}
    if meta is None:
        meta = {"issuer": iss}
        if jwks_at is None:
            meta["jwks"] = jwks
        else:
            meta["jwks_uri"] = site.put(jwks_at, jwks)
    site.put(issuers.WELL_KNOWN + path, meta)
    return iss


def registry(*allowed, clock=None):
    return issuers.IssuerRegistry(allowed=allowed, fetcher=LOCAL, clock=clock or Clock())


def test_metadata_url_puts_the_well_known_segment_before_the_path():
    assert (
        issuers.metadata_url("https://ex.com/tenant/1/")
        == "https://ex.com/.well-known/jwt-vc-issuer/tenant/1"
    )
    assert issuers.metadata_url("https://ex.com") == "https://ex.com/.well-known/jwt-vc-issuer"
    with pytest.raises(E.IssuerMetadataError):
        issuers.metadata_url("https://ex.com/?q=1")


def test_an_allowed_issuers_key_is_discovered_inline_or_by_jwks_uri_and_cached(site):
    a = publish(site, "/iss-a")
    b = publish(site, "/iss-b", jwks_at="/iss-b/jwks.json", kid="k2")
    clock = Clock()
    reg = registry(a, b, clock=clock)
    for iss, kid in ((a, "k1"), (b, "k2")):
        v = merchant_check(cred(iss=iss, kid=kid), trusted=reg)
        assert v.chain.iss == iss
    merchant_check(cred(iss=a, kid="k1"), trusted=reg)
    assert reg.fetches == 2  # one metadata document each, cached
    clock.t = NOW + reg.ttl_s + 1
    merchant_check(cred(iss=a, kid="k1"), trusted=reg)
    assert reg.fetches == 3
    # configured keys still work beside discovered ones, and a status list verifies with the discovered key
    both = issuers.IssuerRegistry(KEYS, [a], fetcher=LOCAL, clock=Clock())
    merchant_check(cred(), trusted=both)
    uri = site.put("/sl/disc", token(site.base + "/sl/disc", [0, 1], kid="k1"), status_list.MEDIA_TYPE)
    with pytest.raises(E.CredentialRevokedError):
        merchant_check(
            cred(iss=a, kid="k1", status=status_list.status_claim(uri, 1)),
            trusted=both,
            status=lists(both).check,
        )


def test_an_issuer_not_allowed_is_refused_without_any_fetch(site):
    a = publish(site, "/iss-c")
    reg = registry(site.base + "/someone-else")
    with pytest.raises(E.SdJwtIssuerError, match="not trusted") as err:
        merchant_check(cred(iss=a, kid="k1"), trusted=reg)
    assert not isinstance(err.value, E.IssuerMetadataError) and reg.fetches == 0


def test_metadata_for_another_issuer_is_refused(site):
    a = publish(
        site, "/iss-d", meta={"issuer": "https://evil.example", "jwks": {"keys": [sdjwt.jwk(ISSUER)]}}
    )
    with pytest.raises(E.IssuerMetadataError, match="not 'http"):
        merchant_check(cred(iss=a), trusted=registry(a))


def test_a_jwks_uri_to_a_private_address_is_refused(site):
    a = publish(site, "/iss-e", meta={"issuer": site.base + "/iss-e", "jwks_uri": "http://10.1.2.3/jwks"})
    strict_jwks = issuers.IssuerRegistry(
        allowed=[a], fetcher=Fetcher(schemes=("http",), loopback=True), clock=Clock()
    )
    with pytest.raises(E.IssuerMetadataError, match="not public"):
        merchant_check(cred(iss=a), trusted=strict_jwks)
    # an allowed issuer on a private address is itself refused by a strict fetcher
    with pytest.raises(E.IssuerMetadataError, match="loopback|not public|is https, not"):
        merchant_check(cred(iss=a), trusted=issuers.IssuerRegistry(allowed=[a], clock=Clock()))


@pytest.mark.parametrize(
    ("meta", "match"),
    [
        ({"jwks": {"keys": []}}, "1 to 16"),
        ({"jwks": {"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]}}, "no ES256"),
        ({"jwks": {"keys": [sdjwt.jwk(ISSUER)]}, "jwks_uri": "http://x/"}, "exactly one"),
        ({}, "exactly one"),
        ({"jwks": {"keys": [sdjwt.jwk(ISSUER) | {"x": "AAAA"}]}}, "bad key"),
    ],
)
def test_malformed_metadata_is_refused(site, meta, match):
    path = f"/iss-m{abs(hash(match)) % 10_000}"
    a = publish(site, path, meta={"issuer": site.base + path} | meta)
    with pytest.raises(E.IssuerMetadataError, match=match):
        merchant_check(cred(iss=a), trusted=registry(a))


def test_a_credential_naming_an_unknown_kid_is_refused_and_failures_are_remembered(site):
    a = publish(site, "/iss-k")
    reg = registry(a)
    with pytest.raises(E.SdJwtIssuerError, match="no key 'k9'"):
        merchant_check(cred(iss=a, kid="k9"), trusted=reg)
    assert reg.fetches == 1  # refreshed at most once per refresh_s
    with pytest.raises(E.SdJwtIssuerError, match="no key 'k9'"):
        merchant_check(cred(iss=a, kid="k9"), trusted=reg)
    assert reg.fetches == 1
    gone = registry(site.base + "/iss-gone")
    for _ in range(2):
        with pytest.raises(E.IssuerMetadataError, match="answered 404"):
            merchant_check(cred(iss=site.base + "/iss-gone"), trusted=gone)
    assert gone.fetches == 1
    assert _mandate_reason(E.IssuerMetadataError("x")) == "mandate_issuer"


# ---------------------------------------------------------------- the A2A merchant


@pytest.fixture(scope="module")
def a2a_world(project, accounts, chain):
    return build_world(project, accounts, chain)


def test_the_a2a_merchant_discovers_the_issuer_and_refuses_a_revoked_credential(a2a_world, site):
    """A merchant trusting an allow-listed issuer (keys from its metadata) and checking its
    status list settles a payment under a valid credential, and refuses the next one once the
    issuer has revoked it (``mandate_revoked``), before anything settles."""
    w = a2a_world
    iss = site.base + "/a2a-issuer"
    jwk = sdjwt.jwk(A2A_ISSUER) | {"kid": "k1"}
    site.put(issuers.WELL_KNOWN + "/a2a-issuer", {"issuer": iss, "jwks": {"keys": [jwk]}})
    uri = site.base + "/a2a-status"
    now = int(w.clock())
    sign = lambda statuses, iat: status_list.sign_token(  # noqa: E731
        A2A_ISSUER, uri=uri, statuses=statuses, bits=1, iat=iat, ttl=60, kid="k1"
    )
    site.put("/a2a-status", sign([0, 0], now - 10), status_list.MEDIA_TYPE)
    clock = Clock(now)
    registry = issuers.IssuerRegistry(allowed=[iss], fetcher=LOCAL, clock=clock)
    lists_ = status_list.StatusLists(registry, fetcher=LOCAL, clock=clock)
    server = a2a_agent(
        w,
        LocalFacilitator(w.fresh_facilitator()),
        merchant_key=MERCHANT_KEY,
        require_mandates=True,
        mandate_issuers=registry,
        mandate_status=lists_,
        digits={currency(w): 6},
    )
    seller0 = w.balance("seller")
    with ServiceServer(server.app(), log_level="warning") as s:
        m = delegated(w, issuer=A2A_ISSUER, iss=iss, kid="k1", status=status_list.status_claim(uri, 1))
        c = A2AClient(s.url, w.client("payer"), mandates=m)
        c.ask(skill="price")
        assert w.balance("seller") - seller0 == PRICE
        site.put("/a2a-status", sign([0, 1], now + 30), status_list.MEDIA_TYPE)
        clock.t = now + 61  # the list's ttl has passed: the merchant fetches it again
        with pytest.raises(E.PaymentRefusedError) as info:
            c.ask(skill="price")
        assert info.value.reason == "mandate_revoked"
    assert w.balance("seller") - seller0 == PRICE
    assert (registry.fetches, lists_.fetches) == (1, 2)
