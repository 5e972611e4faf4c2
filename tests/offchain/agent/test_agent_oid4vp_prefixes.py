"""OpenID4VP 1.0 client identifier prefixes beyond X.509 (offchain/agent/oid4vp_http.py, did.py):
``decentralized_identifier:`` (a did:jwk or did:key resolved offline, the request's kid a DID URL
of it) and ``verifier_attestation:`` (the request signed by the cnf key of a Verifier Attestation
JWT from an attester the wallet trusts, carried in its jwt header), and ``verifier_info``
attached by the verifier, checked for shape and handed to the holder. Each end to end (the
wallet's answer verified by the verifier), over the DC API too; every refusal typed. One uvicorn
server for the module; the refusals are requests by value (no fetch)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from starlette.applications import Starlette

from offchain.agent import did as dids
from offchain.agent import errors as E
from offchain.agent import oid4vp, sdjwt
from offchain.agent import oid4vp_http as H
from offchain.compute import testca
from offchain.httpservice import ServiceServer
from tests.offchain.agent.test_agent_ap2 import NOW, OTHER
from tests.offchain.agent.test_agent_ap2_oid4vp import CARD
from tests.offchain.agent.test_agent_oid4vp_dc_api import CO_LEAF
from tests.offchain.agent.test_agent_oid4vp_http import (
    LEAF,
    MERCHANT,
    ROOT,
    STRANGER,
    Clock,
    query,
    verifier,
    wallet,
)

ATTESTER, ATTESTER2 = sdjwt.new_key(), sdjwt.new_key()
ISS = "https://attester.example"
SUB = "shop.example"
DID_JWK, DID_KEY = dids.did_jwk(MERCHANT), dids.did_key(MERCHANT)
INFO = [
    {"format": "jwt", "data": "eyJhbGciOiJFUzI1NiJ9.e30.sig", "credential_ids": ["user"]},
    {"format": "urn:example:registration", "data": {"registered": True, "level": 3}},
]


def attestation(sub=SUB, key=MERCHANT, attester=ATTESTER, iss=ISS, iat=NOW - 60, exp=NOW + 3600, **kw):
    return H.verifier_attestation(attester, iss, sub, key, iat=iat, exp=exp, **kw)


def va_wallet(clock, **kw):
    kw.setdefault("attesters", {ISS: ATTESTER.public_key()})
    return wallet(clock, **kw)


@pytest.fixture(scope="module")
def prefix_world():
    clock = Clock()
    vs = {
        "jwk": verifier("/didjwk", clock, prefix=H.DECENTRALIZED_IDENTIFIER, chain=()),
        "key": verifier("/didkey", clock, prefix=H.DECENTRALIZED_IDENTIFIER, chain=(), did=DID_KEY),
        "att": verifier("/att", clock, prefix=H.VERIFIER_ATTESTATION, chain=(), attestation=attestation()),
        "info": verifier("/info", clock, prefix=H.X509_HASH, chain=(LEAF,), verifier_info=INFO),
        "multi": verifier(
            "/multi",
            clock,
            prefix=H.DECENTRALIZED_IDENTIFIER,
            chain=(),
            co_signers=[(STRANGER, (CO_LEAF, ROOT), H.X509_HASH)],
        ),
    }
    routes = [r for v in vs.values() for r in v.app().routes]
    with ServiceServer(Starlette(routes=routes), log_level="warning") as s:
        base = f"http://localhost:{s.port}"
        for v in vs.values():
            v.base_url = base
        yield vs, clock, base


def claims_of(v, ar):
    return sdjwt.jwt_payload(v.request_object(ar.params["request_uri"].rsplit("/", 1)[1]), "ro")


def by_value(w, client_id, token):
    return w.resolve({"client_id": client_id, "request": token})


def signed(claims, key=MERCHANT, **header):
    return sdjwt.sign_jwt(key, {"typ": H.TYP} | header, claims)


# ---------------------------------------------------------------- did.py


def test_did_jwk_and_did_key_resolve_offline_to_the_key():
    k1 = ec.generate_private_key(ec.SECP256K1())
    ed = ed25519.Ed25519PrivateKey.generate()
    # the multicodec prefixes show in the multibase: P-256 zDn, secp256k1 zQ3s, Ed25519 z6Mk
    for key, start in ((MERCHANT, "did:key:zDn"), (k1, "did:key:zQ3s"), (ed, "did:key:z6Mk")):
        for d in (dids.did_key(key), dids.did_jwk(key)):
            (vm, got), *rest = dids.resolve(d).items()
            assert not rest and got == key.public_key() and vm.startswith(d + "#")
            assert dids.signing_key(d, vm) == key.public_key()
        assert dids.did_key(key).startswith(start)
    assert dids.resolve(DID_JWK) == {DID_JWK + "#0": MERCHANT.public_key()}
    # the did:key test vector of the Ed25519 key of the all-zero seed
    zero = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(32))
    assert dids.did_key(zero) == "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp"
    jwk = json.loads(sdjwt.unb64url(DID_JWK.split(":", 2)[2], "jwk"))
    assert jwk == sdjwt.jwk(MERCHANT)
    # the uncompressed point form of a P-256 did:key resolves as well
    raw = bytes([0x80, 0x24]) + b"\x04" + b"".join(sdjwt.unb64url(jwk[c], c) for c in ("x", "y"))
    assert dids.resolve("did:key:z" + dids._b58encode(raw))
    with pytest.raises(ValueError, match="secp384r1"):
        dids.did_key(ec.generate_private_key(ec.SECP384R1()))


UNRESOLVABLE = [
    ("did:web:shop.example", "online"),
    ("did:ion:abc", "online"),
    ("shop.example", "not a DID"),
    ("did:jwk", "not a DID"),
    (DID_JWK + "#0", "no path, query, fragment"),
    (DID_KEY + ":x", "no path, query, fragment"),
    ("did:web:shop.example/path#k", "online"),
    ("did:jwk:abc", "base64url of a JSON JWK"),
    ("did:jwk:" + sdjwt.b64url(b"[1]"), "public JWK"),
    ("did:jwk:" + sdjwt.b64url(json.dumps(sdjwt.jwk(MERCHANT) | {"d": "AA"}).encode()), "no d"),
    ("did:jwk:" + sdjwt.b64url(json.dumps({"kty": "RSA", "n": "AQAB", "e": "AQAB"}).encode()), "RSA"),
    ("did:jwk:" + sdjwt.b64url(json.dumps(sdjwt.jwk(MERCHANT) | {"x": "AA"}).encode()), "32 bytes"),
    ("did:key:" + DID_KEY[9:], "multibase base58btc"),
    ("did:key:z0OIl", "base58btc"),
    ("did:key:z" + dids._b58encode(bytes([0xEC, 0x01]) + b"\1" * 32), "multicodec 0xec"),
    ("did:key:z" + dids._b58encode(bytes([0x80, 0x24, 0x02]) + b"\xff" * 32), "not on its curve"),
    ("did:key:z" + dids._b58encode(b"\xff\xff\xff\xff"), "no varint"),
]


# ids by position: the DIDs of the module's keys differ between processes, and pytest-xdist's workers must
# collect the same test names
@pytest.mark.parametrize(("did", "match"), UNRESOLVABLE, ids=[f"case{i}" for i in range(len(UNRESOLVABLE))])
def test_a_did_that_does_not_resolve_offline_is_refused(did, match):
    with pytest.raises(E.DidResolutionError, match=match):
        dids.resolve(did)


def test_a_kid_naming_no_method_of_the_did_is_refused():
    for kid, match in (
        (None, "DID URL"),
        ("0", "DID URL"),
        (DID_KEY + "#0", "not a DID URL of"),
        (DID_JWK + "#1", "no verification method"),
    ):
        with pytest.raises(E.DidKeyError, match=match):
            dids.signing_key(DID_JWK, kid)
    enc = "did:jwk:" + sdjwt.b64url(json.dumps(sdjwt.jwk(MERCHANT) | {"use": "enc"}).encode())
    with pytest.raises(E.DidKeyError, match="no verification method"):
        dids.signing_key(enc, enc + "#0")


# ---------------------------------------------------------------- decentralized_identifier:


def test_a_did_jwk_verifier_is_answered_end_to_end(prefix_world):
    vs, clock, _ = prefix_world
    v = vs["jwk"]
    ar = v.authorization_request([query()], [CARD])
    assert v.client_id == f"decentralized_identifier:{DID_JWK}" and ar.params["client_id"] == v.client_id
    w = wallet(clock)
    r = w.resolve(ar.url)
    assert r.did_url == DID_JWK + "#0" and r.certificate is None
    assert w.present(ar.url) == {}
    got = v.result(ar.state)["user"]
    assert got.kb["aud"] == v.client_id and got.kb["transaction_data_hashes"] == [oid4vp.data_hash(CARD)]


def test_a_did_key_verifier_with_post_and_an_encrypted_response(prefix_world):
    vs, clock, _ = prefix_world
    v = vs["key"]
    assert v.kid == f"{DID_KEY}#{DID_KEY[8:]}"
    ar = v.authorization_request([query()], response_mode=H.DIRECT_POST_JWT, request_uri_method="post")
    w = wallet(clock, issuer="https://wallet.example", encrypt_requests=True)
    r = w.resolve(ar.params)
    assert r.did_url == v.kid and r.claims["aud"] == "https://wallet.example"
    assert w.present(ar.params) == {}
    assert v.result(ar.state)["user"].claims["name"] == "Ada"


def test_a_did_verifier_over_the_dc_api_signed_and_multi_signed(prefix_world):
    vs, clock, base = prefix_world
    v = vs["multi"]
    dc = v.dc_api_request([query()])
    r = wallet(clock).resolve_dc_api(dc.digital["requests"][0], base)
    assert r.claims["client_id"] == v.client_id and r.did_url == DID_JWK + "#0"
    multi = v.dc_api_request([query()], protocol=H.MULTISIGNED)
    r = wallet(clock).resolve_dc_api(multi.digital["requests"][0], base)
    assert r.claims["client_id"] == v.client_id and r.did_url
    # a wallet that takes only x509_hash verifies the co-signer's signature instead
    r = wallet(clock, prefixes=(H.X509_HASH,)).resolve_dc_api(multi.digital["requests"][0], base)
    assert r.claims["client_id"].startswith("x509_hash:") and r.certificate == CO_LEAF
    # a DID request whose kid names another DID is one signature the wallet cannot use
    w = wallet(clock, prefixes=(H.DECENTRALIZED_IDENTIFIER,))
    with pytest.raises(E.DcApiProtocolError, match="no signature"):
        jws = multi.data["request"]
        protected = json.loads(sdjwt.unb64url(jws["signatures"][0]["protected"], "h"))
        forged = sdjwt.sign_jwt(
            MERCHANT, protected | {"kid": DID_KEY + "#x"}, json.loads(sdjwt.unb64url(jws["payload"], "p"))
        ).split(".")
        one = {"payload": forged[1], "signatures": [{"protected": forged[0], "signature": forged[2]}]}
        w.resolve_dc_api({"protocol": H.MULTISIGNED, "data": {"request": one}}, base)


def test_a_did_request_not_signed_by_the_dids_key_is_refused(prefix_world):
    vs, clock, _ = prefix_world
    v = vs["jwk"]
    claims = claims_of(v, v.authorization_request([query()]))
    cid, w = v.client_id, wallet(clock)
    assert by_value(w, cid, signed(claims, kid=v.kid)).did_url == v.kid
    with pytest.raises(E.DidKeyError, match="DID URL"):
        by_value(w, cid, signed(claims))
    with pytest.raises(E.DidKeyError, match="not a DID URL of"):
        by_value(w, cid, signed(claims, kid=DID_KEY + "#" + DID_KEY[8:]))
    with pytest.raises(E.DidKeyError, match="no verification method"):
        by_value(w, cid, signed(claims, kid=DID_JWK + "#1"))
    with pytest.raises(E.RequestObjectSignatureError, match="does not verify"):
        by_value(w, cid, signed(claims, key=OTHER, kid=v.kid))
    # another verifier's DID, the request's client_id its own: not the one the wallet was given
    other = dids.did_jwk(OTHER)
    with pytest.raises(E.ClientIdError, match="not the one the wallet was given"):
        by_value(w, f"decentralized_identifier:{other}", signed(claims, key=OTHER, kid=other + "#0"))
    with pytest.raises(E.DidResolutionError, match="online"):
        by_value(
            w, "decentralized_identifier:did:web:shop.example", signed(claims, kid="did:web:shop.example#k")
        )
    with pytest.raises(E.DidResolutionError, match="base64url"):
        by_value(w, "decentralized_identifier:did:jwk:abc", signed(claims, kid="did:jwk:abc#0"))
    # an Ed25519 or secp256k1 DID signs with its own algorithm: ES256 by the P-256 key is refused
    for key, alg in (
        (ed25519.Ed25519PrivateKey.generate(), "EdDSA"),
        (ec.generate_private_key(ec.SECP256K1()), "ES256K"),
    ):
        d = dids.did_key(key)
        with pytest.raises(E.DidKeyError, match=f"names a {alg} key, the request is signed ES256"):
            by_value(w, f"decentralized_identifier:{d}", signed(claims, kid=f"{d}#{d[8:]}"))
        with pytest.raises(E.RequestObjectSignatureError, match="does not verify"):
            forged = dids.sign_jws(key, {"typ": H.TYP, "kid": f"{d}#{d[8:]}"}, claims)
            by_value(
                w,
                f"decentralized_identifier:{d}",
                forged[:-4] + ("AAAA" if forged[-4:] != "AAAA" else "BBBB"),
            )
        # only a DID's key signs otherwise than ES256
        with pytest.raises(E.RequestObjectSignatureError, match=f"must be signed ES256, not '{alg}'"):
            by_value(w, "x509_san_dns:localhost", dids.sign_jws(key, {"typ": H.TYP}, claims))
    with pytest.raises(E.ClientIdError, match="does not take"):
        by_value(wallet(clock, prefixes=(H.X509_SAN_DNS,)), cid, signed(claims, kid=v.kid))


@pytest.mark.parametrize("kind", ["ed25519", "secp256k1"])
def test_an_ed25519_or_secp256k1_did_verifier_signs_eddsa_or_es256k(prefix_world, kind):
    _, clock, base = prefix_world
    key = (
        ed25519.Ed25519PrivateKey.generate() if kind == "ed25519" else ec.generate_private_key(ec.SECP256K1())
    )
    alg = dids.jws_alg(key)
    for d in (dids.did_key(key), dids.did_jwk(key)):
        v = verifier("/x", clock, prefix=H.DECENTRALIZED_IDENTIFIER, chain=(), key=key, did=d, base_url=base)
        ar = v.authorization_request([query()], request_uri_method="post")
        w = wallet(clock)
        assert alg in w.metadata()["request_object_signing_alg_values_supported"]
        sid = ar.params["request_uri"].rsplit("/", 1)[1]
        token = v.request_object(sid, w.metadata())
        assert sdjwt.jwt_header(token, "ro")["alg"] == alg
        r = by_value(w, v.client_id, token)
        assert r.did_url == v.kid and r.claims["client_id"] == v.client_id
        # over the DC API as well
        dc = v.dc_api_request([query()], protocol=H.MULTISIGNED)
        assert wallet(clock).resolve_dc_api(dc.digital["requests"][0], base).did_url == v.kid
        # a wallet that names ES256 alone gets no Request Object from it
        with pytest.raises(E.WalletMetadataError, match=f"signed {alg}"):
            v.request_object(sid, {"request_object_signing_alg_values_supported": ["ES256"]})
    with pytest.raises(ValueError, match="P-256"):
        verifier("/x", clock, prefix=H.VERIFIER_ATTESTATION, chain=(), key=key, attestation=attestation())
    with pytest.raises(ValueError, match="P-256"):
        verifier("/x", clock, prefix=H.X509_HASH, chain=(LEAF,), key=key)


def test_a_jws_by_a_dids_key_is_checked_for_its_algorithm_type_and_signature():
    ed = ed25519.Ed25519PrivateKey.generate()
    token = dids.sign_jws(ed, {"typ": "t"}, {"a": 1})
    assert dids.verify_jws(token, ed.public_key(), "t", "x") == {"a": 1}
    h, p, sig = token.split(".")
    with pytest.raises(E.SdJwtError, match="must be signed EdDSA"):
        dids.verify_jws(sdjwt.sign_jwt(MERCHANT, {"typ": "t"}, {"a": 1}), ed.public_key(), "t", "x")
    with pytest.raises(E.SdJwtError, match="typ"):
        dids.verify_jws(token, ed.public_key(), "other", "x")
    with pytest.raises(E.SdJwtError, match="critical"):
        dids.verify_jws(dids.sign_jws(ed, {"typ": "t", "crit": ["b64"]}, {}), ed.public_key(), "t", "x")
    for bad in (sdjwt.b64url(b"\0" * 64), sdjwt.b64url(b"\0" * 10)):
        with pytest.raises(E.SdJwtSignatureError, match="does not verify"):
            dids.verify_jws(f"{h}.{p}.{bad}", ed.public_key(), "t", "x")
    k1 = ec.generate_private_key(ec.SECP256K1())
    h, p, _ = dids.sign_jws(k1, {"typ": "t"}, {}).split(".")
    with pytest.raises(E.SdJwtSignatureError, match="does not verify"):
        dids.verify_jws(f"{h}.{p}.{sdjwt.b64url(bytes(63))}", k1.public_key(), "t", "x")
    with pytest.raises(ValueError, match="no JWS algorithm"):
        dids.jws_alg(ec.generate_private_key(ec.SECP384R1()))


def test_a_did_verifier_must_hold_the_dids_key():
    clock = Clock()
    with pytest.raises(ValueError, match="no verification method for the verifier's key"):
        verifier("/x", clock, prefix=H.DECENTRALIZED_IDENTIFIER, chain=(), did=dids.did_jwk(OTHER))
    with pytest.raises(E.DidResolutionError, match="online"):
        verifier("/x", clock, prefix=H.DECENTRALIZED_IDENTIFIER, chain=(), did="did:web:shop.example")
    with pytest.raises(ValueError, match="give its key"):
        verifier("/x", clock, prefix=H.DECENTRALIZED_IDENTIFIER, chain=(), key=None)


# ---------------------------------------------------------------- verifier_attestation:


def test_a_verifier_attestation_verifier_is_answered_end_to_end(prefix_world):
    vs, clock, base = prefix_world
    v = vs["att"]
    assert v.client_id == f"verifier_attestation:{SUB}"
    ar = v.authorization_request([query()], [CARD])
    w = va_wallet(clock)
    r = w.resolve(ar.url)
    assert r.verifier_attestation["iss"] == ISS and r.verifier_attestation["sub"] == SUB
    assert w.present(ar.url) == {}
    assert v.result(ar.state)["user"].kb["aud"] == v.client_id
    # an attestation whose redirect_uris hold the response_uri; the attester as a certificate,
    # or among several keys by kid; over the DC API too
    v.attestation = attestation(redirect_uris=[v.response_uri], attester=ATTESTER2, kid="k2")
    try:
        ar = v.authorization_request([query()])
        keys = {ISS: {"k1": ATTESTER.public_key(), "k2": ATTESTER2.public_key()}}
        assert va_wallet(clock, attesters=keys).present(ar.url) == {}
        until = datetime.fromtimestamp(NOW + 100, tz=UTC)
        cert = testca.make_cert("Attester", ATTESTER2, "Attester", ATTESTER2, ca=False, not_after=until)
        assert va_wallet(clock, attesters={ISS: cert}).resolve(v.authorization_request([query()]).url)
        dc = v.dc_api_request([query()])
        assert va_wallet(clock, attesters={ISS: cert}).resolve_dc_api(dc.digital["requests"][0], base)
        late = Clock(NOW + 200)
        with pytest.raises(E.VerifierAttestationIssuerError, match="not valid now"):
            va_wallet(late, attesters={ISS: cert}).resolve_dc_api(dc.digital["requests"][0], base)
    finally:
        v.attestation = attestation()


@pytest.fixture
def va_claims(prefix_world):
    vs, clock, _ = prefix_world
    v = vs["att"]
    return v, claims_of(v, v.authorization_request([query()])), clock


def va(claims, att, key=MERCHANT):
    return signed(claims, key=key, jwt=att)


def test_a_verifier_attestation_that_does_not_bind_the_request_is_refused(va_claims):
    v, claims, clock = va_claims
    cid, w = v.client_id, va_wallet(clock)
    assert by_value(w, cid, va(claims, attestation())).verifier_attestation["sub"] == SUB
    with pytest.raises(E.VerifierAttestationError, match="jwt header"):
        by_value(w, cid, signed(claims))
    with pytest.raises(E.VerifierAttestationError, match="no compact JWS"):
        by_value(w, cid, va(claims, "not-a-jwt"))
    wrong_typ = sdjwt.sign_jwt(ATTESTER, {"typ": "JWT"}, sdjwt.jwt_payload(attestation(), "a"))
    with pytest.raises(E.VerifierAttestationTypeError, match="verifier-attestation"):
        by_value(w, cid, va(claims, wrong_typ))
    with pytest.raises(E.VerifierAttestationIssuerError, match="not trusted"):
        by_value(w, cid, va(claims, attestation(iss="https://elsewhere.example")))
    with pytest.raises(E.VerifierAttestationIssuerError, match="not trusted"):
        by_value(wallet(clock), cid, va(claims, attestation()))  # a wallet that trusts no attester
    no_iss = {k: x for k, x in sdjwt.jwt_payload(attestation(), "a").items() if k != "iss"}
    with pytest.raises(E.VerifierAttestationIssuerError, match="names no issuer"):
        by_value(w, cid, va(claims, sdjwt.sign_jwt(ATTESTER, {"typ": H.VA_TYP}, no_iss)))
    with pytest.raises(E.VerifierAttestationSignatureError, match="does not verify"):
        by_value(w, cid, va(claims, attestation(attester=OTHER)))
    with pytest.raises(E.VerifierAttestationSubjectError, match="not the client_id's"):
        by_value(w, cid, va(claims, attestation(sub="other.example")))
    # the request signed by another key than the attested one
    with pytest.raises(E.RequestObjectSignatureError, match="does not verify"):
        by_value(w, cid, va(claims, attestation(), key=OTHER))
    with pytest.raises(E.VerifierAttestationKeyError, match="cnf.jwk"):
        payload = sdjwt.jwt_payload(attestation(), "a") | {"cnf": {"kid": "x"}}
        by_value(w, cid, va(claims, sdjwt.sign_jwt(ATTESTER, {"typ": H.VA_TYP}, payload)))
    with pytest.raises(E.ClientIdError, match="does not take"):
        by_value(va_wallet(clock, prefixes=(H.X509_HASH,)), cid, va(claims, attestation()))


def test_a_verifier_attestation_out_of_its_validity_is_refused(va_claims):
    v, claims, clock = va_claims
    cid, w = v.client_id, va_wallet(clock)

    def reissued(**changes):
        payload = {
            k: x for k, x in sdjwt.jwt_payload(attestation(), "a").items() if changes.get(k, 0) is not None
        }
        payload |= {k: x for k, x in changes.items() if x is not None}
        return va(claims, sdjwt.sign_jwt(ATTESTER, {"typ": H.VA_TYP}, payload))

    with pytest.raises(E.VerifierAttestationExpiredError, match="no expiry"):
        by_value(w, cid, reissued(exp=None))
    with pytest.raises(E.VerifierAttestationExpiredError, match="expired"):
        by_value(w, cid, reissued(exp=NOW - 1, iat=NOW - 100))
    with pytest.raises(E.VerifierAttestationNotYetValidError, match="in the future"):
        by_value(w, cid, reissued(iat=NOW + 600))
    with pytest.raises(E.VerifierAttestationNotYetValidError, match="before it was issued"):
        by_value(w, cid, reissued(iat=NOW + 10, exp=NOW + 5))
    with pytest.raises(E.VerifierAttestationNotYetValidError, match="valid from"):
        by_value(w, cid, reissued(nbf=NOW + 600))
    with pytest.raises(E.VerifierAttestationError, match="iat and nbf"):
        by_value(w, cid, reissued(iat="yesterday"))
    # within the leeway, and without iat: taken
    assert by_value(w, cid, reissued(iat=None, nbf=NOW + 10)).verifier_attestation["nbf"] == NOW + 10


def test_a_response_uri_outside_the_attestations_redirect_uris_is_refused(va_claims):
    v, claims, clock = va_claims
    cid, w = v.client_id, va_wallet(clock)
    assert by_value(w, cid, va(claims, attestation(redirect_uris=[v.response_uri, "https://x.example"])))
    with pytest.raises(E.VerifierAttestationRedirectError, match="not one of"):
        by_value(w, cid, va(claims, attestation(redirect_uris=["https://shop.example/response"])))
    payload = sdjwt.jwt_payload(attestation(), "a") | {"redirect_uris": v.response_uri}
    with pytest.raises(E.VerifierAttestationRedirectError, match="list of URIs"):
        by_value(w, cid, va(claims, sdjwt.sign_jwt(ATTESTER, {"typ": H.VA_TYP}, payload)))


def test_a_verifier_attestation_verifier_must_hold_the_attested_key():
    clock = Clock()
    with pytest.raises(ValueError, match="cnf.jwk"):
        verifier("/x", clock, prefix=H.VERIFIER_ATTESTATION, chain=(), attestation=attestation(key=OTHER))
    with pytest.raises(ValueError, match="Verifier Attestation JWT"):
        verifier("/x", clock, prefix=H.VERIFIER_ATTESTATION, chain=(), attestation=None)
    wrong_typ = sdjwt.sign_jwt(ATTESTER, {"typ": "JWT"}, sdjwt.jwt_payload(attestation(), "a"))
    with pytest.raises(ValueError, match="typ"):
        verifier("/x", clock, prefix=H.VERIFIER_ATTESTATION, chain=(), attestation=wrong_typ)


# ---------------------------------------------------------------- verifier_info


def test_verifier_info_reaches_the_holder_uninterpreted(prefix_world):
    vs, clock, base = prefix_world
    v = vs["info"]
    ar = v.authorization_request([query()])
    w = wallet(clock)
    r = w.resolve(ar.url)
    assert list(r.verifier_info) == INFO  # an unknown format passes as it is
    assert w.present(ar.url) == {}
    # a request's own replaces the verifier's; none: no parameter
    own = [{"format": "x", "data": "y"}]
    assert wallet(clock).resolve(v.authorization_request([query()], verifier_info=own).url).verifier_info == (
        own[0],
    )
    r = wallet(clock).resolve(v.authorization_request([query()], verifier_info=()).url)
    assert r.verifier_info == () and "verifier_info" not in r.claims
    # by value (an unsigned redirect_uri request), and over the DC API
    plain = verifier("/plain-info", clock, prefix=H.REDIRECT_URI, key=None, chain=(), base_url=base)
    ar = plain.authorization_request([query()], verifier_info=INFO)
    assert list(wallet(clock).resolve(ar.url).verifier_info) == INFO
    for protocol in (H.UNSIGNED, H.SIGNED):
        dc = v.dc_api_request([query()], protocol=protocol)
        assert list(wallet(clock).resolve_dc_api(dc.digital["requests"][0], base).verifier_info) == INFO


BAD_INFO = [
    ({"format": "x", "data": "y"}, "array of 1 to 16"),
    ([], "array of 1 to 16"),
    ([{"format": "x", "data": "y"}] * 17, "array of 1 to 16"),
    (["jwt"], r"verifier_info\[0\] is not an object"),
    ([{"data": "y"}], "names its format"),
    ([{"format": "", "data": "y"}], "names its format"),
    ([{"format": 1, "data": "y"}], "names its format"),
    ([{"format": "x"}], "object or a string"),
    ([{"format": "x", "data": 5}], "object or a string"),
    ([{"format": "x", "data": "y", "credential_ids": "user"}], "non-empty list of strings"),
    ([{"format": "x", "data": "y", "credential_ids": []}], "non-empty list of strings"),
    ([{"format": "x", "data": "y", "credential_ids": ["user", "passport"]}], r"\['passport'\]"),
]


@pytest.mark.parametrize(("info", "match"), BAD_INFO)
def test_malformed_verifier_info_is_refused_by_the_wallet(prefix_world, info, match):
    vs, clock, _ = prefix_world
    v = vs["info"]
    claims = claims_of(v, v.authorization_request([query()])) | {"verifier_info": info}
    token = sdjwt.sign_jwt(MERCHANT, {"typ": H.TYP, "x5c": v._x5c(v.chain)}, claims)
    with pytest.raises(E.VerifierInfoError, match=match):
        by_value(wallet(clock), v.client_id, token)


def test_malformed_verifier_info_is_refused_by_the_verifier(prefix_world):
    vs, clock, _ = prefix_world
    v = vs["info"]
    with pytest.raises(E.VerifierInfoError, match="passport"):
        v.authorization_request(
            [query()], verifier_info=[{"format": "x", "data": "y", "credential_ids": ["passport"]}]
        )
    with pytest.raises(E.VerifierInfoError, match="object or a string"):
        v.dc_api_request([query()], verifier_info=[{"format": "x"}])
    with pytest.raises(E.VerifierInfoError, match="names its format"):
        verifier("/x", clock, verifier_info=[{"data": "y"}])
    # by value, a parameter that is not JSON
    plain = verifier(
        "/plain-bad", clock, prefix=H.REDIRECT_URI, key=None, chain=(), base_url="http://localhost:1"
    )
    params = plain.authorization_request([query()]).params | {"verifier_info": "[not json"}
    with pytest.raises(E.AuthorizationRequestError, match="verifier_info is not JSON"):
        wallet(clock).resolve(params)


def test_the_wallet_metadata_names_the_prefixes_it_takes():
    w = wallet(Clock())
    assert w.metadata()["client_id_prefixes_supported"] == list(H.PREFIXES)
    assert H.DECENTRALIZED_IDENTIFIER in H.PREFIXES and H.VERIFIER_ATTESTATION in H.PREFIXES
