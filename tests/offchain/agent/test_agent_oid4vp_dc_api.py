"""OpenID4VP 1.0 beyond the plain transport (offchain/agent/oid4vp_http.py): Request Objects
encrypted to the wallet's key when it POSTs its metadata to the request_uri (a nested JWT: ECDH-ES,
A128GCM/A256GCM), and the Digital Credentials API form (Appendix A: unsigned, signed and
multi-signed requests, dc_api and dc_api.jwt responses bound to the page's origin), served by an
A2A agent's verifier routes as a JSON request/response pair; the test plays the browser and the
wallet with the DC API's data shapes. Every refusal typed. One uvicorn server for the module."""

from __future__ import annotations

import json

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from offchain.agent import ap2, oid4vp, sdjwt
from offchain.agent import errors as E
from offchain.agent import oid4vp_http as H
from offchain.agent.a2a import AgentSkill
from offchain.agent.a2a_server import A2AServer, Skill
from offchain.httpservice import ServiceServer
from tests.offchain.agent.test_agent_ap2 import DEVICE, ISSUERS, NOW, checkout_jwt, credential
from tests.offchain.agent.test_agent_ap2_oid4vp import CARD, closed_pair
from tests.offchain.agent.test_agent_oid4vp_http import (
    LEAF,
    MERCHANT,
    ROOT,
    STRANGER,
    Clock,
    leaf,
    query,
    sign,
    verifier,
    wallet,
)

BODIES: dict[str, bytes] = {}  # what the test server answers at /raw/{name}, GET or POST
SHOP, WWW = "https://shop.example", "https://www.shop.example"
CO_LEAF = leaf(STRANGER, "localhost")  # a second certificate: the multi-signed request's other signer


@pytest.fixture(scope="module")
def dc_world():
    clock = Clock()
    vs = {
        "enc": verifier("/enc", clock, prefix=H.X509_HASH, chain=(LEAF,)),
        "shop": verifier("/shop", clock, origins=(SHOP, WWW)),
        "plain": verifier("/plainvp", clock, prefix=H.REDIRECT_URI, key=None, chain=()),
    }

    async def raw(request: Request) -> Response:
        return Response(BODIES.get(request.path_params["name"], b""), media_type=H.MEDIA_TYPE)

    skills = [Skill(AgentSkill("free", "free", "free"), _free)]
    # the DC API verifier is the agent's own: its routes beside the A2A ones
    vs["agent"] = verifier("/checkout", clock, co_signers=[(STRANGER, (CO_LEAF, ROOT), H.X509_HASH)])
    agent = A2AServer("shop", "a shop", skills, None, store=":memory:", oid4vp=vs["agent"])  # type: ignore[arg-type]
    routes = [Route("/raw/{name}", raw, methods=["GET", "POST"]), *agent.app().routes]
    for name in ("enc", "shop", "plain"):
        routes += vs[name].app().routes
    with ServiceServer(Starlette(routes=routes), log_level="warning") as s:
        base = f"http://localhost:{s.port}"
        for v in vs.values():
            v.base_url = base
        yield vs, clock, base


async def _free(msg, pay):
    return {"ok": True}


def sid_of(ar):
    return ar.params["request_uri"].rsplit("/", 1)[1]


def enc_jwk(key, kid="w1", **kw):
    return sdjwt.jwk(key) | {"use": "enc", "alg": "ECDH-ES", "kid": kid} | kw


def header_of(jwe):
    return json.loads(sdjwt.unb64url(jwe.split(".")[0], "h"))


# ---------------------------------------------------------------- encrypted Request Objects


def test_a_wallet_posting_its_key_gets_the_request_object_encrypted_to_it(dc_world):
    vs, clock, _ = dc_world
    v = vs["enc"]
    ar = v.authorization_request(
        [query()], [CARD], response_mode=H.DIRECT_POST_JWT, request_uri_method="post"
    )
    assert wallet(clock, encrypt_requests=True).present(ar.params) == {}
    assert v.result(ar.state)["user"].kb["transaction_data_hashes"] == [oid4vp.data_hash(CARD)]
    # what the verifier answers: a nested JWT (signed, then encrypted) to the key in the metadata
    ar = v.authorization_request([query()], request_uri_method="post")
    mine = sdjwt.new_key()
    meta = {"jwks": {"keys": [enc_jwk(mine)]}, "request_object_encryption_enc_values_supported": ["A256GCM"]}
    token = v.request_object(sid_of(ar), meta, "n-1")
    assert token.count(".") == 4
    assert {k: v for k, v in header_of(token).items() if k != "epk"} == {
        "alg": "ECDH-ES",
        "enc": "A256GCM",
        "cty": "JWT",
        "kid": "w1",
    }
    inner = wallet(clock)._unseal(token, mine, "w1")
    assert sdjwt.jwt_payload(inner, "ro")["wallet_nonce"] == "n-1"
    assert sdjwt.jwt_header(inner, "ro")["typ"] == H.TYP
    # no enc values named: A128GCM, the JWE default; a key with neither use nor alg is for encryption
    bare = {f: enc_jwk(mine)[f] for f in ("kty", "crv", "x", "y")}
    assert header_of(v.request_object(sid_of(ar), {"jwks": {"keys": [bare]}}))["enc"] == "A128GCM"
    # a key of another curve is passed over for the P-256 one after it
    p384 = sdjwt.b64url(b"\1" * 48)
    other = {"kty": "EC", "crv": "P-384", "x": p384, "y": p384, "kid": "big"}
    assert header_of(v.request_object(sid_of(ar), {"jwks": {"keys": [other, enc_jwk(mine)]}}))["kid"] == "w1"


def test_the_response_encryption_is_negotiated_with_the_wallets_metadata(dc_world):
    vs, clock, _ = dc_world
    v = vs["enc"]
    ar = v.authorization_request([query()], response_mode=H.DIRECT_POST_JWT, request_uri_method="post")
    meta = {"authorization_encryption_enc_values_supported": ["A128CBC-HS256", "A256GCM"]}
    claims = sdjwt.jwt_payload(v.request_object(sid_of(ar), meta), "ro")
    assert claims["client_metadata"]["encrypted_response_enc_values_supported"] == ["A256GCM"]
    w = wallet(clock, response_encs=("A256GCM",))
    assert w.metadata()["authorization_encryption_enc_values_supported"] == ["A256GCM"]
    assert w.present(ar.params) == {}


@pytest.mark.parametrize(
    ("meta", "match"),
    [
        ({"jwks": "keys"}, "JWK Set"),
        ({"jwks": {"keys": []}}, "JWK Set"),
        ({"jwks": {"keys": [1]}}, "JWK Set"),
        ({"jwks": {"keys": [{"kty": "OKP", "crv": "X25519", "x": "AA", "kid": "x"}]}}, "no P-256 ECDH-ES"),
        ({"jwks": {"keys": ["P-384"]}}, "no P-256 ECDH-ES"),
        ({"jwks": {"keys": ["sig"]}}, "no P-256 ECDH-ES"),
        ({"jwks": {"keys": ["RSA-OAEP"]}}, "no P-256 ECDH-ES"),
        ({"jwks": {"keys": ["off-curve"]}}, "malformed"),
        ({"jwks": {"keys": ["private"]}}, "private key"),
        (
            {"jwks": {"keys": ["ok"]}, "request_object_encryption_alg_values_supported": ["RSA-OAEP-256"]},
            "ECDH-ES",
        ),
        (
            {"jwks": {"keys": ["ok"]}, "request_object_encryption_enc_values_supported": ["A128CBC-HS256"]},
            "none of",
        ),
        (
            {"jwks": {"keys": ["ok"]}, "request_object_encryption_enc_values_supported": "A128GCM"},
            "list of strings",
        ),
        ({"request_object_signing_alg_values_supported": ["RS256"]}, "signed ES256"),
        ({"authorization_encryption_alg_values_supported": ["RSA-OAEP"]}, "response encryption algorithms"),
        ({"authorization_encryption_enc_values_supported": ["A128CBC-HS256"]}, "response encryption methods"),
    ],
)
def test_wallet_metadata_the_verifier_cannot_satisfy_is_refused(dc_world, meta, match):
    vs, clock, base = dc_world
    v = vs["enc"]
    mine = sdjwt.new_key()
    keys = {
        "ok": enc_jwk(mine),
        "P-384": enc_jwk(mine) | {"crv": "P-384"},
        "sig": enc_jwk(mine, use="sig"),
        "RSA-OAEP": enc_jwk(mine, alg="RSA-OAEP"),
        "off-curve": enc_jwk(mine, y=sdjwt.b64url(b"\1" * 32)),
        "private": enc_jwk(mine, d="AA"),
    }
    if (
        isinstance(meta.get("jwks"), dict)
        and meta["jwks"]["keys"]
        and isinstance(meta["jwks"]["keys"][0], str)
    ):
        meta = meta | {"jwks": {"keys": [keys[k] for k in meta["jwks"]["keys"]]}}
    ar = v.authorization_request([query()], response_mode=H.DIRECT_POST_JWT, request_uri_method="post")
    with pytest.raises(E.WalletMetadataError, match=match):
        v.request_object(sid_of(ar), meta)
    # over HTTP: 400 invalid_request (the wallet ends the flow)
    got = httpx.post(ar.params["request_uri"], data={"wallet_metadata": json.dumps(meta)})
    assert got.status_code == 400 and got.json()["error"] == "invalid_request"


def test_response_encryption_metadata_is_not_asked_of_a_plain_direct_post(dc_world):
    vs, _, _ = dc_world
    ar = vs["enc"].authorization_request([query()], request_uri_method="post")
    assert vs["enc"].request_object(
        sid_of(ar), {"authorization_encryption_alg_values_supported": ["RSA-OAEP"]}
    )


def test_a_wallet_nonce_out_of_form_is_refused(dc_world):
    vs, _, _ = dc_world
    v = vs["enc"]
    ar = v.authorization_request([query()], request_uri_method="post")
    for bad in ("", "x" * 257, "a b", "n\u00e9"):
        with pytest.raises(E.WalletMetadataError, match="wallet_nonce"):
            v.request_object(sid_of(ar), None, bad)
    got = httpx.post(ar.params["request_uri"], data={"wallet_nonce": ""})
    assert got.status_code == 400 and "wallet_nonce" in got.json()["error_description"]
    assert httpx.post(ar.params["request_uri"], data={"wallet_nonce": "n-2"}).status_code == 200


def test_the_wallet_refuses_a_request_object_not_encrypted_as_it_asked(dc_world):
    vs, clock, base = dc_world
    v = vs["enc"]
    ar = v.authorization_request([query()], request_uri_method="post")
    signed = v.request_object(sid_of(ar))
    # a plain Request Object where the wallet sent its key (a verifier ignoring jwks)
    BODIES["plain"] = signed.encode()
    params = {"client_id": v.client_id, "request_uri": f"{base}/raw/plain", "request_uri_method": "post"}
    with pytest.raises(E.RequestObjectEncryptionError, match="a plain one is refused"):
        wallet(clock, encrypt_requests=True).resolve(params)
    # one encrypted to another key than the fresh one the wallet sent
    someone = sdjwt.new_key()
    BODIES["other"] = H.encrypt_request_object(signed, someone.public_key(), None, "A128GCM").encode()
    with pytest.raises(E.RequestObjectEncryptionError, match="does not decrypt"):
        wallet(clock, encrypt_requests=True).resolve(params | {"request_uri": f"{base}/raw/other"})
    BODIES["kid"] = H.encrypt_request_object(signed, someone.public_key(), "not-yours", "A128GCM").encode()
    with pytest.raises(E.RequestObjectEncryptionError, match="another key"):
        wallet(clock, encrypt_requests=True).resolve(params | {"request_uri": f"{base}/raw/kid"})
    # an encrypted one the wallet gave no key for (GET, or by value)
    with pytest.raises(E.RequestObjectEncryptionError, match="gave no key"):
        wallet(clock).resolve({"client_id": v.client_id, "request_uri": f"{base}/raw/other"})
    with pytest.raises(E.RequestObjectEncryptionError, match="gave no key"):
        wallet(clock).resolve({"client_id": v.client_id, "request": BODIES["other"].decode()})
    # a JWE whose content type names no nested JWT, or of another algorithm
    w, mine = wallet(clock), sdjwt.new_key()
    no_cty = H._seal(signed.encode(), mine.public_key(), "A128GCM", {"kid": "k"})
    with pytest.raises(E.RequestObjectEncryptionError, match="cty"):
        w._unseal(no_cty, mine, "k")
    wrong_alg = ".".join(
        [sdjwt.b64url(json.dumps({"alg": "RSA-OAEP", "enc": "A128GCM"}).encode()), "", "a", "b", "c"]
    )
    with pytest.raises(E.RequestObjectEncryptionError, match="ECDH-ES"):
        w._unseal(wrong_alg, mine, "k")


def test_a_replayed_encrypted_request_object_is_refused_by_its_wallet_nonce(dc_world):
    vs, clock, _ = dc_world
    v = vs["enc"]
    ar = v.authorization_request([query()], request_uri_method="post")
    w, mine = wallet(clock), sdjwt.new_key()
    old = v.request_object(sid_of(ar), {"jwks": {"keys": [enc_jwk(mine)]}}, "earlier-nonce")
    inner = w._unseal(old, mine, "w1")
    with pytest.raises(E.WalletNonceError, match="wallet_nonce"):
        w._verify_jar(inner, clock(), "this-fetchs-nonce", v.client_id)


# ---------------------------------------------------------------- the Digital Credentials API


def dc_post(v, dc, answer, origin, **kw):
    headers = {} if origin is None else {"Origin": origin}
    return httpx.post(
        f"{v.base_url}{v.path}/dc_api/response/{dc.id}",
        json={"protocol": dc.protocol, "data": answer},
        headers=headers,
        **kw,
    )


def test_an_unsigned_dc_api_request_through_the_agents_routes(dc_world):
    vs, clock, base = dc_world
    v = vs["agent"]
    dc = v.dc_api_request([query()], protocol=H.UNSIGNED)
    # the page fetches what it hands navigator.credentials.get({digital})
    digital = httpx.get(f"{base}/checkout/dc_api/request/{dc.id}").json()["digital"]
    (req,) = digital["requests"]
    assert req["protocol"] == "openid4vp-v1-unsigned"
    assert "client_id" not in req["data"] and "expected_origins" not in req["data"]
    assert req["data"]["response_mode"] == "dc_api" and "state" not in req["data"]
    answer = wallet(clock).dc_api(req, base)  # the platform hands the wallet the page's origin
    got = dc_post(v, dc, answer, base)
    assert got.status_code == 200 and got.json() == {}
    presented = v.result(dc.state)["user"]
    assert presented.kb["aud"] == f"origin:{base}" and presented.claims["name"] == "Ada"
    # replayed: the session is answered
    again = dc_post(v, dc, answer, base)
    assert again.status_code == 400 and "already answered" in again.json()["error_description"]
    assert httpx.get(f"{base}/checkout/dc_api/request/{dc.id}").status_code == 404


def test_a_signed_dc_api_request_with_an_encrypted_response_and_transaction_data(dc_world):
    vs, clock, base = dc_world
    v = vs["agent"]
    dc = v.dc_api_request([query()], [CARD], response_mode=H.DC_API_JWT)
    assert dc.protocol == "openid4vp-v1-signed" and set(dc.data) == {"request"}
    header, claims = sdjwt.jwt_header(dc.data["request"], "r"), sdjwt.jwt_payload(dc.data["request"], "r")
    assert header["typ"] == H.TYP and header["x5c"]
    assert claims["client_id"] == v.client_id and claims["expected_origins"] == [base]
    assert claims["response_mode"] == "dc_api.jwt" and claims["client_metadata"]["jwks"]["keys"][0]["kid"]
    answer = wallet(clock, require_signed=True).dc_api(dc.digital["requests"][0], base)
    assert set(answer) == {"response"} and answer["response"].count(".") == 4
    assert dc_post(v, dc, answer, base).json() == {}
    presented = v.result(dc.state)["user"]
    assert presented.kb["aud"] == f"origin:{base}"
    assert presented.kb["transaction_data_hashes"] == [oid4vp.data_hash(CARD)]


def test_ap2_mandates_delegated_over_the_dc_api_pass_the_merchants_checks_for_its_origin(dc_world):
    vs, clock, base = dc_world
    v = vs["agent"]
    cj = checkout_jwt()
    dc = v.dc_api_request([query()], [CARD, oid4vp.delegate_data(closed_pair(cj), ["user"])])
    answer = wallet(clock).dc_api(dc.digital["requests"][0], base)
    assert dc_post(v, dc, answer, base).json() == {}
    got = v.result(dc.state)["user"]
    co_text, _ = oid4vp.split(got.text)
    # the audience is the origin: the merchant checks the mandates for it, not its client_id
    co = ap2.check_checkout(
        co_text, ISSUERS, merchant=f"origin:{base}", nonce=got.kb["nonce"], checkout_jwt=cj, now=NOW
    )
    assert co.chain.links[-1].payload["aud"] == f"origin:{base}"
    with pytest.raises(E.MandateError):
        ap2.check_checkout(
            co_text, ISSUERS, merchant=v.client_id, nonce=got.kb["nonce"], checkout_jwt=cj, now=NOW
        )


def test_a_multi_signed_dc_api_request_verifies_by_the_signature_the_wallet_takes(dc_world):
    vs, clock, base = dc_world
    v = vs["agent"]
    dc = v.dc_api_request([query()], protocol=H.MULTISIGNED)
    jws = dc.data["request"]
    assert "client_id" not in json.loads(sdjwt.unb64url(jws["payload"], "p"))
    ids = [json.loads(sdjwt.unb64url(s["protected"], "h"))["client_id"] for s in jws["signatures"]]
    assert ids[0] == v.client_id and ids[1].startswith("x509_hash:")
    # a wallet taking only x509_hash verifies the second signature
    w = wallet(clock, prefixes=(H.X509_HASH,))
    r = w.resolve_dc_api(dc.digital["requests"][0], base)
    assert r.claims["client_id"] == ids[1] and r.certificate == CO_LEAF
    assert dc_post(v, dc, w.dc_api(dc.digital["requests"][0], base), base).json() == {}
    # the JWS JSON object may be the data itself (Appendix A's example)
    assert w.resolve_dc_api({"protocol": H.MULTISIGNED, "data": jws}, base).claims["client_id"] == ids[1]
    # none it can verify
    with pytest.raises(E.DcApiProtocolError, match="no signature"):
        wallet(clock, prefixes=(H.REDIRECT_URI,)).resolve_dc_api(dc.digital["requests"][0], base)
    forged = {
        "payload": jws["payload"],
        "signatures": [jws["signatures"][0] | {"signature": jws["signatures"][1]["signature"]}],
    }
    with pytest.raises(E.DcApiProtocolError, match="does not verify"):
        wallet(clock).resolve_dc_api({"protocol": H.MULTISIGNED, "data": {"request": forged}}, base)


def test_the_wallet_refuses_a_dc_api_request_for_another_origin_or_of_the_wrong_form(dc_world):
    vs, clock, base = dc_world
    v = vs["agent"]
    signed = v.dc_api_request([query()]).digital["requests"][0]
    unsigned = v.dc_api_request([query()], protocol=H.UNSIGNED).digital["requests"][0]
    w = wallet(clock)
    with pytest.raises(E.OriginError, match="not one of its expected_origins") as exc:
        w.dc_api(signed, "https://evil.example")
    assert H.dc_api_error(exc.value) == {"error": "invalid_request"}
    with pytest.raises(E.OriginError, match="expected_origins"):  # a signed request that names none
        claims = sdjwt.jwt_payload(signed["data"]["request"], "r")
        token = sign({k: x for k, x in claims.items() if k != "expected_origins"}, chain=(LEAF, ROOT))
        w.dc_api({"protocol": H.SIGNED, "data": {"request": token}}, base)
    with pytest.raises(E.DcApiProtocolError, match="signed ones only"):
        wallet(clock, require_signed=True).dc_api(unsigned, base)
    for bad, match in [
        ({"protocol": "openid4vp", "data": unsigned["data"]}, "not one of"),
        ({"protocol": H.SIGNED, "data": unsigned["data"]}, "compact JWS"),
        ({"protocol": H.UNSIGNED, "data": signed["data"]}, "not a request object"),
        ({"protocol": H.MULTISIGNED, "data": signed["data"]}, "JWS JSON"),
        ({"protocol": H.SIGNED, "data": signed["data"] | {"nonce": "x"}}, "alone"),
        ({"protocol": H.UNSIGNED, "data": "{}"}, "data is an object"),
    ]:
        with pytest.raises(E.DcApiProtocolError, match=match):
            w.dc_api(bad, base)
    # an unsigned request's client_id and expected_origins are ignored: the origin binds
    spoofed = unsigned["data"] | {
        "client_id": "x509_san_dns:bank.example",
        "expected_origins": ["https://bank.example"],
    }
    assert (
        w.resolve_dc_api({"protocol": H.UNSIGNED, "data": spoofed}, base).request.client_id
        == f"origin:{base}"
    )
    with pytest.raises(E.ResponseModeError, match="dc_api"):
        w.dc_api({"protocol": H.UNSIGNED, "data": unsigned["data"] | {"response_mode": "direct_post"}}, base)
    # a signed request naming the reserved origin: prefix, or an unsignable one, or tampered
    claims = sdjwt.jwt_payload(signed["data"]["request"], "r")
    for client_id, error, match in [
        (f"origin:{base}", E.OriginError, "reserved"),
        ("redirect_uri:https://x.example", E.ClientIdError, "redirect_uri"),
        ("x509_san_dns:bank.example", E.ClientIdError, "does not name"),
    ]:
        with pytest.raises(error, match=match):
            w.dc_api(
                {"protocol": H.SIGNED, "data": {"request": sign(claims | {"client_id": client_id})}}, base
            )
    head, _, sig = signed["data"]["request"].split(".")
    tampered = f"{head}.{sdjwt.b64url(json.dumps(claims | {'expected_origins': ['https://evil.example']}).encode())}.{sig}"
    with pytest.raises(E.RequestObjectSignatureError, match="does not verify"):
        w.dc_api({"protocol": H.SIGNED, "data": {"request": tampered}}, "https://evil.example")
    passport = v.dc_api_request([query(claims=("passport_number",))], protocol=H.UNSIGNED)
    with pytest.raises(E.DcqlUnmatchedError) as exc:
        w.dc_api(passport.digital["requests"][0], base)
    assert H.dc_api_error(exc.value) == {"error": "access_denied"}


def test_the_verifier_refuses_a_dc_api_response_of_another_origin_replayed_or_of_the_wrong_form(dc_world):
    vs, clock, base = dc_world
    v = vs["shop"]
    assert v.expected_origins() == (SHOP, WWW)
    dc = v.dc_api_request([query()], protocol=H.UNSIGNED)
    req = dc.digital["requests"][0]
    answer = wallet(clock).dc_api(req, SHOP)
    response = {"protocol": dc.protocol, "data": answer}
    with pytest.raises(E.OriginError, match="not one this verifier serves"):
        v.dc_api_response(dc.id, "https://evil.example", response)
    with pytest.raises(E.OriginError, match="not one this verifier serves"):
        v.dc_api_response(dc.id, None, response)
    with pytest.raises(E.OriginError, match="bound to 'origin:https://shop.example'"):
        v.dc_api_response(dc.id, WWW, response)  # answered for one origin, posted from another
    with pytest.raises(E.DcApiProtocolError, match="protocol"):
        v.dc_api_response(dc.id, SHOP, response | {"protocol": H.SIGNED})
    with pytest.raises(E.AuthorizationResponseError, match="access_denied"):
        v.dc_api_response(dc.id, SHOP, {"protocol": dc.protocol, "data": {"error": "access_denied"}})
    with pytest.raises(E.ResponseModeError, match="encrypted response"):
        v.dc_api_response(dc.id, SHOP, {"protocol": dc.protocol, "data": {"response": "a.b.c.d.e"}})
    with pytest.raises(E.AuthorizationResponseError, match="no vp_token"):
        v.dc_api_response(dc.id, SHOP, {"protocol": dc.protocol, "data": {"vp_token": "[]"}})
    # another session's presentation: its nonce
    other = v.dc_api_request([query()], protocol=H.UNSIGNED)
    with pytest.raises(E.SdJwtBindingError, match="nonce"):
        v.dc_api_response(other.id, SHOP, {"protocol": other.protocol, "data": answer})
    # a presentation made for the redirect flow (its audience the client_id) is not one for an origin
    ar = v.authorization_request([query()])
    r = wallet(clock).resolve(ar.url)
    for_client = oid4vp.respond(r.request, {"user": (credential(), DEVICE)}, iat=NOW)
    with pytest.raises(E.OriginError, match="bound to 'x509_san_dns:localhost'"):
        v.dc_api_response(dc.id, SHOP, {"protocol": dc.protocol, "data": {"vp_token": for_client}})
    assert v.dc_api_response(dc.id, SHOP, response) == {}
    with pytest.raises(E.ResponseStateError, match="already answered"):
        v.dc_api_response(dc.id, SHOP, response)
    # dc_api.jwt: a plain answer, or one encrypted to another key
    jwt_dc = v.dc_api_request([query()], response_mode=H.DC_API_JWT)
    with pytest.raises(E.ResponseModeError, match="plain response"):
        v.dc_api_response(jwt_dc.id, SHOP, {"protocol": jwt_dc.protocol, "data": answer})
    stray = H.encrypt({"vp_token": {}}, sdjwt.new_key().public_key(), "k", "A128GCM")
    with pytest.raises(E.AuthorizationResponseError, match="another key"):
        v.dc_api_response(jwt_dc.id, SHOP, {"protocol": jwt_dc.protocol, "data": {"response": stray}})
    # a session made for the redirect flow is not answered here, nor a DC one there
    ar = v.authorization_request([query()])
    with pytest.raises(E.ResponseModeError, match="Digital Credentials API"):
        v.dc_api_response(sid_of(ar), SHOP, response)
    with pytest.raises(E.AuthorizationRequestError, match="not passed by reference"):
        v.request_object(jwt_dc.id)


def test_the_dc_api_routes_refuse_over_http(dc_world):
    vs, clock, base = dc_world
    v = vs["shop"]
    dc = v.dc_api_request([query()], protocol=H.UNSIGNED)
    answer = wallet(clock).dc_api(dc.digital["requests"][0], SHOP)
    assert dc_post(v, dc, answer, None).status_code == 400  # a browser always names the Origin
    bad = dc_post(v, dc, answer, "https://evil.example")
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_request"
    url = f"{base}/shop/dc_api/response/{dc.id}"
    assert httpx.post(url, data={"x": "y"}, headers={"Origin": SHOP}).status_code == 415
    assert (
        httpx.post(
            url, content=b"{", headers={"Origin": SHOP, "Content-Type": "application/json"}
        ).status_code
        == 400
    )
    assert httpx.get(f"{base}/shop/dc_api/request/unknown").status_code == 404
    assert dc_post(v, dc, answer, SHOP).json() == {}


def test_dc_api_configuration_is_checked():
    clock = Clock()
    for origin in (
        "ftp://shop.example",
        "http://shop.example",
        "https://shop.example/pay",
        "HTTPS://Shop.example",
        "https://shop.example:443",
    ):
        with pytest.raises(ValueError, match="origin"):
            verifier("/x", clock, origins=(origin,))
    assert H.web_origin("http://127.0.0.1:8080/a/b") == "http://127.0.0.1:8080"
    assert H.web_origin("https://Shop.example:443/") == "https://shop.example"
    assert H.web_origin("http://[::1]:80") == "http://[::1]"
    plain = verifier("/x", clock, prefix=H.REDIRECT_URI, key=None, chain=(), base_url=SHOP)
    with pytest.raises(E.DcApiProtocolError, match="unsigned requests only"):
        plain.dc_api_request([query()])
    assert plain.dc_api_request([query()], protocol=H.UNSIGNED).data["nonce"]
    with pytest.raises(E.ResponseModeError, match="DC API response mode"):
        plain.dc_api_request([query()], response_mode=H.DIRECT_POST, protocol=H.UNSIGNED)
    with pytest.raises(ValueError, match="co-signer"):
        verifier("/x", clock, co_signers=[(STRANGER, (CO_LEAF,), H.REDIRECT_URI)])
    with pytest.raises(ValueError, match="leaf certificate"):
        verifier("/x", clock, co_signers=[(MERCHANT, (CO_LEAF,), H.X509_HASH)])
