"""The DA network's protobuf messages (EigenDA's package, message and field names and numbers; the
``.proto`` files and their generated modules in :mod:`offchain.da.network.proto`) and their JSON forms.

The processes' JSON bodies are the protobuf messages with the same field names, bytes as hex (see
:mod:`offchain.da.network.service`), so one converter serves every message: :func:`to_json` and
:func:`from_json`. Two things differ from that rule, both kept in the JSON forms for the processes' own
use and converted here:

- ``disperser.v2.Attestation``: the JSON carries points as EVM integers (G1 ``[x, y]``, G2
  ``[[x1, x0], [y1, y0]]``, hex) and ``quorum_signed_percentages`` as a list; protobuf carries points
  gnark-compressed (G1 32 bytes, G2 64, as EigenDA's ``G1Point.Bytes``) and the percentages as bytes;
- enums are their names (``QUEUED``), except ``validator.GetChunksReply.chunk_encoding_format``, a number
  in the node's JSON;
- ``validator.StoreChunksRequest.disperserID`` (EigenDA's spelling) is ``disperser_id`` in JSON.

Every malformed input (an unknown JSON key, a value of the wrong type or range, a point off the curve,
protobuf bytes that do not parse) raises :class:`NetworkMessageError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message

from offchain.crypto import bn254
from offchain.crypto.errors import PointError
from offchain.da.errors import GrpcCallError, NetworkMessageError
from offchain.da.network.proto import (
    common_pb2,
    common_v2_pb2,
    disperser_v2_pb2,
    node_v2_pb2,
    relay_pb2,
)

__all__ = ["common_pb2", "common_v2_pb2", "disperser_v2_pb2", "node_v2_pb2", "relay_pb2"]

INT_ENUMS = {"validator.GetChunksReply.chunk_encoding_format"}
# protobuf field name -> the JSON form's, where they differ (EigenDA's one camel-case field name)
ALIASES = {"validator.StoreChunksRequest": {"disperserID": "disperser_id"}}
ATTESTATION = "disperser.v2.Attestation"
REGISTRY_SIGNATURE = "disperser.v2.RegistrySignature"
_UINT_BITS = {
    FieldDescriptor.TYPE_UINT32: 32, FieldDescriptor.TYPE_UINT64: 64,
}  # fmt: skip
_INT_BITS = {FieldDescriptor.TYPE_INT32: 32, FieldDescriptor.TYPE_INT64: 64}


def parse(cls: type[Message], data: bytes) -> Message:
    """``cls`` from its wire bytes; :class:`NetworkMessageError` when they do not parse."""
    try:
        return cls.FromString(data)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise NetworkMessageError(f"{cls.DESCRIPTOR.full_name}: malformed protobuf: {exc}") from None


# ----- protobuf -> JSON ----------------------------------------------------------------------------


def to_json(msg: Message) -> dict[str, Any]:
    """The JSON form of ``msg``: every scalar and repeated field, message fields that are set, the set
    member of a oneof; bytes as hex."""
    d = msg.DESCRIPTOR
    if d.full_name in (ATTESTATION, REGISTRY_SIGNATURE):
        return _points_to_json(msg)
    out: dict[str, Any] = {}
    alias = ALIASES.get(d.full_name, {})
    for f in d.fields:
        if f.containing_oneof is not None and msg.WhichOneof(f.containing_oneof.name) != f.name:
            continue
        value, key = getattr(msg, f.name), alias.get(f.name, f.name)
        if f.is_repeated:
            out[key] = [_value_to_json(f, v) for v in value]
        elif f.type == FieldDescriptor.TYPE_MESSAGE:
            if msg.HasField(f.name):
                out[key] = to_json(value)
        else:
            out[key] = _value_to_json(f, value)
    return out


def _value_to_json(f: FieldDescriptor, v: Any) -> Any:
    if f.type == FieldDescriptor.TYPE_MESSAGE:
        return to_json(v)
    if f.type == FieldDescriptor.TYPE_BYTES:
        return bytes(v).hex()
    if f.type == FieldDescriptor.TYPE_ENUM and f.full_name not in INT_ENUMS:
        named = f.enum_type.values_by_number.get(v)
        return named.name if named is not None else v
    return v


def _g1_hex(data: bytes, what: str) -> list[str] | None:
    if not data:
        return None
    try:
        (p,) = bn254.g1_to_ints(bn254.g1_decompress(data))
    except (PointError, ValueError) as exc:
        raise NetworkMessageError(f"{what}: {exc}") from None
    return None if p is None else [hex(p[0]), hex(p[1])]


def _g2_hex(data: bytes, what: str) -> list[list[str]] | None:
    if not data:
        return None
    try:
        raw = bn254.g2_to_evm(bn254.g2_decompress(data))
    except (PointError, ValueError) as exc:
        raise NetworkMessageError(f"{what}: {exc}") from None
    if not any(raw):
        return None
    x1, x0, y1, y0 = (hex(int.from_bytes(raw[32 * i : 32 * i + 32], "big")) for i in range(4))
    return [[x1, x0], [y1, y0]]


def _points_to_json(msg: Message) -> dict[str, Any]:
    """Attestation (or its registry signature): compressed points -> EVM integers."""
    name = msg.DESCRIPTOR.name
    out: dict[str, Any] = {}
    if msg.DESCRIPTOR.full_name == ATTESTATION and msg.HasField("registry_signature"):
        out["registry_signature"] = _points_to_json(msg.registry_signature)
    out["non_signer_pubkeys"] = [
        _g1_hex(p, f"{name}.non_signer_pubkeys[{i}]") for i, p in enumerate(msg.non_signer_pubkeys)
    ]
    out["apk_g2"] = _g2_hex(msg.apk_g2, f"{name}.apk_g2")
    if msg.DESCRIPTOR.full_name == ATTESTATION:
        out["quorum_apks"] = [_g1_hex(p, f"{name}.quorum_apks[{i}]") for i, p in enumerate(msg.quorum_apks)]
    out["sigma"] = _g1_hex(msg.sigma, f"{name}.sigma")
    if msg.DESCRIPTOR.full_name == ATTESTATION:
        out["quorum_numbers"] = list(msg.quorum_numbers)
        out["quorum_signed_percentages"] = list(msg.quorum_signed_percentages)
    return out


# ----- JSON -> protobuf ----------------------------------------------------------------------------


def from_json(cls: type[Message], obj: Any, what: str | None = None) -> Message:
    """``cls`` from its JSON form (:func:`to_json`'s); a key ``cls`` does not have, or a value of the wrong
    type or range, raises :class:`NetworkMessageError` naming the field. Absent fields keep their
    defaults."""
    msg = cls()
    _fill(msg, obj, what or cls.DESCRIPTOR.name)
    return msg


def _fill(msg: Message, obj: Any, what: str) -> None:
    d: Descriptor = msg.DESCRIPTOR
    if not isinstance(obj, dict):
        raise NetworkMessageError(f"{what}: expected an object, got {type(obj).__name__}")
    if d.full_name in (ATTESTATION, REGISTRY_SIGNATURE):
        _points_from_json(msg, obj, what)
        return
    fields = {ALIASES.get(d.full_name, {}).get(n, n): f for n, f in d.fields_by_name.items()}
    unknown = sorted(set(obj) - set(fields))
    if unknown:
        raise NetworkMessageError(f"{what}: unknown fields {unknown}")
    for key, value in obj.items():
        f = fields[key]
        name = f.name
        where = f"{what}.{key}"
        if f.is_repeated:
            if not isinstance(value, list):
                raise NetworkMessageError(f"{where}: expected a list")
            target = getattr(msg, name)
            for i, v in enumerate(value):
                if f.type == FieldDescriptor.TYPE_MESSAGE:
                    _fill(target.add(), v, f"{where}[{i}]")
                else:
                    target.append(_scalar(f, v, f"{where}[{i}]"))
        elif f.type == FieldDescriptor.TYPE_MESSAGE:
            _fill(getattr(msg, name), value, where)
            getattr(msg, name).SetInParent()
        else:
            setattr(msg, name, _scalar(f, value, where))


def _scalar(f: FieldDescriptor, v: Any, where: str) -> Any:
    t = f.type
    if t == FieldDescriptor.TYPE_BYTES:
        if not isinstance(v, str):
            raise NetworkMessageError(f"{where}: expected a hex string, got {type(v).__name__}")
        try:
            return bytes.fromhex(v.removeprefix("0x"))
        except ValueError:
            raise NetworkMessageError(f"{where}: not hex") from None
    if t == FieldDescriptor.TYPE_STRING:
        if not isinstance(v, str):
            raise NetworkMessageError(f"{where}: expected a string, got {type(v).__name__}")
        return v
    if t == FieldDescriptor.TYPE_ENUM:
        named = f.enum_type.values_by_name.get(v) if isinstance(v, str) else None
        if named is not None:
            return named.number
        if isinstance(v, int) and not isinstance(v, bool) and v in f.enum_type.values_by_number:
            return v
        raise NetworkMessageError(f"{where}: {v!r} is not a {f.enum_type.full_name}")
    if not isinstance(v, int) or isinstance(v, bool):
        raise NetworkMessageError(f"{where}: {v!r} is not an integer")
    if t in _UINT_BITS and not 0 <= v < 1 << _UINT_BITS[t]:
        raise NetworkMessageError(f"{where}: {v!r} is not a uint{_UINT_BITS[t]}")
    if t in _INT_BITS and not -(1 << (_INT_BITS[t] - 1)) <= v < 1 << (_INT_BITS[t] - 1):
        raise NetworkMessageError(f"{where}: {v!r} is not an int{_INT_BITS[t]}")
    if t not in _UINT_BITS and t not in _INT_BITS:
        raise NetworkMessageError(f"{where}: field type {t} is not used by these messages")
    return v


def _hex_int(v: Any, where: str) -> int:
    if not isinstance(v, str):
        raise NetworkMessageError(f"{where}: expected a hex integer string")
    try:
        return int(v, 16)
    except ValueError:
        raise NetworkMessageError(f"{where}: not a hex integer") from None


def _g1_bytes(v: Any, where: str) -> bytes:
    if v is None:
        return b""
    if not isinstance(v, list) or len(v) != 2:
        raise NetworkMessageError(f"{where}: expected [x, y]")
    x, y = (_hex_int(c, where) for c in v)
    try:
        return bn254.g1_compress(bn254.g1_from_ints([(x, y)]))
    except (PointError, ValueError) as exc:
        raise NetworkMessageError(f"{where}: {exc}") from None


def _g2_bytes(v: Any, where: str) -> bytes:
    if v is None:
        return b""
    if not isinstance(v, list) or len(v) != 2 or not all(isinstance(c, list) and len(c) == 2 for c in v):
        raise NetworkMessageError(f"{where}: expected [[x1, x0], [y1, y0]]")
    ints = [_hex_int(c, where) for pair in v for c in pair]
    if not all(0 <= n < 1 << 256 for n in ints):
        raise NetworkMessageError(f"{where}: a coordinate out of range")
    try:
        return bn254.g2_compress(bn254.g2_from_evm(b"".join(n.to_bytes(32, "big") for n in ints)))
    except (PointError, ValueError) as exc:
        raise NetworkMessageError(f"{where}: {exc}") from None


def _points_from_json(msg: Message, obj: dict[str, Any], what: str) -> None:
    att = msg.DESCRIPTOR.full_name == ATTESTATION
    names = {"non_signer_pubkeys", "apk_g2", "sigma"}
    if att:
        names |= {"quorum_apks", "quorum_numbers", "quorum_signed_percentages", "registry_signature"}
    unknown = sorted(set(obj) - names)
    if unknown:
        raise NetworkMessageError(f"{what}: unknown fields {unknown}")
    for key in ("non_signer_pubkeys", "quorum_apks", "quorum_numbers", "quorum_signed_percentages"):
        if key in obj and not isinstance(obj[key], list):
            raise NetworkMessageError(f"{what}.{key}: expected a list")
    for i, p in enumerate(obj.get("non_signer_pubkeys", [])):
        msg.non_signer_pubkeys.append(_g1_bytes(p, f"{what}.non_signer_pubkeys[{i}]"))
    msg.apk_g2 = _g2_bytes(obj.get("apk_g2"), f"{what}.apk_g2")
    msg.sigma = _g1_bytes(obj.get("sigma"), f"{what}.sigma")
    if not att:
        return
    for i, p in enumerate(obj.get("quorum_apks", [])):
        msg.quorum_apks.append(_g1_bytes(p, f"{what}.quorum_apks[{i}]"))
    for i, q in enumerate(obj.get("quorum_numbers", [])):
        msg.quorum_numbers.append(
            _scalar(msg.DESCRIPTOR.fields_by_name["quorum_numbers"], q, f"{what}.quorum_numbers[{i}]")
        )
    pct = obj.get("quorum_signed_percentages", [])
    if not all(isinstance(p, int) and not isinstance(p, bool) and 0 <= p <= 255 for p in pct):
        raise NetworkMessageError(f"{what}.quorum_signed_percentages: bytes 0..255 expected")
    msg.quorum_signed_percentages = bytes(pct)
    if "registry_signature" in obj:
        _fill(msg.registry_signature, obj["registry_signature"], f"{what}.registry_signature")
        msg.registry_signature.SetInParent()


# ----- services and calls --------------------------------------------------------------------------

SERVICES = {
    "disperser.v2.Disperser": disperser_v2_pb2.DESCRIPTOR.services_by_name["Disperser"],
    "relay.Relay": relay_pb2.DESCRIPTOR.services_by_name["Relay"],
    "validator.Dispersal": node_v2_pb2.DESCRIPTOR.services_by_name["Dispersal"],
    "validator.Retrieval": node_v2_pb2.DESCRIPTOR.services_by_name["Retrieval"],
}


def method_types(service: str, method: str) -> tuple[type[Message], type[Message]]:
    """The request and reply classes of ``service``'s ``method`` (from the compiled descriptors)."""
    m = SERVICES[service].methods_by_name[method]
    return message_factory.GetMessageClass(m.input_type), message_factory.GetMessageClass(m.output_type)


GRPC_MAX_MESSAGE_BYTES = 256 << 20  # what a client takes in one reply (a relay's blob, a node's chunks)


GRPC_SCHEMES = ("grpc://", "grpcs://")  # plaintext, TLS


@dataclass(frozen=True)
class ClientTLS:
    """How a process calls ``grpcs://`` URLs: the CA certificates it trusts (PEM; None: the system's roots) and,
    for servers that ask for one (mutual TLS), its own certificate chain and key (PEM)."""

    ca: bytes | None = None
    cert: bytes | None = None
    key: bytes | None = None


def is_grpc(url: str) -> bool:
    """Whether ``url`` names a gRPC service (``grpc://`` plaintext or ``grpcs://`` TLS) rather than HTTP."""
    return url.startswith(GRPC_SCHEMES)


def grpc_target(url: str) -> str:
    """``grpc://host:port`` or ``grpcs://host:port`` -> ``host:port``; :class:`GrpcCallError` for anything else."""
    scheme = next((s for s in GRPC_SCHEMES if url.startswith(s)), None)
    if scheme is None or not url[len(scheme) :]:
        raise GrpcCallError("INVALID_ARGUMENT", f"{url!r} is not a grpc://host:port or grpcs://host:port URL")
    return url[len(scheme) :].rstrip("/")


def grpc_channel(url: str, tls: ClientTLS | None = None) -> grpc.Channel:
    """A channel to ``url``: plaintext for ``grpc://``, TLS for ``grpcs://`` (trusting ``tls.ca``, else the
    system's roots, and presenting ``tls``'s certificate when it has one)."""
    target = grpc_target(url)
    options = [("grpc.max_receive_message_length", GRPC_MAX_MESSAGE_BYTES)]
    if not url.startswith("grpcs://"):
        return grpc.insecure_channel(target, options=options)
    t = tls or ClientTLS()
    creds = grpc.ssl_channel_credentials(root_certificates=t.ca, private_key=t.key, certificate_chain=t.cert)
    return grpc.secure_channel(target, creds, options=options)


def grpc_call(
    url: str, service: str, method: str, body: dict[str, Any], timeout_s: float, tls: ClientTLS | None = None
) -> dict[str, Any]:
    """One unary call on ``grpc://host:port`` (or ``grpcs://``, over TLS with ``tls``): the JSON form ``body`` as
    the request, the reply's JSON form. A refusal or a failed call (a TLS handshake that fails is UNAVAILABLE)
    raises :class:`GrpcCallError` with its status name and message; a reply that does not convert,
    :class:`NetworkMessageError`."""
    req_cls, rep_cls = method_types(service, method)
    request = from_json(req_cls, body).SerializeToString()
    with grpc_channel(url, tls) as channel:
        call = channel.unary_unary(f"/{service}/{method}")
        try:
            raw = call(request, timeout=timeout_s)
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            name = code.name if code is not None else "UNKNOWN"
            details = exc.details() if hasattr(exc, "details") else str(exc)
            raise GrpcCallError(name, details or name) from None
    return to_json(parse(rep_cls, raw))
