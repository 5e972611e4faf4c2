"""OpenID4VP over HTTP (offchain/agent/oid4vp_http.py): the merchant's signed Request Object
(JAR, x5c chained to a test root the wallet pins) fetched by reference with GET or POST
(wallet_nonce), the wallet's vp_token posted back (direct_post, and direct_post.jwt encrypted to
the session's key), AP2 mandates delegated through it passing ap2's checks; every refusal typed.
One uvicorn server on a real socket for the whole module."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from offchain.agent import ap2, oid4vp, sdjwt
from offchain.agent import errors as E
from offchain.agent import oid4vp_http as H
from offchain.agent.a2a import AgentSkill
from offchain.agent.a2a_server import A2AServer, Skill
from offchain.agent.webfetch import Fetcher
from offchain.compute import pki, testca
from offchain.httpservice import ServiceServer
from tests.offchain.agent import test_agent_ap2 as ap2_tests
from tests.offchain.agent.test_agent_ap2 import (
    AGENT,
    DEVICE,
    ISSUERS,
    M1,
    NOW,
    OTHER,
    TICK,
    checkout_jwt,
    credential,
)
from tests.offchain.agent.test_agent_ap2_oid4vp import CARD, closed_pair

ROOT_KEY, MERCHANT, STRANGER = (sdjwt.new_key() for _ in range(3))
ROOT = testca.make_cert("Marketplace root", ROOT_KEY, "Marketplace root", ROOT_KEY, ca=True, path_len=1)


def leaf(key, *names):
    san = x509.SubjectAlternativeName([x509.DNSName(n) for n in names])
    return testca.make_cert("Feeds Inc.", key, "Marketplace root", ROOT_KEY, ca=False, extensions=(san,))


LEAF = leaf(MERCHANT, "localhost")
TRUST = pki.TrustStore((ROOT,))
LOCAL = Fetcher(schemes=("http",), loopback=True, timeout_s=10.0, max_bytes=64 * 1024)
PAGES: dict[str, tuple[str, bytes]] = {}  # what the test server answers at /page/{name} (GET or POST)


class Clock:
    def __init__(self, t: float = NOW) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def verifier(path, clock, **kw):
    kw.setdefault("key", MERCHANT)
    kw.setdefault("chain", (LEAF, ROOT))
    return H.Verifier(issuers=ISSUERS, path=path, clock=clock, **kw)


@pytest.fixture(scope="module")
def oid_world():
    clock = Clock()
    vs = {
        "dns": verifier("/dns", clock, redirect_uri="https://merchant.example/done"),
        "hash": verifier("/hash", clock, prefix=H.X509_HASH, chain=(LEAF,)),
        "plain": verifier("/plain", clock, prefix=H.REDIRECT_URI, key=None, chain=()),
    }

    async def page(request: Request) -> Response:
        ctype, body = PAGES.get(request.path_params["name"], ("text/plain", b""))
        return Response(body, media_type=ctype, status_code=200 if body else 404)

    routes = [Route("/page/{name}", page, methods=["GET", "POST"])]
    for v in vs.values():
        routes += v.app().routes
    with ServiceServer(Starlette(routes=routes), log_level="warning") as s:
        for v in vs.values():
            v.base_url = f"http://localhost:{s.port}"
        yield vs, clock, f"http://localhost:{s.port}"


def wallet(clock, held=None, trust=TRUST, **kw):
    kw.setdefault("fetcher", LOCAL)
    return H.Wallet(held or [H.Held(credential(), DEVICE)], trust, clock=clock, **kw)


def query(claims=("name",), **kw):
    return oid4vp.credential_query("user", claims=claims, **kw)


def test_ap2_closed_mandates_over_a_signed_request_by_reference_pass_the_merchants_checks(oid_world):
    vs, clock, _ = oid_world
    v = vs["dns"]
    cj = checkout_jwt()
    ar = v.authorization_request([query()], [CARD, oid4vp.delegate_data(closed_pair(cj), ["user"])])
    assert ar.url.startswith("openid4vp://?client_id=x509_san_dns%3Alocalhost&request_uri=")
    assert v.client_id == "x509_san_dns:localhost"
    w = wallet(clock)
    resolved = w.resolve(ar.url)
    assert resolved.claims["aud"] == H.STATIC_AUD and resolved.claims["iss"] == v.client_id
    reply = w.present(ar.url)
    assert reply["redirect_uri"].startswith("https://merchant.example/done#response_code=")
    code = reply["redirect_uri"].split("=", 1)[1]
    with pytest.raises(E.ResponseStateError, match="response_code"):
        v.result(ar.state)
    got = v.result(ar.state, code)["user"]
    assert got.claims["name"] == "Ada" and got.kb["aud"] == v.client_id
    # the mandates that came through: the merchant's AP2 checks, for its client_id and this nonce
    nonce = got.kb["nonce"]
    co_text, pay_text = oid4vp.split(got.text)
    co = ap2.check_checkout(co_text, ISSUERS, merchant=v.client_id, nonce=nonce, checkout_jwt=cj, now=NOW)
    expected = ap2.Expected(
        ap2.checkout_hash(cj), M1["id"], 10_000, ap2_tests.CUR, ap2_tests.INSTRUMENT["id"]
    )
    pay, _ = ap2.check_payment(
        pay_text,
        ISSUERS,
        aud=v.client_id,
        nonce=nonce,
        expected=expected,
        now=NOW,
        ledger=ap2.Ledger(),
        checkout=co,
        digits=ap2_tests.DIGITS,
    )
    assert pay.closed["payee"] == M1
    # answered once: its Request Object is gone (a replayed response: see below)
    with pytest.raises(E.RequestUriError, match="answered 404"):
        w.present(ar.url)


def test_the_agent_closes_its_open_mandate_for_the_merchant_over_http(oid_world):
    vs, clock, _ = oid_world
    v = vs["dns"]
    cj = checkout_jwt()
    open_co = ap2.open_mandate(
        ap2.CHECKOUT_OPEN, AGENT, [ap2.line_items([("feed", [TICK], 1)])], iat=NOW - 10, exp=NOW + 3600
    )
    oc = ap2.delegate(credential(), DEVICE, open_co, aud="agent", nonce="d-1", iat=NOW - 10)
    ar = v.authorization_request([query(())], [oid4vp.delegate_data([ap2.closed_checkout(cj)], ["user"])])
    # the agent's wallet holds the chain delegated to it, bound to its own key
    reply = wallet(clock, held=[H.Held(oc, AGENT)]).present(ar.url)
    got = v.result(ar.state, reply["redirect_uri"].split("=", 1)[1])["user"]
    nonce = got.kb["nonce"]
    co = ap2.check_checkout(got.text, ISSUERS, merchant=v.client_id, nonce=nonce, checkout_jwt=cj, now=NOW)
    assert co.opens[0]["vct"] == ap2.CHECKOUT_OPEN and len(co.chain.links) == 3


def test_request_uri_method_post_with_wallet_nonce_and_an_encrypted_response(oid_world):
    vs, clock, base = oid_world
    v = vs["hash"]
    ar = v.authorization_request(
        [query()], [CARD], response_mode=H.DIRECT_POST_JWT, request_uri_method="post"
    )
    assert ar.params["request_uri_method"] == "post" and v.client_id.startswith("x509_hash:")
    w = wallet(clock, issuer="https://wallet.example")
    r = w.resolve(ar.params)
    assert r.claims["aud"] == "https://wallet.example" and r.claims["wallet_nonce"]
    assert r.claims["client_metadata"]["jwks"]["keys"][0]["alg"] == "ECDH-ES"
    assert w.present(ar.params) == {}
    got = v.result(ar.state)["user"]
    assert got.kb["transaction_data_hashes"] == [oid4vp.data_hash(CARD)]
    # fetched with GET, a post-method request is refused
    assert httpx.get(ar.params["request_uri"]).status_code == 405


def test_a_redirect_uri_verifier_passes_its_request_by_value_unsigned(oid_world):
    vs, clock, _ = oid_world
    v = vs["plain"]
    ar = v.authorization_request([query()])
    assert ar.params["client_id"] == f"redirect_uri:{v.response_uri}" and "request_uri" not in ar.params
    wallet(clock).present(ar.url)
    assert v.result(ar.state)["user"].claims["name"] == "Ada"
    # such a request by reference is refused: it could not be signed
    with pytest.raises(E.ClientIdError, match="by value only"):
        wallet(clock).resolve({"client_id": ar.params["client_id"], "request_uri": "http://localhost/x"})
    with pytest.raises(E.ClientIdError, match="its response_uri"):
        wallet(clock).resolve(ar.params | {"response_uri": v.response_uri + "/elsewhere"})


# ---------------------------------------------------------------- refusals: the wallet


def served(base, name, body, ctype=H.MEDIA_TYPE):
    PAGES[name] = (ctype, body.encode() if isinstance(body, str) else body)
    return f"{base}/page/{name}"


def claims_of(v, ar):
    sid = ar.params["request_uri"].rsplit("/", 1)[1]
    return sdjwt.jwt_payload(v.request_object(sid), "ro")


def x5c(*certs):
    return [base64.b64encode(pki.der(c)).decode() for c in certs]


def sign(claims, key=MERCHANT, chain=(LEAF, ROOT), **header):
    return sdjwt.sign_jwt(key, {"typ": H.TYP, "x5c": x5c(*chain)} | header, claims)


@pytest.fixture
def dns_request(oid_world):
    vs, clock, base = oid_world
    v = vs["dns"]
    ar = v.authorization_request([query()], [CARD])
    return v, ar, claims_of(v, ar), clock, base


def resolve(clock, base, name, token, client_id="x509_san_dns:localhost", ctype=H.MEDIA_TYPE, **kw):
    return wallet(clock, **kw).resolve(
        {"client_id": client_id, "request_uri": served(base, name, token, ctype)}
    )


def test_a_request_object_unsigned_or_signed_otherwise_is_refused(dns_request):
    v, ar, claims, clock, base = dns_request
    assert resolve(clock, base, "good", sign(claims)).state == ar.state
    none = sdjwt.b64url(json.dumps({"alg": "none", "typ": H.TYP}).encode()) + "."
    none += sdjwt.b64url(json.dumps(claims).encode()) + "."
    with pytest.raises(E.RequestObjectSignatureError, match="not 'none'"):
        resolve(clock, base, "none", none)
    with pytest.raises(E.RequestObjectSignatureError, match="does not verify"):
        resolve(clock, base, "other-key", sign(claims, key=OTHER))
    self_root = testca.make_cert("Self", STRANGER, "Self", STRANGER, ca=True)
    self_leaf = testca.make_cert("Feeds Inc.", STRANGER, "Self", STRANGER, ca=False)
    with pytest.raises(E.RequestObjectSignatureError, match="not trusted"):
        resolve(clock, base, "untrusted", sign(claims, key=STRANGER, chain=(self_leaf, self_root)))
    with pytest.raises(E.RequestObjectSignatureError, match="not trusted"):
        resolve(clock, base, "unpinned", sign(claims), trust=pki.TrustStore(()))
    # by value (the request parameter) too
    assert wallet(clock).resolve({"client_id": v.client_id, "request": sign(claims)}).state == ar.state
    with pytest.raises(E.AuthorizationRequestError, match="not both"):
        wallet(clock).resolve({"client_id": v.client_id, "request": sign(claims), "request_uri": "http://x"})
    # the root may be left out of x5c: the wallet adds the pinned root that issued the last one
    assert resolve(clock, base, "no-root", sign(claims, chain=(LEAF,))).state == ar.state
    with pytest.raises(E.RequestObjectSignatureError, match="x5c"):
        resolve(clock, base, "no-x5c", sdjwt.sign_jwt(MERCHANT, {"typ": H.TYP}, claims))
    with pytest.raises(E.RequestObjectSignatureError, match="no compact JWS"):
        resolve(clock, base, "garbage", "not a jws")


def test_a_request_object_of_another_type_is_refused(dns_request):
    _, _, claims, clock, base = dns_request
    with pytest.raises(E.RequestObjectTypeError, match="typ"):
        resolve(clock, base, "typ", sdjwt.sign_jwt(MERCHANT, {"typ": "JWT", "x5c": x5c(LEAF, ROOT)}, claims))
    with pytest.raises(E.RequestObjectTypeError, match="application/jwt"):
        resolve(clock, base, "ctype", sign(claims), ctype="application/jwt")


def test_a_client_id_not_bound_to_the_request_is_refused(dns_request):
    _, _, claims, clock, base = dns_request
    with pytest.raises(E.ClientIdError, match="not the one the wallet was given"):
        resolve(clock, base, "outer", sign(claims), client_id="x509_san_dns:shop.example")
    other = claims | {"client_id": "x509_san_dns:shop.example", "iss": "x509_san_dns:shop.example"}
    with pytest.raises(E.ClientIdError, match="does not name 'shop.example'"):
        resolve(clock, base, "san", sign(other), client_id=other["client_id"])
    # an iss naming someone else is ignored (OpenID4VP 1.0): the client_id and its certificate decide
    other_iss = resolve(clock, base, "iss", sign(claims | {"iss": "x509_san_dns:shop.example"}))
    assert other_iss.claims["client_id"] == claims["client_id"]
    moved = claims | {"response_uri": "http://127.0.0.1:1/response"}
    with pytest.raises(E.ClientIdError, match="response_uri is not on"):
        resolve(clock, base, "moved", sign(moved))
    hashed = claims | {"client_id": "x509_hash:" + "A" * 43, "iss": "x509_hash:" + "A" * 43}
    with pytest.raises(E.ClientIdError, match="x509_hash"):
        resolve(clock, base, "hash", sign(hashed), client_id=hashed["client_id"])
    # openid_federation: (needs a trust chain) is not implemented; a bare identifier has no prefix
    for cid in ("openid_federation:https://shop.example", "shop.example"):
        with pytest.raises(E.ClientIdError, match="prefix"):
            resolve(clock, base, "prefix", sign(claims), client_id=cid)
    with pytest.raises(E.ClientIdError, match="does not take"):
        resolve(clock, base, "narrow", sign(claims), prefixes=(H.X509_HASH,))


def test_a_request_uri_off_policy_or_oversized_is_refused(dns_request):
    _, _, claims, clock, base = dns_request
    https_only = Fetcher(loopback=True)
    with pytest.raises(E.RequestUriError, match="https, not 'http'"):
        resolve(clock, base, "http", sign(claims), fetcher=https_only)
    with pytest.raises(E.RequestUriError, match="not public|loopback"):
        resolve(clock, base, "private", sign(claims), fetcher=Fetcher(schemes=("http",)))
    with pytest.raises(E.RequestUriError, match="more than 256"):
        resolve(
            clock, base, "big", sign(claims), fetcher=Fetcher(schemes=("http",), loopback=True, max_bytes=256)
        )
    with pytest.raises(E.RequestUriError, match="longer than"):
        wallet(clock).resolve({"client_id": "x509_san_dns:localhost", "request_uri": base + "/" + "x" * 3000})
    with pytest.raises(E.RequestUriError, match="neither get nor post"):
        wallet(clock).resolve(
            {"client_id": "x509_san_dns:localhost", "request_uri": base + "/x", "request_uri_method": "put"}
        )
    with pytest.raises(E.RequestUriError, match="answered 404"):
        wallet(clock).resolve({"client_id": "x509_san_dns:localhost", "request_uri": base + "/page/nothing"})


def test_an_expired_or_overlong_request_is_refused(dns_request):
    _, _, claims, clock, base = dns_request
    late = Clock(claims["exp"])
    with pytest.raises(E.RequestExpiredError, match="expired"):
        resolve(late, base, "late", sign(claims))
    with pytest.raises(E.RequestExpiredError, match="future"):
        resolve(clock, base, "future", sign(claims | {"iat": NOW + 600, "exp": NOW + 900}))
    with pytest.raises(E.RequestExpiredError, match="lives more than"):
        resolve(clock, base, "long", sign(claims), max_lifetime_s=60)
    with pytest.raises(E.RequestExpiredError, match="names its expiry"):
        resolve(clock, base, "no-exp", sign({k: v for k, v in claims.items() if k != "exp"}))


def test_a_replayed_request_object_or_one_for_another_wallet_is_refused(oid_world):
    vs, clock, base = oid_world
    v = vs["hash"]
    ar = v.authorization_request([query()], request_uri_method="post")
    sid = ar.params["request_uri"].rsplit("/", 1)[1]
    old = v.request_object(sid, None, "an-earlier-wallet-nonce")  # captured, then replayed
    with pytest.raises(E.WalletNonceError, match="wallet_nonce"):
        wallet(clock).resolve(
            {
                "client_id": v.client_id,
                "request_uri": served(base, "replay", old),
                "request_uri_method": "post",
            }
        )
    other = v.request_object(sid, {"issuer": "https://other-wallet.example"})
    with pytest.raises(E.WalletNonceError, match="audience"):
        wallet(clock, issuer="https://wallet.example").resolve(
            {"client_id": v.client_id, "request_uri": served(base, "aud", other)}
        )


def test_a_response_mode_this_wallet_does_not_take_is_refused(dns_request):
    _, _, claims, clock, base = dns_request
    with pytest.raises(E.ResponseModeError, match="fragment"):
        resolve(clock, base, "fragment", sign(claims | {"response_mode": "fragment"}))
    jwt_mode = claims | {"response_mode": H.DIRECT_POST_JWT}
    with pytest.raises(E.ResponseModeError, match="no ECDH-ES"):
        w = wallet(clock)
        w.present({"client_id": claims["client_id"], "request_uri": served(base, "nokey", sign(jwt_mode))})
    with pytest.raises(E.AuthorizationRequestError, match="no redirect_uri"):
        resolve(clock, base, "redirect", sign(claims | {"redirect_uri": "https://x.example"}))
    with pytest.raises(E.AuthorizationRequestError, match="no state"):
        resolve(clock, base, "state", sign({k: v for k, v in claims.items() if k != "state"}))


def test_a_dcql_query_the_wallet_cannot_answer_is_refused(oid_world):
    vs, clock, _ = oid_world
    v = vs["dns"]
    for q in (query(vct_values=["https://passports.example"]), query(claims=("passport_number",))):
        ar = v.authorization_request([q])
        with pytest.raises(E.DcqlUnmatchedError, match="no credential answering the query 'user'"):
            wallet(clock).present(ar.url)
    # several held: the one that answers is picked
    other = sdjwt.issue(OTHER, "https://other.example", {"x": 1}, [], DEVICE, iat=NOW - 1, exp=NOW + 60)
    ar = v.authorization_request([query()])
    assert wallet(clock, held=[H.Held(other, DEVICE), H.Held(credential(), DEVICE)]).present(ar.url)


# ---------------------------------------------------------------- refusals: the verifier


def answer(v, ar, clock, state=None):
    """The form a wallet would post for `ar` (its state replaced with `state`)."""
    r = wallet(clock).resolve(ar.url)
    vp = oid4vp.respond(r.request, {"user": (credential(), DEVICE)}, iat=NOW)
    return {"vp_token": json.dumps(vp), "state": state or r.state}


def test_a_replayed_unknown_or_expired_state_is_refused(oid_world):
    vs, clock, _ = oid_world
    v = vs["dns"]
    ar = v.authorization_request([query()])
    form = answer(v, ar, clock)
    assert v.receive(form)["redirect_uri"]
    with pytest.raises(E.ResponseStateError, match="already answered"):
        v.receive(form)
    with pytest.raises(E.ResponseStateError, match="no request"):
        v.receive(form | {"state": "unknown"})
    with pytest.raises(E.ResponseStateError, match="no state"):
        v.receive({"vp_token": form["vp_token"]})
    ar2 = v.authorization_request([query()])
    form2 = answer(v, ar2, clock)
    clock.t += v.ttl_s
    try:
        with pytest.raises(E.ResponseStateError, match="expired"):
            v.receive(form2)
    finally:
        clock.t = NOW


def test_a_vp_token_for_another_nonce_is_refused(oid_world):
    vs, clock, _ = oid_world
    v = vs["dns"]
    a, b = v.authorization_request([query()]), v.authorization_request([query()])
    stolen = answer(v, a, clock, state=b.state)  # a's presentation, posted as b's
    with pytest.raises(E.SdJwtBindingError, match="nonce"):
        v.receive(stolen)
    # the refused attempt does not consume b
    assert v.receive(answer(v, b, clock))


def test_a_response_in_another_mode_or_undecryptable_is_refused(oid_world):
    vs, clock, base = oid_world
    v = vs["hash"]
    ar = v.authorization_request([query()], response_mode=H.DIRECT_POST_JWT)
    with pytest.raises(E.ResponseModeError, match="plain response"):
        v.receive(answer(v, ar, clock))
    r = wallet(clock).resolve(ar.url)
    jwk = r.claims["client_metadata"]["jwks"]["keys"][0]
    vp = oid4vp.respond(r.request, {"user": (credential(), DEVICE)}, iat=NOW)
    token = H.encrypt(
        {"vp_token": vp, "state": r.state},
        sdjwt.key_of({k: jwk[k] for k in ("kty", "crv", "x", "y")}),
        jwk["kid"],
        "A256GCM",
    )
    parts = token.split(".")
    flipped = bytearray(sdjwt.unb64url(parts[3], "ciphertext"))
    flipped[0] ^= 1
    tampered = ".".join([*parts[:3], sdjwt.b64url(bytes(flipped)), parts[4]])
    with pytest.raises(E.AuthorizationResponseError, match="does not decrypt"):
        v.receive({"response": tampered})
    wrong_state = H.encrypt(
        {"vp_token": vp, "state": "x"},
        sdjwt.key_of({k: jwk[k] for k in ("kty", "crv", "x", "y")}),
        jwk["kid"],
        "A128GCM",
    )
    with pytest.raises(E.ResponseStateError, match="encrypted response's state"):
        v.receive({"response": wrong_state})
    with pytest.raises(E.AuthorizationResponseError, match="five parts"):
        v.receive({"response": "a.b.c"})
    assert v.receive({"response": token}) == {}
    # a JWE for a key no session has (a direct_post request has none)
    foreign = ".".join([sdjwt.b64url(json.dumps({"kid": "nope"}).encode()), *token.split(".")[1:]])
    with pytest.raises(E.ResponseStateError, match="no request"):
        v.receive({"response": foreign})
    # over HTTP, a refusal is 400 with an OAuth error body
    bad = httpx.post(v.response_uri, data={"state": "unknown", "vp_token": "{}"})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_request"
    assert (
        httpx.post(v.response_uri, content=b"{}", headers={"Content-Type": "application/json"}).status_code
        == 415
    )


def test_sessions_are_bounded_and_expired_ones_forgotten():
    clock = Clock()
    v = verifier("/b", clock, base_url="http://localhost:1", max_sessions=2)
    a, b, c = (v.authorization_request([query()]) for _ in range(3))
    assert v.request_object(c.params["request_uri"].rsplit("/", 1)[1])
    with pytest.raises(E.ResponseStateError, match="no request"):
        v.receive({"state": a.state, "vp_token": "{}"})
    clock.t += 2 * v.ttl_s + 1
    v.authorization_request([query()])
    assert b.state not in v._by_state and c.state not in v._by_state
    with pytest.raises(ValueError, match="not the one the chain's leaf"):
        verifier("/x", clock, key=OTHER)
    with pytest.raises(ValueError, match="names no DNS name"):
        verifier("/x", clock, base_url="http://shop.example").authorization_request([query()])


def test_the_response_key_agreement_reproduces_rfc_7518_appendix_c():
    """ECDH-ES with the Concat KDF: RFC 7518 Appendix C's keys, apu "Alice", apv "Bob", A128GCM."""

    def private(d):
        return ec.derive_private_key(int.from_bytes(sdjwt.unb64url(d, "d"), "big"), ec.SECP256R1())

    alice = private("0_NxaRPUMQoAJt50Gz8YiTr8gRTwyEaCumd-MToTmIo")
    bob = private("VEmDZpDXXK8p8N0Cndsxs924q6nS1RXFASRl6BfUqdw")
    assert sdjwt.jwk(alice)["x"] == "gI0GAILBdu7T53akrFmMyGcsF3n5dO7MmwNBHKW5SV0"
    assert sdjwt.jwk(bob)["x"] == "weNJy2HscCSM6AEDTDg04biOvhFhyyWvOHQfeF_PxMQ"
    for mine, theirs in ((alice, bob), (bob, alice)):
        cek = H._cek(mine, theirs.public_key(), "A128GCM", b"Alice", b"Bob")
        assert sdjwt.b64url(cek) == "VqqN6vgjbSBcIijNcacQGg"
    # a JWE made with apu/apv (as another wallet may) decrypts
    header = {"alg": "ECDH-ES", "enc": "A128GCM", "apu": "QWxpY2U", "apv": "Qm9i", "epk": sdjwt.jwk(alice)}
    h64 = sdjwt.b64url(json.dumps(header).encode())
    sealed = AESGCM(sdjwt.unb64url("VqqN6vgjbSBcIijNcacQGg", "k")).encrypt(
        b"\0" * 12, b'{"state":"s"}', h64.encode()
    )
    token = ".".join(
        [h64, "", sdjwt.b64url(b"\0" * 12), sdjwt.b64url(sealed[:-16]), sdjwt.b64url(sealed[-16:])]
    )
    assert H.decrypt(token, bob) == {"state": "s"}
    with pytest.raises(E.AuthorizationResponseError, match="does not decrypt"):
        H.decrypt(token, alice)


def test_an_a2a_agent_serves_its_verifier_beside_its_routes():
    """A2AServer(oid4vp=...) mounts the verifier's routes: a wallet presents to the agent's own URL,
    and the agent's card is served as before; a verifier on an A2A route's path is refused."""
    clock = Clock()
    v = verifier("/checkout", clock)
    skills = [Skill(AgentSkill("free", "free", "free"), _free)]
    agent = A2AServer("shop", "a shop", skills, None, store=":memory:", oid4vp=v)  # type: ignore[arg-type]
    with ServiceServer(agent.app(), log_level="warning") as s:
        v.base_url = f"http://localhost:{s.port}"
        ar = v.authorization_request([query()])
        wallet(clock).present(ar.url)
        assert v.result(ar.state)["user"].claims["name"] == "Ada"
        assert httpx.get(f"http://localhost:{s.port}/.well-known/agent-card.json").json()["name"] == "shop"
    for path in ("/tasks", "/a2a", "/.well-known"):
        with pytest.raises(ValueError, match="one of the A2A routes"):
            A2AServer("shop", "a shop", skills, None, store=":memory:", oid4vp=verifier(path, clock))  # type: ignore[arg-type]


async def _free(msg, pay):
    return {"ok": True}
