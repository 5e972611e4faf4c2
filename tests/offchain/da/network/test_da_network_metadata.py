"""The disperser's metadata store on both engines: SQLite (the default) and PostgreSQL (a cluster of the
machine's binaries started by the test). The same tests run on each: blobs, statuses, batches, the relay's
cursor, on-demand totals (replays refused, also between two stores sharing a database), reopening.

Without the ``psycopg`` driver the PostgreSQL runs are expected failures that must fail with the error naming
the requirement (strict), so nothing passes silently and they run for real once the driver is installed."""

from __future__ import annotations

import pytest

from offchain import settings
from offchain.da.errors import (
    MetadataStoreError,
    NetworkConfigError,
    PaymentReplayError,
    SigningRateStoreError,
)
from offchain.da.network.config import disperser_config, relay_config
from offchain.da.network.metadata import BlobStatus, MetadataStore
from offchain.da.network.signing import SigningRates
from tests.offchain.da.network.support import (
    network_file,
    node_state,
    operator_keys,
    postgres_cluster,
    write_disperser_config,
)

POSTGRES = "postgresql"  # the driver is a dependency (requirements.lock): a missing one fails


@pytest.fixture(scope="module")
def pg_cluster():
    with postgres_cluster() as dsn:
        yield dsn


@pytest.fixture(params=["sqlite", POSTGRES])
def url(request, tmp_path):
    if request.param == "sqlite":
        return "sqlite:///" + str(tmp_path / "meta.db")
    dsn = request.getfixturevalue("pg_cluster")
    db = MetadataStore(dsn)  # a fresh schema for each test: drop what an earlier test left
    for table in ("blobs", "batches", "on_demand", "signing_rates", "signing_rate_params"):
        db.db.execute(f"DROP TABLE IF EXISTS {table}")
    db.close()
    return dsn


K1, K2, K3 = (bytes([i]) * 32 for i in (1, 2, 3))


def test_blobs_statuses_batches(url) -> None:
    db = MetadataStore(url)
    assert db.engine == ("postgresql" if url.startswith("postgresql") else "sqlite")
    assert db.add_blob(K1, {"h": 1}, b"\x02" * 65, b"\x00data\xff")
    assert not db.add_blob(K1, {"h": 1}, b"\x02" * 65, b"\x00data\xff")  # a repeat is not a second blob
    assert db.add_blob(K2, {"h": 2}, b"\x03" * 65, b"two") and db.has_blob(K2) and not db.has_blob(K3)
    assert db.pending(10) == [
        (K1, {"h": 1}, b"\x02" * 65, b"\x00data\xff"),
        (K2, {"h": 2}, b"\x03" * 65, b"two"),
    ]
    assert db.pending(1) == [(K1, {"h": 1}, b"\x02" * 65, b"\x00data\xff")]
    db.set_status([K1, K2], BlobStatus.ENCODED)
    db.add_batch(b"\xbb" * 32, {"batch_root": "r"}, {"sigma": 1})
    db.add_batch(b"\xbb" * 32, {"batch_root": "r"}, {"sigma": 2})  # replaced, not repeated
    db.set_status(
        [K1], BlobStatus.COMPLETE, inclusion={K1: {"blob_index": 0}}, batch_header_hash=b"\xbb" * 32
    )
    db.set_status([K2], BlobStatus.FAILED, "below threshold")
    assert db.pending(10) == []
    b1 = db.blob(K1)
    assert b1["status"] == BlobStatus.COMPLETE and b1["inclusion"] == {"blob_index": 0}
    assert b1["signed_batch"] == {"header": {"batch_root": "r"}, "attestation": {"sigma": 2}}
    assert db.blob(K2)["reason"] == "below threshold" and db.blob(K3) is None
    assert db.blob_data(K1) == b"\x00data\xff" and db.blob_data(K3) is None
    got = db.completed_since((0, ""), 10)
    assert [(k, d) for k, d, _ in got] == [(K1, b"\x00data\xff")]
    assert db.completed_since(got[-1][2], 10) == []  # the relay's cursor moves past it
    db.close()
    db = MetadataStore(url)  # reopened: everything is still there
    assert db.blob(K1)["status"] == BlobStatus.COMPLETE and db.blob(K2)["status"] == BlobStatus.FAILED
    db.close()


def test_on_demand_totals(url) -> None:
    a, b = MetadataStore(url), MetadataStore(url)  # two dispersers sharing one database
    acct = "0x" + "ab" * 20
    assert a.cumulative_payment(acct) == 0
    assert a.add_blob(K1, {}, b"s", b"d", on_demand=(acct, 10**30))  # beyond 64 bits
    assert b.cumulative_payment(acct) == 10**30
    with pytest.raises(PaymentReplayError, match="not above the last accepted"):
        b.add_blob(K2, {}, b"s", b"d", on_demand=(acct, 10**30))
    assert not a.has_blob(K2)  # the refused blob was rolled back with its payment
    assert not b.add_blob(K1, {}, b"s", b"d", on_demand=(acct, 10**30 + 5))  # a repeated blob pays nothing
    assert a.cumulative_payment(acct) == 10**30
    assert b.add_blob(K2, {}, b"s", b"d", on_demand=(acct, 10**30 + 5))
    assert a.cumulative_payment(acct) == 10**30 + 5 and a.cumulative_payment("0x" + "cd" * 20) == 0
    a.close()
    b.close()


def test_bad_urls(tmp_path) -> None:
    with pytest.raises(MetadataStoreError, match="expected sqlite:///PATH"):
        MetadataStore("mysql://u:pw@h/db")
    (tmp_path / "file").write_text("")
    with pytest.raises(MetadataStoreError, match="metadata database"):
        MetadataStore(str(tmp_path / "file" / "meta.db"))  # a file where a folder should be
    with pytest.raises(MetadataStoreError) as err:
        MetadataStore("postgresql://u:hunter2@127.0.0.1:9/x")  # nothing listens on port 9
    assert "hunter2" not in str(err.value) and "***" in str(err.value)


def test_environment_selects_the_database(tmp_path, monkeypatch) -> None:
    """``EIGEN_DA_METADATA_URL`` (a PostgreSQL DSN in production) over the files' ``metadata`` and
    ``disperser_metadata``; without both, a typed error naming the setting."""
    import json

    import yaml

    keys = operator_keys(4)
    net = network_file(tmp_path / "network.json", keys, node_state(keys), {})
    cfg = write_disperser_config(tmp_path, net)
    assert disperser_config(cfg).metadata == "sqlite:///" + str(tmp_path / "meta.db")
    dsn = "postgresql://disperser@db.internal:5432/eigenda"
    monkeypatch.setenv(settings.DA_METADATA_URL.name, dsn)
    assert disperser_config(cfg).metadata == dsn
    relay = tmp_path / "relay.json"
    relay.write_text(
        json.dumps({"store_dir": "r", "srs": {"insecure_test_symbols": 64}, "network": str(net)})
    )
    assert relay_config(relay).source == dsn
    monkeypatch.delenv(settings.DA_METADATA_URL.name)
    with pytest.raises(NetworkConfigError, match="disperser_metadata is required"):
        relay_config(relay)
    base = yaml.safe_load(cfg.read_text())
    del base["metadata"]
    cfg.write_text(yaml.safe_dump(base))
    with pytest.raises(NetworkConfigError, match=f"metadata is required .*{settings.DA_METADATA_URL.name}"):
        disperser_config(cfg)
    base["metadata"] = "rel/meta.db"  # a bare path is relative to the file
    cfg.write_text(yaml.safe_dump(base))
    assert disperser_config(cfg).metadata == str(tmp_path / "rel" / "meta.db")


# ----- GetValidatorSigningRate's record (signing.py), on the same engines -----------------------------


def test_signing_rates_survive_a_restart(url) -> None:
    """A reopened record answers as before; each batch drops the buckets past the retention; a record kept with
    another bucket span is refused, naming the database."""
    now = [1_000_000.0]
    members = {0: [K1, K2], 1: [K1]}

    def rates() -> SigningRates:
        return SigningRates(url, bucket_s=600, retention_s=1800, clock=lambda: now[0])

    r = rates()
    r.report_batch([0, 1], members, {K1: 5_000}, 1024)  # K2 did not sign
    now[0] += 600
    r.report_batch([0], members, {K1: 7_000, K2: 1_000}, 2048)
    r.close()
    r = rates()  # the disperser restarted
    t0 = 1_000_000 // 600 * 600
    assert r.rate(K1, 0, t0, t0 + 1200) == {
        "validator_id": K1.hex(), "signed_batches": 2, "unsigned_batches": 0, "signed_bytes": 3072,
        "unsigned_bytes": 0, "signing_latency": 12_000,
    }  # fmt: skip
    k2 = r.rate(K2, 0, 0, (1 << 64) - 1)  # uint64 bounds (wider than the database's integers)
    assert (k2["signed_batches"], k2["unsigned_batches"], k2["unsigned_bytes"]) == (1, 1, 1024)
    assert r.rate(K1, 1, t0 + 600, t0 + 1200)["signed_batches"] == 0 and r.buckets() == 5
    now[0] += 1800  # the first bucket ends past the retention
    r.report_batch([1], members, {K1: 1}, 1)
    assert (
        r.rate(K1, 0, t0, t0 + 600)["signed_batches"] == 0
        and r.rate(K1, 0, t0, t0 + 1200)["signed_batches"] == 1
    )
    assert r.buckets() == 3  # the second bucket's two rows and the new one
    r.close()
    with pytest.raises(SigningRateStoreError, match="holds buckets of 600 s, not 60 s"):
        SigningRates(url, bucket_s=60, retention_s=1800)


def test_signing_rates_refuse_a_corrupt_or_truncated_file(tmp_path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database " * 100)
    with pytest.raises(SigningRateStoreError, match=f"signing-rate database '{garbage}'.*not a database"):
        SigningRates(str(garbage))
    path = tmp_path / "signing_rates.db"
    r = SigningRates(str(path))
    ops = [i.to_bytes(32, "big") for i in range(400)]
    r.report_batch([0, 1], {0: ops, 1: ops}, {op: 1 for op in ops[::2]}, 4096)
    r.close()
    data = path.read_bytes()
    assert len(data) > 8 * 4096  # several pages of rows
    path.write_bytes(data[: len(data) // 2])  # a copy or a disk cut short
    with pytest.raises(SigningRateStoreError, match=f"signing-rate database '{path}'"):
        SigningRates(str(path))
    with pytest.raises(SigningRateStoreError, match="expected sqlite:///PATH"):
        SigningRates("mysql://h/db")


def test_the_disperser_keeps_signing_rates_where_its_metadata_lives(tmp_path) -> None:
    """``signing_rates`` (default: signing_rates.db beside a SQLite metadata database, the metadata's own
    PostgreSQL database otherwise) and ``signing_rate_retention_s``; a restarted disperser answers
    GetValidatorSigningRate with the record it kept."""
    import yaml

    from offchain.da.network.service import disperser_server

    keys = operator_keys(4)
    state = node_state(keys)
    cfg = write_disperser_config(tmp_path, network_file(tmp_path / "network.json", keys, state, {}))
    c = disperser_config(cfg)
    assert (c.signing_rates, c.signing_rate_retention_s) == (
        str(tmp_path / "signing_rates.db"),
        14 * 24 * 3600,
    )
    ops = sorted(state.stakes[0])
    _, d = disperser_server(c)
    assert d.signing.retention_s == 14 * 24 * 3600
    d.signing.report_batch([0], state.stakes, {ops[0]: 10}, 100)
    d.db.close()
    d.signing.close()
    _, d = disperser_server(c)  # restarted
    got = d.signing_rate(ops[0], 0, 0, 1 << 63)["validator_signing_rate"]
    assert (got["signed_batches"], got["signed_bytes"], got["signing_latency"]) == (1, 100, 10)
    assert d.signing_rate(ops[1], 0, 0, 1 << 63)["validator_signing_rate"]["unsigned_batches"] == 1
    d.db.close()
    d.signing.close()
    base = yaml.safe_load(cfg.read_text())
    for value, want in [
        ("rates/s.db", str(tmp_path / "rates" / "s.db")), (":memory:", ":memory:"),
        ("postgresql://d@db/x", "postgresql://d@db/x"), ("sqlite:///" + str(tmp_path / "x.db"), "sqlite:///" + str(tmp_path / "x.db")),
    ]:  # fmt: skip
        cfg.write_text(yaml.safe_dump({**base, "signing_rates": value, "signing_rate_retention_s": 600}))
        assert (disperser_config(cfg).signing_rates, disperser_config(cfg).signing_rate_retention_s) == (
            want,
            600,
        )
    cfg.write_text(yaml.safe_dump({**base, "metadata": "postgresql://d@db/meta"}))
    assert disperser_config(cfg).signing_rates == "postgresql://d@db/meta"
    for bad, match in [
        ({"signing_rates": "mysql://h/db"}, "signing_rates: 'mysql://h/db' is not"),
        ({"signing_rates": ""}, "signing_rates: '' is not"),
        ({"signing_rates": 5}, "signing_rates: 5 is not"),
        ({"signing_rate_retention_s": 599}, r"signing_rate_retention_s: 599 is not an integer in \[600, "),
        ({"signing_rate_retention_s": 400 * 86400}, "signing_rate_retention_s"),
    ]:
        cfg.write_text(yaml.safe_dump({**base, **bad}))
        with pytest.raises(NetworkConfigError, match=match):
            disperser_config(cfg)
