"""Payments (offchain/da/network/payments.py): EigenDA's leaky bucket, billable symbols, and the disperser
metering reservations and on-demand payments against the real PaymentVault on anvil (read through
offchain.chain.da_contracts.PaymentVaultReader, cached and refreshed), with EigenDA's gRPC statuses; the
client's GetPaymentState and payment headers against a disperser serving HTTP."""

from __future__ import annotations

import time
from functools import cache

import pytest
from eth_keys import keys as eth_keys
from starlette.testclient import TestClient

from offchain.chain.da_contracts import PAYMENT_VAULT_CLAIM_ABI, PAYMENT_VAULT_READ_ABI, PaymentVaultReader
from offchain.chain.deploy import PaymentVaultParams, deploy_payment_vault
from offchain.chain.errors import ChainInputError
from offchain.da.errors import (
    HTTP_GRPC_CODE,
    DispersalError,
    GlobalRateError,
    GrpcCallError,
    NetworkMessageError,
    OnDemandFundsError,
    PaymentReplayError,
    PaymentVaultError,
    ReservationExhaustedError,
    ReservationMissingError,
    ReservationTermsError,
)
from offchain.da.network import client, wire
from offchain.da.network.disperser import Disperser
from offchain.da.network.metadata import MetadataStore
from offchain.da.network.payments import (
    LeakyBucket,
    PaymentMeter,
    Reservation,
    VaultCache,
    VaultParams,
    billable_symbols,
)
from offchain.da.network.rpc import disperser_grpc
from offchain.da.network.service import disperser_app
from offchain.da.network.types import BlobHeader, PaymentHeader, payment_state_request_digest, sign_digest
from offchain.httpservice import ServiceServer
from tests.offchain.da.network.support import DISPERSER_KEY, encoded_blob, encoder, node_state, operator_keys

PRICE = 1000  # wei a symbol
MIN_SYMBOLS = 128  # a 64-symbol blob bills 128
COST = PRICE * MIN_SYMBOLS


class Clock:
    """A monotonic clock the test moves (the buckets' and the cache's time)."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_leaky_bucket_as_eigenda() -> None:
    b = LeakyBucket(2, 90, False, 0.0)  # 180 symbols of capacity
    assert b.fill(0.0, 128) and b.remaining(0.0) == 52
    assert b.fill(0.0, 128)  # overfill once, while any room is left
    assert b.remaining(0.0) == -76 and not b.fill(0.0, 1)  # full: nothing, not even one symbol
    assert b.wait_s(0.0) == pytest.approx(38, abs=0.01)
    assert not b.fill(37.0, 1) and b.fill(39.0, 1)  # 2 symbols a second leak out
    strict = LeakyBucket(2, 90, False, 0.0, overfill_once=False)
    assert (
        strict.fill(0.0, 128) and not strict.fill(0.0, 128) and strict.remaining(0.0) == 52
    )  # a refusal costs 0
    strict.revert(0.0, 500)
    assert strict.remaining(0.0) == 180  # never below empty
    full = LeakyBucket(2, 60, True, 0.0)  # a client restarts full
    assert not full.fill(0.0, 1) and full.fill(0.5, 128)
    with pytest.raises(ValueError, match="positive"):
        LeakyBucket(0, 90, False, 0.0)


def test_billable_symbols() -> None:
    assert [billable_symbols(n, 4096) for n in (1, 4096, 4097)] == [4096, 4096, 8192]
    assert [billable_symbols(n, 1) for n in (1, 3, 64, 65)] == [1, 4, 64, 128]


def test_reservation_terms() -> None:
    r = Reservation(10, 100, 200, (0,), (100,))
    r.check([0], 100)
    with pytest.raises(ReservationTermsError, match=r"covers quorums \[0\], not \[1\]"):
        r.check([0, 1], 150)
    for t in (99.9, 200):
        with pytest.raises(ReservationTermsError, match="outside the reservation"):
            r.check([0], t)
    assert Reservation.from_json(r.to_json()) == r and not Reservation(0, 0, 0, (), ()).exists


# ----- against the real PaymentVault on anvil -------------------------------------------------------


def key_of(i: int) -> bytes:
    return (0xA11CE + i).to_bytes(32, "big")


def address_of(key: bytes) -> str:
    return eth_keys.PrivateKey(key).public_key.to_checksum_address()


@pytest.fixture(scope="module")
def payments_vault(project, accounts, networks):
    """One PaymentVault for the module (ape reverts each test's transactions): payers 0 to 4 as below."""
    owner = accounts[1]
    params = PaymentVaultParams(
        min_num_symbols=MIN_SYMBOLS, price_per_symbol=PRICE, global_symbols_per_period=1 << 20,
        global_rate_period_interval=30,
    )  # fmt: skip
    pv = deploy_payment_vault(project, accounts[0], owner.address, params)
    now = int(time.time())
    # payer 0: 2 symbols/s on quorums 0 and 1; payer 1: quorum 0 only; payer 2: a reservation already over;
    # payer 3: on-demand, a deposit for two blobs; payer 4: nothing
    pv.setReservation(
        address_of(key_of(0)), (2, now - 3600, now + 3600, b"\x00\x01", b"\x32\x32"), sender=owner
    )
    pv.setReservation(address_of(key_of(1)), (2, now - 3600, now + 3600, b"\x00", b"\x64"), sender=owner)
    pv.setReservation(
        address_of(key_of(2)), (2, now - 3600, now - 60, b"\x00\x01", b"\x32\x32"), sender=owner
    )
    pv.depositOnDemand(address_of(key_of(3)), value=2 * COST, sender=accounts[0])
    return pv, PaymentVaultReader(networks.provider.uri, pv.address), owner


def test_vault_reader_reads_the_contract(payments_vault, project) -> None:
    pv, reader, _ = payments_vault
    assert reader.params() == VaultParams(MIN_SYMBOLS, PRICE, 1, 1 << 20, 300, 30)
    a0, a1, a4 = (address_of(key_of(i)) for i in (0, 1, 4))
    r0, r1, r4 = reader.reservations([a0, a1, a4])
    assert (r0.symbols_per_second, r0.quorum_numbers, r0.quorum_splits) == (2, (0, 1), (50, 50))
    assert r1.quorum_numbers == (0,) and not r4.exists
    assert reader.deposits([address_of(key_of(3)), a4]) == [2 * COST, 0]
    compiled = {f["name"]: f for f in project.PaymentVault.contract_type.model_dump(mode="json")["abi"]
                if f.get("type") == "function"}  # fmt: skip
    for f in (
        PAYMENT_VAULT_READ_ABI + PAYMENT_VAULT_CLAIM_ABI
    ):  # the reader's and the claimer's ABI are the contract's
        got = compiled[f["name"]]
        assert [(i["type"], i.get("components")) for i in got["inputs"]] == [
            (i["type"], i.get("components")) for i in f["inputs"]
        ], f["name"]
        assert [o["type"] for o in got["outputs"]] == [o["type"] for o in f["outputs"]], f["name"]
    with pytest.raises(ChainInputError, match="not an address"):
        PaymentVaultReader(reader.w3.provider.endpoint_uri, "0x1234")


@cache
def blob_of(seed: int):
    """The blob of ``seed`` and its commitment, without chunks (only the disperser's batcher encodes them)."""
    return encoded_blob(seed, chunks=False)


def paid(seed: int, key: bytes, cumulative: int = 0, quorums=(0, 1), ts: int | None = None) -> dict:
    """A DisperseBlob body for a fresh blob paid by ``key``."""
    b = blob_of(seed)
    pay = PaymentHeader(address_of(key), time.time_ns() if ts is None else ts, cumulative)
    header = BlobHeader(0, quorums, b.header.commitment, pay)
    return {
        "blob": b.raw.hex(),
        "blob_header": header.to_json(),
        "signature": sign_digest(key, header.blob_key()).hex(),
    }


def state_request(key: bytes, ts: int | None = None, signer: bytes | None = None) -> dict:
    ts = time.time_ns() if ts is None else ts
    digest = payment_state_request_digest(address_of(key), ts)
    return {
        "account_id": address_of(key),
        "timestamp": ts,
        "signature": sign_digest(signer or key, digest).hex(),
    }


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_disperser_meters_against_the_vault(payments_vault, accounts, tmp_path, transport) -> None:
    """Each refusal with its status, over HTTP (the status and the gRPC name as the error's code) and over gRPC
    (disperser.v2.Disperser: the gRPC status and the same message)."""
    pv, reader, _ = payments_vault
    clock = Clock()
    keys = operator_keys(4)
    state = node_state(keys)
    pks = {k.public_key().operator_id: k.public_key() for k in keys}
    db = MetadataStore(str(tmp_path / "meta.db"))

    def disperser() -> Disperser:
        meter = PaymentMeter(VaultCache(reader, refresh_s=30, clock=clock), clock=clock)
        return Disperser(DISPERSER_KEY, 0, encoder(), state.stakes, {}, pks, db, meter=meter)

    d = disperser()
    with TestClient(disperser_app(d)) as http, disperser_grpc(d, "127.0.0.1", 0) as rpc:

        def call(method: str, body: dict, status: int, code: str | None = None, match: str = "") -> dict:
            if transport == "grpc":
                try:
                    reply = wire.grpc_call(rpc.url, "disperser.v2.Disperser", method, body, 30)
                except GrpcCallError as exc:
                    assert exc.code == (code or HTTP_GRPC_CODE[status]) and match in exc.message, exc
                    return {}
                except NetworkMessageError:  # a field protobuf cannot carry (a negative uint64): never sent
                    assert status == 400
                    return {}
                assert status == 200, reply
                return reply
            r = http.post(f"/v2/{method}", json=body)
            assert r.status_code == status, r.text
            if code is not None:
                assert r.json()["error"]["code"] == code and match in r.json()["error"]["message"], r.text
            return r.json()

        # reservation: a 90 s bucket of 2 symbols/s (180), 128 billable symbols a blob
        call("DisperseBlob", paid(1, key_of(0)), 200)
        call("DisperseBlob", paid(2, key_of(0)), 200)  # overfills once
        call("DisperseBlob", paid(3, key_of(0)), 403, "PERMISSION_DENIED", "insufficient bandwidth")
        clock.t += 40  # 80 symbols leak out: 256 - 80 = 176 < 180, room again
        call("DisperseBlob", paid(3, key_of(0)), 200)
        call("DisperseBlob", paid(4, key_of(1)), 400, "INVALID_ARGUMENT", "covers quorums [0], not [1]")
        call("DisperseBlob", paid(4, key_of(1), quorums=(0,)), 200)
        call("DisperseBlob", paid(5, key_of(2)), 400, "INVALID_ARGUMENT", "outside the reservation")
        call("DisperseBlob", paid(5, key_of(4)), 403, "PERMISSION_DENIED", "has no reservation")
        old = time.time_ns() - 100 * 10**9
        call("DisperseBlob", paid(5, key_of(0), ts=old), 400, "INVALID_ARGUMENT", "s old")
        call(
            "DisperseBlob",
            paid(5, key_of(0), ts=time.time_ns() + 100 * 10**9),
            400,
            "INVALID_ARGUMENT",
            "ahead",
        )
        # on-demand: the deposit pays two blobs
        call("DisperseBlob", paid(6, key_of(3), COST - 1), 403, "PERMISSION_DENIED", f"the blob costs {COST}")
        first = paid(6, key_of(3), COST)
        call("DisperseBlob", first, 200)
        call("DisperseBlob", first, 409)  # the same request again: the same blob key
        call(
            "DisperseBlob", paid(7, key_of(3), COST), 403, "PERMISSION_DENIED", "not above the last accepted"
        )
        call("DisperseBlob", paid(7, key_of(3), 2 * COST - 1), 403, "PERMISSION_DENIED", "pays")
        call("DisperseBlob", paid(7, key_of(4), COST), 403, "PERMISSION_DENIED", "insufficient funds")
        call("DisperseBlob", paid(7, key_of(3), 2 * COST), 200)
        call("DisperseBlob", paid(8, key_of(3), 3 * COST), 403, "PERMISSION_DENIED", "exceeds")
        # the vault's deposit grows on chain: seen once the cached entry is older than refresh_s
        pv.depositOnDemand(address_of(key_of(3)), value=COST, sender=accounts[0])
        call("DisperseBlob", paid(8, key_of(3), 3 * COST), 403, "PERMISSION_DENIED", "exceeds")
        clock.t += 31
        call("DisperseBlob", paid(8, key_of(3), 3 * COST), 200)
        # GetPaymentState: signed by the account, each request answered once
        st = call("GetPaymentState", state_request(key_of(3)), 200)
        assert (
            int(st["cumulative_payment"], 16) == 3 * COST
            and int(st["onchain_cumulative_payment"], 16) == 3 * COST
        )
        assert st["payment_global_params"]["price_per_symbol"] == PRICE and "reservation" not in st
        st0 = call("GetPaymentState", state_request(key_of(0)), 200)
        assert st0["reservation"]["symbols_per_second"] == 2 and st0["cumulative_payment"] == ""
        req = state_request(key_of(1))
        call("GetPaymentState", req, 200)
        call("GetPaymentState", req, 403, "PERMISSION_DENIED", "already answered")
        call(
            "GetPaymentState",
            state_request(key_of(1), signer=key_of(0)),
            401,
            "UNAUTHENTICATED",
            "not by the account",
        )
        call("GetPaymentState", state_request(key_of(1), ts=old), 400, "INVALID_ARGUMENT", "s old")
        call("GetPaymentState", {**req, "timestamp": -1}, 400)
    # a restarted disperser keeps the accepted totals (the metadata database)
    d2 = disperser()
    with pytest.raises(PaymentReplayError):
        d2.disperse_blob(*_args(paid(9, key_of(3), 3 * COST)))
    assert db.cumulative_payment(address_of(key_of(3))) == 3 * COST
    db.close()


def _args(body: dict) -> tuple:
    return (
        bytes.fromhex(body["blob"]),
        BlobHeader.from_json(body["blob_header"]),
        bytes.fromhex(body["signature"]),
    )


def test_meter_typed_errors(payments_vault, tmp_path) -> None:
    """The exceptions behind the statuses, a closed on-demand rate, an unreadable vault."""
    pv, reader, owner = payments_vault
    clock = Clock()
    meter = PaymentMeter(VaultCache(reader, clock=clock), clock=clock)
    hdr = lambda seed, key, cum=0: BlobHeader.from_json(paid(seed, key, cum)["blob_header"])  # noqa: E731
    meter.authorize(hdr(1, key_of(0)), 0)
    meter.authorize(hdr(2, key_of(0)), 0)
    with pytest.raises(ReservationExhaustedError):
        meter.authorize(hdr(3, key_of(0)), 0)
    with pytest.raises(ReservationMissingError):
        meter.authorize(hdr(3, key_of(4)), 0)
    with pytest.raises(OnDemandFundsError):
        meter.authorize(hdr(3, key_of(3), 3 * COST), 0)
    pv.setGlobalSymbolsPerPeriod(0, sender=owner)
    clock.t += 31  # the cached parameters are refreshed
    with pytest.raises(GlobalRateError, match="closed"):
        meter.authorize(hdr(3, key_of(3), COST), 0)
    gone = PaymentVaultReader("http://127.0.0.1:9", pv.address, timeout_s=1)
    with pytest.raises(PaymentVaultError, match="unreadable"):
        PaymentMeter(VaultCache(gone)).authorize(hdr(3, key_of(3), COST), 0)
    # a cache with values keeps them when the chain stops answering
    cache = VaultCache(reader, refresh_s=1, clock=clock)
    assert cache.account(address_of(key_of(3)))[1] == 2 * COST
    cache.vault = gone
    clock.t += 5
    assert cache.account(address_of(key_of(3)))[1] == 2 * COST


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_client_pays_through_the_disperser(payments_vault, tmp_path, transport) -> None:
    """``put``'s payment headers: GetPaymentState over HTTP or gRPC, on-demand totals, a deposit that does not cover."""
    _, reader, _ = payments_vault
    keys = operator_keys(4)
    state = node_state(keys)
    pks = {k.public_key().operator_id: k.public_key() for k in keys}
    db = MetadataStore(str(tmp_path / "meta.db"))
    d = Disperser(
        DISPERSER_KEY, 0, encoder(), state.stakes, {}, pks, db, meter=PaymentMeter(VaultCache(reader))
    )
    d.start()  # no validator answers: every blob ends FAILED, after its payment was accepted
    try:
        with (
            ServiceServer(disperser_app(d), log_level="warning") as srv,
            disperser_grpc(d, "127.0.0.1", 0) as g,
        ):
            url = g.url if transport == "grpc" else srv.url
            for n in (1, 2):
                with pytest.raises(DispersalError, match="FAILED"):
                    client.put(url, b"paid %d" % n, key_of(3), timeout_s=60, payment="on-demand")
                assert db.cumulative_payment(address_of(key_of(3))) == n * COST
            with pytest.raises(DispersalError, match="does not cover"):
                client.put(url, b"paid 3", key_of(3), timeout_s=60, payment="on-demand")
            with pytest.raises(DispersalError, match="no reservation covering"):
                client.put(url, b"reserved", key_of(4), timeout_s=60)
            with pytest.raises(DispersalError, match="FAILED"):
                client.put(url, b"reserved", key_of(0), timeout_s=60)
            ledger = client.payment_state(url, key_of(0))
            assert ledger.reservation.symbols_per_second == 2 and ledger.bucket.capacity == 120
            with pytest.raises(DispersalError, match="payment"):
                client.put(url, b"x", key_of(0), payment="free")
    finally:
        d.stop()
        db.close()


def test_disperser_process_reads_the_vault(payments_vault, tmp_path) -> None:
    """``eigen da disperser`` with a ``payments`` section meters against the vault it names."""
    import yaml

    from offchain.da.errors import NetworkConfigError
    from offchain.da.network.config import disperser_config
    from tests.offchain.da.network.support import network_file, start_process, write_disperser_config

    pv, reader, _ = payments_vault
    keys = operator_keys(4)
    cfg = write_disperser_config(
        tmp_path, network_file(tmp_path / "network.json", keys, node_state(keys), {})
    )
    base = yaml.safe_load(cfg.read_text())
    for bad, match in [
        ({"rpc": reader.w3.provider.endpoint_uri}, "expected"),
        ({"rpc": "ftp://x", "vault": pv.address}, "payments.rpc"),
        ({"rpc": "http://x", "vault": "0x12"}, "payments.vault"),
        ({"rpc": "http://x", "vault": pv.address, "refresh_s": 0}, "payments.refresh_s"),
    ]:
        cfg.write_text(yaml.safe_dump({**base, "payments": bad}))
        with pytest.raises(NetworkConfigError, match=match):
            disperser_config(cfg)
    cfg.write_text(
        yaml.safe_dump({**base, "payments": {"rpc": reader.w3.provider.endpoint_uri, "vault": pv.address}})
    )
    proc, info = start_process(["disperser", "--config", str(cfg)])
    try:
        ledger = client.payment_state(info["url"], key_of(3))
        assert (ledger.deposit, ledger.cumulative, ledger.params.price_per_symbol) == (2 * COST, 0, PRICE)
        with pytest.raises(DispersalError, match="no reservation"):
            client.put(info["url"], b"x", key_of(4), timeout_s=30)
    finally:
        proc.terminate()
        proc.wait(30)


def test_validator_refuses_overuse_from_a_dishonest_disperser(payments_vault, tmp_path) -> None:
    """A disperser that forwards more than an account's reservation is refused by the validators' own 120 s
    buckets: nothing stored, no signature; a batch already stored is not charged again; on-demand is not theirs."""
    from offchain.da.errors import NodeRequestError
    from offchain.da.network.node import ValidatorNode
    from offchain.da.network.payments import VALIDATOR_BUCKET_S
    from offchain.store import Store
    from tests.offchain.da.network.support import CLIENT_KEY, store_request

    pv, reader, owner = payments_vault
    now = int(time.time())
    # the test client's account: 1 symbol/s, a 120-symbol bucket at a validator; each blob bills 128
    pv.setReservation(
        address_of(CLIENT_KEY), (1, now - 3600, now + 3600, b"\x00\x01", b"\x32\x32"), sender=owner
    )
    clock = Clock()
    keys = operator_keys(4)
    state = node_state(keys)
    store = Store([str(tmp_path / "v0")])
    meter = PaymentMeter(VaultCache(reader, clock=clock), bucket_s=VALIDATOR_BUCKET_S, clock=clock)
    node = ValidatorNode(keys[3], state, encoder(), store, meter=meter)
    op = keys[3].public_key().operator_id
    ts = time.time_ns()
    first, second, third = (encoded_blob(s, timestamp=ts + s) for s in (11, 12, 13))
    node.store_chunks(store_request([first], state, op))  # overfills the empty bucket once
    node.store_chunks(store_request([first], state, op))  # stored already: not charged again
    with pytest.raises(NodeRequestError, match="payment: .*insufficient bandwidth") as err:
        node.store_chunks(store_request([second, third], state, op))
    assert err.value.status == 403
    assert not node.table.exists(second.header.blob_key()) and not node.table.exists(third.header.blob_key())
    clock.t += 10  # 10 symbols leak out: 128 - 10 < 120, room for one more (overfilling once)
    node.store_chunks(store_request([second], state, op))
    with pytest.raises(NodeRequestError, match="insufficient bandwidth"):
        node.store_chunks(store_request([third], state, op))
    store.close()


# ----- the disperser's claims of consumed on-demand payments (claims.py) -----------------------------


def claims_setup(payments_vault, chain, tmp_path, interval_s: float = 300.0):
    """A metering disperser with no validators (each blob ends FAILED after its payment was accepted), and a
    claim keeper signing with a funded key of its own."""
    from offchain.chain.da_contracts import PaymentVaultClaimer
    from offchain.da.network.claims import ClaimKeeper

    pv, reader, _ = payments_vault
    keys = operator_keys(4)
    state = node_state(keys)
    pks = {k.public_key().operator_id: k.public_key() for k in keys}
    db = MetadataStore(str(tmp_path / "meta.db"))
    claimer_key = (0xC1A1E).to_bytes(32, "big")
    chain.set_balance(address_of(claimer_key), 10**20)
    claimer = PaymentVaultClaimer(reader.w3.provider.endpoint_uri, pv.address, claimer_key)
    keeper = ClaimKeeper(db, claimer, batch_size=8, interval_s=interval_s)
    d = Disperser(
        DISPERSER_KEY, 0, encoder(), state.stakes, {}, pks, db, meter=PaymentMeter(VaultCache(reader)),
        claims=keeper,
    )  # fmt: skip
    return pv, db, d, keeper, claimer


def done(db: MetadataStore, keys: list[bytes]) -> None:
    """The blobs out of the pipeline, as the batcher leaves them when no validator signs (FAILED; the real
    batcher runs in test_the_disperser_claims_after_each_batch)."""
    from offchain.da.network.metadata import BlobStatus

    db.set_status(keys, BlobStatus.FAILED, "no validator signed")


def test_disperser_claims_its_on_demand_payments(payments_vault, chain, tmp_path) -> None:
    """A claim lands (the latest accepted total, once its blob left the pipeline); a repeated pass does
    nothing; a total claimed by someone else is skipped and recorded; an unreachable chain is counted and
    tried again, losing nothing."""
    from offchain.chain.da_contracts import PaymentVaultClaimer
    from offchain.da.errors import ClaimChainError
    from offchain.da.network.claims import ClaimKeeper, PaymentClaim

    pv, db, d, keeper, _ = claims_setup(payments_vault, chain, tmp_path)
    payer = address_of(key_of(3))
    keys = [d.disperse_blob(*_args(paid(21, key_of(3), COST)))[1]]
    keys.append(d.disperse_blob(*_args(paid(22, key_of(3), 2 * COST)))[1])
    empty = keeper.run_once()
    assert (empty.claimed, empty.skipped, empty.failed) == ([], [], [])  # still queued: not yet
    done(db, keys)
    report = keeper.run_once()
    ((account, total, tx),) = report.claimed
    assert (account, total) == (payer, 2 * COST) and tx.startswith("0x") and not report.failed
    assert pv.consumedOnDemand(payer) == pv.totalConsumed() == 2 * COST  # one claim covers both blobs
    assert db.claim_state(payer) == {"cumulative": 2 * COST, "claimed": 2 * COST, "tx": tx, "attempts": 0,
                                     "error": ""}  # fmt: skip
    again = keeper.run_once()
    assert (again.claimed, again.skipped, again.failed) == ([], [], [])
    # a later total, claimed on chain by someone else before the keeper: skipped, recorded as claimed
    pv.depositOnDemand(payer, value=2 * COST, sender=payments_vault[2])
    body = paid(23, key_of(3), 3 * COST)
    d.meter = PaymentMeter(VaultCache(payments_vault[1]))  # a fresh cache sees the new deposit
    done(db, [d.disperse_blob(*_args(body))[1]])
    header, signature = BlobHeader.from_json(body["blob_header"]), bytes.fromhex(body["signature"])
    pv.claimOnDemandPayment(
        *PaymentClaim(header.blob_key(), header, signature).args(), sender=payments_vault[2]
    )
    skipped = keeper.run_once()
    assert skipped.skipped == [(payer, 3 * COST)] and not skipped.claimed and not skipped.failed
    assert db.claim_state(payer)["claimed"] == 3 * COST
    # the chain does not answer: counted, nothing marked; the next pass claims it
    done(db, [d.disperse_blob(*_args(paid(24, key_of(3), 4 * COST)))[1]])
    gone = ClaimKeeper(db, PaymentVaultClaimer("http://127.0.0.1:9", pv.address, key_of(9), timeout_s=1))
    lost = gone.run_once()
    ((who, err),) = lost.failed
    assert who == payer and isinstance(err, ClaimChainError) and "unreadable" in str(err)
    st = db.claim_state(payer)
    assert (st["claimed"], st["attempts"]) == (3 * COST, 1) and "ClaimChainError" in st["error"]
    assert pv.consumedOnDemand(payer) == 3 * COST
    assert keeper.run_once().claimed[0][:2] == (payer, 4 * COST)
    assert pv.consumedOnDemand(payer) == 4 * COST and db.claim_state(payer)["attempts"] == 0
    db.close()


def test_a_forged_header_is_refused_by_the_keeper_and_the_vault(payments_vault, chain, tmp_path) -> None:
    from offchain.da.errors import ClaimProofError, ClaimRevertedError
    from offchain.da.network.claims import PaymentClaim

    pv, db, d, keeper, claimer = claims_setup(payments_vault, chain, tmp_path)
    payer = address_of(key_of(3))
    body = paid(31, key_of(3), COST)
    key = d.disperse_blob(*_args(body))[1]
    done(db, [key])
    header = BlobHeader.from_json(body["blob_header"])
    forged = sign_digest(key_of(4), key)  # the same blob key, signed by another account
    # the vault refuses it (simulated: no transaction, no gas), as it refuses a tampered total
    (refused,) = claimer.submit([PaymentClaim(key, header, forged)])
    assert isinstance(refused, ClaimRevertedError) and "signer is not the account" in str(refused)
    tampered = BlobHeader(0, header.quorum_numbers, header.commitment,
                          PaymentHeader(payer, header.payment_header.timestamp, 2 * COST))  # fmt: skip
    (refused,) = claimer.submit([PaymentClaim(key, tampered, bytes.fromhex(body["signature"]))])
    assert isinstance(refused, ClaimRevertedError) and "signer is not the account" in str(refused)
    # a metadata record whose signature is not the account's: the keeper refuses it before any transaction
    db.db.execute("UPDATE blobs SET signature = ? WHERE blob_key = ?", (forged.hex(), key.hex()))
    report = keeper.run_once()
    ((who, err),) = report.failed
    assert who == payer and isinstance(err, ClaimProofError) and "not by the account" in str(err)
    assert pv.consumedOnDemand(payer) == 0 and db.claim_state(payer)["attempts"] == 1
    db.close()


def test_the_disperser_claims_after_each_batch(payments_vault, chain, tmp_path) -> None:
    """The keeper's thread runs a pass when a batch ends (its interval is far longer than the test)."""
    pv, db, d, _, _ = claims_setup(payments_vault, chain, tmp_path, interval_s=3600)
    payer = address_of(key_of(3))
    d.start()
    try:
        d.disperse_blob(*_args(paid(41, key_of(3), COST)))
        deadline = time.monotonic() + 60
        while pv.consumedOnDemand(payer) != COST:
            assert time.monotonic() < deadline, db.claim_state(payer)
            time.sleep(0.2)
    finally:
        d.stop()
    assert db.claim_state(payer)["claimed"] == COST
    db.close()
