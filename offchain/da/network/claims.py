"""The disperser's claim keeper: consumed on-demand payments claimed in the PaymentVault (ELIP-12's DA fees).

The PaymentVault pays consumed on-demand payments into the fee vault once someone proves them with a blob
header the account signed (``claimOnDemandPayment``; contracts/da/PaymentVault.vy). The disperser holds
every such header it accepted, so it claims them itself: per account only the latest accepted total (a claim
of a cumulative total covers every earlier one), once its blob left the pipeline (COMPLETE or FAILED; the
payment was charged when it was accepted, as in EigenDA). A pass takes up to ``batch_size`` due accounts
from the metadata database (:meth:`MetadataStore.claims_due`), checks each stored header and signature
again (a record that does not prove the account's consent is refused before any transaction:
:class:`ClaimProofError`), reads what the vault already counts as consumed and skips what is claimed
(a claim made earlier, by this keeper before a crash or by anyone else), and submits the rest together
(:class:`ClaimSubmitter`: offchain.chain.da_contracts.PaymentVaultClaimer signs, simulates, sends them with
consecutive nonces and waits for their receipts). A claim is marked done only when its transaction
succeeded or the vault shows it; a refused or lost one is counted and tried again in a later pass, after
the accounts tried less, so nothing is lost and nothing is claimed twice. The keeper's thread runs a pass
after each batch the disperser finishes and every ``interval_s`` seconds.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from offchain.da.errors import ClaimProofError, NetworkMessageError, PaymentClaimError
from offchain.da.network.metadata import MetadataStore
from offchain.da.network.types import BlobHeader, check_request_signature
from offchain.httpservice import logger

log = logger("da.claims")


@dataclass(frozen=True)
class PaymentClaim:
    """One account's consumed on-demand total, proven by the blob header it signed."""

    blob_key: bytes
    header: BlobHeader
    signature: bytes

    @property
    def account(self) -> str:
        return self.header.payment_header.account

    @property
    def cumulative(self) -> int:
        return self.header.payment_header.cumulative_payment

    def args(self) -> tuple[tuple[str, int, int], bytes, bytes]:
        """``claimOnDemandPayment``'s arguments: (accountId, timestamp, cumulativePayment), blobHeaderHash,
        signature."""
        pay = self.header.payment_header
        return (pay.account, pay.timestamp, pay.cumulative_payment), self.header.header_hash(), self.signature


class ClaimSubmitter(Protocol):
    """The PaymentVault as the keeper uses it (offchain.chain.da_contracts.PaymentVaultClaimer)."""

    def consumed(self, accounts: Sequence[str]) -> list[int]:
        """Each account's ``consumedOnDemand``; :class:`PaymentClaimError` when the chain cannot be read."""
        ...

    def submit(self, claims: Sequence[PaymentClaim]) -> list[str | PaymentClaimError]:
        """Claim each, together; per claim its transaction hash or why it failed (a refusal, no receipt)."""
        ...


@dataclass
class ClaimReport:
    """One pass: claimed (account, total, tx), skipped as already claimed (account, total), failed
    (account, error)."""

    claimed: list[tuple[str, int, str]] = field(default_factory=list)
    skipped: list[tuple[str, int]] = field(default_factory=list)
    failed: list[tuple[str, PaymentClaimError]] = field(default_factory=list)


def proven_claim(row: dict[str, Any]) -> PaymentClaim:
    """The claim of a :meth:`MetadataStore.claims_due` row, its header and signature checked again: the
    account's own signature over the recorded blob key, for the recorded account and total."""
    account, total = row["account"], row["cumulative"]
    try:
        header = BlobHeader.from_json(row["header"])
        key = check_request_signature(header, row["signature"])
    except NetworkMessageError as exc:
        raise ClaimProofError(
            f"{account}'s total {total}: the stored header does not prove it: {exc}"
        ) from None
    pay = header.payment_header
    if key != row["blob_key"] or pay.account != account or pay.cumulative_payment != total:
        raise ClaimProofError(
            f"{account}'s total {total}: the stored header is blob {key.hex()} of {pay.account} for "
            f"{pay.cumulative_payment}, not the recorded blob {row['blob_key'].hex()}"
        )
    return PaymentClaim(key, header, row["signature"])


class ClaimKeeper:
    def __init__(
        self, db: MetadataStore, submitter: ClaimSubmitter, *, batch_size: int = 32, interval_s: float = 30.0
    ) -> None:
        if batch_size < 1 or interval_s <= 0:
            raise ValueError("claim keeper: batch_size >= 1 and interval_s > 0")
        self.db, self.submitter = db, submitter
        self.batch_size, self.interval_s = batch_size, interval_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._pass = threading.Lock()  # one pass at a time (the thread's, a caller's)
        self._thread: threading.Thread | None = None

    def run_once(self) -> ClaimReport:
        """One pass over up to ``batch_size`` due accounts."""
        with self._pass:
            report = ClaimReport()
            claims = []
            for row in self.db.claims_due(self.batch_size):
                try:
                    claims.append(proven_claim(row))
                except ClaimProofError as exc:
                    self._failed(report, row["account"], exc)
            if not claims:
                return self._logged(report)
            try:
                onchain = self.submitter.consumed([c.account for c in claims])
            except PaymentClaimError as exc:
                for c in claims:
                    self._failed(report, c.account, exc)
                return self._logged(report)
            todo = []
            for c, got in zip(claims, onchain, strict=True):
                if got >= c.cumulative:  # claimed already (by this keeper before a restart, or by anyone)
                    self.db.mark_claimed(c.account, c.cumulative)
                    report.skipped.append((c.account, c.cumulative))
                else:
                    todo.append(c)
            try:
                results: list[str | PaymentClaimError] = list(self.submitter.submit(todo)) if todo else []
            except PaymentClaimError as exc:
                results = [exc] * len(todo)
            for c, res in zip(todo, results, strict=True):
                if isinstance(res, PaymentClaimError):
                    self._failed(report, c.account, res)
                else:
                    self.db.mark_claimed(c.account, c.cumulative, res)
                    report.claimed.append((c.account, c.cumulative, res))
            return self._logged(report)

    def _failed(self, report: ClaimReport, account: str, exc: PaymentClaimError) -> None:
        self.db.claim_failed(account, f"{type(exc).__name__}: {exc}")
        report.failed.append((account, exc))

    @staticmethod
    def _logged(report: ClaimReport) -> ClaimReport:
        if report.claimed or report.skipped:
            log.info("payments_claimed", extra={
                "claimed": [[a, str(n), tx] for a, n, tx in report.claimed],
                "skipped": [[a, str(n)] for a, n in report.skipped],
            })  # fmt: skip
        for account, exc in report.failed:
            log.warning("payment_claim_failed", extra={"account": account, "error": type(exc).__name__,
                                                       "reason": str(exc)})  # fmt: skip
        return report

    # ----- the keeper's thread --------------------------------------------------------------------------

    def wake(self) -> None:
        """Run a pass now (the disperser calls this after each batch)."""
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="da-claims", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # noqa: BLE001 - the keeper logs and keeps claiming (a database hiccup)
                log.exception("claim_pass_error")
            self._wake.wait(self.interval_s)
            self._wake.clear()
