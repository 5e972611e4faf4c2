"""A2A callers by TLS client certificate (offchain/agent/a2a_mtls.py, offchain/httptls.py) and
issuers by discovery (a2a_auth.IssuerDiscovery), over real TLS sockets on loopback: uvicorn
handing the application the ASGI TLS extension, gRPC's auth context, callers named by certificate
in every binding, each refusal typed (the TLS handshake's for certificates OpenSSL refuses, the
agent's for the rest), RFC 8705 certificate-bound tokens, and OpenID Connect / RFC 8414 discovery
with its refusals and cache."""

from __future__ import annotations

import ipaddress
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from cryptography.x509.oid import ExtendedKeyUsageOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from offchain.agent import errors as E
from offchain.agent.a2a import COMPLETED, GRPC, HTTP_JSON, JSONRPC, A2AClient, AgentSkill, user_message
from offchain.agent.a2a_auth import (
    Issuer,
    IssuerDiscovery,
    KeySetFetcher,
    cache_ttl,
    discovery_urls,
    jwk_of,
    sign_token,
    verify_token,
)
from offchain.agent.a2a_grpc import GrpcChannel
from offchain.agent.a2a_mtls import ClientCertificate, MutualTLS, thumbprint
from offchain.agent.a2a_server import A2AServer, Skill
from offchain.compute.pki import fingerprint
from offchain.compute.testca import make_cert, pem
from offchain.httpservice import ServiceServer
from offchain.httptls import server_context

NOW = datetime.now(UTC)
KEY = ec.generate_private_key(ec.SECP256R1())  # the token issuer's
ISS = "https://issuer.test"


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


class Pki:
    """A CA for callers (and the agent), another CA, the agent's certificate and callers' ones,
    written as files under `d`."""

    def __init__(self, d: Path) -> None:
        self.d = d
        self.ca_key, other_key = _key(), _key()
        self.ca = make_cert("callers CA", self.ca_key, "callers CA", self.ca_key, ca=True)
        self.other = make_cert("other CA", other_key, "other CA", other_key, ca=True)
        (d / "ca.pem").write_bytes(pem(self.ca))
        server_ext = (
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
        )
        self.write(
            "server",
            make_cert("agent", k := _key(), "callers CA", self.ca_key, ca=False, extensions=server_ext),
            k,
        )
        self.certs: dict[str, x509.Certificate] = {}
        self.client("alice", "spiffe://acme/alice")
        self.client("bob", "spiffe://acme/bob")
        self.client("carol", "spiffe://acme/carol")  # valid, but names no caller
        self.client("mallory", "spiffe://acme/alice", issuer=("other CA", other_key))  # another CA
        self.client("old", "spiffe://acme/alice", not_after=NOW - timedelta(days=1))  # expired
        self.client("early", "spiffe://acme/alice", not_before=NOW + timedelta(days=1))  # not yet valid

    def write(self, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
        (self.d / f"{name}.pem").write_bytes(pem(cert))
        (self.d / f"{name}.key").write_bytes(
            key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        )

    def client(self, name: str, uri: str, issuer: tuple[str, Any] | None = None, **kw: Any) -> None:
        iname, ikey = issuer or ("callers CA", self.ca_key)
        ext = (
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri)]),
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
        )
        k = _key()
        self.certs[name] = make_cert(
            name, k, iname, ikey, ca=False, extensions=ext, serial=len(self.certs) + 2, **kw
        )
        self.write(name, self.certs[name], k)

    def presents(self, name: str) -> ClientCertificate:
        return ClientCertificate(self.d / f"{name}.pem", self.d / f"{name}.key", self.d / "ca.pem")

    def anonymous(self) -> httpx.Client:
        """An https client trusting the agent, presenting no certificate."""
        return httpx.Client(verify=str(self.d / "ca.pem"), timeout=10)

    def bytes(self, name: str) -> bytes:
        return (self.d / name).read_bytes()


@pytest.fixture(scope="module")
def mtls_pki(tmp_path_factory):
    return Pki(tmp_path_factory.mktemp("mtls"))


def _callers(pki: Pki, **kw: Any) -> MutualTLS:
    """alice by her SPIFFE id, bob by his certificate's fingerprint."""
    by = {"uri:spiffe://acme/alice": "alice", "sha256:" + fingerprint(pki.certs["bob"]).upper(): "bob"}
    return MutualTLS(pki.bytes("ca.pem"), by, **kw)


# ---------------------------------------------------------------- the ASGI TLS extension


def test_uvicorn_hands_the_application_the_asgi_tls_extension(mtls_pki):
    pki = mtls_pki

    async def echo(request: Request) -> JSONResponse:
        return JSONResponse(request.scope.get("extensions", {}).get("tls"))

    app = Starlette(routes=[Route("/", echo)])
    tls = server_context(
        pki.d / "server.pem", pki.d / "server.key", pki.bytes("ca.pem"), client_certs="optional"
    )
    with ServiceServer(app, log_level="warning", tls=tls) as s:
        assert s.url.startswith("https://127.0.0.1:")
        with pki.presents("alice").http_client() as c:
            ext = c.get(s.url + "/").json()
        assert ext["client_cert_chain"] == [pem(pki.certs["alice"]).decode()]
        assert ext["client_cert_name"] == "O=Eigen test CA,CN=alice"
        assert ext["client_cert_error"] is None and ext["tls_version"] == 0x0304
        assert ext["cipher_suite"] in (0x1301, 0x1302, 0x1303)  # the TLS 1.3 suites
        assert ext["server_cert"] == pki.bytes("server.pem").decode()
        with pki.anonymous() as c:
            assert c.get(s.url + "/").json()["client_cert_chain"] == []  # optional: none presented
        # a certificate of another CA, or expired, never completes the handshake
        for who in ("mallory", "old"):
            with pki.presents(who).http_client() as c, pytest.raises(httpx.TransportError):
                c.get(s.url + "/")
    with ServiceServer(app, log_level="warning") as s:  # plain HTTP: no TLS extension
        assert httpx.get(s.url + "/").json() is None
    with pytest.raises(ValueError, match="client_certs"):
        server_context(pki.d / "server.pem", pki.d / "server.key", client_certs="maybe")


# ---------------------------------------------------------------- the policy, certificate by certificate


def test_the_policy_names_callers_and_types_each_refusal(mtls_pki):
    pki = mtls_pki
    m = _callers(pki)
    c = pki.certs
    assert m.identify([c["alice"]]) == "alice" and m.identify([c["bob"]]) == "bob"
    refusals = [
        ([], E.A2AClientCertificateMissingError),
        ([c["mallory"]], E.A2AClientCertificateUntrustedError),
        ([c["old"]], E.A2AClientCertificateExpiredError),
        ([c["early"]], E.A2AClientCertificateExpiredError),
        ([c["carol"]], E.A2AClientCertificateUnknownError),
    ]
    for chain, err in refusals:
        with pytest.raises(err):
            m.identify(chain)
    # one certificate naming two callers is refused, not resolved by order
    both = MutualTLS(
        pki.bytes("ca.pem"), {"uri:spiffe://acme/alice": "alice", "subject:O=Eigen test CA,CN=alice": "al"}
    )
    with pytest.raises(E.A2AClientCertificateUnknownError, match="several"):
        both.identify([c["alice"]])
    assert (
        MutualTLS(pki.bytes("ca.pem"), {"subject:O=Eigen test CA,CN=alice": "al"}).identify([c["alice"]])
        == "al"
    )
    # RFC 8705: a token bound to a certificate only with it; with bound_tokens, none unbound
    bound = {"cnf": {"x5t#S256": thumbprint(c["alice"])}}
    m.check_binding(bound, [c["alice"]])
    m.check_binding({}, [c["alice"]])  # unbound tokens are taken unless bound_tokens
    with pytest.raises(E.A2ATokenBindingError, match="another"):
        m.check_binding(bound, [c["bob"]])
    with pytest.raises(E.A2ATokenBindingError, match="none was presented"):
        m.check_binding(bound, [])
    with pytest.raises(E.A2ATokenBindingError, match="string"):
        m.check_binding({"cnf": {"x5t#S256": 5}}, [c["alice"]])
    with pytest.raises(E.A2ATokenUnboundError):
        _callers(pki, bound_tokens=True).check_binding({"cnf": {"jkt": "x"}}, [c["alice"]])
    with pytest.raises(E.A2AClientCertificateUntrustedError):
        m.check_binding(bound, [c["mallory"]])
    for bad in ({"cn:alice": "a"}, {"uri:": "a"}, {"uri:x": "a#b"}, {"uri:x": ""}):
        with pytest.raises(ValueError):
            MutualTLS(pki.bytes("ca.pem"), bad)
    with pytest.raises(ValueError, match="PEM"):
        MutualTLS(b"not a certificate", {})
    assert _callers(pki).scheme() == {
        "mtlsSecurityScheme": {"description": "TLS client certificates of the agent's caller CAs"}
    }


# ---------------------------------------------------------------- the agent


async def _price(msg: Any, pay: Any) -> Any:
    return {"pair": "ETH/USD", "price": "3120.55"}


def _agent(**kw: Any) -> A2AServer:
    """An agent with one free skill (no payment: it never settles, so it has no facilitator)."""
    skills = [Skill(AgentSkill("free", "free price", "the price, free"), _price)]
    return A2AServer("mtls-agent", "prices for certified callers", skills, None, store=":memory:", **kw)  # type: ignore[arg-type]


def _free():
    return user_message("free please", metadata={"skill": "free"})


@pytest.fixture(scope="module")
def mtls_agent(mtls_pki):
    """Callers by certificate only, required in the TLS handshake of every binding; tenant acme
    holds alice and bob."""
    pki = mtls_pki
    m = _callers(pki)
    server = _agent(
        mtls=m,
        require_auth=True,
        tenants={"acme": {"alice", "bob"}},
        grpc_listen="127.0.0.1:0",
        grpc_credentials=m.grpc_credentials(pki.bytes("server.pem"), pki.bytes("server.key")),
    )
    tls = m.server_context(pki.d / "server.pem", pki.d / "server.key")
    with ServiceServer(server.app(), log_level="warning", tls=tls) as s:
        yield s.url, server


@pytest.mark.parametrize("binding", [JSONRPC, HTTP_JSON, GRPC])
def test_callers_by_certificate_in_every_binding(mtls_pki, mtls_agent, binding):
    pki, (url, server) = mtls_pki, mtls_agent

    def client(who: str) -> A2AClient:
        return A2AClient(url, binding=binding, client_cert=pki.presents(who), tenant="acme", timeout_s=10)

    alice = client("alice")
    task = alice.send(_free())
    assert task.status.state == COMPLETED
    assert alice.get_task(task.id).id == task.id
    assert [t.id for t in alice.list_tasks(context_id=task.context_id).tasks] == [task.id]
    with pytest.raises(E.A2ATaskNotFoundError):  # bob (by fingerprint) is another caller
        client("bob").get_task(task.id)
    with pytest.raises(E.A2AUnauthenticatedError, match="names no caller"):
        client("carol").send(_free())
    # certificates OpenSSL refuses, and none at all, fail the handshake: no answer, not even the card
    for who in ("mallory", "old", "early"):
        with pytest.raises(E.A2AResponseError):
            client(who).send(_free())
    with pytest.raises(E.A2AResponseError):
        A2AClient(url, binding=binding, http=pki.anonymous(), tenant="acme").send(_free())
    if binding == GRPC:  # the gRPC port itself refuses them too
        target = server.grpc_address
        for who in ("mallory", "old"):
            ch = GrpcChannel(target, pki.presents(who).grpc_credentials())
            with pytest.raises(E.A2AResponseError, match="UNAVAILABLE"):
                ch.call("GetTask", {"id": task.id, "tenant": "acme"}, {}, 5)
            ch.close()
        ch = GrpcChannel(target, grpc.ssl_channel_credentials(pki.bytes("ca.pem")))
        with pytest.raises(E.A2AResponseError, match="UNAVAILABLE"):
            ch.call("GetTask", {"id": task.id, "tenant": "acme"}, {}, 5)
        ch.close()


def test_the_card_declares_and_requires_the_mtls_scheme(mtls_pki, mtls_agent):
    pki, (url, _) = mtls_pki, mtls_agent
    card = A2AClient(url, client_cert=pki.presents("alice")).card().raw
    assert card["securitySchemes"] == {"mtls": _callers(pki).scheme()}
    assert card["securityRequirements"] == [{"schemes": {"mtls": {"list": []}}}]
    assert {i["url"].split("://")[0] for i in card["supportedInterfaces"]} >= {"https"}
    with pytest.raises(ValueError, match="give neither"):
        A2AClient(url, client_cert=pki.presents("alice"), http=pki.anonymous())


def test_close_closes_the_http_client_it_made_only(mtls_pki, mtls_agent):
    # a keep-alive connection left open by the certificate's client would hold the server's shutdown
    pki, (url, _) = mtls_pki, mtls_agent
    made = A2AClient(url, client_cert=pki.presents("alice"))
    made.card()
    given = A2AClient(url, http=pki.anonymous(), binding="HTTP+JSON")
    made.close()
    given.close()
    assert made.http.is_closed and not given.http.is_closed
    given.http.close()


class KeyServer:
    """An issuer over plain HTTP on loopback: its discovery documents and key sets, each answer
    (body, headers, status) set by the test."""

    def __init__(self) -> None:
        self.answers: dict[str, tuple[bytes, dict[str, str], int]] = {}
        self.hits: dict[str, int] = {}

        async def serve(request: Request) -> Response:
            path = request.url.path
            self.hits[path] = self.hits.get(path, 0) + 1
            body, headers, status = self.answers.get(path, (b"{}", {}, 404))
            return Response(body, status_code=status, media_type="application/json", headers=headers)

        self.app = Starlette(routes=[Route("/{path:path}", serve)])

    def json(self, path: str, doc: Any, status: int = 200, **headers: str) -> None:
        self.answers[path] = (
            json.dumps(doc).encode(),
            {k.replace("_", "-"): v for k, v in headers.items()},
            status,
        )


@pytest.fixture(scope="module")
def issuer_server():
    ks = KeyServer()
    with ServiceServer(ks.app, log_level="warning") as s:
        yield s.url.rstrip("/"), ks


def _claims(**kw: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": ISS, "aud": "mtls-agent", "sub": "dave", "exp": now + 300, "iat": now} | kw


@pytest.fixture(scope="module")
def bound_agent(mtls_pki, issuer_server):
    """Callers by certificate or by certificate-bound access token; client certificates optional
    in the handshake, whose CAs (callers' and the other) are wider than the policy's."""
    pki, (url, ks) = mtls_pki, issuer_server
    ks.json("/jwks", {"keys": [jwk_of(KEY, "k1")]})
    issuer = Issuer(ISS, "mtls-agent", url + "/jwks", openid=True)
    server = _agent(
        mtls=_callers(pki, bound_tokens=True),
        issuers=[issuer],
        key_sets=KeySetFetcher(loopback=True),
        require_auth=True,
    )
    wide = pki.bytes("ca.pem") + pem(pki.other)
    tls = server_context(pki.d / "server.pem", pki.d / "server.key", wide, client_certs="optional")
    with ServiceServer(server.app(), log_level="warning", tls=tls) as s:
        yield s.url


@pytest.mark.parametrize("binding", [JSONRPC, HTTP_JSON])
def test_certificate_bound_tokens_and_the_agents_own_check(mtls_pki, bound_agent, binding):
    pki, url = mtls_pki, bound_agent
    bound = sign_token(KEY, "ES256", "k1", _claims(cnf={"x5t#S256": thumbprint(pki.certs["alice"])}))

    def client(who: str | None, token: str | None = None) -> A2AClient:
        if who is None:
            return A2AClient(url, binding=binding, http=pki.anonymous(), token=token, timeout_s=10)
        return A2AClient(url, binding=binding, client_cert=pki.presents(who), token=token, timeout_s=10)

    assert client("alice").send(_free()).status.state == COMPLETED  # the certificate's caller
    task = client("alice", bound).send(_free())  # the token's caller, over its certificate
    assert task.status.state == COMPLETED
    with pytest.raises(E.A2ATaskNotFoundError):  # dave's task, not alice's
        client("alice").get_task(task.id)
    assert client("alice", bound).get_task(task.id).id == task.id
    refusals = [
        (None, None, "present a client certificate"),  # no certificate, no token
        ("mallory", None, "does not chain"),  # through the wide TLS layer, refused by the policy
        ("carol", None, "names no caller"),
        ("bob", bound, "another client certificate"),
        (None, bound, "none was presented"),
        ("alice", sign_token(KEY, "ES256", "k1", _claims()), "not bound"),  # bound_tokens
    ]
    for who, token, reason in refusals:
        with pytest.raises(E.A2AUnauthenticatedError, match=reason):
            client(who, token).send(_free())


def test_an_agent_without_mtls_refuses_a_bound_token(issuer_server):
    url, ks = issuer_server
    ks.json("/jwks", {"keys": [jwk_of(KEY, "k1")]})
    issuer = Issuer(ISS, "mtls-agent", url + "/jwks", openid=True)
    server = _agent(issuers=[issuer], key_sets=KeySetFetcher(loopback=True))
    bound = sign_token(KEY, "ES256", "k1", _claims(cnf={"x5t#S256": "A" * 43}))
    with ServiceServer(server.app(), log_level="warning") as s:
        with pytest.raises(E.A2AUnauthenticatedError, match="none was presented"):
            A2AClient(s.url, token=bound).send(_free())
        assert (
            A2AClient(s.url, token=sign_token(KEY, "ES256", "k1", _claims())).send(_free()).status.state
            == COMPLETED
        )
    with pytest.raises(ValueError, match="declared once"):
        _agent(
            mtls=MutualTLS(pem(make_cert("x", k := _key(), "x", k, ca=True)), {}, name="oidc"),
            issuers=[Issuer(ISS, "a", openid=True, name="oidc")],
        )


# ---------------------------------------------------------------- discovery


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_issuers_are_discovered_cached_and_rediscovered_when_their_keys_move(issuer_server):
    url, ks = issuer_server
    iss = url + "/tenant-a"
    new_key = _key()
    ks.json(
        "/tenant-a/.well-known/openid-configuration",
        {"issuer": iss, "jwks_uri": url + "/a/jwks"},
        cache_control="max-age=120",
    )
    ks.json("/a/jwks", {"keys": [jwk_of(KEY, "k1")]})
    ks.json("/a/jwks2", {"keys": [jwk_of(new_key, "k2")]})
    clock = Clock()
    fetcher = KeySetFetcher(loopback=True, clock=clock)
    issuer = Issuer(iss, "mtls-agent", openid=True)
    issuers = {iss: issuer}

    def check(key: Any, kid: str) -> str:
        return verify_token(sign_token(key, "ES256", kid, _claims(iss=iss)), issuers, fetcher, time.time())[
            1
        ]["sub"]

    assert check(KEY, "k1") == "dave" and fetcher.discovery.fetches == 1
    clock.t += 100  # within max-age: the document is kept
    assert check(KEY, "k1") == "dave" and fetcher.discovery.fetches == 1
    # the issuer moves its keys: a kid the set lacks rediscovers (once the refresh interval passed)
    ks.json(
        "/tenant-a/.well-known/openid-configuration",
        {"issuer": iss, "jwks_uri": url + "/a/jwks2"},
        cache_control="max-age=120",
    )
    assert check(new_key, "k2") == "dave" and fetcher.discovery.fetches == 2
    ghost = _key()
    with pytest.raises(E.A2ATokenKeyError, match="no key 'k3'"):
        check(ghost, "k3")
    assert fetcher.discovery.fetches == 2  # rate-limited: no second rediscovery within 30 s
    clock.t += 200  # past max-age: fetched again
    assert check(new_key, "k2") == "dave" and fetcher.discovery.fetches == 3
    # an OAuth 2.0 issuer: RFC 8414's document; an OpenID one without its own falls back to it
    ks.json(
        "/.well-known/oauth-authorization-server/tenant-b",
        {"issuer": url + "/tenant-b", "jwks_uri": url + "/a/jwks"},
    )
    d = KeySetFetcher(loopback=True).discovery
    assert d.jwks_uri(url + "/tenant-b", openid=False) == url + "/a/jwks" and d.fetches == 1
    assert d.jwks_uri(url + "/tenant-b", openid=True) == url + "/a/jwks" and d.fetches == 3
    assert discovery_urls("https://as.test/t/") == (
        "https://as.test/t/.well-known/openid-configuration",
        "https://as.test/.well-known/oauth-authorization-server/t",
    )
    oauth = Issuer("https://as.test/t", "a", token_url="https://as.test/token")
    assert (
        oauth.scheme()["oauth2SecurityScheme"]["oauth2MetadataUrl"]
        == discovery_urls("https://as.test/t", False)[0]
    )


def test_discovery_refusals_are_typed(issuer_server):
    url, ks = issuer_server
    docs: dict[str, Any] = {
        "mismatch": {"issuer": url + "/other", "jwks_uri": url + "/a/jwks"},
        "trailing": {"issuer": url + "/trailing/", "jwks_uri": url + "/a/jwks"},  # not exactly
        "nojwks": {"issuer": url + "/nojwks"},
        "emptyjwks": {"issuer": url + "/emptyjwks", "jwks_uri": ""},
        "plainjwks": {"issuer": url + "/plainjwks", "jwks_uri": "http://keys.example.com/jwks"},
        "privatejwks": {"issuer": url + "/privatejwks", "jwks_uri": "https://10.0.0.1/jwks"},
        "list": ["not", "an", "object"],
        "big": {"issuer": url + "/big", "jwks_uri": url + "/a/jwks", "pad": "x" * 70_000},
    }
    for name, doc in docs.items():
        ks.json(f"/{name}/.well-known/openid-configuration", doc)
    ks.answers["/badjson/.well-known/openid-configuration"] = (b"{not json", {}, 200)
    ks.json("/down/.well-known/openid-configuration", {}, status=500)
    d = KeySetFetcher(loopback=True).discovery
    refusals = {
        "mismatch": E.A2AIssuerMismatchError,
        "trailing": E.A2AIssuerMismatchError,
        "nojwks": E.A2AIssuerMetadataError,
        "emptyjwks": E.A2AIssuerMetadataError,
        "plainjwks": E.A2AKeySetAddressError,
        "privatejwks": E.A2AKeySetAddressError,
        "list": E.A2AIssuerMetadataError,
        "big": E.A2AKeySetSizeError,
        "badjson": E.A2AIssuerMetadataError,
        "down": E.A2AIssuerMetadataError,
        "nowhere": E.A2AIssuerMetadataError,  # neither document (both 404)
    }
    for name, err in refusals.items():
        with pytest.raises(err):
            d.jwks_uri(url + f"/{name}")
    fetched = d.fetches
    with pytest.raises(E.A2AIssuerMismatchError):  # a failure is remembered: nothing sent
        d.jwks_uri(url + "/mismatch")
    assert d.fetches == fetched
    # without loopback (production): https only, public addresses only, checked before any GET
    strict = IssuerDiscovery()
    for iss in (
        "http://issuer.example.com",
        url + "/mismatch",
        "https://127.0.0.1/x",
        "ftp://issuer.example.com",
    ):
        with pytest.raises(E.A2AKeySetAddressError):
            strict.jwks_uri(iss)
    assert strict.fetches == 0
    # a token of an issuer whose discovery fails is refused as a key error, naming why
    issuers = {url + "/mismatch": Issuer(url + "/mismatch", "mtls-agent", openid=True)}
    token = sign_token(KEY, "ES256", "k1", _claims(iss=url + "/mismatch"))
    with pytest.raises(E.A2ATokenKeyError, match="is for issuer"):
        verify_token(token, issuers, KeySetFetcher(loopback=True), time.time())
    with pytest.raises(ValueError, match="query or fragment"):
        Issuer("https://issuer.test/?x=1", "a", openid=True)


def test_cache_headers_set_how_long_a_document_is_kept():
    def ttl(**headers: str) -> float:
        return cache_ttl({k.replace("_", "-"): v for k, v in headers.items()}, 3600, 60, 86400, 1_000_000)

    assert ttl() == 3600
    assert ttl(cache_control="public, max-age=600") == 600
    assert ttl(cache_control="max-age=5") == 60 and ttl(cache_control="max-age=9999999") == 86400
    assert ttl(cache_control="no-store") == 60 and ttl(cache_control="no-cache, max-age=600") == 60
    assert ttl(expires="Thu, 01 Jan 1970 00:30:00 GMT", date="Thu, 01 Jan 1970 00:00:00 GMT") == 1800
    assert ttl(expires="0") == 60  # an invalid Expires: already expired
    assert ttl(cache_control="max-age=600", expires="Thu, 01 Jan 1970 00:30:00 GMT") == 600
