"""Property tests of the strict CBOR decoder and canonical encoder."""

from __future__ import annotations

import cbor2
from hypothesis import given
from hypothesis import strategies as st

from offchain.compute import cbor
from offchain.compute.errors import CBORError

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64 - 1)
    | st.binary(max_size=40)
    | st.text(max_size=20)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.integers(-50, 50) | st.text(max_size=5), inner, max_size=4),
    max_leaves=20,
)


@given(values, st.booleans())
def test_roundtrip(value, indefinite: bool) -> None:
    assert cbor.loads(cbor.dumps(value, indefinite_maps=indefinite)) == value


@given(values)
def test_definite_encoding_matches_cbor2_canonical_heads(value) -> None:
    # for insertion-ordered maps our bytes are what cbor2 emits (both use shortest heads)
    assert cbor.dumps(value) == cbor2.dumps(value)


@given(st.binary(max_size=64))
def test_random_bytes_decode_or_raise_cbor_error(blob: bytes) -> None:
    try:
        value = cbor.loads(blob)
    except CBORError:
        return
    # anything accepted is canonical except for indefinite containers: re-encoding reproduces it
    if b"\x9f" not in blob and b"\xbf" not in blob:
        assert cbor.dumps(value) == blob


@given(values, st.binary(min_size=1, max_size=4))
def test_trailing_bytes_rejected(value, tail: bytes) -> None:
    try:
        cbor.loads(cbor.dumps(value) + tail)
    except CBORError:
        return
    raise AssertionError("trailing bytes accepted")
