"""Damaged files: a typed error naming the file, the rest of the store readable, never a wrong value."""

import json
import shutil

import pytest
from hypothesis import given
from hypothesis import strategies as st

from offchain.cli import main
from offchain.store import (
    CorruptIndexError,
    CorruptionError,
    CorruptSegmentError,
    CorruptValueError,
    Store,
    StoreError,
)
from offchain.store import format as fmt
from tests.offchain.store.support import flip, key_of, value_of

N = 12
SIZE = 5000


def _build(root, n=N):
    """A store with three sealed segments of 4 keys each and an active one; returns its table dir."""
    with Store(root, segment_bytes=4 * SIZE) as store:
        table = store.table("t")
        for i in range(n):
            table.put(key_of(i), value_of(i, SIZE))
    return root / "t"


def _offset_of(root, i):
    with Store(root, readonly=True) as store:
        from offchain.store.recovery import unpack

        sid, shard, value_at, _ = unpack(store.table("t")._keymap[key_of(i)])
        return sid, shard, value_at - fmt.RECORD_HEAD_SIZE - 32


def _readable(table, skip=()):
    for i in range(N):
        if i not in skip:
            assert bytes(table.get(key_of(i))) == value_of(i, SIZE)


def test_flipped_value_byte_names_the_file_and_spares_the_rest(tmp_path, capsys):
    directory = _build(tmp_path)
    sid, shard, offset = _offset_of(tmp_path, 5)
    path = directory / f"{sid:08d}-{shard}.values"
    flip(path, offset + fmt.RECORD_HEAD_SIZE + 32 + 100)
    with Store(tmp_path, verify_reads=True) as store:
        table = store.table("t")
        with pytest.raises(CorruptValueError, match=str(path)) as info:
            table.get(key_of(5))
        assert info.value.path == str(path) and info.value.offset == offset
        _readable(table, skip={5})
        problems = table.verify()
        assert [p.path for p in problems] == [str(path)]
    assert main(["store", "verify", str(tmp_path)]) == 1
    assert str(path) in capsys.readouterr().out


def test_flipped_record_head_is_caught_by_a_checked_read(tmp_path):
    directory = _build(tmp_path)
    sid, shard, offset = _offset_of(tmp_path, 2)
    flip(directory / f"{sid:08d}-{shard}.values", offset + 9)  # the value checksum field
    with Store(tmp_path) as store:
        table = store.table("t")
        assert bytes(table.get(key_of(2))) == value_of(2, SIZE)  # unchecked reads trust the index
        with pytest.raises(CorruptValueError, match="head checksum"):
            table.get(key_of(2), verify=True)
        _readable(table, skip={2})


def test_flipped_sealed_index_is_rebuilt_from_the_values(tmp_path):
    directory = _build(tmp_path)
    keys_file = directory / "00000001.keys"
    flip(keys_file, fmt.FILE_HEADER_SIZE + 30)
    with Store(tmp_path) as store:
        table = store.table("t")
        assert [type(p) for p in table.problems] == [CorruptIndexError]
        assert table.problems[0].path == str(keys_file)
        _readable(table)  # every key, those of the damaged index included
        assert table.key_count() == N


def test_flipped_active_index_loses_no_acknowledged_key(tmp_path):
    with Store(tmp_path) as store:
        table = store.table("t")
        for i in range(N):
            table.put(key_of(i), value_of(i, SIZE))
            table.flush()
    flip(tmp_path / "t" / "00000000.keys", fmt.FILE_HEADER_SIZE + 3)  # the first entry
    with Store(tmp_path) as store:
        table = store.table("t")
        _readable(table)
    with Store(tmp_path) as store:  # and the repair was written back
        assert store.table("t").key_count() == N


@pytest.mark.parametrize("damage", ["delete", "header"])
def test_missing_or_foreign_values_file_loses_only_its_segment(tmp_path, damage):
    directory = _build(tmp_path)
    path = directory / "00000001-0.values"
    if damage == "delete":
        path.unlink()
    else:
        flip(path, 2)
    with Store(tmp_path) as store:
        table = store.table("t")
        assert [(type(p), p.path) for p in table.problems] == [(CorruptSegmentError, str(path))]
        _readable(table, skip={4, 5, 6, 7})
        assert table.get(key_of(4)) is None


def test_truncated_values_file_reports_the_cut(tmp_path):
    directory = _build(tmp_path)
    path = directory / "00000000-0.values"
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size - 10)
    with Store(tmp_path) as store:
        table = store.table("t")
        with pytest.raises(CorruptValueError, match="shorter"):  # never a partial value, checked or not
            table.get(key_of(3))
        with pytest.raises(CorruptValueError, match="shorter"):
            table.get(key_of(3), verify=True)
        _readable(table, skip={3})


@pytest.mark.parametrize("name", ["store.json", "t/table.json"])
def test_damaged_metadata_names_the_file(tmp_path, name):
    _build(tmp_path)
    for text in ["{not json", json.dumps([1]), json.dumps({"version": 2})]:
        (tmp_path / name).write_text(text)
        with pytest.raises(CorruptionError, match=name), Store(tmp_path) as store:
            store.table("t")


@given(data=st.data())
def test_any_flipped_byte_never_yields_a_wrong_value(tmp_path_factory, data):
    pristine = tmp_path_factory.getbasetemp() / "pristine"
    if not pristine.exists():
        _build(pristine)
    root = tmp_path_factory.mktemp("flip")
    shutil.copytree(pristine, root, dirs_exist_ok=True)
    files = sorted(p for p in (root / "t").iterdir() if p.suffix in (".keys", ".values"))
    path = data.draw(st.sampled_from(files))
    flip(path, data.draw(st.integers(0, path.stat().st_size - 1)))
    with Store(root, verify_reads=True) as store:
        try:
            table = store.table("t")
        except StoreError:
            return
        for i in range(N):
            try:
                got = table.get(key_of(i))
            except CorruptionError as exc:
                assert exc.path == str(path)
                continue
            assert got is None or bytes(got) == value_of(i, SIZE)
            buffer = bytearray(SIZE)
            try:
                n = table.read_into(key_of(i), buffer)
            except CorruptionError as exc:
                assert exc.path == str(path)
                continue
            assert n is None or buffer == value_of(i, SIZE)
        for problem in table.problems:
            assert problem.path == str(path)


@pytest.mark.parametrize(
    "where, unchecked, checked",
    [
        ("key", "does not match the index", "does not match the index"),
        ("value_len", "does not match the index", "does not match the index"),
        ("head_crc", None, "head checksum"),
        ("value", None, "value checksum"),
        ("cut", "shorter", "shorter"),
    ],
)
@pytest.mark.parametrize("big", [20_000, 100_000])
def test_read_into_a_buffer_is_checked(tmp_path, where, unchecked, checked, big):
    """``read_into`` reads a value's whole record with one ``preadv`` (a small value, 20 KB, is then cached;
    100 KB is not): a key or length that is not the index's is caught on every read from the file, a
    damaged head or value by a checked read, a cut file always; the other values stay readable."""
    with Store(tmp_path) as store:
        store.table("t").put_batch([(key_of(i), value_of(i, big)) for i in range(3)])
    sid, shard, offset = _offset_of(tmp_path, 2)
    path = tmp_path / "t" / f"{sid:08d}-{shard}.values"
    if where == "cut":
        with open(path, "r+b") as f:
            f.truncate(path.stat().st_size - 10)
    else:
        at = {"key": fmt.RECORD_HEAD_SIZE + 5, "value_len": 6, "head_crc": 13, "value": 1000}[where]
        flip(path, offset + at + (fmt.RECORD_HEAD_SIZE + 32 if where == "value" else 0))
    with Store(tmp_path) as store:
        table = store.table("t")
        for verify, error in ((False, unchecked), (True, checked)):
            buffer = bytearray(big)
            if error is None:  # unchecked reads trust the index and the head's lengths and key
                assert table.read_into(key_of(2), buffer, verify=verify) == big
                continue
            with pytest.raises(CorruptValueError, match=error) as info:
                table.read_into(key_of(2), buffer, verify=verify)
            assert info.value.path == str(path) and info.value.offset <= offset + 16 + 32 + big
        for i in range(2):
            buffer = bytearray(big)
            assert table.read_into(key_of(i), buffer, verify=True) == big and buffer == value_of(i, big)
