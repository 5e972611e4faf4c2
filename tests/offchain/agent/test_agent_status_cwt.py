"""Status List Tokens in CWT form (offchain/agent/status_list.py over offchain/compute/cose.py):
the draft's own examples (draft-ietf-oauth-status-list §5.2 and §6.3, verified under the public half
of the draft's example key), tokens this project signs, served by a real local HTTP server and
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

# draft-ietf-oauth-status-list §5.2: a Status List Token in CWT form (1 bit, 16 entries), §6.3: a
# Referenced Token in CWT form pointing at index 0 of it. Both are signed by the draft's example
# key (kid "12"); only its public half is needed here.
DRAFT_LIST = bytes.fromhex(
    "d2845820a2012610781a6170706c69636174696f6e2f7374617475736c6973742b63"
    "7774a1044231325850a502782168747470733a2f2f6578616d706c652e636f6d2f73"
    "74617475736c697374732f31061a648c5bea041a8898dfea19fffe19a8c019fffda2"
    "646269747301636c73744a78dadbb918000217015d584093fa4d01032b18c35e2fe1"
    "101b77fd6cc9440022caa4694450c4e4e9feab4e99d1fa6d9772ce2bf3a12e0323de"
    "d7c982c5e101a5e67f0cbc1e2b6f57ce99c279"
)
DRAFT_REFERENCED = bytes.fromhex(
    "d28443a10126a1044231325866a502653132333435017368747470733a2f2f657861"
    "6d706c652e636f6d061a648c5bea041a8898dfea19ffffa16b7374617475735f6c69"
    "7374a2636964780063757269782168747470733a2f2f6578616d706c652e636f6d2f"
    "7374617475736c697374732f315840340f7efea10f1a36dc4797636a17b4dd4848b6"
    "8997d1d10e8cceb3a38ff33b3dda72964a83989f6cf98560c2fc97a08bc8977cc6b0"
    "f84cfedab93d3e4481e938"
)
DRAFT_KEY = sdjwt.key_of(
    {
        "kty": "EC",
        "crv": "P-256",
        "x": "I3HWm_0Ds1dPMI-IWmf4mBmH-YaeAVbPVu7vB27CxXo",
        "y": "6N_d5Elj9bs1htgV3okJKIdbHEpkgTmAluYKJemzn1M",
    }
)
DRAFT_ISS = "https://example.com"
DRAFT_URI = "https://example.com/statuslists/1"
DRAFT_IAT, DRAFT_EXP = 1686920170, 2291720170
DRAFT_STATUSES = [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1]


def cwt(uri, statuses, bits=1, key=ISSUER, iat=NOW - 10, **kw):
    return status_list.sign_token_cwt(key, uri=uri, statuses=statuses, bits=bits, iat=iat, **kw)


def verify(raw, uri="https://s.example/1", trusted=KEYS, now=NOW):
    return status_list.verify_token_cwt(raw, trusted, ISS, uri=uri, now=now)


def test_the_drafts_status_list_cwt_verifies_and_this_encoder_rebuilds_its_signed_bytes():
    sl = status_list.verify_token_cwt(
        DRAFT_LIST, {DRAFT_ISS: {"12": DRAFT_KEY}}, DRAFT_ISS, uri=DRAFT_URI, now=DRAFT_IAT + 60
    )
    assert (sl.bits, sl.iat, sl.exp, sl.raw) == (1, DRAFT_IAT, DRAFT_EXP, bytes([0xB9, 0xA3]))
    assert [status_list.status_at(sl.raw, 1, i) for i in range(16)] == DRAFT_STATUSES
    assert sl.until == DRAFT_IAT + 60 + 43200  # its ttl
    # the protected header and the claims as this module writes them are the draft's bytes
    msg = cose.parse_sign1(DRAFT_LIST, ValueError, require_tag=True)
    assert msg.protected == cbor.dumps({cose.ALG: cose.ES256, cose.TYP: status_list.CWT_TYP})
    assert msg.payload == cbor.dumps(
        {
            status_list.CWT_SUB: DRAFT_URI,
            status_list.CWT_IAT: DRAFT_IAT,
            status_list.CWT_EXP: DRAFT_EXP,
            status_list.CWT_TTL: 43200,
            status_list.CWT_STATUS_LIST: {
                "bits": 1,
                "lst": zlib.compress(status_list.pack(DRAFT_STATUSES, 1), 9),
            },
        }
    )
    mine = cwt(DRAFT_URI, DRAFT_STATUSES, iat=DRAFT_IAT, exp=DRAFT_EXP, ttl=43200, kid="12")
    assert cose.parse_sign1(mine, ValueError).payload == msg.payload
    # another key: refused
    with pytest.raises(E.StatusListSignatureError, match="does not verify"):
        status_list.verify_token_cwt(
            DRAFT_LIST, {DRAFT_ISS: {"12": OTHER.public_key()}}, DRAFT_ISS, uri=DRAFT_URI, now=DRAFT_IAT
        )


def test_the_drafts_referenced_cwt_names_index_0_which_the_drafts_list_marks_invalid():
    claims = status_list.verify_referenced_cwt(
        DRAFT_REFERENCED, {DRAFT_ISS: {"12": DRAFT_KEY}}, now=DRAFT_IAT
    )
    assert claims[status_list.CWT_STATUS] == status_list.status_claim(DRAFT_URI, 0)
    assert (claims[2], claims[1]) == ("12345", DRAFT_ISS)
    with pytest.raises(E.StatusListExpiredError, match="expired"):
        status_list.verify_referenced_cwt(DRAFT_REFERENCED, {DRAFT_ISS: {"12": DRAFT_KEY}}, now=DRAFT_EXP)
    with pytest.raises(E.StatusListSignatureError):
        status_list.verify_referenced_cwt(DRAFT_REFERENCED, {DRAFT_ISS: OTHER.public_key()}, now=DRAFT_IAT)


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
