"""A2A callers and keys by URL (offchain/agent/a2a_auth.py): key sets fetched with SSRF
protections and a bounded cache, OAuth 2.0 / OpenID Connect access tokens verified against their
issuer's key set (each refusal typed), signed cards whose key comes from the signature's ``jku``
under a trust policy, and an agent that declares its schemes, enforces them in every binding and
keeps each tenant's tasks apart."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from offchain.agent import errors as E
from offchain.agent.a2a import (
    COMPLETED,
    GRPC,
    HTTP_JSON,
    JSONRPC,
    A2AClient,
    AgentSkill,
    PushConfig,
    agent_card,
    user_message,
)
from offchain.agent.a2a_auth import Issuer, KeySetFetcher, check_key_url, jwk_of, sign_token, verify_token
from offchain.agent.a2a_card import JkuPolicy, sign_card, verify_card_keys
from offchain.agent.facilitator import LocalFacilitator
from offchain.httpservice import ServiceServer
from tests.offchain.agent.support import a2a_agent, build_world

EC_KEY = ec.generate_private_key(ec.SECP256R1())
RSA_KEY = rsa.generate_private_key(65537, 2048)
ED_KEY = ed25519.Ed25519PrivateKey.generate()
KEYS = {"ec1": EC_KEY, "rsa1": RSA_KEY, "ed1": ED_KEY}
ALGS = {"ec1": "ES256", "rsa1": "RS256", "ed1": "EdDSA"}


class KeyServer:
    """A local issuer's key set (and other bodies under test) over HTTP on loopback."""

    def __init__(self) -> None:
        self.bodies: dict[str, bytes] = {
            "/jwks": json.dumps({"keys": [jwk_of(k, kid) for kid, k in KEYS.items()]}).encode()
        }
        self.hits = 0

        async def serve(request: Request) -> Response:
            self.hits += 1
            body = self.bodies.get(request.url.path)
            if body is None:
                return JSONResponse({}, status_code=404)
            return Response(body, media_type="application/json")

        self.app = Starlette(routes=[Route("/{path:path}", serve)])


@pytest.fixture(scope="module")
def keys_url():
    ks = KeyServer()
    with ServiceServer(ks.app, log_level="warning") as s:
        yield s.url.rstrip("/"), ks


def claims(**kw: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": "https://issuer.test",
        "aud": "data-agent",
        "sub": "alice",
        "exp": now + 300,
        "iat": now,
        "scope": "a2a",
    } | kw


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


def test_access_tokens_of_each_algorithm_verify_and_each_refusal_is_typed(keys_url):
    url, _ = keys_url
    issuer = Issuer("https://issuer.test", "data-agent", url + "/jwks", scopes=("a2a",), openid=True)
    issuers = {issuer.issuer: issuer}
    fetcher = KeySetFetcher(loopback=True)
    now = time.time()

    def check(token: str) -> dict[str, Any]:
        return verify_token(token, issuers, fetcher, now)[1]

    for kid, key in KEYS.items():
        assert check(sign_token(key, ALGS[kid], kid, claims()))["sub"] == "alice"
    assert check(sign_token(EC_KEY, "ES256", "ec1", claims(aud=["other", "data-agent"])))["sub"] == "alice"
    assert fetcher.fetches == 1  # one fetch, then the cache
    refusals = [
        (claims(exp=int(now) - 120), E.A2ATokenExpiredError),
        ({k: v for k, v in claims().items() if k != "exp"}, E.A2ATokenExpiredError),
        (claims(nbf=int(now) + 600), E.A2ATokenNotYetValidError),
        (claims(aud="another-agent"), E.A2ATokenAudienceError),
        (claims(iss="https://evil.test"), E.A2ATokenIssuerError),
        (claims(scope="read"), E.A2ATokenScopeError),
        (claims(sub=""), E.A2ATokenSignatureError),
    ]
    for c, err in refusals:
        with pytest.raises(err):
            check(sign_token(EC_KEY, "ES256", "ec1", c))
    with pytest.raises(E.A2ATokenKeyError, match="no key 'nope'"):
        check(sign_token(EC_KEY, "ES256", "nope", claims()))
    # alg none, and HS256 keyed with the issuer's public key (algorithm confusion)
    header = {"alg": "none", "kid": "ec1"}
    body = _b64(json.dumps(claims()).encode())
    with pytest.raises(E.A2ATokenAlgorithmError, match="'none'"):
        check(_b64(json.dumps(header).encode()) + "." + body + ".")
    pem = RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    si = _b64(json.dumps({"alg": "HS256", "kid": "rsa1"}).encode()) + "." + body
    with pytest.raises(E.A2ATokenAlgorithmError, match="HS256"):
        check(si + "." + _b64(hmac.new(pem, si.encode(), hashlib.sha256).digest()))
    # an RS256 header over the EC key, and an ES256 one over the RSA key: the key's type decides
    with pytest.raises(E.A2ATokenAlgorithmError, match="not an RS256 key"):
        check(sign_token(RSA_KEY, "RS256", "ec1", claims()))
    with pytest.raises(E.A2ATokenAlgorithmError, match="not an ES256 key"):
        check(sign_token(EC_KEY, "ES256", "rsa1", claims()))
    with pytest.raises(E.A2ATokenAlgorithmError, match="critical"):
        check(_b64(json.dumps({"alg": "ES256", "kid": "ec1", "crit": ["x"]}).encode()) + "." + body + ".AA")
    good = sign_token(ED_KEY, "EdDSA", "ed1", claims())
    with pytest.raises(E.A2ATokenSignatureError, match="does not verify"):
        check(good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB"))
    with pytest.raises(E.A2ATokenSignatureError):
        check("not.a.jwt")
    with pytest.raises(E.A2ATokenSignatureError):
        check("x" * 9000)
    only_ec = Issuer("https://issuer.test", "data-agent", url + "/jwks", algorithms=("ES256",), openid=True)
    with pytest.raises(E.A2ATokenAlgorithmError, match="RS256"):
        verify_token(sign_token(RSA_KEY, "RS256", "rsa1", claims()), {only_ec.issuer: only_ec}, fetcher, now)
    with pytest.raises(ValueError):
        Issuer("https://i", "a", url, algorithms=("HS256",), openid=True)
    gone = Issuer("https://issuer.test", "data-agent", url + "/missing", openid=True)
    with pytest.raises(E.A2ATokenKeyError, match="not available"):
        verify_token(good, {gone.issuer: gone}, fetcher, now)


def test_key_set_urls_are_checked_against_request_forgery(keys_url):
    url, ks = keys_url
    strict = KeySetFetcher(loopback=False)
    for bad in (
        "https://10.0.0.1/jwks",
        "https://169.254.169.254/latest/meta-data",
        "https://[::ffff:192.168.1.1]/jwks",
        "https://[fe80::1]/jwks",
        "https://localhost/jwks",
        "https://user:pw@example.com/jwks",
        "ftp://example.com/jwks",
        url + "/jwks",  # loopback, not allowed here
    ):
        with pytest.raises(E.A2AKeySetAddressError):
            strict.keys(bad)
    with pytest.raises(E.A2AKeySetAddressError, match="https"):
        check_key_url("http://example.com/jwks", loopback=True)  # plain http only to loopback
    assert strict.fetches == 0  # nothing was sent


def test_key_sets_are_bounded_and_cached_with_a_bound(keys_url):
    url, ks = keys_url
    big = {"keys": [jwk_of(EC_KEY, "ec1")], "pad": "x" * 70_000}
    ks.bodies["/big"] = json.dumps(big).encode()
    ks.bodies["/many"] = json.dumps({"keys": [jwk_of(EC_KEY, f"k{i}") for i in range(40)]}).encode()
    ks.bodies["/private"] = json.dumps(
        {"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "d": "AA", "kid": "p"}]}
    ).encode()
    ks.bodies["/weak"] = json.dumps({"keys": [jwk_of(rsa.generate_private_key(65537, 1024), "w")]}).encode()
    ks.bodies["/notjson"] = b"<html>"
    f = KeySetFetcher(loopback=True, max_sets=2)
    with pytest.raises(E.A2AKeySetSizeError, match="bytes"):
        f.keys(url + "/big")
    with pytest.raises(E.A2AKeySetSizeError, match="32 keys"):
        f.keys(url + "/many")
    with pytest.raises(E.A2AKeySetError, match="private"):
        f.keys(url + "/private")
    with pytest.raises(E.A2AKeySetError, match="2048"):
        f.keys(url + "/weak")
    with pytest.raises(E.A2AKeySetError, match="not JSON"):
        f.keys(url + "/notjson")
    with pytest.raises(E.A2AKeySetError, match="404"):
        f.keys(url + "/absent")
    clock = [0.0]
    f = KeySetFetcher(loopback=True, max_sets=2, clock=lambda: clock[0])
    assert set(f.keys(url + "/jwks")) == set(KEYS)
    f.keys(url + "/jwks", "unknown")  # within refresh_s: not fetched again
    assert f.fetches == 1
    clock[0] = 31.0
    f.keys(url + "/jwks", "unknown")  # an unknown kid after refresh_s: fetched again
    f.keys(url + "/jwks", "ec1")
    assert f.fetches == 2
    ks.bodies["/b"] = ks.bodies["/c"] = ks.bodies["/jwks"]
    f.keys(url + "/b")
    f.keys(url + "/c")  # the third set pushes out the least recently used (/jwks)
    f.keys(url + "/jwks")
    assert f.fetches == 5
    clock[0] = 400.0  # past the TTL: fetched again
    f.keys(url + "/jwks")
    assert f.fetches == 6


def _card() -> dict[str, Any]:
    return agent_card("a", "an agent", "https://agent.test/a2a", [AgentSkill("s", "S", "d")])


def test_card_keys_come_from_the_signatures_jku_under_the_policy(keys_url):
    url, ks = keys_url
    card_url = url + "/.well-known/agent-card.json"
    f = KeySetFetcher(loopback=True)
    signed = sign_card(_card(), EC_KEY, "ec1", jku=url + "/jwks")
    assert verify_card_keys(signed, card_url, {}, JkuPolicy(), f) == "ec1"  # same origin
    other_origin = "https://agent.test/.well-known/agent-card.json"
    with pytest.raises(E.A2AKeySetPolicyError, match="not trusted"):
        verify_card_keys(signed, other_origin, {}, JkuPolicy(), f)
    assert verify_card_keys(signed, other_origin, {}, JkuPolicy(False, (url + "/",)), f) == "ec1"
    with pytest.raises(E.A2AKeySetPolicyError):
        verify_card_keys(signed, card_url, {}, JkuPolicy(False, (url + "/jwk",)), f)  # exact URL only
    with pytest.raises(E.A2ACardUntrustedKeyError):
        verify_card_keys(signed, card_url, {}, None, f)  # no policy: keys given only
    tampered = signed | {"name": "mallory"}
    with pytest.raises(E.A2ACardTamperedError):
        verify_card_keys(tampered, card_url, {}, JkuPolicy(), f)
    # the key set holds no such kid; an EdDSA key under the kid; a private address admitted by policy
    with pytest.raises(E.A2ACardUntrustedKeyError, match="no EC key"):
        verify_card_keys(sign_card(_card(), EC_KEY, "zz", jku=url + "/jwks"), card_url, {}, JkuPolicy(), f)
    with pytest.raises(E.A2ACardUntrustedKeyError, match="no EC key"):
        verify_card_keys(sign_card(_card(), EC_KEY, "ed1", jku=url + "/jwks"), card_url, {}, JkuPolicy(), f)
    private = sign_card(_card(), EC_KEY, "ec1", jku="https://10.1.2.3/jwks")
    with pytest.raises(E.A2AKeySetAddressError):
        verify_card_keys(private, card_url, {}, JkuPolicy(False, ("https://10.1.2.3/",)), f)
    ks.bodies["/huge"] = b'{"keys": [], "x": "' + b"y" * 100_000 + b'"}'
    with pytest.raises(E.A2AKeySetSizeError):
        verify_card_keys(sign_card(_card(), EC_KEY, "ec1", jku=url + "/huge"), card_url, {}, JkuPolicy(), f)
    # a trusted key given still suffices, without any fetch
    g = KeySetFetcher(loopback=True)
    assert verify_card_keys(signed, card_url, {"ec1": EC_KEY.public_key()}, JkuPolicy(), g) == "ec1"
    assert g.fetches == 0


# ---------------------------------------------------------------- the agent


@pytest.fixture(scope="module")
def a2a_world(project, accounts, chain):
    return build_world(project, accounts, chain)


@pytest.fixture(scope="module")
def auth_agent(a2a_world, keys_url):
    """An agent taking OIDC access tokens only (authentication required), signing its card with a
    key served at its own jku, with tenants acme (anyone authenticated) and globex (alice only)."""
    url, _ = keys_url
    issuer = Issuer("https://issuer.test", "data-agent", url + "/jwks", scopes=("a2a",), openid=True)
    server = a2a_agent(
        a2a_world,
        LocalFacilitator(a2a_world.fresh_facilitator()),
        grpc_listen="127.0.0.1:0",
        issuers=[issuer],
        key_sets=KeySetFetcher(loopback=True),
        require_auth=True,
        tenants={"acme": None, "globex": {"https://issuer.test#alice"}},
        card_key=EC_KEY,
        card_kid="card-1",
        card_jku=True,
    )
    with ServiceServer(server.app(), log_level="warning") as s:
        yield s.url


def _client(agent: str, binding: str, **kw: Any) -> A2AClient:
    return A2AClient(agent, binding=binding, jku=JkuPolicy(), key_sets=KeySetFetcher(loopback=True), **kw)


def test_the_card_declares_the_scheme_and_is_verified_by_its_jku(auth_agent):
    agent = auth_agent
    c = _client(agent, JSONRPC)
    card = c.card().raw
    assert card["securitySchemes"] == {
        "oidc": {
            "openIdConnectSecurityScheme": {
                "description": card["securitySchemes"]["oidc"]["openIdConnectSecurityScheme"]["description"],
                "openIdConnectUrl": "https://issuer.test/.well-known/openid-configuration",
            }
        }
    }
    assert card["securityRequirements"] == [{"schemes": {"oidc": {"list": ["a2a"]}}}]
    header = json.loads(base64.urlsafe_b64decode(card["signatures"][0]["protected"] + "=="))
    assert header["jku"] == agent.rstrip("/") + "/.well-known/jwks.json" and header["kid"] == "card-1"
    assert c.key_sets is not None and c.key_sets.fetches == 1


@pytest.mark.parametrize("binding", [JSONRPC, HTTP_JSON, GRPC])
def test_the_agent_enforces_its_scheme_and_tenants_in_every_binding(auth_agent, binding):
    agent = auth_agent
    alice = sign_token(EC_KEY, "ES256", "ec1", claims())
    bob = sign_token(RSA_KEY, "RS256", "rsa1", claims(sub="bob"))
    refusals = [
        (None, E.A2AUnauthenticatedError),  # anonymous: authentication is required
        ("opaque-token", E.A2AUnauthenticatedError),
        (sign_token(EC_KEY, "ES256", "ec1", claims(exp=int(time.time()) - 600)), E.A2AUnauthenticatedError),
        (sign_token(EC_KEY, "ES256", "ec1", claims(aud="x")), E.A2AUnauthenticatedError),
        (sign_token(EC_KEY, "ES256", "ghost", claims()), E.A2AUnauthenticatedError),
    ]
    for token, err in refusals:
        with pytest.raises(err):
            _client(agent, binding, token=token, tenant="acme").send(_free())
    a = _client(agent, binding, token=alice, tenant="acme")
    task = a.send(_free())
    assert task.status.state == COMPLETED
    assert a.get_task(task.id).id == task.id
    assert [t.id for t in a.list_tasks(context_id=task.context_id).tasks] == [task.id]
    # the same caller under another tenant, and another caller under the same tenant: no such task
    g = _client(agent, binding, token=alice, tenant="globex")
    with pytest.raises(E.A2ATaskNotFoundError):
        g.get_task(task.id)
    assert g.list_tasks().tasks == ()
    with pytest.raises(E.A2ATaskNotFoundError):
        _client(agent, binding, token=bob, tenant="acme").get_task(task.id)
    # webhooks: configured under the task's tenant, unknown under another
    hook = a.set_push(task.id, PushConfig("https://hooks.example.com/a2a", token="t"))
    assert [c.id for c in a.list_push(task.id)] == [hook.id]
    with pytest.raises(E.A2ATaskNotFoundError):
        g.list_push(task.id)
    with pytest.raises(E.A2ATaskNotFoundError):
        g.set_push(task.id, PushConfig("https://hooks.example.com/b"))
    # bob is no member of globex; nobody may name a tenant the agent does not serve, or none
    with pytest.raises(E.A2ATenantError):
        _client(agent, binding, token=bob, tenant="globex").send(_free())
    with pytest.raises(E.A2ATenantError):
        _client(agent, binding, token=alice, tenant="initech").send(_free())
    with pytest.raises(E.A2ATenantError):
        _client(agent, binding, token=alice).send(_free())


def _free():
    return user_message("free please", metadata={"skill": "free"})


def test_wire_refusals_and_configuration_errors(a2a_world, auth_agent):
    agent = auth_agent.rstrip("/")
    alice = sign_token(EC_KEY, "ES256", "ec1", claims())
    headers = {"A2A-Version": "1.0", "Authorization": f"Bearer {alice}"}
    # HTTP+JSON: the tenant in the path; a body naming another is refused; a non-member is 403
    r = httpx.get(agent + "/globex/tasks", headers=headers)
    assert r.status_code == 200 and r.json()["tasks"] == []
    bob = sign_token(ED_KEY, "EdDSA", "ed1", claims(sub="bob"))
    r = httpx.get(agent + "/globex/tasks", headers=headers | {"Authorization": f"Bearer {bob}"})
    assert r.status_code == 403 and r.json()["error"]["details"][0]["reason"] == "TENANT_NOT_PERMITTED"
    body = {"tenant": "globex", "message": _free().to_json()}
    ext = {"A2A-Extensions": "https://github.com/google-agentic-commerce/a2a-x402/blob/main/spec/v0.2"}
    r = httpx.post(agent + "/acme/message:send", json=body, headers=headers | ext)
    assert r.status_code == 400 and "another tenant" in r.json()["error"]["message"]
    r = httpx.get(agent + "/acme/tasks", headers={"Authorization": "Basic YTpi"})
    assert r.status_code == 401
    # JSON-RPC: an anonymous request to an agent that requires authentication
    rpc = {"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": "x", "tenant": "acme"}}
    assert httpx.post(agent + "/a2a", json=rpc).json()["error"]["code"] == -32040
    fac = LocalFacilitator(a2a_world.fresh_facilitator())
    issuer = Issuer("https://issuer.test", "data-agent", "https://issuer.test/jwks", openid=True)
    with pytest.raises(ValueError, match="need a scheme"):
        a2a_agent(a2a_world, fac, require_auth=True)
    with pytest.raises(ValueError, match="declared once"):
        a2a_agent(a2a_world, fac, issuers=[issuer, issuer])
    with pytest.raises(ValueError, match="no '#'"):
        a2a_agent(a2a_world, fac, bearer_tokens={"t": "https://issuer.test#alice"}, issuers=[issuer])
    with pytest.raises(ValueError, match="token_url"):
        Issuer("https://issuer.test", "data-agent", "https://issuer.test/jwks")
    with pytest.raises(ValueError, match="tenant"):
        A2AClient(agent, tenant="a/b")
    # both schemes: the card declares and requires either, and each is checked
    oauth = Issuer(
        "https://as.test",
        "data-agent",
        "https://as.test/jwks",
        scopes=("read",),
        token_url="https://as.test/token",
    )
    server = a2a_agent(a2a_world, fac, bearer_tokens={"tok": "carol"}, issuers=[oauth], require_auth=True)
    card = server.card("http://agent.test")
    assert set(card["securitySchemes"]) == {"bearer", "oauth2"}
    assert card["securitySchemes"]["oauth2"]["oauth2SecurityScheme"]["flows"]["clientCredentials"] == {
        "tokenUrl": "https://as.test/token",
        "scopes": {"read": "read"},
    }
    assert card["securityRequirements"] == [
        {"schemes": {"bearer": {"list": []}}},
        {"schemes": {"oauth2": {"list": ["read"]}}},
    ]
