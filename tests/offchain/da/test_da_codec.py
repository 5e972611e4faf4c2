"""EigenDA payload codec: round trip, layout, strict decoding, no crash on arbitrary bytes."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from offchain.da.codec import blob_symbols_for, decode_payload, encode_payload
from offchain.da.errors import PayloadError
from offchain.errors import DAError


@given(st.binary(max_size=2000))
def test_da_codec_roundtrip(payload: bytes) -> None:
    blob = encode_payload(payload)
    n = len(blob) // 32
    assert len(blob) % 32 == 0 and n & (n - 1) == 0 and n == blob_symbols_for(len(payload))
    assert all(blob[32 * i] == 0 for i in range(n))
    assert decode_payload(blob) == payload


def test_da_codec_layout_hello() -> None:
    blob = encode_payload(b"hello")
    assert blob.hex() == "0000" + "00000005" + "00" * 26 + "0068656c6c6f" + "00" * 26


def test_da_codec_sizes() -> None:
    assert blob_symbols_for(126_945) == 4096  # max payload of a 128 KiB blob
    assert blob_symbols_for(126_946) == 8192
    assert blob_symbols_for(0) == 1


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda b: b[:-1], "multiple of 32"),
        (lambda b: b + bytes(32), "power of two"),
        (lambda b: b"\x01" + b[1:], "header guard"),
        (lambda b: b[:1] + b"\x07" + b[2:], "version"),
        (lambda b: b[:10] + b"\x01" + b[11:], "header padding"),
        (lambda b: b[:32] + b"\x01" + b[33:], "guard byte"),
        (lambda b: b[:40] + b"\x09" + b[41:], "after the payload"),
        (lambda b: b[:2] + (200).to_bytes(4, "big") + b[6:], "does not fit"),
    ],
)
def test_da_codec_strict_errors(mutate, match: str) -> None:
    blob = encode_payload(b"hello")
    with pytest.raises(PayloadError, match=match):
        decode_payload(mutate(blob))


def test_da_codec_padding_symbols_must_be_zero() -> None:
    blob = bytearray(encode_payload(b"x" * 40))  # 1 + 2 groups -> 4 symbols
    blob[3 * 32 + 5] = 1
    with pytest.raises(PayloadError, match="padding symbols"):
        decode_payload(bytes(blob))


@given(st.binary(max_size=300))
def test_da_codec_arbitrary_bytes_never_crash(data: bytes) -> None:
    try:
        decode_payload(data)
    except DAError:
        pass
