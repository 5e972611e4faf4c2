"""A minimal DER reader/writer for the Intel SGX PCK certificate extension (OID 1.2.840.113741.1.13.1).

``cryptography`` returns the extension as opaque bytes; we need FMSPC, PCE-ID, the 16 SGX TCB
component SVNs, PCESVN and CPUSVN from it. The writer is used by the test CA to build the same
extension for its own PCK certificates.
"""

from __future__ import annotations

from offchain.compute.errors import EvidenceFormatError

SGX_EXT_OID = "1.2.840.113741.1.13.1"
_SGX_OID_BODY = bytes.fromhex("2a864886f84d010d01")
T_INT, T_OCTET, T_OID, T_ENUM, T_SEQ, T_BOOL = 0x02, 0x04, 0x06, 0x0A, 0x30, 0x01


def read_tlv(buf: bytes, pos: int) -> tuple[int, bytes, int]:
    """(tag, value, next position) of the DER element at ``pos``; definite short/long lengths only."""
    if pos + 2 > len(buf):
        raise EvidenceFormatError("truncated DER element")
    tag, first = buf[pos], buf[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        n = first & 0x7F
        if n == 0 or n > 4 or pos + n > len(buf):
            raise EvidenceFormatError("bad DER length")
        length = int.from_bytes(buf[pos : pos + n], "big")
        if length < 0x80 or (n > 1 and length < 1 << (8 * (n - 1))):
            raise EvidenceFormatError("non-minimal DER length")
        pos += n
    end = pos + length
    if end > len(buf):
        raise EvidenceFormatError("DER element longer than its container")
    return tag, buf[pos:end], end


def children(value: bytes) -> list[tuple[int, bytes]]:
    out = []
    pos = 0
    while pos < len(value):
        tag, v, pos = read_tlv(value, pos)
        out.append((tag, v))
    return out


def _pairs(seq_value: bytes) -> dict[bytes, tuple[int, bytes]]:
    """SEQUENCE OF SEQUENCE { OID, value } -> {oid body: (tag, value)}; duplicates rejected."""
    out: dict[bytes, tuple[int, bytes]] = {}
    for tag, item in children(seq_value):
        if tag != T_SEQ:
            raise EvidenceFormatError("SGX extension entry is not a SEQUENCE")
        parts = children(item)
        if len(parts) != 2 or parts[0][0] != T_OID:
            raise EvidenceFormatError("SGX extension entry is not (OID, value)")
        if parts[0][1] in out:
            raise EvidenceFormatError("duplicate OID in SGX extension")
        out[parts[0][1]] = parts[1]
    return out


def _uint(tag_value: tuple[int, bytes], what: str) -> int:
    tag, v = tag_value
    if tag not in (T_INT, T_ENUM) or not v or len(v) > 3:
        raise EvidenceFormatError(f"SGX extension {what} is not a small INTEGER")
    return int.from_bytes(v, "big", signed=True)


def parse_sgx_extension(ext_value: bytes) -> dict[str, object]:
    """Decode the fields used for TCB matching from the raw extension value."""
    tag, body, end = read_tlv(ext_value, 0)
    if tag != T_SEQ or end != len(ext_value):
        raise EvidenceFormatError("SGX extension is not one SEQUENCE")
    top = _pairs(body)

    def get(sub: int) -> tuple[int, bytes]:
        key = _SGX_OID_BODY + bytes([sub])
        if key not in top:
            raise EvidenceFormatError(f"SGX extension lacks {SGX_EXT_OID}.{sub}")
        return top[key]

    tcb_tag, tcb_body = get(2)
    if tcb_tag != T_SEQ:
        raise EvidenceFormatError("SGX TCB field is not a SEQUENCE")
    tcb = _pairs(tcb_body)
    base = _SGX_OID_BODY + b"\x02"

    def tcb_item(n: int) -> tuple[int, bytes]:
        if base + bytes([n]) not in tcb:
            raise EvidenceFormatError(f"SGX TCB lacks component {n}")
        return tcb[base + bytes([n])]

    comps = [_uint(tcb_item(n), f"TCB comp {n}") for n in range(1, 17)]
    pcesvn = _uint(tcb_item(17), "PCESVN")
    cpusvn_tag, cpusvn = tcb_item(18)
    fmspc_tag, fmspc = get(4)
    pceid_tag, pceid = get(3)
    if cpusvn_tag != T_OCTET or len(cpusvn) != 16:
        raise EvidenceFormatError("CPUSVN is not a 16-byte OCTET STRING")
    if fmspc_tag != T_OCTET or len(fmspc) != 6 or pceid_tag != T_OCTET or len(pceid) != 2:
        raise EvidenceFormatError("FMSPC/PCE-ID have the wrong type or size")
    return {"sgx_tcb_components": comps, "pcesvn": pcesvn, "cpusvn": cpusvn, "fmspc": fmspc, "pceid": pceid}


# ---- writer (test CA) ----------------------------------------------------------------------------


def tlv(tag: int, value: bytes) -> bytes:
    n = len(value)
    if n < 0x80:
        head = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        head = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + head + value


def _int(v: int) -> bytes:
    raw = v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big")
    return tlv(T_INT, raw)


def build_sgx_extension(comps: list[int], pcesvn: int, cpusvn: bytes, fmspc: bytes, pceid: bytes) -> bytes:
    def pair(oid_body: bytes, value: bytes) -> bytes:
        return tlv(T_SEQ, tlv(T_OID, oid_body) + value)

    base = _SGX_OID_BODY + b"\x02"
    tcb = b"".join(pair(base + bytes([i + 1]), _int(c)) for i, c in enumerate(comps))
    tcb += pair(base + b"\x11", _int(pcesvn)) + pair(base + b"\x12", tlv(T_OCTET, cpusvn))
    body = (
        pair(_SGX_OID_BODY + b"\x01", tlv(T_OCTET, b"\x00" * 16))
        + pair(_SGX_OID_BODY + b"\x02", tlv(T_SEQ, tcb))
        + pair(_SGX_OID_BODY + b"\x03", tlv(T_OCTET, pceid))
        + pair(_SGX_OID_BODY + b"\x04", tlv(T_OCTET, fmspc))
        + pair(_SGX_OID_BODY + b"\x05", tlv(T_ENUM, b"\x00"))
    )
    return tlv(T_SEQ, body)
