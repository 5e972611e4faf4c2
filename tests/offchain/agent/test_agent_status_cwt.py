"""Status List Tokens in CWT form (offchain/agent/status_list.py over offchain/compute/cose.py):
tokens this project signs (the claim layout of draft-ietf-oauth-status-list §5.2 and §6.3), served by a real local HTTP server and
checked with the same cache as the JWT form; every refusal typed."""

from __future__ import annotations

import zlib

import pytest

from offchain.agent import errors as E
from offchain.agent import sdjwt, status_list
from offchain.compute import cbor, cose
from tests.offchain.agent.test_agent_ap2 import ISSUER, NOW, OTHER
from tests.offchain.agent.test_agent_ap2_status import ISS, KEYS, Clock, cred, lists, site, token

__all__ = ["site"]  # the module fixture of test_agent_ap2_status (a local web server), used here too


def cwt(uri, statuses, bits=1, key=ISSUER, iat=NOW - 10, **kw):
    return status_list.sign_token_cwt(key, uri=uri, statuses=statuses, bits=bits, iat=iat, **kw)


def verify(raw, uri="https://s.example/1", trusted=KEYS, now=NOW):
    return status_list.verify_token_cwt(raw, trusted, ISS, uri=uri, now=now)


def test_a_status_list_cwt_round_trips_with_the_drafts_claim_layout():
    uri = "https://s.example/1"
    statuses = [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1]
    raw = cwt(uri, statuses, iat=NOW - 10, exp=NOW + 86400, ttl=43200, kid="12")
    sl = verify(raw, uri=uri, trusted={ISS: {"12": ISSUER.public_key()}})
    assert (sl.bits, sl.iat, sl.exp) == (1, NOW - 10, NOW + 86400)
    assert [status_list.status_at(sl.raw, 1, i) for i in range(16)] == statuses
    assert sl.until == NOW + 43200  # its ttl from the check's time, before exp
    # tagged COSE_Sign1 (18), protected header {alg ES256, typ}, claims keyed by the draft's integers
    msg = cose.parse_sign1(raw, ValueError, require_tag=True)
    assert msg.protected == cbor.dumps({cose.ALG: cose.ES256, cose.TYP: status_list.CWT_TYP})
    assert msg.payload == cbor.dumps(
        {
            status_list.CWT_SUB: uri,
            status_list.CWT_IAT: NOW - 10,
            status_list.CWT_EXP: NOW + 86400,
            status_list.CWT_TTL: 43200,
            status_list.CWT_STATUS_LIST: {"bits": 1, "lst": zlib.compress(status_list.pack(statuses, 1), 9)},
        }
    )
    with pytest.raises(E.StatusListSignatureError, match="does not verify"):
        verify(raw, uri=uri, trusted={ISS: {"12": OTHER.public_key()}})


def test_a_referenced_cwt_names_its_list_entry_and_expires():
    uri = "https://s.example/1"
    ref = status_list.sign_referenced_cwt(
        ISSUER, {1: ISS, 2: "12345", 4: NOW + 3600} | status_list.cwt_status_claim(uri, 0), kid="12"
    )
    claims = status_list.verify_referenced_cwt(ref, {ISS: {"12": ISSUER.public_key()}}, now=NOW)
    assert claims[status_list.CWT_STATUS] == status_list.status_claim(uri, 0)
    assert (claims[2], claims[1]) == ("12345", ISS)
    with pytest.raises(E.StatusListExpiredError, match="expired"):
        status_list.verify_referenced_cwt(ref, {ISS: {"12": ISSUER.public_key()}}, now=NOW + 3600)
    with pytest.raises(E.StatusListSignatureError):
        status_list.verify_referenced_cwt(ref, {ISS: OTHER.public_key()}, now=NOW)


def test_a_credential_whose_list_is_served_as_a_cwt_passes_or_is_refused_and_shares_the_cache(site):
    path = "/cwt/1"
    uri = site.put(
        path, cwt(site.base + path, [0, 1, 2], bits=2, ttl=600, kid=None), status_list.CWT_MEDIA_TYPE
    )
    clock = Clock()
    sl = lists(clock=clock)

    def payload(idx):
        return sdjwt.jwt_payload(cred(status=status_list.status_claim(uri, idx)).split("~")[0], "c")

    sl.check(payload(0))
    with pytest.raises(E.CredentialRevokedError):
        sl.check(payload(1))
    with pytest.raises(E.CredentialSuspendedError):
        sl.check(payload(2))
    with pytest.raises(E.StatusListIndexError, match="outside the status list"):
        sl.check(payload(4))
    assert sl.fetches == 1  # one fetch, then the cache for its ttl
    # a Referenced Token in CWT form, checked by the same cache
    ref = status_list.sign_referenced_cwt(
        ISSUER, {1: ISS, 4: NOW + 3600} | status_list.cwt_status_claim(uri, 1)
    )
    claims = status_list.verify_referenced_cwt(ref, KEYS, now=NOW)
    with pytest.raises(E.CredentialRevokedError):
        sl.check(claims)
    assert sl.fetches == 1
    # the same list republished in JWT form after the ttl: the content type picks the form
    clock.t += 601
    site.put(path, token(uri, [0, 0, 0], bits=2, iat=NOW + 500), status_list.MEDIA_TYPE)
    sl.check(payload(1))
    assert sl.fetches == 2


@pytest.mark.parametrize(
    ("served", "ctype", "error", "match"),
    [
        ("sig", status_list.CWT_MEDIA_TYPE, E.StatusListSignatureError, "does not verify"),
        ("typ", status_list.CWT_MEDIA_TYPE, E.StatusListTypeError, "typ"),
        ("ok", "application/cbor", E.StatusListTypeError, "content type"),
        ("ok", status_list.MEDIA_TYPE, E.StatusListFormatError, "compact JWS"),
        ("truncated", status_list.CWT_MEDIA_TYPE, E.StatusListFormatError, "truncated CBOR"),
        ("expired", status_list.CWT_MEDIA_TYPE, E.StatusListExpiredError, "expired"),
        ("sub", status_list.CWT_MEDIA_TYPE, E.StatusListError, "sub"),
    ],
)
def test_a_bad_cwt_status_list_is_refused_with_a_typed_error(site, served, ctype, error, match):
    path = f"/cwt/bad-{served}-{ctype.rsplit('/', 1)[1]}"
    uri = site.base + path
    body = {
        "sig": lambda: cwt(uri, [0], key=OTHER),
        "typ": lambda: cose.sign1(
            ISSUER, cose.parse_sign1(cwt(uri, [0]), ValueError).payload, {16: "application/cwt"}
        ),
        "ok": lambda: cwt(uri, [0]),
        "truncated": lambda: cwt(uri, [0])[:-7],
        "expired": lambda: cwt(uri, [0], exp=NOW - 1),
        "sub": lambda: cwt(uri + "/other", [0]),
    }[served]()
    site.put(path, body, ctype)
    c = sdjwt.jwt_payload(cred(status=status_list.status_claim(uri, 0)).split("~")[0], "c")
    with pytest.raises(error, match=match):
        lists().check(c)


def test_cwt_structure_refusals():
    uri = "https://s.example/1"
    good = cwt(uri, [0, 1])
    assert verify(good).bits == 1
    msg = cose.parse_sign1(good, ValueError)
    body = cbor.loads(msg.payload)
    untagged = cbor.dumps([msg.protected, msg.unprotected, msg.payload, msg.signature])
    with pytest.raises(E.StatusListFormatError, match="COSE_Sign1_Tagged"):
        verify(untagged)
    with pytest.raises(E.StatusListFormatError, match="tagged as a CWT"):
        verify(cbor.dumps(cbor.Tag(61, cbor.loads(good))))
    with pytest.raises(E.StatusListFormatError, match="COSE_Mac0"):
        verify(cbor.dumps(cbor.Tag(17, [msg.protected, {}, msg.payload, b"\0" * 32])))
    with pytest.raises(E.StatusListFormatError, match="not COSE_Sign1"):
        verify(cbor.dumps(cbor.Tag(98, [msg.protected, {}, msg.payload, msg.signature])))
    with pytest.raises(E.StatusListFormatError, match="4-element"):
        verify(cbor.dumps(cbor.Tag(18, [msg.protected, {}, msg.payload])))
    with pytest.raises(E.StatusListFormatError, match="trailing"):
        verify(good + b"\0")

    def signed(claims, protected=None, key=ISSUER):
        return cose.sign1(key, cbor.dumps(claims), {16: status_list.CWT_TYP} | (protected or {}))

    with pytest.raises(E.StatusListFormatError, match="claims are a CBOR map"):
        verify(cose.sign1(ISSUER, cbor.dumps([1]), {16: status_list.CWT_TYP}))
    with pytest.raises(E.StatusListFormatError, match="65533"):
        verify(signed(body | {65533: {"bits": 3, "lst": body[65533]["lst"]}}))
    with pytest.raises(E.StatusListFormatError, match="65533"):
        verify(signed(body | {65533: {"bits": 1, "lst": "text"}}))
    with pytest.raises(E.StatusListFormatError, match="not ZLIB"):
        verify(signed(body | {65533: {"bits": 1, "lst": b"not zlib"}}))
    with pytest.raises(E.StatusListError, match="positive"):
        verify(signed(body | {65534: 0}))
    with pytest.raises(E.StatusListError, match="valid from"):
        verify(signed(body | {5: NOW + 60}))
    with pytest.raises(E.StatusListSignatureError, match="critical"):
        verify(signed(body, {2: [99]}))
    with pytest.raises(E.StatusListFormatError, match="kid"):
        verify(cose.sign1(ISSUER, msg.payload, {16: status_list.CWT_TYP}, {4: "text kid"}))
    with pytest.raises(E.SdJwtIssuerError, match="no key"):
        verify(cwt(uri, [0], kid="k9"), trusted={ISS: {"k1": ISSUER.public_key(), "k2": OTHER.public_key()}})
    # aggregation_uri is carried through, and a list of several kids picks by kid
    agg = cwt(uri, [0], kid="k2", key=OTHER, aggregation_uri="https://s.example/all")
    assert verify(agg, trusted={ISS: {"k1": ISSUER.public_key(), "k2": OTHER.public_key()}}).bits == 1
