"""The client of the V2 network: ``eigen da put`` (payload -> certificate) and ``eigen da get`` (certificate
-> payload, from validators' chunks, each verified).

``put`` encodes the payload as a blob (:func:`offchain.da.codec.encode_payload`), asks the disperser for the
blob's commitment (``GetBlobCommitment``), builds the blob header with a reservation payment header, signs
the blob key with the payer's secp256k1 key, calls ``DisperseBlob`` and polls ``GetBlobStatus`` until the
blob is COMPLETE (its certificate: signed batch and inclusion info) or FAILED. The certificate is checked
before it is returned: it carries the header that was signed and its inclusion proof folds to the batch root.

Payments (:mod:`offchain.da.network.payments`): ``put`` first asks ``GetPaymentState`` (signed by the payer)
for the account's reservation, its last accepted on-demand total and its deposit, and keeps a
:class:`ClientLedger`: a reservation payment waits while the client's bucket (60 s, starting full) has no room;
an on-demand payment carries the last total plus the blob's cost, refused here when the deposit does not
cover it. The payment header is part of the blob key the payer signs, as EigenDA's.

Transport: a disperser or relay URL ``grpc://host:port`` is called over gRPC (EigenDA's services and messages,
:mod:`offchain.da.network.wire`), any other over HTTP+JSON; a refusal's gRPC status name is the
:class:`DispersalError`'s ``code`` either way.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from eth_keys import keys as eth_keys

from offchain.da.codec import decode_payload, encode_payload
from offchain.da.eigenda.encoder import Encoder
from offchain.da.errors import (
    CertificateRejectedError,
    DAError,
    DispersalError,
    GrpcCallError,
    NetworkMessageError,
)
from offchain.da.network import wire
from offchain.da.network.disperser import blob_commitment
from offchain.da.network.payments import NO_RESERVATION, ClientLedger, Reservation, VaultParams
from offchain.da.network.retrieval import retrieve_blob
from offchain.da.network.types import (
    BatchHeader,
    BlobCertificate,
    BlobCommitment,
    BlobHeader,
    PaymentHeader,
    dispersal_anchor_hash,
    hex_field,
    inclusion_root,
    json_fields,
    payment_state_request_digest,
    sign_digest,
)

PAYMENT_MODES = ("reservation", "on-demand")


DISPERSER_SERVICE = "disperser.v2.Disperser"


def _grpc_call(
    url: str, service: str, method: str, body: dict, timeout_s: float, tls: wire.ClientTLS | None = None
) -> dict:
    """``method`` of ``service`` over gRPC (``grpc://host:port``; ``grpcs://`` over TLS with ``tls``); refusals as
    :class:`DispersalError` with the status name as ``code``."""
    try:
        return wire.grpc_call(url, service, method, body, timeout_s, tls)
    except GrpcCallError as exc:
        what = "unreachable" if exc.code == "UNAVAILABLE" and "connect" in exc.message.lower() else "refused"
        raise DispersalError(f"{method}: {what} (gRPC {exc.code}): {exc.message}", code=exc.code) from None
    except NetworkMessageError as exc:  # a request that does not encode, or a reply that does not convert
        raise DispersalError(f"{method}: {exc}") from None


def _call(url: str, method: str, body: dict, timeout_s: float, tls: wire.ClientTLS | None = None) -> dict:
    """``method`` of the disperser at ``url``: HTTP+JSON for ``http(s)://``, gRPC for ``grpc://host:port`` (and
    over TLS for ``grpcs://``, with ``tls``); the reply's JSON form either way."""
    if wire.is_grpc(url):
        return _grpc_call(url, DISPERSER_SERVICE, method, body, timeout_s, tls)
    try:
        r = httpx.post(f"{url.rstrip('/')}/v2/{method}", json=body, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise DispersalError(f"{method}: disperser {url} unreachable: {exc}") from exc
    try:
        reply = r.json()
    except ValueError:
        raise DispersalError(f"{method}: HTTP {r.status_code}, not JSON") from None
    if r.status_code != 200:
        err = reply.get("error", {}) if isinstance(reply, dict) else {}
        code = err.get("code") if isinstance(err, dict) else None
        raise DispersalError(
            f"{method}: refused (HTTP {r.status_code}{f', {code}' if code else ''}): {err.get('message', reply)}",
            status=r.status_code,
            code=code if isinstance(code, str) else None,
        )
    if not isinstance(reply, dict):
        raise DispersalError(f"{method}: malformed reply")
    return reply


def check_certificate(cert: Any) -> tuple[BlobCertificate, BatchHeader]:
    """The blob certificate and batch header of a certificate JSON; raises :class:`DispersalError` when it is
    malformed or its inclusion proof does not fold to the batch root."""
    try:
        f = json_fields(cert, ("blob_key", "signed_batch", "blob_inclusion_info"), "certificate")
        batch = json_fields(f["signed_batch"], ("header", "attestation"), "signed_batch")
        header = BatchHeader.from_json(batch["header"])
        inc = json_fields(
            f["blob_inclusion_info"],
            ("blob_certificate", "blob_index", "inclusion_proof"),
            "blob_inclusion_info",
        )
        bc = BlobCertificate.from_json(inc["blob_certificate"])
        index = inc["blob_index"]
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < 1 << 32:
            raise NetworkMessageError(f"blob_index: {index!r}")
        proof = hex_field(inc["inclusion_proof"], "inclusion_proof")
        key = hex_field(f["blob_key"], "blob_key", 32)
    except NetworkMessageError as exc:
        raise DispersalError(f"certificate: {exc}") from exc
    if bc.blob_header.blob_key() != key:
        raise DispersalError("certificate: blob_key is not the certificate's blob header's key")
    try:
        root = inclusion_root(bc.hash(), proof, index)
    except NetworkMessageError as exc:
        raise DispersalError(f"certificate: the inclusion proof is malformed: {exc}") from exc
    if root != header.batch_root:
        raise DispersalError("certificate: the inclusion proof does not lead to the batch root")
    return bc, header


class CertChecker(Protocol):
    """``EigenDACertVerifier.checkDACert`` (``offchain.chain.da_contracts.CertVerifierClient``)."""

    def check_da_cert(self, cert: dict[str, Any]) -> int: ...

    def status_text(self, status: int) -> str: ...


CHECK_DA_CERT_SUCCESS = 1


def check_onchain(cert: dict[str, Any], checker: CertChecker) -> None:
    """Raise :class:`CertificateRejectedError` naming the status unless ``checkDACert`` returns SUCCESS; a chain
    that cannot be asked is a :class:`DispersalError`."""
    try:
        status = int(checker.check_da_cert(cert))
    except DAError:
        raise
    except Exception as exc:  # noqa: BLE001 - any RPC or encoding failure: not checked, so not accepted
        raise DispersalError(f"checkDACert: the certificate could not be checked: {exc}") from exc
    if status != CHECK_DA_CERT_SUCCESS:
        raise CertificateRejectedError(status, checker.status_text(status))


def payment_state(
    url: str, private_key: bytes, timeout_s: float = 30.0, tls: wire.ClientTLS | None = None
) -> ClientLedger | None:
    """``GetPaymentState`` for the key's account, signed as EigenDA's ``SignPaymentStateRequest``; the client's
    ledger from it, or None when the disperser does not meter payments (HTTP 501)."""
    account = eth_keys.PrivateKey(private_key).public_key.to_checksum_address()
    ts = time.time_ns()
    body = {
        "account_id": account,
        "timestamp": ts,
        "signature": sign_digest(private_key, payment_state_request_digest(account, ts)).hex(),
    }
    try:
        reply = _call(url, "GetPaymentState", body, timeout_s, tls)
    except DispersalError as exc:
        if exc.status == 501 or exc.code == "UNIMPLEMENTED":
            return None
        raise
    try:
        g = reply["payment_global_params"]
        window = int(g["reservation_window"])
        params = VaultParams(int(g["min_num_symbols"]), int(g["price_per_symbol"]), 0, 0, window, window)
        res = Reservation.from_json(reply["reservation"]) if reply.get("reservation") else NO_RESERVATION
        cum = int.from_bytes(bytes.fromhex(reply["cumulative_payment"]), "big")
        deposit = int.from_bytes(bytes.fromhex(reply["onchain_cumulative_payment"]), "big")
    except (KeyError, TypeError, ValueError) as exc:
        raise DispersalError(f"GetPaymentState: malformed reply: {exc!r}") from None
    return ClientLedger(res, params, cum, deposit)


def payment_header(
    account: str,
    ledger: ClientLedger | None,
    payment: str,
    symbols: int,
    quorums: tuple[int, ...],
    deadline: float,
) -> PaymentHeader:
    """The payment header of the next blob: a reservation one once the client's bucket has room (waiting
    until ``deadline`` at most), or an on-demand one with the next cumulative payment."""
    if payment not in PAYMENT_MODES:
        raise DispersalError(f"payment: {payment!r}, expected one of {PAYMENT_MODES}")
    if payment == "on-demand":
        if ledger is None:
            raise DispersalError(
                "on-demand payment: the disperser does not meter payments (no payment state)"
            )
        cum = ledger.next_cumulative(symbols)
        if cum is None:
            raise DispersalError(
                f"on-demand payment: {account}'s deposit ({ledger.deposit} wei) does not cover "
                f"{ledger.cumulative} already paid plus this blob's {ledger.params.cost(symbols)} wei"
            )
        ledger.cumulative = cum
        return PaymentHeader(account, time.time_ns(), cum)
    while ledger is not None:
        ts = time.time_ns()
        wait = ledger.reservation_wait_s(symbols, quorums, ts)
        if wait is None:
            raise DispersalError(
                f"reservation payment: {account} has no reservation covering quorums {list(quorums)} now "
                f"({ledger.reservation.to_json() if ledger.reservation.exists else 'none'})"
            )
        if wait == 0:
            return PaymentHeader(account, ts, 0)
        if time.monotonic() + wait > deadline:
            raise DispersalError(f"reservation payment: the bucket has no room for {wait:.1f} s more")
        time.sleep(wait)
    return PaymentHeader(account, time.time_ns(), 0)


def anchor_fields(private_key: bytes, blob_key: bytes, chain_id: int, disperser_id: int) -> dict[str, Any]:
    """``DisperseBlobRequest``'s anchor fields (JSON form): the payer's signature over
    :func:`dispersal_anchor_hash` (binding the request to one disperser on one chain), the disperser id, the
    chain id as 32 bytes big-endian."""
    try:
        digest = dispersal_anchor_hash(chain_id, disperser_id, blob_key)
    except NetworkMessageError as exc:
        raise DispersalError(f"anchor: {exc}") from None
    return {
        "anchor_signature": sign_digest(private_key, digest).hex(),
        "disperser_id": disperser_id,
        "chain_id": chain_id.to_bytes(32, "big").hex(),
    }


def put(
    url: str, payload: bytes, private_key: bytes, quorums: tuple[int, ...] = (0, 1), *,
    timeout_s: float = 300.0, poll_s: float = 0.2, payment: str = "reservation", ledger: ClientLedger | None = None,
    cert_checker: CertChecker | None = None, chain_id: int | None = None, disperser_id: int = 0,
    tls: wire.ClientTLS | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Disperse ``payload``; its certificate JSON once COMPLETE. :class:`DispersalError` when refused or FAILED.
    ``payment``: ``reservation`` or ``on-demand``; ``ledger``: a ledger kept across puts (default: a fresh one
    from ``GetPaymentState``); ``cert_checker``: the certificate is accepted only when the deployed
    EigenDACertVerifier's ``checkDACert`` says SUCCESS (:func:`check_onchain`). With ``chain_id`` the request
    carries EigenDA's anchor signature for disperser ``disperser_id`` on that chain (:func:`anchor_fields`).
    ``tls``: the trust (and client certificate) for a ``grpcs://`` disperser."""
    if payment not in PAYMENT_MODES:
        raise DispersalError(f"payment: {payment!r}, expected one of {PAYMENT_MODES}")
    deadline = time.monotonic() + timeout_s
    blob = encode_payload(payload)
    reply = _call(url, "GetBlobCommitment", {"blob": blob.hex()}, timeout_s, tls)
    try:
        com = BlobCommitment.from_json(reply.get("blob_commitment"))
    except NetworkMessageError as exc:
        raise DispersalError(f"GetBlobCommitment: {exc}") from exc
    account = eth_keys.PrivateKey(private_key).public_key.to_checksum_address()
    if ledger is None:
        ledger = payment_state(url, private_key, timeout_s, tls)
    pay = payment_header(account, ledger, payment, com.length, quorums, deadline)
    header = BlobHeader(0, quorums, com, pay)
    key = header.blob_key()
    body = {
        "blob": blob.hex(),
        "blob_header": header.to_json(),
        "signature": sign_digest(private_key, key).hex(),
    }
    if chain_id is not None:
        body.update(anchor_fields(private_key, key, chain_id, disperser_id))
    reply = _call(url, "DisperseBlob", body, timeout_s, tls)
    if reply.get("blob_key") != key.hex():
        raise DispersalError(
            f"DisperseBlob: the disperser acknowledged {reply.get('blob_key')!r}, not {key.hex()}"
        )
    while True:
        status = _call(url, "GetBlobStatus", {"blob_key": key.hex()}, timeout_s, tls)
        if status.get("status") == "COMPLETE":
            cert = {"blob_key": key.hex(), "signed_batch": status.get("signed_batch"),
                    "blob_inclusion_info": status.get("blob_inclusion_info")}  # fmt: skip
            bc, _ = check_certificate(cert)
            if bc.blob_header != header:
                raise DispersalError("GetBlobStatus: the certificate's blob header is not the one signed")
            if cert_checker is not None:
                check_onchain(cert, cert_checker)
            return cert
        if status.get("status") == "FAILED":
            raise DispersalError(
                f"blob {key.hex()} FAILED: {status.get('failure_reason') or 'no reason given'}"
            )
        if time.monotonic() > deadline:
            raise DispersalError(f"blob {key.hex()}: still {status.get('status')} after {timeout_s:g} s")
        time.sleep(poll_s)


def certificate(
    url: str, blob_key: bytes, timeout_s: float = 30.0, tls: wire.ClientTLS | None = None
) -> dict[str, Any]:
    """The certificate of a dispersed blob by its key, from the disperser's ``GetBlobStatus``: checked
    (:func:`check_certificate`: the key is the certificate's blob header's, the inclusion proof folds to
    the batch root); :class:`DispersalError` when the disperser does not know the blob, it is not COMPLETE,
    or the certificate does not check. What the blob holds is then read and verified by :func:`get`."""
    if len(blob_key) != 32:
        raise DispersalError(f"a blob key is 32 bytes, got {len(blob_key)}")
    status = _call(url, "GetBlobStatus", {"blob_key": blob_key.hex()}, timeout_s, tls)
    if status.get("status") != "COMPLETE":
        raise DispersalError(f"blob {blob_key.hex()}: {status.get('status')}, no certificate")
    cert = {"blob_key": blob_key.hex(), "signed_batch": status.get("signed_batch"),
            "blob_inclusion_info": status.get("blob_inclusion_info")}  # fmt: skip
    check_certificate(cert)
    return cert


@dataclass
class Served:
    """Which path served ``get``: ``relay`` or ``validators``; why the relay was not used, if it was not."""

    served_by: str
    relay_error: str | None = None


def blob_from_relay(
    relay: str,
    header: BlobHeader,
    encoder: Encoder,
    timeout_s: float = 30.0,
    tls: wire.ClientTLS | None = None,
) -> bytes:
    """``GetBlob`` from the relay, accepted only when the blob's recomputed commitment (commitment, length
    commitment, length proof, length) is the certificate's; :class:`DispersalError` otherwise."""
    key = header.blob_key()
    if wire.is_grpc(relay):
        reply: Any = _grpc_call(relay, "relay.Relay", "GetBlob", {"blob_key": key.hex()}, timeout_s, tls)
    else:
        try:
            r = httpx.post(f"{relay.rstrip('/')}/v2/GetBlob", json={"blob_key": key.hex()}, timeout=timeout_s)
        except httpx.HTTPError as exc:
            raise DispersalError(f"relay {relay} unreachable: {exc}") from exc
        if r.status_code != 200:
            raise DispersalError(f"relay {relay}: HTTP {r.status_code}")
        try:
            reply = r.json()
        except ValueError as exc:
            raise DispersalError(f"relay {relay}: malformed GetBlobReply: {exc}") from exc
    try:
        blob = hex_field(reply.get("blob"), "blob")
    except (AttributeError, NetworkMessageError) as exc:
        raise DispersalError(f"relay {relay}: malformed GetBlobReply: {exc}") from exc
    if len(blob) != 32 * header.commitment.length:
        raise DispersalError(
            f"relay {relay}: {len(blob)} bytes, the certificate's blob has {32 * header.commitment.length}"
        )
    try:
        com = blob_commitment(encoder, blob)
    except DAError as exc:
        raise DispersalError(f"relay {relay}: not a blob: {exc}") from exc
    if com != header.commitment:
        raise DispersalError(f"relay {relay}: the blob's commitment is not the certificate's")
    return blob


def get(
    cert: Any, stakes: Mapping[int, Mapping[bytes, int]], urls: Mapping[bytes, str], encoder: Encoder,
    relays: Mapping[int, str] | None = None, cert_checker: CertChecker | None = None,
    tls: wire.ClientTLS | None = None,
) -> tuple[bytes, Served]:  # fmt: skip
    """The payload of a certificate: from the first of the certificate's relays (``relay_keys``, URLs from
    ``relays``) whose blob has the certificate's commitment, otherwise recovered from the validators' verified
    chunks; and which path served it. With ``cert_checker`` the certificate must pass ``checkDACert`` first."""
    bc, _ = check_certificate(cert)
    if cert_checker is not None:
        check_onchain(cert, cert_checker)
    errors = []
    for k in bc.relay_keys:
        url = (relays or {}).get(k)
        if not url:
            continue
        try:
            return decode_payload(blob_from_relay(url, bc.blob_header, encoder, tls=tls)), Served(
                f"relay {k}"
            )
        except DAError as exc:
            errors.append(f"relay {k}: {exc}")
    got = retrieve_blob(bc.blob_header, stakes, urls, encoder, tls=tls)
    return decode_payload(got.blob), Served("validators", "; ".join(errors) or None)


def read_certificate(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise DispersalError(f"certificate: not JSON: {exc}") from exc
