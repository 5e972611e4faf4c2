"""Payments as EigenDA V2 meters them (``core/payments``; docs/da-network.md, *Payments*).

A blob header's ``payment_header`` selects one of two modes, with no fallback between them:

- **reservation** (``cumulative_payment`` = 0): the account's ``Reservation`` in the PaymentVault
  (``symbolsPerSecond`` over [startTimestamp, endTimestamp) for its quorums) is metered by a
  :class:`LeakyBucket` per account: capacity = rate × a duration (client 60 s, disperser 90 s, validator
  120 s), symbols leak out at the rate, a blob may overfill the bucket once while any room is left, a
  refused fill costs nothing. Clients start full (they cannot know what was used before a restart),
  dispersers and validators start empty;
- **on-demand** (``cumulative_payment`` > 0): the header carries the total the account has paid so far,
  this blob included. The disperser accepts it when it is above the last total it accepted for the account
  by at least the blob's cost (``billable symbols × pricePerSymbol``) and at most the account's deposit
  (``getOnDemandTotalDeposit``); quorums 0 and 1 only, and the network's on-demand throughput
  (``globalSymbolsPerPeriod`` per ``globalRatePeriodInterval``) is a second bucket shared by all accounts.

Billable symbols: the blob's length rounded up to a power of two, at least ``minNumSymbols``.
The vault is read through a :class:`VaultReader` (``offchain.chain.da_contracts.PaymentVaultReader`` on a
chain) behind a :class:`VaultCache` that refreshes an account's entry and the global parameters once they
are older than ``refresh_s``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from offchain.da.errors import (
    GlobalRateError,
    OnDemandFundsError,
    PaymentReplayError,
    PaymentTimeError,
    PaymentVaultError,
    ReservationExhaustedError,
    ReservationMissingError,
    ReservationTermsError,
)
from offchain.da.network.types import BlobHeader
from offchain.httpservice import logger

log = logger("da.payments")

CLIENT_BUCKET_S = 60.0  # EigenDA: the client's bucket, the disperser's and the validators' (s)
DISPERSER_BUCKET_S = 90.0
VALIDATOR_BUCKET_S = 120.0
ON_DEMAND_QUORUMS = (0, 1)  # EigenDA: on-demand payments pay for quorums 0 (ETH) and 1 (EIGEN) only
MAX_DISPERSAL_AGE_S = 45.0  # EigenDA's apiserver: a payment timestamp at most this old ...
MAX_FUTURE_DISPERSAL_S = 45.0  # ... or this far ahead of the disperser's clock


@dataclass(frozen=True)
class Reservation:
    """``IPaymentVault.Reservation``; all zero when the account has none."""

    symbols_per_second: int
    start_timestamp: int
    end_timestamp: int
    quorum_numbers: tuple[int, ...]
    quorum_splits: tuple[int, ...]

    @classmethod
    def from_abi(cls, value: Sequence[Any]) -> Reservation:
        rate, start, end, quorums, splits = value
        return cls(int(rate), int(start), int(end), tuple(bytes(quorums)), tuple(bytes(splits)))

    @property
    def exists(self) -> bool:
        return self.symbols_per_second > 0

    def check(self, quorums: Sequence[int], dispersal_s: float) -> None:
        """EigenDA's ``CheckQuorumsPermitted`` and ``CheckTime``: every quorum covered, the dispersal time in
        [start, end)."""
        missing = [q for q in quorums if q not in self.quorum_numbers]
        if missing:
            raise ReservationTermsError(
                f"the reservation covers quorums {list(self.quorum_numbers)}, not {missing}"
            )
        if not self.start_timestamp <= dispersal_s < self.end_timestamp:
            raise ReservationTermsError(
                f"dispersal time {dispersal_s:.0f} outside the reservation's "
                f"[{self.start_timestamp}, {self.end_timestamp})"
            )

    def to_json(self) -> dict[str, Any]:
        """``disperser.v2.Reservation``'s fields."""
        return {
            "symbols_per_second": self.symbols_per_second,
            "start_timestamp": self.start_timestamp,
            "end_timestamp": self.end_timestamp,
            "quorum_numbers": list(self.quorum_numbers),
            "quorum_splits": list(self.quorum_splits),
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Reservation:
        return cls(
            int(obj["symbols_per_second"]), int(obj["start_timestamp"]), int(obj["end_timestamp"]),
            tuple(int(q) for q in obj["quorum_numbers"]), tuple(int(s) for s in obj["quorum_splits"]),
        )  # fmt: skip


NO_RESERVATION = Reservation(0, 0, 0, (), ())


@dataclass(frozen=True)
class VaultParams:
    """The PaymentVault's global parameters."""

    min_num_symbols: int
    price_per_symbol: int
    price_update_cooldown: int
    global_symbols_per_period: int
    reservation_period_interval: int
    global_rate_period_interval: int

    def cost(self, symbols: int) -> int:
        """The on-demand price of a blob of ``symbols`` symbols, in wei."""
        return billable_symbols(symbols, self.min_num_symbols) * self.price_per_symbol

    def to_json(self) -> dict[str, Any]:
        """``disperser.v2.PaymentGlobalParams``'s fields."""
        return {
            "global_symbols_per_second": self.global_symbols_per_period // self.global_rate_period_interval,
            "min_num_symbols": self.min_num_symbols,
            "price_per_symbol": self.price_per_symbol,
            "reservation_window": self.reservation_period_interval,
            "on_demand_quorum_numbers": list(ON_DEMAND_QUORUMS),
        }


def billable_symbols(symbols: int, min_num_symbols: int) -> int:
    """EigenDA's ``CalculateBillableSymbols``: the next power of two, at least ``min_num_symbols``."""
    n = 1 << max(0, int(symbols) - 1).bit_length()
    return max(n, int(min_num_symbols))


class VaultReader(Protocol):
    """What the meters read from the PaymentVault (batched getters, as EigenDA's vault monitors do)."""

    def params(self) -> VaultParams: ...

    def reservations(self, accounts: Sequence[str]) -> list[Reservation]: ...

    def deposits(self, accounts: Sequence[str]) -> list[int]: ...


class LeakyBucket:
    """EigenDA's ``LeakyBucket`` meter: symbols leak out at ``rate`` per second; ``fill`` adds a blob's
    symbols if they fit, or, overfilling, if any room is left (``overfill_once``); a refused fill adds
    nothing. ``now`` is a monotonic clock in seconds. Not thread-safe: its owner locks."""

    def __init__(
        self, rate: float, capacity_s: float, start_full: bool, now: float, *, overfill_once: bool = True
    ):
        if rate <= 0 or capacity_s <= 0:
            raise ValueError(f"leaky bucket: rate {rate} and duration {capacity_s} must be positive")
        self.rate, self.capacity, self.overfill_once = float(rate), float(rate) * capacity_s, overfill_once
        self.level = self.capacity if start_full else 0.0
        self.t = now

    def _leak(self, now: float) -> None:
        if now > self.t:
            self.level = max(0.0, self.level - (now - self.t) * self.rate)
            self.t = now

    def fill(self, now: float, symbols: int) -> bool:
        if symbols <= 0:
            raise ValueError("leaky bucket: a fill of no symbols")
        self._leak(now)
        if self.level + symbols <= self.capacity or (self.overfill_once and self.level < self.capacity):
            self.level += symbols
            return True
        return False

    def revert(self, now: float, symbols: int) -> None:
        """Give back a fill whose dispersal did not happen (never below empty)."""
        self._leak(now)
        self.level = max(0.0, self.level - symbols)

    def remaining(self, now: float) -> float:
        """Room left (negative while overfilled)."""
        self._leak(now)
        return self.capacity - self.level

    def wait_s(self, now: float) -> float:
        """Seconds until a fill may be accepted again (some room left)."""
        self._leak(now)
        return 0.0 if self.level < self.capacity else (self.level - self.capacity) / self.rate + 1e-3


class VaultCache:
    """The vault's parameters and each account's reservation and deposit, read once and refreshed when
    older than ``refresh_s``. A failed refresh keeps the last values (logged); with none yet, the request
    is refused with :class:`PaymentVaultError` (UNAVAILABLE)."""

    def __init__(
        self, vault: VaultReader, refresh_s: float = 30.0, clock: Callable[[], float] = time.monotonic
    ):
        self.vault, self.refresh_s, self.clock = vault, refresh_s, clock
        self.lock = threading.Lock()
        self._params: tuple[float, VaultParams] | None = None
        self._accounts: dict[str, tuple[float, Reservation, int]] = {}

    def _fresh(self, t: float) -> bool:
        return self.clock() - t < self.refresh_s

    def params(self) -> VaultParams:
        with self.lock:
            if self._params is None or not self._fresh(self._params[0]):
                try:
                    self._params = (self.clock(), self.vault.params())
                except Exception as exc:  # noqa: BLE001 - any failure of the chain client
                    if self._params is None:
                        raise PaymentVaultError(f"payment vault unreadable: {exc}") from exc
                    log.warning("payment_vault_stale", extra={"reason": str(exc)})
            return self._params[1]

    def account(self, account: str) -> tuple[Reservation, int]:
        """The account's reservation and total on-demand deposit (wei)."""
        with self.lock:
            entry = self._accounts.get(account)
            if entry is None or not self._fresh(entry[0]):
                try:
                    (res,), (dep,) = self.vault.reservations([account]), self.vault.deposits([account])
                    entry = (self.clock(), res, int(dep))
                    self._accounts[account] = entry
                except Exception as exc:  # noqa: BLE001 - any failure of the chain client
                    if entry is None:
                        raise PaymentVaultError(f"payment vault unreadable for {account}: {exc}") from exc
                    log.warning("payment_vault_stale", extra={"account": account, "reason": str(exc)})
            return entry[1], entry[2]


@dataclass(frozen=True)
class Charge:
    """One authorized payment: what :meth:`PaymentMeter.revert` gives back if the blob is not taken."""

    account: str
    symbols: int  # billable
    cumulative_payment: int  # 0 for a reservation


class PaymentMeter:
    """The disperser's payment check (EigenDA's ``PaymentAuthorizationHandler``): reservations through a
    bucket per account (``bucket_s`` = 90 s, starting empty), on-demand totals against the deposit and the
    last accepted total, the global on-demand bucket, and the header's timestamp within
    [now − ``max_age_s``, now + ``max_future_s``]."""

    def __init__(
        self, cache: VaultCache, *, bucket_s: float = DISPERSER_BUCKET_S, max_age_s: float = MAX_DISPERSAL_AGE_S,
        max_future_s: float = MAX_FUTURE_DISPERSAL_S, clock: Callable[[], float] = time.monotonic,
        wall_ns: Callable[[], int] = time.time_ns,
    ) -> None:  # fmt: skip
        self.cache, self.bucket_s, self.clock, self.wall_ns = cache, bucket_s, clock, wall_ns
        self.max_age_ns, self.max_future_ns = int(max_age_s * 1e9), int(max_future_s * 1e9)
        self.lock = threading.Lock()
        self.buckets: dict[str, tuple[Reservation, LeakyBucket]] = {}
        self.global_bucket: tuple[VaultParams, LeakyBucket] | None = None

    def check_time(self, timestamp_ns: int) -> None:
        age = self.wall_ns() - timestamp_ns
        if age > self.max_age_ns:
            raise PaymentTimeError(
                f"payment_header.timestamp: {age / 1e9:.1f} s old, at most {self.max_age_ns / 1e9:g} s allowed"
            )
        if -age > self.max_future_ns:
            raise PaymentTimeError(
                f"payment_header.timestamp: {-age / 1e9:.1f} s ahead of the disperser's clock, "
                f"at most {self.max_future_ns / 1e9:g} s allowed"
            )

    def authorize(self, header: BlobHeader, last_cumulative: int) -> Charge:
        """Check and debit ``header``'s payment; ``last_cumulative`` is the account's last accepted on-demand
        total (the metadata store's). Raises a :class:`~offchain.da.errors.PaymentError`."""
        pay = header.payment_header
        self.check_time(pay.timestamp)
        params = self.cache.params()
        symbols = billable_symbols(header.commitment.length, params.min_num_symbols)
        reservation, deposit = self.cache.account(pay.account)
        if pay.is_reservation:
            return self._reservation(pay.account, reservation, header, symbols)
        return self._on_demand(pay.account, params, deposit, header, symbols, last_cumulative)

    def _reservation(self, account: str, res: Reservation, header: BlobHeader, symbols: int) -> Charge:
        if not res.exists:
            raise ReservationMissingError(f"account {account} has no reservation in the payment vault")
        res.check(header.quorum_numbers, header.payment_header.timestamp / 1e9)
        now = self.clock()
        with self.lock:
            held = self.buckets.get(account)
            if held is None or held[0].symbols_per_second != res.symbols_per_second:
                bucket = LeakyBucket(res.symbols_per_second, self.bucket_s, False, now)
                if (
                    held is not None
                ):  # the reservation changed: keep what was used (EigenDA's UpdateReservation)
                    bucket.level = min(bucket.capacity, held[1].capacity - held[1].remaining(now))
                held = (res, bucket)
                self.buckets[account] = held
            if not held[1].fill(now, symbols):
                raise ReservationExhaustedError(
                    f"reservation payment validation failed: insufficient bandwidth ({symbols} symbols, "
                    f"{held[1].remaining(now):.0f} of {held[1].capacity:.0f} left at "
                    f"{res.symbols_per_second} symbols/s)"
                )
        return Charge(account, symbols, 0)

    def _on_demand(
        self, account: str, params: VaultParams, deposit: int, header: BlobHeader, symbols: int, last: int
    ) -> Charge:
        other = [q for q in header.quorum_numbers if q not in ON_DEMAND_QUORUMS]
        if other:
            raise ReservationTermsError(
                f"on-demand payments cover quorums {list(ON_DEMAND_QUORUMS)}, not {other}"
            )
        cum = header.payment_header.cumulative_payment
        cost = symbols * params.price_per_symbol
        if cum <= last:
            raise PaymentReplayError(
                f"cumulative payment {cum} is not above the last accepted for {account} ({last})"
            )
        if cum - last < cost:
            raise OnDemandFundsError(
                f"cumulative payment {cum} pays {cum - last} wei since the last ({last}), the blob costs {cost}"
            )
        if cum > deposit:
            raise OnDemandFundsError(
                f"insufficient funds: cumulative payment {cum} exceeds {account}'s deposit of {deposit} wei"
            )
        if params.global_symbols_per_period == 0:
            raise GlobalRateError(
                "the payment vault's globalSymbolsPerPeriod is 0: on-demand dispersal is closed"
            )
        now = self.clock()
        with self.lock:
            if self.global_bucket is None or self.global_bucket[0] != params:
                rate = params.global_symbols_per_period / params.global_rate_period_interval
                self.global_bucket = (
                    params,
                    LeakyBucket(rate, params.global_rate_period_interval, False, now),
                )
            if not self.global_bucket[1].fill(now, symbols):
                raise GlobalRateError(
                    f"global rate limit exceeded: {params.global_symbols_per_period} on-demand symbols per "
                    f"{params.global_rate_period_interval} s"
                )
        return Charge(account, symbols, cum)

    def meter_reservations(self, headers: Sequence[BlobHeader]) -> list[Charge]:
        """A validator's check of a batch (EigenDA's validators meter reservations with their own 120 s buckets,
        so a disperser that lets an account overuse its reservation is refused by them): every reservation
        payment debited, or none (the first refusal reverts the others and is raised). On-demand payments are
        the disperser's to meter; no timestamp window (a batch arrives after its blobs were dispersed)."""
        charges: list[Charge] = []
        try:
            for h in headers:
                if not h.payment_header.is_reservation:
                    continue
                params = self.cache.params()
                reservation, _ = self.cache.account(h.payment_header.account)
                symbols = billable_symbols(h.commitment.length, params.min_num_symbols)
                charges.append(self._reservation(h.payment_header.account, reservation, h, symbols))
        except BaseException:
            for c in charges:
                self.revert(c)
            raise
        return charges

    def revert(self, charge: Charge) -> None:
        """Give back a charge whose blob was not accepted (a repeated blob, a lost race)."""
        now = self.clock()
        with self.lock:
            if charge.cumulative_payment == 0:
                held = self.buckets.get(charge.account)
                if held is not None:
                    held[1].revert(now, charge.symbols)
            elif self.global_bucket is not None:
                self.global_bucket[1].revert(now, charge.symbols)

    def state(self, account: str, cumulative: int) -> dict[str, Any]:
        """``GetPaymentStateReply``: global parameters, the reservation, the last accepted on-demand total and
        the deposit on chain (both as minimal big-endian hex, the protobuf bytes)."""
        params = self.cache.params()
        res, deposit = self.cache.account(account)
        reply: dict[str, Any] = {
            "payment_global_params": params.to_json(),
            "cumulative_payment": _big(cumulative),
            "onchain_cumulative_payment": _big(deposit),
        }
        if res.exists:
            reply["reservation"] = res.to_json()
        return reply


def _big(n: int) -> str:
    return n.to_bytes((n.bit_length() + 7) // 8, "big").hex()


class ClientLedger:
    """The client's side (EigenDA's ``ClientLedger``): a reservation bucket of ``bucket_s`` = 60 s that starts
    full, and the on-demand total it last paid, so a client does not send what the disperser would refuse."""

    def __init__(self, reservation: Reservation, params: VaultParams, cumulative: int, deposit: int,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.reservation, self.params, self.cumulative, self.deposit = (
            reservation,
            params,
            cumulative,
            deposit,
        )
        self.clock = clock
        self.bucket = (
            LeakyBucket(reservation.symbols_per_second, CLIENT_BUCKET_S, True, clock())
            if reservation.exists
            else None
        )

    def reservation_wait_s(self, symbols: int, quorums: Sequence[int], dispersal_ns: int) -> float | None:
        """Debit the reservation: 0 when it fits now, the seconds to wait when the bucket is full, None when
        the reservation cannot pay (none, a quorum it does not cover, outside its time)."""
        if self.bucket is None:
            return None
        try:
            self.reservation.check(quorums, dispersal_ns / 1e9)
        except ReservationTermsError:
            return None
        now = self.clock()
        n = billable_symbols(symbols, self.params.min_num_symbols)
        return 0.0 if self.bucket.fill(now, n) else self.bucket.wait_s(now)

    def next_cumulative(self, symbols: int) -> int | None:
        """The on-demand total for the next blob, or None when the deposit does not cover it."""
        nxt = self.cumulative + self.params.cost(symbols)
        return nxt if nxt <= self.deposit else None
