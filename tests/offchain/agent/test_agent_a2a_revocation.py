"""Revocation of A2A callers' client certificates (offchain/agent/a2a_revocation.py): CRLs (a
configured file, or a distribution point) and OCSP, against a local test CA whose CRLs and OCSP
answers a local responder (Starlette under uvicorn, on loopback) serves, each answer set by the
test; every refusal typed, fail-closed against soft-fail, the caches, and a revoked caller refused
by an agent over real mutual TLS."""

from __future__ import annotations

import base64
import ipaddress
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, ExtensionOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from offchain.agent import a2a_revocation
from offchain.agent import errors as R
from offchain.agent.a2a import COMPLETED, GRPC, JSONRPC, A2AClient
from offchain.agent.a2a_mtls import ClientCertificate, MutualTLS
from offchain.agent.a2a_revocation import Revocation, load_crl
from offchain.agent.errors import A2AUnauthenticatedError
from offchain.agent.webfetch import Fetcher
from offchain.compute.testca import make_cert, make_crl, pem
from offchain.httpservice import ServiceServer
from tests.offchain.agent.test_agent_a2a_mtls import _agent, _free

NOW = datetime.now(UTC).replace(microsecond=0)
HOUR = timedelta(hours=1)
LOCAL = Fetcher(timeout_s=5.0, schemes=("http",), loopback=True)
DOWN = "http://127.0.0.1:1"  # nothing listens there: the connection is refused


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


class Responder:
    """The CA's CRL distribution points (``GET /crl/<name>``) and OCSP responder (``POST
    /ocsp/<name>``, or ``GET /ocsp/<name>/<url-encoded base64 request>``: RFC 6960 A.1), one of each
    per client certificate; what each answers is set by the test (``crl[name]``: bytes, or an int
    status; ``ocsp[name]``: how to answer); ``methods[name]``: how its OCSP request came."""

    def __init__(self) -> None:
        self.crl: dict[str, bytes | int] = {}
        self.ocsp: dict[str, dict[str, Any]] = {}
        self.hits: dict[str, int] = {}
        self.methods: dict[str, str] = {}
        self.requests: dict[str, ocsp.OCSPRequest] = {}
        self.pki: Pki | None = None

        async def crl(request: Request) -> Response:
            name = request.path_params["name"]
            self.hits["crl/" + name] = self.hits.get("crl/" + name, 0) + 1
            answer = self.crl.get(name, 404)
            if isinstance(answer, int):
                return Response(b"", status_code=answer)
            return Response(answer, media_type="application/pkix-crl")

        async def answer(request: Request) -> Response:
            name = request.path_params["name"]
            self.hits["ocsp/" + name] = self.hits.get("ocsp/" + name, 0) + 1
            self.methods[name] = request.method
            if request.method == "GET":  # (the path arrives percent-decoded)
                req = ocsp.load_der_ocsp_request(base64.b64decode(request.path_params["req"], validate=True))
            else:
                assert request.headers["content-type"] == "application/ocsp-request"
                req = ocsp.load_der_ocsp_request(await request.body())
            assert self.pki is not None
            self.requests[name] = req
            body = self.pki.ocsp_answer(req, **self.ocsp.get(name, {}))
            return Response(body, media_type="application/ocsp-response")

        self.app = Starlette(
            routes=[
                Route("/crl/{name}", crl),
                Route("/ocsp/{name}", answer, methods=["POST"]),
                Route("/ocsp/{name}/{req:path}", answer, methods=["GET"]),
            ]
        )


class Pki:
    """The callers' CA (its key signs its CRLs), another CA, OCSP responder certificates (one the
    CA authorized, one without id-kp-OCSPSigning, one of the other CA), the agent's certificate,
    and callers' certificates naming `base`'s distribution points and responders."""

    def __init__(self, d: Path, base: str) -> None:
        self.d, self.base = d, base
        self.ca_key, self.other_key = _key(), _key()
        self.ca = make_cert("callers CA", self.ca_key, "callers CA", self.ca_key, ca=True)
        self.other = make_cert("other CA", self.other_key, "other CA", self.other_key, ca=True)
        (d / "ca.pem").write_bytes(pem(self.ca))
        self.certs: dict[str, x509.Certificate] = {}
        self.keys: dict[str, ec.EllipticCurvePrivateKey] = {}
        self.responders = {
            "delegated": self._cert("delegated", [ExtendedKeyUsageOID.OCSP_SIGNING], serial=900),
            "no-eku": self._cert("no-eku", [ExtendedKeyUsageOID.CLIENT_AUTH], serial=901),
            "foreign": self._cert(
                "foreign", [ExtendedKeyUsageOID.OCSP_SIGNING], serial=902, issuer=("other CA", self.other_key)
            ),
        }
        server_ext = (
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
        )
        k = _key()
        self.write(
            "server", make_cert("agent", k, "callers CA", self.ca_key, ca=False, extensions=server_ext), k
        )
        # CRL issuers (indirect CRLs): the CA's (cRLSign), one without cRLSign, one of the other CA,
        # one expired; each is a CA certificate (make_cert gives CAs cRLSign) but `no-sign`
        self.crl_issuers: dict[str, tuple[x509.Certificate, ec.EllipticCurvePrivateKey]] = {}
        for name, ca, by, nxt in (
            ("crl issuer", True, ("callers CA", self.ca_key), None),
            ("no-sign issuer", False, ("callers CA", self.ca_key), None),
            ("foreign issuer", True, ("other CA", self.other_key), None),
            ("expired issuer", True, ("callers CA", self.ca_key), NOW - HOUR),
        ):
            k = _key()
            when = {"not_after": nxt} if nxt else {}
            self.crl_issuers[name] = (make_cert(name, k, by[0], by[1], ca=ca, serial=950, **when), k)

    def _cert(
        self, name: str, eku: list[x509.ObjectIdentifier], serial: int, issuer: tuple[str, Any] | None = None
    ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        iname, ikey = issuer or ("callers CA", self.ca_key)
        k = _key()
        return make_cert(
            name, k, iname, ikey, ca=False, serial=serial, extensions=(x509.ExtendedKeyUsage(eku),)
        ), k

    def client(
        self,
        name: str,
        *,
        crl: str | None = "",
        ocsp_url: str | None = "",
        freshest: str | None = None,
        crl_issuer: str | None = None,
    ) -> x509.Certificate:
        """A caller's certificate (serial from its order) naming /crl/<name> and /ocsp/<name>
        (another URL when given; None: no such extension), `freshest` a Freshest CRL point (a
        name under /crl/), `crl_issuer` the CRL issuer of its distribution point."""
        crl = self.base + "/crl/" + name if crl == "" else crl
        ocsp_url = self.base + "/ocsp/" + name if ocsp_url == "" else ocsp_url
        ext: list[x509.ExtensionType] = [
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier("spiffe://acme/" + name)]),
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
        ]
        if crl is not None:
            by = [x509.DirectoryName(self.crl_issuers[crl_issuer][0].subject)] if crl_issuer else None
            ext.append(x509.CRLDistributionPoints([self.point(crl, by)]))
        if freshest is not None:
            ext.append(x509.FreshestCRL([self.point(self.base + "/crl/" + freshest)]))
        if ocsp_url is not None:
            ext.append(
                x509.AuthorityInformationAccess(
                    [
                        x509.AccessDescription(
                            AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url)
                        )
                    ]
                )
            )
        k = _key()
        cert = make_cert(
            name, k, "callers CA", self.ca_key, ca=False, serial=100 + len(self.certs), extensions=tuple(ext)
        )
        self.certs[name], self.keys[name] = cert, k
        self.write(name, cert, k)
        return cert

    @staticmethod
    def point(url: str, crl_issuer: list[x509.GeneralName] | None = None) -> x509.DistributionPoint:
        return x509.DistributionPoint([x509.UniformResourceIdentifier(url)], None, None, crl_issuer)

    def write(self, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
        (self.d / f"{name}.pem").write_bytes(pem(cert))
        (self.d / f"{name}.key").write_bytes(
            key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        )

    def crl(
        self,
        *revoked: str | x509.Certificate,
        this: datetime = NOW - HOUR,
        nxt: datetime = NOW + HOUR,
        number: int = 1,
        ext: tuple[x509.ExtensionType, ...] = (),
        entries: tuple[tuple[x509.ExtensionType, ...], ...] = (),
        **kw: Any,
    ) -> bytes:
        """The CA's CRL revoking `revoked` (DER; names or certificates), CRLNumber `number`, its
        extensions `ext`, `entries` the revoked entries' own, in order; `issuer`/`key` for another
        issuer's (or a forgery), `by` a CRL issuer's (indirect)."""
        if "by" in kw:
            kw["issuer"] = kw["by"]
            kw["key"] = self.crl_issuers[kw["by"]][1]
        serials = tuple((self.certs[c] if isinstance(c, str) else c).serial_number for c in revoked)
        crl = make_crl(
            kw.get("issuer", "callers CA"),
            kw.get("key", self.ca_key),
            serials,
            this,
            nxt,
            number=number,
            extensions=ext,
            entries=dict(zip(serials, entries, strict=False)),
        )
        return crl.public_bytes(kw.get("encoding", Encoding.DER))

    def ocsp_answer(
        self,
        req: ocsp.OCSPRequest,
        status: str = "good",
        signer: str = "ca",
        key: str | None = None,
        nonce: str = "echo",
        this: datetime = NOW - HOUR,
        nxt: datetime | None = NOW + HOUR,
        serial: int | None = None,
        outcome: ocsp.OCSPResponseStatus | None = None,
        carry: bool = True,
        raw: bytes | None = None,
    ) -> bytes:
        """An OCSP answer to `req`: `status` good/revoked/unknown, signed by `signer` (the CA, or
        one of the responder certificates; `key` another key than the signer's), the request's
        nonce echoed (or ``wrong``, ``none``), `serial` answering for another certificate,
        `outcome` an unsuccessful response status, `carry` False leaving a delegated responder's
        certificate out, `raw` bytes answered as they are."""
        if raw is not None:
            return raw
        if outcome is not None:
            return ocsp.OCSPResponseBuilder.build_unsuccessful(outcome).public_bytes(Encoding.DER)
        want = serial if serial is not None else req.serial_number
        cert = next(c for c in self.certs.values() if c.serial_number == want)
        cert_status = {
            "good": ocsp.OCSPCertStatus.GOOD,
            "revoked": ocsp.OCSPCertStatus.REVOKED,
            "unknown": ocsp.OCSPCertStatus.UNKNOWN,
        }[status]
        revoked_at = NOW - HOUR if status == "revoked" else None
        b = ocsp.OCSPResponseBuilder().add_response(
            cert,
            self.ca,
            hashes.SHA1(),
            cert_status,
            this,
            nxt,
            revoked_at,
            None,  # noqa: S303
        )
        if signer == "ca":
            b = b.responder_id(ocsp.OCSPResponderEncoding.NAME, self.ca)
            signing_key = self.ca_key
        else:
            rcert, signing_key = self.responders[signer]
            b = b.responder_id(ocsp.OCSPResponderEncoding.HASH, rcert)
            b = b.certificates([rcert]) if carry else b
        sent = [e.value.nonce for e in req.extensions if isinstance(e.value, x509.OCSPNonce)]
        if nonce == "echo" and sent:
            b = b.add_extension(x509.OCSPNonce(sent[0]), critical=False)
        elif nonce == "wrong":
            b = b.add_extension(x509.OCSPNonce(os.urandom(16)), critical=False)
        der = b.sign(signing_key, hashes.SHA256()).public_bytes(Encoding.DER)
        if key == "other":  # the signature swapped for another key's over the same bytes
            resp = ocsp.load_der_ocsp_response(der)
            forged = resp.signature
            while len(forged) != len(resp.signature) or forged == resp.signature:
                forged = self.other_key.sign(resp.tbs_response_bytes, ec.ECDSA(hashes.SHA256()))
            der = der.replace(resp.signature, forged)
        return der

    def server_pem(self) -> tuple[bytes, bytes]:
        """The agent's certificate and key (PEM)."""
        return (self.d / "server.pem").read_bytes(), (self.d / "server.key").read_bytes()

    def presents(self, name: str) -> ClientCertificate:
        return ClientCertificate(self.d / f"{name}.pem", self.d / f"{name}.key", self.d / "ca.pem")


@pytest.fixture(scope="module")
def revocation_pki(tmp_path_factory):
    """(the PKI, the responder), the responder served on loopback."""
    responder = Responder()
    with ServiceServer(responder.app, log_level="warning") as s:
        pki = Pki(tmp_path_factory.mktemp("revocation"), s.url.rstrip("/"))
        responder.pki = pki
        for name in ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"):
            pki.client(name)
        pki.client("down", crl=DOWN + "/crl", ocsp_url=DOWN + "/ocsp")
        pki.client("nowhere", crl=None, ocsp_url=None)
        yield pki, responder


def _mtls(pki: Pki, revocation: Revocation) -> MutualTLS:
    callers = {"uri:spiffe://acme/" + n: n for n in pki.certs}
    return MutualTLS(pem(pki.ca), callers, revocation=revocation)


def _check(pki: Pki, who: str, **kw: Any) -> Revocation:
    """Identify `who` under a fresh policy (`kw`, the local fetcher by default): the policy used."""
    r = Revocation(**({"fetcher": LOCAL} | kw))
    assert _mtls(pki, r).identify([pki.certs[who]]) == who
    return r


def _refused(pki: Pki, who: str, err: type[Exception], match: str | None = None, **kw: Any) -> Revocation:
    r = Revocation(**({"fetcher": LOCAL} | kw))
    with pytest.raises(err, match=match):
        _mtls(pki, r).identify([pki.certs[who]])
    return r


# ---------------------------------------------------------------- CRLs


def test_crl_from_the_distribution_point_refuses_a_revoked_certificate_and_is_cached(revocation_pki):
    pki, rs = revocation_pki
    rs.crl["alice"] = pki.crl()  # nothing revoked
    rs.crl["bob"] = pki.crl("bob", encoding=Encoding.PEM)  # PEM is taken as DER is
    r = _check(pki, "alice", mode="crl")
    m = _mtls(pki, r)
    for _ in range(3):
        assert m.identify([pki.certs["alice"]]) == "alice"
    assert r.fetches == 1 and rs.hits["crl/alice"] == 1  # cached until its nextUpdate
    with pytest.raises(R.A2AClientCertificateRevokedError, match="revoked by its CA's CRL"):
        m.identify([pki.certs["bob"]])
    assert isinstance(R.A2AClientCertificateRevokedError("x"), A2AUnauthenticatedError)
    # the cache holds until nextUpdate: past it, the distribution point is asked again
    later = Revocation(fetcher=LOCAL, clock=lambda: (NOW + 2 * HOUR).timestamp())
    rs.crl["alice"] = pki.crl(this=NOW, nxt=NOW + 3 * HOUR)
    assert _mtls(pki, later).identify([pki.certs["alice"]]) == "alice" and later.fetches == 1
    assert r.mode == "crl" and _check(pki, "nowhere", mode="none").fetches == 0  # none: no check


def test_crl_refusals_are_typed(revocation_pki):
    pki, rs = revocation_pki
    rs.crl["carol"] = pki.crl(key=pki.other_key)  # the CA's name, another key
    _refused(pki, "carol", R.A2ARevocationSignatureError, "does not verify")
    rs.crl["dave"] = pki.crl(issuer="other CA", key=pki.other_key)  # another CA's CRL
    _refused(pki, "dave", R.A2ARevocationIssuerError, "not the certificate's CA")
    rs.crl["erin"] = pki.crl(this=NOW - 3 * HOUR, nxt=NOW - HOUR)  # past nextUpdate
    r = _refused(pki, "erin", R.A2ARevocationStaleError, "stale")
    _refused(pki, "erin", R.A2ARevocationStaleError, fail_closed=False)  # stale: never soft-failed
    _check(pki, "erin", crl_grace_s=7200)  # within the configured grace
    assert r.fetches == 1
    rs.crl["frank"] = pki.crl(this=NOW + 2 * HOUR, nxt=NOW + 3 * HOUR)
    _refused(pki, "frank", R.A2ARevocationStaleError, "future")
    rs.crl["grace"] = b"not a CRL"
    _refused(pki, "grace", R.A2ARevocationFormatError, "no X.509 CRL")
    rs.crl["heidi"] = 500
    _refused(pki, "heidi", R.A2ARevocationUnavailableError, "answered 500")
    # unreachable: refused fail-closed, let through soft-fail (and not asked again for retry_s)
    _refused(pki, "down", R.A2ARevocationUnavailableError, "failed")
    soft = _check(pki, "down", fail_closed=False)
    _mtls(pki, soft).identify([pki.certs["down"]])
    assert soft.fetches == 1
    # no source at all: refused under either policy
    for closed in (True, False):
        _refused(pki, "nowhere", R.A2ARevocationNoSourceError, "no distribution point", fail_closed=closed)
    # the default fetcher reaches public addresses only: a loopback distribution point is refused
    r = Revocation(fail_closed=False)
    with pytest.raises(R.A2ARevocationAddressError, match="not public"):
        _mtls(pki, r).identify([pki.certs["alice"]])
    assert not issubclass(R.A2ARevocationAddressError, R.A2ARevocationUnavailableError)


def test_a_configured_crl_file_is_used_and_reread_when_it_changes(revocation_pki, tmp_path):
    pki, rs = revocation_pki
    f = tmp_path / "ca.crl"
    f.write_bytes(pki.crl("ivan", encoding=Encoding.PEM))
    hits = dict(rs.hits)
    r = _refused(pki, "ivan", R.A2AClientCertificateRevokedError, crl_files=[f])
    m = _mtls(pki, r)
    assert m.identify([pki.certs["judy"]]) == "judy"
    assert r.fetches == 0 and rs.hits == hits  # the file, not the distribution points
    f.write_bytes(pki.crl("judy"))  # the operator's new CRL (DER), picked up by its mtime
    os.utime(f, (1, 1))
    with pytest.raises(R.A2AClientCertificateRevokedError):
        m.identify([pki.certs["judy"]])
    f.write_bytes(pki.crl(this=NOW - 3 * HOUR, nxt=NOW - HOUR))
    os.utime(f, (2, 2))
    with pytest.raises(R.A2ARevocationStaleError):
        m.identify([pki.certs["judy"]])
    # a file of another CA's CRL serves no certificate of this one: the distribution point does
    other = tmp_path / "other.crl"
    other.write_bytes(pki.crl(issuer="other CA", key=pki.other_key))
    rs.crl["judy"] = pki.crl("judy")
    _refused(pki, "judy", R.A2AClientCertificateRevokedError, crl_files=[other])
    bad = tmp_path / "bad.crl"
    bad.write_bytes(b"garbage")
    for files in ([bad], [tmp_path / "absent.crl"]):
        with pytest.raises(ValueError, match="CRL file"):
            Revocation(crl_files=files)
    with pytest.raises(R.A2ARevocationFormatError):
        load_crl(b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n")
    for bad_kw in ({"mode": "sometimes"}, {"crl_grace_s": -1}, {"ocsp_max_age_s": 0}):
        with pytest.raises(ValueError):
            Revocation(**bad_kw)


# ---------------------------------------------------------------- delta CRLs (RFC 5280 §5.2.4)


def _delta_of(base: int) -> x509.DeltaCRLIndicator:
    return x509.DeltaCRLIndicator(base)


_user_only = x509.IssuingDistributionPoint(None, None, True, False, None, False, False)


def _reason(why: x509.ReasonFlags) -> tuple[x509.ExtensionType, ...]:
    return (x509.CRLReason(why),)


def _freshest(pki: Pki, name: str) -> x509.FreshestCRL:
    return x509.FreshestCRL([pki.point(pki.base + "/crl/" + name)])


def test_a_delta_crl_is_fetched_checked_and_applied(revocation_pki, tmp_path):
    pki, rs = revocation_pki
    for who in ("d-new", "d-held", "d-lifted", "d-compromised", "d-cert", "d-file"):
        pki.client(who, freshest="d-cert-delta" if who == "d-cert" else None)
    hold, lift = _reason(x509.ReasonFlags.certificate_hold), _reason(x509.ReasonFlags.remove_from_crl)
    # the complete CRL (number 10) names its delta; the delta (11, base 10) revokes d-new, lifts
    # d-lifted's hold; removeFromCRL lifts nothing but a hold: d-compromised stays revoked
    complete = pki.crl(
        "d-held",
        "d-lifted",
        "d-compromised",
        number=10,
        ext=(_freshest(pki, "d-delta"),),
        entries=(hold, hold, _reason(x509.ReasonFlags.key_compromise)),
    )
    for who in ("d-new", "d-held", "d-lifted", "d-compromised"):
        rs.crl[who] = complete
    delta = pki.crl(
        "d-new", "d-lifted", "d-compromised", number=11, ext=(_delta_of(10),), entries=((), lift, lift)
    )
    rs.crl["d-delta"] = delta
    r = _refused(pki, "d-new", R.A2AClientCertificateRevokedError, "delta CRL")
    assert r.fetches == 2  # the complete CRL and its delta
    m = _mtls(pki, r)
    for _ in range(2):
        assert m.identify([pki.certs["d-lifted"]]) == "d-lifted"
    assert r.fetches == 3  # d-lifted's own distribution point; the delta cached like a complete CRL
    for who in ("d-held", "d-compromised"):
        with pytest.raises(R.A2AClientCertificateRevokedError, match="by its CA's CRL$"):
            m.identify([pki.certs[who]])
    # the certificate's own Freshest CRL, when the complete CRL names none
    rs.crl["d-cert"] = pki.crl(number=10)
    rs.crl["d-cert-delta"] = pki.crl("d-cert", number=12, ext=(_delta_of(9),))
    _refused(pki, "d-cert", R.A2AClientCertificateRevokedError, "delta CRL")
    # configured files: the complete CRL and its delta, matched by issuer and deltaCRLIndicator
    files = [tmp_path / "delta.crl", tmp_path / "complete.crl"]
    files[0].write_bytes(pki.crl("d-file", number=3, ext=(_delta_of(2),), encoding=Encoding.PEM))
    files[1].write_bytes(pki.crl(number=2))
    r = _refused(pki, "d-file", R.A2AClientCertificateRevokedError, "delta CRL", crl_files=files)
    assert r.fetches == 0
    assert _check(pki, "d-file", crl_files=files[1:]).fetches == 0  # no delta: the complete CRL alone


@pytest.mark.parametrize(
    ("complete", "delta", "err", "match"),
    [
        ({"ext": (_delta_of(9),)}, None, R.A2ARevocationDeltaError, "is a delta CRL .* not a complete CRL"),
        (
            {},
            {"number": 11, "ext": ()},
            R.A2ARevocationDeltaError,
            "no delta CRL",
        ),  # a complete CRL as the delta
        ({}, {"number": 12, "ext": (_delta_of(11),)}, R.A2ARevocationDeltaError, "BaseCRLNumber 11 is above"),
        ({}, {"number": 8, "ext": (_delta_of(8),)}, R.A2ARevocationDeltaError, "not above its BaseCRLNumber"),
        ({}, {"number": 9, "ext": (_delta_of(8),)}, R.A2ARevocationDeltaError, "older than the complete"),
        ({"number": None}, {"ext": (_delta_of(8),)}, R.A2ARevocationDeltaError, "CRLNumber is missing"),
        ({}, {"ext": (_delta_of(10), _user_only)}, R.A2ARevocationDeltaError, "differs from the complete"),
        ({}, {"key": "other"}, R.A2ARevocationSignatureError, "does not verify"),
        ({}, {"issuer": "other CA"}, R.A2ARevocationIssuerError, "not the certificate's CA"),
        ({}, {"this": NOW - 3 * HOUR, "nxt": NOW - HOUR}, R.A2ARevocationStaleError, "stale"),
        ({}, {"raw": b"garbage"}, R.A2ARevocationFormatError, "no X.509 CRL"),
        ({}, {"raw": 503}, R.A2ARevocationUnavailableError, "answered 503"),
    ],
)
def test_delta_crl_refusals_are_typed(revocation_pki, complete, delta, err, match):
    pki, rs = revocation_pki
    if "d-bad" not in pki.certs:
        pki.client("d-bad")
    number = complete.get("number", 10)
    ext = (*complete.get("ext", ()), _freshest(pki, "d-bad-delta"))
    # (make_crl always gives a CRLNumber: a complete CRL without one is built by hand)
    rs.crl["d-bad"] = pki.crl(number=number, ext=ext) if number is not None else _without_number(pki, ext)
    if delta is not None:
        delta = dict(delta)
        raw = delta.pop("raw", None)
        if delta.pop("key", None):
            delta["key"] = pki.other_key
        if delta.get("issuer"):
            delta["key"] = pki.other_key
        kw = {"number": 11, "ext": (_delta_of(10),)} | delta
        rs.crl["d-bad-delta"] = raw if raw is not None else pki.crl(**kw)
    _refused(pki, "d-bad", err, match)
    if err is not R.A2ARevocationUnavailableError:  # only an unreachable delta is soft-failed
        _refused(pki, "d-bad", err, match, fail_closed=False)
    else:
        _check(pki, "d-bad", fail_closed=False)


def _without_number(pki: Pki, ext: tuple[x509.ExtensionType, ...]) -> bytes:
    b = x509.CertificateRevocationListBuilder().issuer_name(pki.ca.subject).last_update(NOW - HOUR)
    b = b.next_update(NOW + HOUR)
    for e in ext:
        b = b.add_extension(e, critical=False)
    return b.sign(pki.ca_key, hashes.SHA256()).public_bytes(Encoding.DER)


def test_an_unreachable_delta_keeps_a_listed_certificate_revoked_under_soft_fail(revocation_pki):
    pki, rs = revocation_pki
    for who in ("d-down-held", "d-down-clear"):
        pki.client(who)
        rs.crl[who] = pki.crl(
            "d-down-held",
            number=4,
            ext=(x509.FreshestCRL([pki.point(DOWN + "/delta")]),),
            entries=(_reason(x509.ReasonFlags.certificate_hold),),
        )
    _refused(pki, "d-down-clear", R.A2ARevocationUnavailableError, "failed")
    _check(pki, "d-down-clear", fail_closed=False)  # soft-fail: the source could not be reached
    # a certificate the complete CRL lists: only the delta could lift it, so it stays revoked
    _refused(
        pki, "d-down-held", R.A2AClientCertificateRevokedError, "could not be fetched", fail_closed=False
    )


# ---------------------------------------------------------------- indirect CRLs (RFC 5280 §5.2.5)


def _indirect(pki: Pki, url: str | None = None, **kw: Any) -> x509.IssuingDistributionPoint:
    full = [x509.UniformResourceIdentifier(url)] if url else None
    flags = {
        "only_contains_user_certs": False,
        "only_contains_ca_certs": False,
        "only_some_reasons": None,
        "indirect_crl": True,
        "only_contains_attribute_certs": False,
    }
    return x509.IssuingDistributionPoint(full, None, **(flags | kw))


def _issued_by(cert: x509.Certificate) -> tuple[x509.ExtensionType, ...]:
    return (x509.CertificateIssuer([x509.DirectoryName(cert.subject)]),)


def test_an_indirect_crl_is_taken_from_the_crl_issuer_the_distribution_point_names(revocation_pki, tmp_path):
    pki, rs = revocation_pki
    for who in ("i-revoked", "i-other", "i-inherits", "i-none"):
        pki.client(who, crl_issuer="crl issuer")
    issuer_cert = pki.crl_issuers["crl issuer"][0]
    # entries: i-other under the other CA; i-inherits after it (the same issuer carries on);
    # i-revoked under the callers CA: only it is revoked, though all three serials are listed
    crl = pki.crl(
        "i-other",
        "i-inherits",
        "i-revoked",
        by="crl issuer",
        ext=(_indirect(pki),),
        entries=(_issued_by(pki.other), (), _issued_by(pki.ca)),
    )
    for who in ("i-revoked", "i-other", "i-inherits", "i-none"):
        rs.crl[who] = crl
    kw: dict[str, Any] = {"crl_issuers": [issuer_cert]}
    _refused(pki, "i-revoked", R.A2AClientCertificateRevokedError, "indirect CRL of", **kw)
    for who in ("i-other", "i-inherits", "i-none"):
        _check(pki, who, **kw)
    # the CRL issuer's certificate from a PEM file, and the indirect CRL from a configured file
    (tmp_path / "issuers.pem").write_bytes(pem(pki.other) + pem(issuer_cert))
    (tmp_path / "indirect.crl").write_bytes(crl)
    r = _refused(
        pki,
        "i-revoked",
        R.A2AClientCertificateRevokedError,
        crl_issuers=[tmp_path / "issuers.pem"],
        crl_files=[tmp_path / "indirect.crl"],
    )
    assert r.fetches == 0
    with pytest.raises(ValueError, match="CRL issuer certificate file"):
        Revocation(crl_issuers=[tmp_path / "indirect.crl"])
    # entries with no certificateIssuer default to the CRL issuer: not the callers CA
    rs.crl["i-none"] = pki.crl("i-none", by="crl issuer", ext=(_indirect(pki),))
    _check(pki, "i-none", **kw)


@pytest.mark.parametrize(
    ("issuer", "crl", "err", "match"),
    [
        (None, {}, R.A2ARevocationIndirectError, "no certificate of the CRL issuer"),
        ("crl issuer", {"ext": ()}, R.A2ARevocationIndirectError, "does not say indirectCRL"),
        ("crl issuer", {"ext": "not indirect"}, R.A2ARevocationIndirectError, "does not say indirectCRL"),
        ("no-sign issuer", {}, R.A2ARevocationIndirectError, "no keyUsage cRLSign"),
        ("foreign issuer", {}, R.A2ARevocationIndirectError, "not issued by the certificate's CA"),
        ("expired issuer", {}, R.A2ARevocationIndirectError, "not valid now"),
        ("crl issuer", {"by": None}, R.A2ARevocationIssuerError, "not its CRL issuer"),  # the CA's CRL
        ("crl issuer", {"key": "other"}, R.A2ARevocationSignatureError, "its CRL issuer's key"),
    ],
)
def test_indirect_crl_refusals_are_typed(revocation_pki, issuer, crl, err, match):
    pki, rs = revocation_pki
    names = {"no-sign issuer": "i-nosign", "foreign issuer": "i-foreign", "expired issuer": "i-expired"}
    who = names.get(issuer or "", "i-bad")
    named = issuer if issuer in names else "crl issuer"
    if who not in pki.certs:
        pki.client(who, crl_issuer=named)
    kw: dict[str, Any] = {"by": named, "ext": (_indirect(pki),)} | crl
    if kw["ext"] == "not indirect":
        kw["ext"] = (_indirect(pki, pki.base + "/crl/" + who, indirect_crl=False),)
    if kw["by"] is None:
        del kw["by"]
    if kw.pop("key", None):
        kw["issuer"], kw["key"] = kw.pop("by"), pki.other_key
    rs.crl[who] = pki.crl(**kw)
    given = [pki.crl_issuers[issuer][0]] if issuer else []
    _refused(pki, who, err, match, crl_issuers=given)
    _refused(pki, who, err, match, crl_issuers=given, fail_closed=False)


def test_a_crl_issuer_by_no_directory_name_and_malformed_extensions_are_refused(revocation_pki):
    pki, rs = revocation_pki
    k = _key()
    by_uri = [x509.UniformResourceIdentifier("ldap://crl-issuer")]  # (a CRL issuer, but no name)
    cert = make_cert(
        "i-uri",
        k,
        "callers CA",
        pki.ca_key,
        ca=False,
        serial=970,
        extensions=(x509.CRLDistributionPoints([pki.point(pki.base + "/crl/i-uri", by_uri)]),),
    )
    with pytest.raises(R.A2ARevocationIndirectError, match="by no directory name"):
        Revocation(fetcher=LOCAL).check([cert, pki.ca])
    # an issuingDistributionPoint whose value does not parse (signed, so only its form is wrong)
    pki.client("x-bad-ext")
    garbage = x509.UnrecognizedExtension(ExtensionOID.ISSUING_DISTRIBUTION_POINT, b"\x05\x00")
    rs.crl["x-bad-ext"] = pki.crl(ext=(garbage,))
    _refused(pki, "x-bad-ext", R.A2ARevocationFormatError, "extensions are malformed", fail_closed=False)


def test_the_issuing_distribution_point_scope_is_checked(revocation_pki):
    pki, rs = revocation_pki
    pki.client("s-user")
    url = pki.base + "/crl/s-user"
    sub_key = _key()
    sub = make_cert(
        "sub CA",
        sub_key,
        "callers CA",
        pki.ca_key,
        ca=True,
        serial=960,
        extensions=(x509.CRLDistributionPoints([pki.point(pki.base + "/crl/s-sub")]),),
    )
    scopes: list[tuple[str, x509.Certificate, dict[str, Any], str]] = [
        ("s-sub", sub, {"only_contains_user_certs": True}, "end-entity certificates only"),
        ("s-user", pki.certs["s-user"], {"only_contains_ca_certs": True}, "CA certificates only"),
        ("s-user", pki.certs["s-user"], {"only_contains_attribute_certs": True}, "attribute certificates"),
        (
            "s-user",
            pki.certs["s-user"],
            {"only_some_reasons": frozenset({x509.ReasonFlags.key_compromise})},
            "only some revocation reasons",
        ),
    ]
    for name, cert, flags, match in scopes:
        rs.crl[name] = pki.crl(ext=(_indirect(pki, indirect_crl=False, **flags),))
        with pytest.raises(R.A2ARevocationScopeError, match=match):
            Revocation(fetcher=LOCAL).check([cert, pki.ca])
    # the issuing distribution point names another point than the one fetched; then this one
    rs.crl["s-user"] = pki.crl(ext=(_indirect(pki, pki.base + "/crl/elsewhere", indirect_crl=False),))
    _refused(pki, "s-user", R.A2ARevocationScopeError, "another distribution point")
    rs.crl["s-user"] = pki.crl(ext=(_indirect(pki, url, indirect_crl=False),))
    _check(pki, "s-user")
    rs.crl["s-sub"] = pki.crl(sub, ext=(_indirect(pki, only_contains_ca_certs=True, indirect_crl=False),))
    with pytest.raises(R.A2AClientCertificateRevokedError):  # a CA-only CRL revoking the sub-CA
        Revocation(fetcher=LOCAL).check([sub, pki.ca])


# ---------------------------------------------------------------- OCSP


def test_ocsp_answers_are_checked_and_cached(revocation_pki):
    pki, rs = revocation_pki
    rs.ocsp["alice"] = {}  # good, signed by the CA, the nonce echoed
    r = _check(pki, "alice", mode="ocsp")
    m = _mtls(pki, r)
    assert m.identify([pki.certs["alice"]]) == "alice" and r.fetches == 1  # cached until nextUpdate
    rs.ocsp["bob"] = {"signer": "delegated", "nonce": "none"}  # a delegated responder, no nonce
    _check(pki, "bob", mode="ocsp")
    _refused(pki, "bob", R.A2ARevocationNonceError, "no nonce", mode="ocsp", require_nonce=True)
    rs.ocsp["carol"] = {"status": "unknown"}
    _refused(pki, "carol", R.A2ARevocationUnknownError, "does not know", mode="ocsp")
    _check(pki, "carol", mode="ocsp", accept_unknown=True)
    rs.ocsp["dave"] = {"nxt": None, "this": NOW - timedelta(minutes=5)}  # no nextUpdate: by age
    _check(pki, "dave", mode="ocsp")
    _refused(pki, "dave", R.A2ARevocationStaleError, "at most 60 s", mode="ocsp", ocsp_max_age_s=60)


@pytest.mark.parametrize(
    ("answer", "err", "match"),
    [
        ({"status": "revoked"}, R.A2AClientCertificateRevokedError, "revoked .OCSP."),
        ({"key": "other"}, R.A2ARevocationSignatureError, "does not verify"),
        ({"signer": "delegated", "key": "other"}, R.A2ARevocationSignatureError, "does not verify"),
        ({"nonce": "wrong"}, R.A2ARevocationNonceError, "another nonce"),
        ({"this": NOW - 3 * HOUR, "nxt": NOW - HOUR}, R.A2ARevocationStaleError, "stale"),
        ({"this": NOW + HOUR, "nxt": NOW + 2 * HOUR}, R.A2ARevocationStaleError, "future"),
        ({"signer": "no-eku"}, R.A2ARevocationResponderError, "id-kp-OCSPSigning"),
        ({"signer": "foreign"}, R.A2ARevocationResponderError, "not issued by"),
        ({"signer": "delegated", "carry": False}, R.A2ARevocationResponderError, "neither"),
        ({"raw": b"not DER"}, R.A2ARevocationFormatError, "malformed"),
        ({"serial": 101}, R.A2ARevocationFormatError, "not for the client certificate"),  # bob's answer
        ({"outcome": ocsp.OCSPResponseStatus.UNAUTHORIZED}, R.A2ARevocationFormatError, "UNAUTHORIZED"),
        ({"outcome": ocsp.OCSPResponseStatus.TRY_LATER}, R.A2ARevocationUnavailableError, "TRY_LATER"),
    ],
)
def test_ocsp_refusals_are_typed(revocation_pki, answer, err, match):
    pki, rs = revocation_pki
    rs.ocsp["erin"] = answer
    _refused(pki, "erin", err, match, mode="ocsp")
    if err is not R.A2ARevocationUnavailableError:  # only an unreachable responder is soft-failed
        _refused(pki, "erin", err, match, mode="ocsp", fail_closed=False)
    else:
        _check(pki, "erin", mode="ocsp", fail_closed=False)


def test_unreachable_responders_fail_closed_or_soft_and_either_falls_back_to_the_crl(revocation_pki):
    pki, rs = revocation_pki
    r = _refused(pki, "down", R.A2ARevocationUnavailableError, "failed", mode="ocsp")
    with pytest.raises(R.A2ARevocationUnavailableError):  # remembered for retry_s: not asked again
        _mtls(pki, r).identify([pki.certs["down"]])
    assert r.fetches == 1
    _check(pki, "down", mode="ocsp", fail_closed=False)
    _check(pki, "down", mode="either", fail_closed=False)  # neither OCSP nor the CRL answers
    _refused(pki, "down", R.A2ARevocationUnavailableError, mode="either")
    _refused(
        pki, "nowhere", R.A2ARevocationNoSourceError, "no OCSP responder", mode="ocsp", fail_closed=False
    )
    # either: OCSP's answer when it gives one (no CRL fetched) ...
    rs.ocsp["frank"], rs.crl["frank"] = {}, pki.crl("frank")
    assert _check(pki, "frank", mode="either").fetches == 1
    # ... the CRL when the certificate names no responder, or it cannot be reached
    pki.client("noocsp", ocsp_url=None)
    pki.client("deadocsp", ocsp_url=DOWN + "/ocsp")
    for who in ("noocsp", "deadocsp"):
        rs.crl[who] = pki.crl(who)
        r = _refused(pki, who, R.A2AClientCertificateRevokedError, "CRL", mode="either")
    assert r.fetches == 2  # the responder tried, then the distribution point
    # a definite OCSP refusal is not passed over to the CRL
    rs.ocsp["grace"], rs.crl["grace"] = {"status": "revoked"}, pki.crl()
    _refused(pki, "grace", R.A2AClientCertificateRevokedError, "OCSP", mode="either")


def test_ocsp_by_get_for_cacheable_answers(revocation_pki, monkeypatch):
    pki, rs = revocation_pki
    for who in ("g-good", "g-revoked", "g-post", "g-long"):
        pki.client(who)
    rs.ocsp["g-good"] = {"nonce": "wrong"}  # (a nonce the agent did not send means nothing)
    r = _check(pki, "g-good", mode="ocsp", ocsp_get=True)
    assert rs.methods["g-good"] == "GET" and r.fetches == 1
    _mtls(pki, r).identify([pki.certs["g-good"]])
    assert r.fetches == 1 and rs.hits["ocsp/g-good"] == 1  # cached until nextUpdate
    rs.ocsp["g-revoked"] = {"status": "revoked", "signer": "delegated"}
    _refused(pki, "g-revoked", R.A2AClientCertificateRevokedError, "OCSP", mode="ocsp", ocsp_get=True)
    assert rs.methods["g-revoked"] == "GET"
    rs.ocsp["g-post"] = {"nonce": "wrong"}  # by POST, with a nonce: another nonce is a replay
    _refused(pki, "g-post", R.A2ARevocationNonceError, "another nonce", mode="ocsp")
    assert rs.methods["g-post"] == "POST"
    # an encoded request too long for a GET is POSTed, still without a nonce (the answer echoes none)
    monkeypatch.setattr(a2a_revocation, "OCSP_GET_MAX", 16)
    rs.ocsp["g-long"] = {}
    _check(pki, "g-long", mode="ocsp", ocsp_get=True)
    assert rs.methods["g-long"] == "POST" and not list(rs.requests["g-long"].extensions)
    assert rs.methods["g-good"] == "GET" and not list(rs.requests["g-good"].extensions)
    assert [type(e.value) for e in rs.requests["g-post"].extensions] == [x509.OCSPNonce]
    # GET carries no nonce: requiring one contradicts it, refused when the policy is made
    with pytest.raises(R.A2ARevocationPolicyError, match="cannot require_nonce"):
        Revocation("ocsp", ocsp_get=True, require_nonce=True)
    assert issubclass(R.A2ARevocationPolicyError, ValueError)


# ---------------------------------------------------------------- an agent over mutual TLS


@pytest.mark.parametrize("binding", [JSONRPC, GRPC])
def test_an_agent_refuses_a_revoked_caller_over_mutual_tls(revocation_pki, binding):
    pki, rs = revocation_pki
    for who in ("kate", "leo"):
        if who not in pki.certs:
            pki.client(who)
    rs.crl["kate"] = rs.crl["leo"] = pki.crl("leo")
    m = _mtls(pki, Revocation("crl", fetcher=LOCAL))
    grpc_kw = {"grpc_listen": "127.0.0.1:0", "grpc_credentials": m.grpc_credentials(*pki.server_pem())}
    server = _agent(mtls=m, require_auth=True, **(grpc_kw if binding == GRPC else {}))
    tls = m.server_context(pki.d / "server.pem", pki.d / "server.key")
    with ServiceServer(server.app(), log_level="warning", tls=tls) as s:
        kate = A2AClient(s.url, binding=binding, client_cert=pki.presents("kate"), timeout_s=10)
        leo = A2AClient(s.url, binding=binding, client_cert=pki.presents("leo"), timeout_s=10)
        try:
            assert kate.send(_free()).status.state == COMPLETED
            with pytest.raises(A2AUnauthenticatedError, match="revoked"):
                leo.send(_free())
        finally:  # (the server waits for open connections when it stops)
            for c in (kate, leo):
                c.close()
