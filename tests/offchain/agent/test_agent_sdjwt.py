"""SD-JWT with key binding (offchain/agent/sdjwt.py): issue, present with selective disclosure,
verify; every refusal typed (a tampered, repeated or stray disclosure, another audience or nonce,
an expired credential or a stale key binding, a signature by another key, a presentation changed
after it was bound); and Delegate SD-JWT chains (conceal, delegate, prune, verify_chain), the
encoding AP2 v0.2's mandates use (tests/offchain/agent/test_agent_ap2.py checks the mandates)."""

from __future__ import annotations

import json

import pytest
from eth_account import Account

from offchain.agent import errors as E
from offchain.agent import sdjwt

WALLET_CLAIM = "wallet"

NOW = 1_800_000_000
ISSUER, HOLDER, OTHER = sdjwt.new_key(), sdjwt.new_key(), sdjwt.new_key()
ISS = "https://credentials.example"
ISSUERS = {ISS: ISSUER.public_key()}
USER = Account.from_key(b"\x07" * 32)
CLAIMS = {WALLET_CLAIM: USER.address, "name": "Ada", "email": "ada@example.com", "country": "FR", "tier": 2}


def credential(key=ISSUER, iss=ISS, claims=None, exp=NOW + 3600, holder=HOLDER, **kw):
    c = CLAIMS if claims is None else claims
    return sdjwt.issue(
        key, iss, c, ["name", "email", "country", WALLET_CLAIM], holder, iat=NOW - 60, exp=exp, **kw
    )


def presented(cred=None, reveal=(WALLET_CLAIM,), key=HOLDER, aud="merchant", nonce="n-1", iat=NOW, **kw):
    return sdjwt.present(cred or credential(), reveal, key, aud=aud, nonce=nonce, iat=iat, **kw)


def check(p, aud="merchant", nonce="n-1", now=NOW, issuers=ISSUERS):
    return sdjwt.verify(p, issuers, aud=aud, nonce=nonce, now=now)


def test_digests_match_the_rfc_and_ap2_vectors():
    # RFC 9901's family_name disclosure, and an array-element disclosure of AP2's payment mandate example
    assert sdjwt.digest("WyJfMjZiYzRMVC1hYzZxMktJNmNCVzVlcyIsICJmYW1pbHlfbmFtZSIsICJNw7ZiaXVzIl0") == (
        "X9yH0Ajrdm1Oij4tWso9UzzKJvPoDxwmuEcO3XAdRC0"
    )
    d = sdjwt.Disclosure.parse(
        "WyJzOVdQdDJVNEdhcGNKc255RWI2YmpnIiwgeyJpZCI6ICJtZXJjaGFudF8xIiwgIm5hbWUiOiAiRGVtbyBNZXJjaGFudCIsICJ3ZWJzaXRlIjogImh0dHBzOi8vZGVtby1tZXJjaGFudC5leGFtcGxlIn1d"
    )
    assert d.name is None and d.value["id"] == "merchant_1"
    assert d.digest == "oEH7i1gyb-zn6awwjy57LvzxkQDfD-8tvlC2XuIkgOA"


def test_selective_disclosure_round_trip():
    cred = credential(vct="urn:eigencloud:user.1")
    jwt = cred.split("~")[0]
    payload = json.loads(sdjwt.unb64url(jwt.split(".")[1], "payload"))
    # the disclosable claims are only digests in the signed payload (with decoys); the rest is plain
    assert not {"name", "email", "country", WALLET_CLAIM} & set(payload) and payload["tier"] == 2
    assert len(payload["_sd"]) == 4 + 2 and payload["_sd"] == sorted(payload["_sd"])
    assert payload["cnf"]["jwk"] == sdjwt.jwk(HOLDER) and payload["_sd_alg"] == "sha-256"
    header = json.loads(sdjwt.unb64url(jwt.split(".")[0], "header"))
    assert header == {"typ": "dc+sd-jwt", "alg": "ES256"}
    p = check(presented(cred, reveal=(WALLET_CLAIM, "country"), transaction_data_hashes=["h1"]))
    assert p.claims == {
        "iss": ISS,
        "iat": NOW - 60,
        "exp": NOW + 3600,
        "tier": 2,
        "vct": "urn:eigencloud:user.1",
    } | {
        WALLET_CLAIM: USER.address,
        "country": "FR",
    }
    assert "name" not in p.claims and "email" not in p.claims  # never sent
    assert p.kb["transaction_data_hashes"] == ["h1"] and p.holder == sdjwt.jwk(HOLDER)
    # revealing nothing is a valid presentation too
    assert WALLET_CLAIM not in check(presented(cred, reveal=())).claims
    with pytest.raises(E.SdJwtError, match="no disclosable"):
        presented(cred, reveal=("tier",))


def test_nested_and_array_disclosures():
    """A disclosure may hold an object with its own _sd, and array elements may be disclosed."""
    inner = sdjwt.Disclosure.make("street", "1 rue X")
    elem_a, elem_b = sdjwt.Disclosure.make(None, "FR"), sdjwt.Disclosure.make(None, "DE")
    address = sdjwt.Disclosure.make("address", {"city": "Paris", "_sd": [inner.digest]})
    payload = {
        "iss": ISS,
        "iat": NOW,
        "exp": NOW + 60,
        "cnf": {"jwk": sdjwt.jwk(HOLDER)},
        "_sd": [address.digest],
        "_sd_alg": "sha-256",
        "nationalities": [{"...": elem_a.digest}, {"...": elem_b.digest}, "IT"],
    }
    jwt = sdjwt.sign_jwt(ISSUER, {"typ": sdjwt.TYP}, payload)
    body = "~".join([jwt, address.encoded, inner.encoded, elem_b.encoded]) + "~"
    kb = sdjwt.sign_jwt(
        HOLDER, {"typ": sdjwt.KB_TYP}, {"iat": NOW, "aud": "m", "nonce": "n", "sd_hash": sdjwt.digest(body)}
    )
    claims = check(body + kb, aud="m", nonce="n").claims
    assert claims["address"] == {"city": "Paris", "street": "1 rue X"}
    assert claims["nationalities"] == ["DE", "IT"]  # the undisclosed element is dropped


def _swap_disclosure(p, i, value):
    parts = p.split("~")
    d = sdjwt.Disclosure.parse(parts[i])
    parts[i] = sdjwt.b64url(json.dumps([d.salt, d.name, value]).encode())
    return "~".join(parts)


def test_tampered_repeated_or_stray_disclosures_are_refused():
    p = presented()
    # another wallet in the disclosure: its digest is no longer in the signed payload
    with pytest.raises(E.SdJwtDisclosureError, match="tampered"):
        check(_swap_disclosure(p, 1, Account.from_key(b"\x08" * 32).address))
    parts = p.split("~")
    with pytest.raises(E.SdJwtDisclosureError, match="twice"):
        check("~".join([parts[0], parts[1], parts[1], parts[2]]))
    stray = sdjwt.Disclosure.make("name", "Eve").encoded
    with pytest.raises(E.SdJwtDisclosureError, match="match no digest"):
        check("~".join([parts[0], parts[1], stray, parts[2]]))
    reserved = sdjwt.b64url(json.dumps(["salt", "_sd", []]).encode())
    with pytest.raises(E.SdJwtDisclosureError, match="reserved"):
        check("~".join([parts[0], reserved, parts[2]]))
    # a disclosure dropped after the holder bound the presentation: sd_hash differs
    with pytest.raises(E.SdJwtBindingError, match="sd_hash"):
        check("~".join([parts[0], parts[2]]))


def test_key_binding_for_another_audience_or_nonce_or_time_is_refused():
    with pytest.raises(E.SdJwtBindingError, match="audience"):
        check(presented(aud="another-merchant"))
    with pytest.raises(E.SdJwtBindingError, match="nonce"):
        check(presented(nonce="n-0"))
    with pytest.raises(E.SdJwtExpiredError, match="key-binding JWT was made"):
        check(presented(iat=NOW - 301))
    with pytest.raises(E.SdJwtNotYetValidError, match="key-binding JWT was made"):
        check(presented(iat=NOW + 31))
    assert check(presented(iat=NOW - 300)).kb["iat"] == NOW - 300


def test_expired_or_not_yet_valid_credential_is_refused():
    with pytest.raises(E.SdJwtExpiredError, match="expired"):
        check(presented(credential(exp=NOW)))
    early = sdjwt.sign_jwt(
        ISSUER,
        {"typ": sdjwt.TYP},
        {"iss": ISS, "exp": NOW + 99, "nbf": NOW + 100, "cnf": {"jwk": sdjwt.jwk(HOLDER)}},
    )
    with pytest.raises(E.SdJwtNotYetValidError, match="valid from"):
        check(presented(early + "~", reveal=()))


def test_signatures_by_other_keys_are_refused():
    # the credential signed by a key the verifier does not trust for its issuer
    with pytest.raises(E.SdJwtSignatureError, match="does not verify"):
        check(presented(credential(key=OTHER)))
    with pytest.raises(E.SdJwtIssuerError, match="not trusted"):
        check(presented(credential(iss="https://evil.example")))
    # the key binding signed by a key other than the one the credential binds
    with pytest.raises(E.SdJwtSignatureError, match="key-binding JWT signature"):
        check(presented(key=OTHER))
    # a payload changed under the issuer's signature
    h, pl, sig = presented().split("~")[0].split(".")
    payload = json.loads(sdjwt.unb64url(pl, "p")) | {"tier": 9}
    forged = ".".join([h, sdjwt.b64url(json.dumps(payload).encode()), sig])
    with pytest.raises(E.SdJwtSignatureError):
        check(presented(forged + "~", reveal=()))


def test_malformed_presentations_are_refused():
    p = presented()
    jwt, disc, kb = p.split("~")
    for bad, match in (
        (jwt + "~" + disc + "~", "no key binding"),
        ("x" * (sdjwt.MAX_CHARS + 1), "at most"),
        ("a.b~" + kb, "compact JWS"),
        (jwt + "~~" + kb, "non-empty"),
        (jwt + "~%%~" + kb, "base64url"),
        (jwt + "~" + sdjwt.b64url(b'["s", 1, 2]') + "~" + kb, "claim name"),
    ):
        with pytest.raises(E.SdJwtError, match=match):
            check(bad)
    none_alg = sdjwt.b64url(b'{"alg":"none","typ":"dc+sd-jwt"}') + "." + jwt.split(".")[1] + "."
    with pytest.raises(E.SdJwtError, match="ES256"):
        check(none_alg + "~" + disc + "~" + kb)
    kb_typ = sdjwt.sign_jwt(HOLDER, {"typ": "JWT"}, {"iat": NOW})
    with pytest.raises(E.SdJwtError, match="kb\\+jwt"):
        check(jwt + "~" + disc + "~" + kb_typ)
    with pytest.raises(E.SdJwtError, match="P-256"):
        sdjwt.key_of({"kty": "EC", "crv": "secp256k1", "x": "", "y": ""})
    with pytest.raises(E.SdJwtError, match="not on P-256"):
        sdjwt.key_of(
            {"kty": "EC", "crv": "P-256", "x": sdjwt.b64url(b"\x01" * 32), "y": sdjwt.b64url(b"\x01" * 32)}
        )
    with pytest.raises(E.SdJwtError, match="disclosable"):
        sdjwt.issue(ISSUER, ISS, CLAIMS, ["iss"], HOLDER, iat=NOW, exp=NOW + 1)


# ---------------------------------------------------------------- Delegate SD-JWT chains


def test_conceal_nests_disclosures_and_verify_chain_resolves_them():
    content = {
        "vct": "example.1",
        "cnf": {"jwk": sdjwt.jwk(OTHER)},
        "secret": sdjwt.Sd({"inner": sdjwt.Sd("deep"), "list": [sdjwt.Sd(1), 2]}),
    }
    payload, ds = sdjwt.conceal(content)
    # inner disclosures come first; each digest is referenced once, the structure is RFC 9901's
    assert [d.name for d in ds] == ["inner", None, "secret"] and payload["_sd"] == [ds[2].digest]
    assert ds[2].value == {"_sd": [ds[0].digest], "list": [{"...": ds[1].digest}, 2]}
    with pytest.raises(E.SdJwtError, match="reserved"):
        sdjwt.conceal({"_sd": []})
    with pytest.raises(E.SdJwtError, match="sits in"):
        sdjwt.conceal(sdjwt.Sd(1))
    chain = sdjwt.delegate(credential(), HOLDER, [content], aud="agent", nonce="d", iat=NOW, binds_key=True)
    closed = sdjwt.delegate(chain, OTHER, [{"vct": "done.1"}], aud="v", nonce="n", iat=NOW, binds_key=False)
    c = sdjwt.verify_chain(closed, ISSUERS, aud="v", nonce="n", now=NOW)
    assert c.iss == ISS and [ln.header["typ"] for ln in c.links] == ["dc+sd-jwt", "kb+sd-jwt+kb", "kb+sd-jwt"]
    assert c.links[1].content["secret"] == {"inner": "deep", "list": [1, 2]}
    assert c.links[2].payload["sd_hash"] == sdjwt.digest(c.links[1].serialized) == c.links[1].digest
    # the holder prunes what it does not reveal (nested disclosures under a dropped one go too)
    pruned = sdjwt.prune(chain, lambda d: d.name != "secret")
    closed = sdjwt.delegate(pruned, OTHER, [{"vct": "done.1"}], aud="v", nonce="n", iat=NOW, binds_key=False)
    c = sdjwt.verify_chain(closed, ISSUERS, aud="v", nonce="n", now=NOW)
    assert "secret" not in c.links[1].content and c.links[1].serialized.count("~") == 2
    # an open delegation binds the next holder's key; a chain has at least one delegated link
    with pytest.raises(E.SdJwtError, match="binds the next holder"):
        sdjwt.delegate(credential(), HOLDER, [{"vct": "x"}], aud="a", nonce="n", iat=NOW, binds_key=True)
    with pytest.raises(E.SdJwtChainError, match="root and at least one"):
        sdjwt.verify_chain(credential(), ISSUERS, aud="v", nonce="n", now=NOW)


def test_issuer_jwt_hash_binds_the_link_without_its_disclosures():
    """Delegate SD-JWT's alternative to sd_hash: the digest of the previous link's JWT only, so the
    next holder may drop its disclosures."""
    cred = credential()
    content = {"vct": "example.1", "cnf": {"jwk": sdjwt.jwk(OTHER)}}
    arr, ds = sdjwt.conceal([sdjwt.Sd(content)])
    kb = {
        "delegate_payload": arr,
        "iat": NOW,
        "aud": "a",
        "nonce": "d",
        "issuer_jwt_hash": sdjwt.digest(cred.split("~")[0]),
    }
    link = sdjwt.sign_jwt(HOLDER, {"typ": sdjwt.KB_SD_KB_TYP}, kb)
    chain = sdjwt.prune(cred, lambda d: False) + "~" + "~".join([link, *(d.encoded for d in ds)]) + "~"
    closed = sdjwt.delegate(chain, OTHER, [{"vct": "done.1"}], aud="v", nonce="n", iat=NOW, binds_key=False)
    assert (
        sdjwt.verify_chain(closed, ISSUERS, aud="v", nonce="n", now=NOW).links[0].content.get("name") is None
    )
    kb["issuer_jwt_hash"] = sdjwt.digest("another")
    link = sdjwt.sign_jwt(HOLDER, {"typ": sdjwt.KB_SD_KB_TYP}, kb)
    chain = cred + "~" + "~".join([link, *(d.encoded for d in ds)]) + "~"
    closed = sdjwt.delegate(chain, OTHER, [{"vct": "done.1"}], aud="v", nonce="n", iat=NOW, binds_key=False)
    with pytest.raises(E.SdJwtBindingError, match="neither sd_hash nor issuer_jwt_hash"):
        sdjwt.verify_chain(closed, ISSUERS, aud="v", nonce="n", now=NOW)
