"""AP2 v0.2 mandates: Checkout and Payment mandates as SD-JWT chains (Delegate SD-JWT, ES256),
open and closed, checked before any payment, and the receipts that answer them.

**Mandates.** A mandate is an SD-JWT whose content has a ``vct``: ``mandate.checkout.1`` (closed:
``checkout_jwt``, the merchant-signed checkout, selectively disclosable, and ``checkout_hash``,
the base64url SHA-256 of it) and ``mandate.payment.1`` (closed: ``transaction_id``, the checkout's
hash; ``payee``; ``payment_amount`` ``{amount, currency}`` in integer minor units;
``payment_instrument`` ``{id, type}``; optional ``pisp``, ``execution_date``, ``risk_data``,
``iat``, ``exp``). Open forms (``mandate.checkout.open.1``, ``mandate.payment.open.1``) hold
``constraints`` instead and bind the agent's key in ``cnf``.

**Chains** (sdjwt.verify_chain). The root is either the user's credential (its issuer trusted by
the verifier; ``cnf`` the user's device key) or an agent provider's SD-JWT whose one disclosed
``delegate_payload`` element is a mandate. Each further link is a KB-SD-JWT signed by the key its
predecessor binds: the user's device delegates an open mandate to the agent (Human Not Present), a
user-signed closed mandate ends the chain (Human Present), an agent may delegate a narrower open
mandate to another agent, and the agent holding the last open mandate closes it for one verifier
(``aud``) and one exchange (``nonce``).

**Checks** (:func:`check_checkout`, :func:`check_payment`), each a typed MandateError: the chain
(signatures, issuer, key bindings, ``sd_hash``, disclosures, validity windows), the ``vct`` of
every link, claims an open mandate fixes unchanged in the closed one, every later open mandate
only narrowing the one before it, the hash bindings (``checkout_hash`` and the checkout the
merchant issued, ``transaction_id``, ``payment.reference``), every constraint of every open
mandate (unknown constraints fail), and, in a :class:`Ledger`, the budget, the recurrence and the
``transaction_id`` never accepted before. :func:`sign_receipt` answers with a receipt JWT whose
``reference`` is the digest of the closed mandate's link (as ``sd_hash`` is computed).

**Currencies.** ``payment_amount.currency`` is an ISO 4217 code, or, for an x402 token, its CAIP-19
id (``eip155:<chain>/erc20:<address>``, :func:`x402_currency`) with amounts in the token's base
units; ``payment.budget.max`` is in major units, converted exactly with the currency's number of
minor digits (:data:`MINOR_DIGITS`, extended per verifier for tokens).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from eth_utils import to_checksum_address

from offchain.agent import sdjwt
from offchain.agent.errors import (
    MandateAmountError,
    MandateBudgetError,
    MandateConstraintError,
    MandateError,
    MandateExpiredError,
    MandateHashError,
    MandateLimitError,
    MandateMismatchError,
    MandateNotYetValidError,
    MandatePayeeError,
    MandateReplayError,
    MandateSignatureError,
    MandateTypeError,
    MandateWidenedError,
    SdJwtError,
)
from offchain.agent.x402 import PaymentRequirements

CHECKOUT = "mandate.checkout.1"
CHECKOUT_OPEN = "mandate.checkout.open.1"
PAYMENT = "mandate.payment.1"
PAYMENT_OPEN = "mandate.payment.open.1"
OPEN_OF = {CHECKOUT: CHECKOUT_OPEN, PAYMENT: PAYMENT_OPEN}

# constraint types
AMOUNT_RANGE = "payment.amount_range"
ALLOWED_PAYEES = "payment.allowed_payees"
ALLOWED_INSTRUMENTS = "payment.allowed_payment_instruments"
ALLOWED_PISPS = "payment.allowed_pisps"
BUDGET = "payment.budget"
RECURRENCE = "payment.agent_recurrence"
REFERENCE = "payment.reference"
EXECUTION_DATE = "payment.execution_date"
ALLOWED_MERCHANTS = "checkout.allowed_merchants"
LINE_ITEMS = "checkout.line_items"

# the least time between two payments under an agent_recurrence frequency (calendar periods at
# their shortest: a month 28 days, a quarter 89, a year 365)
FREQUENCY_S = {
    "ON_DEMAND": 0,
    "DAILY": 86_400,
    "WEEKLY": 7 * 86_400,
    "BIWEEKLY": 14 * 86_400,
    "MONTHLY": 28 * 86_400,
    "QUARTERLY": 89 * 86_400,
    "ANNUALLY": 365 * 86_400,
}
MINOR_DIGITS: dict[str, int] = {"USD": 2, "EUR": 2, "GBP": 2, "CHF": 2, "JPY": 0}
X402_INSTRUMENT = "x402"  # payment_instrument.type of an x402 payer (id: its CAIP-10 account)
CHECKOUT_TYP = "JWT"
RECEIPT_TYP = "JWT"
SUCCESS, ERROR = "Success", "Error"
# AP2's action-authorization error codes
INVALID_CREDENTIAL = "invalid_credential"
UNRESOLVED_CONSTRAINT = "unresolved_constraint"
INVALID_MANDATE = "invalid_mandate"
ALREADY_USED = "mandate_already_used"
# open-mandate claims that are the mandate's own, not claims fixed for the closed one
_OWN = frozenset({"vct", "constraints", "cnf", "iat", "exp", "nbf", "iss"})


# ---------------------------------------------------------------- values


def checkout_hash(checkout_jwt: str) -> str:
    """``checkout_hash`` (and the payment's ``transaction_id``): base64url SHA-256 of the JWT."""
    return sdjwt.digest(checkout_jwt)


def x402_currency(offer: PaymentRequirements) -> str:
    """The CAIP-19 id of an x402 offer's token (``payment_amount.currency`` of an x402 payment)."""
    return f"{offer.network}/erc20:{offer.asset}"


def x402_instrument(network: str, payer: str) -> dict[str, str]:
    """The payment instrument of an x402 payer: its CAIP-10 account."""
    return {"id": f"{network}:{to_checksum_address(payer)}", "type": X402_INSTRUMENT}


def payee(address: str, name: str | None = None, website: str | None = None) -> dict[str, str]:
    """A merchant object (AP2's ``Merchant``) for a payee address."""
    m = {"id": to_checksum_address(address)}
    return m | ({"name": name} if name else {}) | ({"website": website} if website else {})


def plain(node: Any) -> Any:
    """`node` with every sdjwt.Sd marker replaced by its value (what the content says once all
    is disclosed)."""
    if isinstance(node, sdjwt.Sd):
        return plain(node.value)
    if isinstance(node, list):
        return [plain(v) for v in node]
    if isinstance(node, dict):
        return {k: plain(v) for k, v in node.items()}
    return node


# ---------------------------------------------------------------- building (user, agent, merchant)


def sign_checkout(key: sdjwt.PrivateKey, checkout: dict[str, Any]) -> str:
    """The merchant-signed checkout JWT (ES256, randomized: AP2 forbids deterministic signatures
    here). Its payload is the merchant's checkout object; this project's: ``id``, ``merchant``,
    ``line_items`` (``{id, item: {id, title}, quantity}``), ``currency``, ``total``, ``iat``,
    ``exp``."""
    return sdjwt.sign_jwt(key, {"typ": CHECKOUT_TYP}, checkout)


def read_checkout(checkout_jwt: str) -> dict[str, Any]:
    """The payload of a checkout JWT (its signature is the merchant's to check against what it
    issued: :func:`check_checkout` compares the JWT itself)."""
    return sdjwt.jwt_payload(checkout_jwt, "checkout JWT")


def open_mandate(
    vct: str,
    agent: sdjwt.PublicKey | sdjwt.PrivateKey,
    constraints: list[Any],
    *,
    iat: int,
    exp: int,
    **fixed: Any,
) -> dict[str, Any]:
    """Open mandate content (``vct`` one of the open kinds) binding `agent`'s key, with
    `constraints` (which may hold sdjwt.Sd elements) and claims `fixed` for the closed mandate."""
    if vct not in (CHECKOUT_OPEN, PAYMENT_OPEN):
        raise MandateTypeError(f"{vct!r} is no open mandate type")
    return {
        "vct": vct,
        "constraints": list(constraints),
        "cnf": {"jwk": sdjwt.jwk(agent)},
        "iat": iat,
        "exp": exp,
    } | fixed


def closed_checkout(checkout_jwt: str, **extra: Any) -> dict[str, Any]:
    """Closed Checkout Mandate content: the checkout JWT (selectively disclosable) and its hash."""
    return {
        "vct": CHECKOUT,
        "checkout_jwt": sdjwt.Sd(checkout_jwt),
        "checkout_hash": checkout_hash(checkout_jwt),
    } | extra


def closed_payment(
    transaction_id: str,
    to: dict[str, Any],
    amount: int,
    currency: str,
    instrument: dict[str, Any],
    **extra: Any,
) -> dict[str, Any]:
    """Closed Payment Mandate content."""
    return {
        "vct": PAYMENT,
        "transaction_id": transaction_id,
        "payee": to,
        "payment_amount": {"amount": amount, "currency": currency},
        "payment_instrument": instrument,
    } | extra


def amount_range(currency: str, max_: int, min_: int | None = None) -> dict[str, Any]:
    return {"type": AMOUNT_RANGE, "currency": currency, "max": max_} | ({} if min_ is None else {"min": min_})


def allowed_payees(payees: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Each payee a disclosure of its own: an agent reveals only the one it pays."""
    return {"type": ALLOWED_PAYEES, "allowed": [sdjwt.Sd(p) for p in payees]}


def allowed_instruments(instruments: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {"type": ALLOWED_INSTRUMENTS, "allowed": [sdjwt.Sd(i) for i in instruments]}


def budget(currency: str, max_major: int | float | str | Decimal) -> dict[str, Any]:
    """``max`` in the currency's major units (AP2's rule for budgets), as a JSON number: an integer,
    or the float whose shortest form is exactly `max_major` (MandateError otherwise)."""
    d = _major(str(max_major) if isinstance(max_major, Decimal) else max_major, text=True)
    number: int | float = int(d) if d == d.to_integral_value() else float(d)
    if Decimal(str(number)) != d:
        raise MandateError(f"{max_major} has no exact JSON number form")
    return {"type": BUDGET, "currency": currency, "max": number}


def recurrence(frequency: str, max_occurrences: int | None = None) -> dict[str, Any]:
    c: dict[str, Any] = {"type": RECURRENCE, "frequency": frequency}
    return c | ({} if max_occurrences is None else {"max_occurrences": max_occurrences})


def reference(open_checkout_digest: str) -> dict[str, Any]:
    """``payment.reference``: the digest of the open checkout mandate's link this payment is for."""
    return {"type": REFERENCE, "conditional_transaction_id": open_checkout_digest}


def execution_date(not_before: str | None = None, not_after: str | None = None) -> dict[str, Any]:
    c: dict[str, Any] = {"type": EXECUTION_DATE}
    return (
        c
        | ({} if not_before is None else {"not_before": not_before})
        | ({} if not_after is None else {"not_after": not_after})
    )


def allowed_merchants(merchants: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {"type": ALLOWED_MERCHANTS, "allowed": [sdjwt.Sd(m) for m in merchants]}


def line_items(requirements: Iterable[tuple[str, Iterable[dict[str, Any]], int]]) -> dict[str, Any]:
    """``checkout.line_items`` from ``(id, acceptable items ({id, title}), quantity)`` triples."""
    return {
        "type": LINE_ITEMS,
        "items": [
            {"id": i, "acceptable_items": [sdjwt.Sd(a) for a in items], "quantity": q}
            for i, items, q in requirements
        ],
    }


def delegate(
    chain: str,
    holder_key: sdjwt.PrivateKey,
    mandate: dict[str, Any],
    *,
    aud: str,
    nonce: str,
    iat: int,
    keep: Callable[[sdjwt.Disclosure], bool] | None = None,
) -> str:
    """`chain` (the user's credential, or a chain ending in an open mandate) with `mandate`
    delegated by `holder_key` (the key its last link binds): an open mandate binding the next
    agent's key (``kb+sd-jwt+kb``), or a closed one ending the chain (``kb+sd-jwt``). With `keep`,
    the last link first keeps only the disclosures `keep` accepts (a user's device revealing none
    of its credential's claims, or only some, to every verifier down the chain)."""
    vct = mandate.get("vct")
    if vct not in (CHECKOUT, PAYMENT, CHECKOUT_OPEN, PAYMENT_OPEN):
        raise MandateTypeError(f"{vct!r} is no AP2 mandate type")
    is_open = vct in (CHECKOUT_OPEN, PAYMENT_OPEN)
    if keep is not None:
        chain = sdjwt.prune(chain, keep)
    return sdjwt.delegate(chain, holder_key, [mandate], aud=aud, nonce=nonce, iat=iat, binds_key=is_open)


def close(
    chain: str,
    agent_key: sdjwt.PrivateKey,
    mandate: dict[str, Any],
    *,
    aud: str,
    nonce: str,
    iat: int,
    reveal: Iterable[Any] | None = None,
) -> str:
    """The agent's closed `mandate` under its open one (the last link of `chain`), for `aud` and
    `nonce`. With `reveal`, the open link keeps only the disclosures a verifier needs: the mandate
    itself, its properties, and of the selectively disclosable list elements only those equal to
    (or with the ``id`` of) one of `reveal` (the payee paid, the instrument). Without, the open
    link goes as it is (an open checkout mandate must: a ``payment.reference`` names the digest
    of the link as the user delegated it)."""
    if reveal is not None:
        wanted = [plain(r) for r in reveal]
        ids = [w["id"] for w in wanted if isinstance(w, dict) and "id" in w]

        def keep(d: sdjwt.Disclosure) -> bool:
            if d.name is not None or (isinstance(d.value, dict) and "vct" in d.value):
                return True
            return d.value in wanted or (isinstance(d.value, dict) and d.value.get("id") in ids)

        return delegate(chain, agent_key, mandate, aud=aud, nonce=nonce, iat=iat, keep=keep)
    return delegate(chain, agent_key, mandate, aud=aud, nonce=nonce, iat=iat)


# ---------------------------------------------------------------- verification


@dataclass(frozen=True)
class Verified:
    """A verified mandate chain: its open mandates (root first) with the digests of their links'
    JWTs (their identity, whatever disclosures travel), the closed mandate, the digest of the
    closed link (a receipt's ``reference``) and of every link (``payment.reference`` targets)."""

    chain: sdjwt.Chain
    opens: tuple[dict[str, Any], ...]
    open_ids: tuple[str, ...]
    closed: dict[str, Any]

    @property
    def reference(self) -> str:
        return self.chain.links[-1].digest

    @property
    def link_digests(self) -> frozenset[str]:
        return frozenset(ln.digest for ln in self.chain.links)


def _int(v: Any, what: str) -> int:
    if not isinstance(v, int) or isinstance(v, bool):
        raise MandateError(f"{what} must be an integer")
    return v


def _str(v: Any, what: str) -> str:
    if not isinstance(v, str) or not v:
        raise MandateError(f"{what} must be a non-empty string")
    return v


def _list(v: Any, what: str) -> list[Any]:
    if not isinstance(v, list):
        raise MandateError(f"{what} must be a list")
    return v


def _freq(v: Any) -> int | None:
    """The least spacing of a recurrence frequency (None: not one AP2 names)."""
    return FREQUENCY_S.get(v) if isinstance(v, str) else None


def _key(v: Any) -> str:
    """A JSON value as a dictionary key (ids may be any JSON)."""
    return json.dumps(v, sort_keys=True)


def _obj(v: Any, what: str) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise MandateError(f"{what} must be an object")
    return v


def _constraints(m: dict[str, Any]) -> list[dict[str, Any]]:
    cs = m.get("constraints")
    if not isinstance(cs, list) or not all(
        isinstance(c, dict) and isinstance(c.get("type"), str) for c in cs
    ):
        raise MandateError("an open mandate's constraints are a list of objects with a type")
    return cs


def verify_mandate(
    text: Any,
    vct: str,
    issuers: Mapping[str, sdjwt.PublicKey],
    *,
    aud: str,
    nonce: str,
    now: float,
    root_typs: frozenset[str] = frozenset({sdjwt.TYP}),
    status: Callable[[dict[str, Any]], None] | None = None,
) -> Verified:
    """Verify a chain closing a mandate of type `vct` (CHECKOUT or PAYMENT): the chain itself
    (sdjwt.verify_chain), the root credential's status (`status(its signed payload)`, e.g.
    status_list.StatusLists.check: revoked or suspended refused), the ``vct`` of every link (the root a credential or an open mandate of
    the kind; the links between open mandates of the kind; the last `vct`), each later open
    mandate narrowing the one before, and the claims the open mandates fix unchanged."""
    if not isinstance(text, str):
        raise SdJwtError(f"a {vct} is a Delegate SD-JWT string")
    chain = sdjwt.verify_chain(text, issuers, aud=aud, nonce=nonce, now=now, root_typs=root_typs)
    if status is not None:
        status(chain.links[0].payload)
    opens: list[dict[str, Any]] = []
    ids: list[str] = []
    for i, link in enumerate(chain.links[:-1]):
        kind = link.content.get("vct")
        if kind == OPEN_OF[vct]:
            opens.append(link.content)
            ids.append(link.jwt_digest)
        elif i == 0 and not (isinstance(kind, str) and kind.startswith("mandate.")):
            continue  # the user's credential
        else:
            raise MandateTypeError(
                f"link {i} is a {kind!r}, where a {OPEN_OF[vct]} (or the user's credential) goes"
            )
    closed = chain.links[-1].content
    if closed.get("vct") != vct:
        raise MandateTypeError(f"the closed mandate is a {closed.get('vct')!r}, not a {vct}")
    for m in opens:
        cs = _constraints(m)
        must = REFERENCE if vct == PAYMENT else LINE_ITEMS
        if not any(c["type"] == must for c in cs):
            raise MandateConstraintError(f"an open {vct} mandate must hold a {must} constraint")
    for above, below in zip(opens, opens[1:], strict=False):
        _narrows(above, below)
    for m in opens:
        for k, v in m.items():
            if k not in _OWN and closed.get(k) != v:
                raise MandateMismatchError(f"the closed mandate's {k} is not the one its open mandate fixes")
    return Verified(chain, tuple(opens), tuple(ids), closed)


def _revealed(c: dict[str, Any]) -> list[Any]:
    allowed = c.get("allowed")
    if not isinstance(allowed, list):
        raise MandateError(f"{c['type']}.allowed must be a list")
    return allowed


def _id_of(v: Any) -> Any:
    return v.get("id") if isinstance(v, dict) and "id" in v else v


def _date(v: Any, what: str) -> datetime:
    try:
        d = datetime.fromisoformat(_str(v, what))
    except ValueError:
        raise MandateError(f"{what} is not an ISO 8601 date") from None
    return d if d.tzinfo is not None else d.replace(tzinfo=UTC)


def _narrows(above: dict[str, Any], below: dict[str, Any]) -> None:
    """MandateWidenedError unless every constraint (and the expiry) of `above` is matched by a
    constraint of `below` that is at least as tight."""
    if "exp" in above and not (isinstance(below.get("exp"), int) and below["exp"] <= above["exp"]):
        raise MandateWidenedError("a delegated mandate outlives the one above it")
    mine = _constraints(below)
    for c in _constraints(above):
        t = c["type"]
        same = [d for d in mine if d["type"] == t]
        if not same:
            raise MandateWidenedError(f"a delegated mandate drops the {t} constraint")
        if not any(_tighter(c, d) for d in same):
            raise MandateWidenedError(f"a delegated mandate widens the {t} constraint")


def _tighter(c: dict[str, Any], d: dict[str, Any]) -> bool:
    t = c["type"]
    if t == AMOUNT_RANGE:
        return (
            c.get("currency") == d.get("currency")
            and _int(d.get("max"), "max") <= _int(c.get("max"), "max")
            and _int(d.get("min", 0), "min") >= _int(c.get("min", 0), "min")
        )
    if t == BUDGET:
        return c.get("currency") == d.get("currency") and _major(d.get("max")) <= _major(c.get("max"))
    if t in (ALLOWED_PAYEES, ALLOWED_INSTRUMENTS, ALLOWED_PISPS, ALLOWED_MERCHANTS):
        return all(x in _revealed(c) for x in _revealed(d))
    if t == RECURRENCE:
        fc, fd = _freq(c.get("frequency")), _freq(d.get("frequency"))
        if fc is None or fd is None or fd < fc:
            return False
        return (
            "max_occurrences" not in c
            or _int(d.get("max_occurrences"), "max_occurrences") <= c["max_occurrences"]
        )
    if t == EXECUTION_DATE:
        ok = True
        if "not_before" in c:
            ok = "not_before" in d and _date(d["not_before"], "not_before") >= _date(
                c["not_before"], "not_before"
            )
        if "not_after" in c:
            ok = (
                ok
                and "not_after" in d
                and _date(d["not_after"], "not_after") <= _date(c["not_after"], "not_after")
            )
        return ok
    if t == REFERENCE:
        return c.get("conditional_transaction_id") == d.get("conditional_transaction_id")
    if t == LINE_ITEMS:
        reqs = {_key(r.get("id")): r for r in _list(c.get("items"), "items") if isinstance(r, dict)}
        for r in _list(d.get("items"), "items"):
            up = reqs.get(_key(r.get("id"))) if isinstance(r, dict) else None
            if up is None or up.get("quantity") != r.get("quantity"):
                return False
            above = _list(up.get("acceptable_items"), "acceptable_items")
            if not all(a in above for a in _list(r.get("acceptable_items"), "acceptable_items")):
                return False
        return len(d["items"]) == len(reqs)
    raise MandateConstraintError(f"unknown constraint {t!r} (unknown constraints fail)")


def _major(v: Any, text: bool = False) -> Decimal:
    """A budget's ``max`` (a JSON number; with `text`, also its decimal string) exactly, as
    written (a float's shortest form)."""
    if isinstance(v, bool) or not isinstance(v, int | float | str) or (isinstance(v, str) and not text):
        raise MandateError("payment.budget.max must be a number")
    try:
        d = Decimal(str(v))
    except InvalidOperation:
        raise MandateError("payment.budget.max must be a number") from None
    if not d.is_finite() or d < 0:
        raise MandateError("payment.budget.max must be a finite non-negative number")
    return d


def to_minor(major: Any, currency: str, digits: Mapping[str, int]) -> int:
    """A major-unit amount in minor units (exactly; MandateConstraintError for an unknown currency
    or a fraction of a minor unit)."""
    if currency not in digits:
        raise MandateConstraintError(f"no minor unit known for {currency!r}: the budget cannot be evaluated")
    scaled = _major(major).scaleb(digits[currency])
    if scaled != scaled.to_integral_value():
        raise MandateConstraintError(f"{major} {currency} is not a whole number of minor units")
    return int(scaled)


@dataclass
class Usage:
    """What has been paid under one open mandate: how many payments, their total, the last time."""

    count: int = 0
    spent: int = 0
    last: float | None = None


def evaluate_payment(
    opens: Iterable[dict[str, Any]],
    open_ids: Iterable[str],
    closed: dict[str, Any],
    *,
    usage: Callable[[str], Usage],
    now: float,
    digits: Mapping[str, int] = MINOR_DIGITS,
    checkout_links: frozenset[str] | None = None,
) -> None:
    """Evaluate every constraint of the open payment mandates against the closed one (typed
    MandateLimitError subclasses; MandateConstraintError for an unknown one); `usage(open_id)`
    gives what was already paid under each; `checkout_links` (the digests of the checkout
    mandate's chain) is what ``payment.reference`` must name, None to skip it (an agent checking
    an offer before any checkout)."""
    amt = _obj(closed.get("payment_amount"), "payment_amount")
    amount, currency = (
        _int(amt.get("amount"), "payment_amount.amount"),
        _str(amt.get("currency"), "payment_amount.currency"),
    )
    if amount < 0:
        raise MandateError("payment_amount.amount must not be negative")
    to = _id_of(_obj(closed.get("payee"), "payee"))
    instrument = _id_of(_obj(closed.get("payment_instrument"), "payment_instrument"))
    for m, oid in zip(opens, open_ids, strict=True):
        used = usage(oid)
        has_recurrence = False
        for c in _constraints(m):
            t = c["type"]
            if t == AMOUNT_RANGE:
                lo, hi = _int(c.get("min", 0), "amount_range.min"), _int(c.get("max"), "amount_range.max")
                if c.get("currency") != currency:
                    raise MandateAmountError(
                        f"the amount range is in {c.get('currency')}, the payment in {currency}"
                    )
                if not lo <= amount <= hi:
                    raise MandateAmountError(f"{amount} is outside the amount range [{lo}, {hi}]")
            elif t == ALLOWED_PAYEES:
                if to not in [_id_of(p) for p in _revealed(c)]:
                    raise MandatePayeeError(f"the payee {to} is not among the allowed payees revealed")
            elif t == ALLOWED_INSTRUMENTS:
                if instrument not in [_id_of(p) for p in _revealed(c)]:
                    raise MandateLimitError(f"the payment instrument {instrument} is not allowed")
            elif t == ALLOWED_PISPS:
                if closed.get("pisp") not in _revealed(c):
                    raise MandateLimitError("the payment initiation service provider is not allowed")
            elif t == BUDGET:
                if c.get("currency") != currency:
                    raise MandateBudgetError(
                        f"the budget is in {c.get('currency')}, the payment in {currency}"
                    )
                cap = to_minor(c.get("max"), currency, digits)
                if used.spent + amount > cap:
                    raise MandateBudgetError(
                        f"{amount} more would exceed the budget {cap} ({used.spent} spent)"
                    )
            elif t == RECURRENCE:
                has_recurrence = True
                gap = _freq(c.get("frequency"))
                if gap is None:
                    raise MandateConstraintError(f"unknown recurrence frequency {c.get('frequency')!r}")
                if "max_occurrences" in c and used.count >= _int(c["max_occurrences"], "max_occurrences"):
                    raise MandateBudgetError(f"the mandate allows {c['max_occurrences']} payments, all made")
                if used.last is not None and now - used.last < gap:
                    raise MandateBudgetError(f"a {c['frequency']} mandate paid {int(now - used.last)} s ago")
            elif t == EXECUTION_DATE:
                when = (
                    _date(closed["execution_date"], "execution_date")
                    if "execution_date" in closed
                    else datetime.fromtimestamp(now, UTC)
                )
                if "not_before" in c and when < _date(c["not_before"], "not_before"):
                    raise MandateLimitError(f"the payment executes before {c['not_before']}")
                if "not_after" in c and when > _date(c["not_after"], "not_after"):
                    raise MandateLimitError(f"the payment executes after {c['not_after']}")
            elif t == REFERENCE:
                if checkout_links is not None and c.get("conditional_transaction_id") not in checkout_links:
                    raise MandateHashError("payment.reference names no link of the checkout mandate's chain")
            else:
                raise MandateConstraintError(f"unknown constraint {t!r} (unknown constraints fail)")
        if not has_recurrence and used.count > 0:
            raise MandateReplayError("an open payment mandate without payment.agent_recurrence pays once")


def evaluate_checkout(opens: Iterable[dict[str, Any]], checkout: dict[str, Any]) -> None:
    """Evaluate every constraint of the open checkout mandates against the checkout (the merchant
    JWT's payload: ``merchant``, ``line_items``)."""
    merchant = _id_of(_obj(checkout.get("merchant"), "the checkout's merchant"))
    bought: dict[Any, int] = {}
    for li in _list(checkout.get("line_items"), "the checkout's line_items"):
        item = _obj(_obj(li, "a line item").get("item"), "a line item's item")
        k = _key(item.get("id"))
        bought[k] = bought.get(k, 0) + _int(li.get("quantity"), "quantity")
    for m in opens:
        for c in _constraints(m):
            t = c["type"]
            if t == ALLOWED_MERCHANTS:
                if merchant not in [_id_of(x) for x in _revealed(c)]:
                    raise MandatePayeeError(
                        f"the merchant {merchant} is not among the allowed merchants revealed"
                    )
            elif t == LINE_ITEMS:
                reqs = [_obj(r, "a line item requirement") for r in _list(c.get("items"), "items")]
                if not reqs or not _items_match(reqs, bought):
                    raise MandateLimitError("the checkout's line items are not the ones the mandate allows")
            else:
                raise MandateConstraintError(f"unknown constraint {t!r} (unknown constraints fail)")


def _items_match(reqs: list[dict[str, Any]], bought: dict[Any, int]) -> bool:
    """AP2's line-item rule as a maximum flow: source -> requirement (its quantity) -> an item it
    accepts (unbounded) -> sink (the quantity bought); met when the flow saturates both sides."""
    need = [_int(r.get("quantity"), "quantity") for r in reqs]
    if any(q <= 0 for q in need):
        raise MandateError("a line item requirement's quantity is positive")
    accepts = [{_key(_id_of(a)) for a in _list(r.get("acceptable_items"), "acceptable_items")} for r in reqs]
    items = list(bought)
    if sum(need) != sum(bought.values()):
        return False
    # residual capacities: flow[r][i] on requirement r -> item i
    flow = [[0] * len(items) for _ in reqs]
    left_r, left_i = list(need), [bought[i] for i in items]

    def augment(r: int, seen: set[int]) -> bool:  # a path from requirement r to an item with room
        for j, it in enumerate(items):
            if it not in accepts[r] or j in seen:
                continue
            seen.add(j)
            if left_i[j] > 0:
                left_i[j] -= 1
                flow[r][j] += 1
                return True
            for r2 in range(len(reqs)):  # reroute a unit some other requirement sends to item j
                if flow[r2][j] > 0 and r2 != r and augment(r2, seen):
                    flow[r2][j] -= 1
                    flow[r][j] += 1
                    return True
        return False

    for r in range(len(reqs)):
        while left_r[r] > 0:
            if not augment(r, set()):
                return False
            left_r[r] -= 1
    return True


class Ledger:
    """A verifier's memory of payments under open mandates (count, total, last time, per open
    mandate's JWT) and of every ``transaction_id`` accepted; :meth:`reserve` counts a payment at
    once (so two cannot both pass a limit), :meth:`release` undoes it when it is not settled."""

    def __init__(self) -> None:
        self.usage: dict[str, Usage] = {}
        self.transactions: set[str] = set()
        self._lock = threading.Lock()

    def get(self, open_id: str) -> Usage:
        return self.usage.get(open_id, Usage())

    def check_and_reserve(
        self,
        v: Verified,
        *,
        now: float,
        digits: Mapping[str, int],
        checkout_links: frozenset[str] | None,
    ) -> Reservation:
        with self._lock:
            tid = v.closed["transaction_id"]
            if tid in self.transactions:
                raise MandateReplayError(f"transaction {tid} was already accepted here")
            evaluate_payment(
                v.opens,
                v.open_ids,
                v.closed,
                usage=self.get,
                now=now,
                digits=digits,
                checkout_links=checkout_links,
            )
            amount = v.closed["payment_amount"]["amount"]
            before = {oid: self.get(oid) for oid in v.open_ids}
            for oid, u in before.items():
                self.usage[oid] = Usage(u.count + 1, u.spent + amount, now)
            self.transactions.add(tid)
            return Reservation(tid, before, amount)

    def release(self, r: Reservation) -> None:
        with self._lock:
            self.transactions.discard(r.transaction_id)
            for oid, u in r.before.items():
                now_u = self.usage[oid]
                self.usage[oid] = Usage(now_u.count - 1, now_u.spent - r.amount, u.last)


@dataclass(frozen=True)
class Reservation:
    transaction_id: str
    before: dict[str, Usage] = field(default_factory=dict)
    amount: int = 0


class PaymentLedger(Protocol):
    """A verifier's payment memory: :class:`Ledger` (in this process) or
    offchain.agent.agent_store.StoreLedger (in the agent's database, surviving restarts)."""

    def check_and_reserve(
        self, v: Verified, *, now: float, digits: Mapping[str, int], checkout_links: frozenset[str] | None
    ) -> Reservation: ...

    def release(self, r: Reservation) -> None: ...


def check_checkout(
    text: Any,
    issuers: Mapping[str, sdjwt.PublicKey],
    *,
    merchant: str,
    nonce: str,
    checkout_jwt: str,
    now: float,
    root_typs: frozenset[str] = frozenset({sdjwt.TYP}),
    status: Callable[[dict[str, Any]], None] | None = None,
) -> Verified:
    """The merchant's check of a Checkout Mandate chain for the checkout it issued
    (`checkout_jwt`), bound to it (`merchant` as ``aud``) for `nonce` (`status`: as
    :func:`verify_mandate`)."""
    v = verify_mandate(
        text, CHECKOUT, issuers, aud=merchant, nonce=nonce, now=now, root_typs=root_typs, status=status
    )
    jwt, h = v.closed.get("checkout_jwt"), v.closed.get("checkout_hash")
    if not isinstance(jwt, str) or not isinstance(h, str):
        raise MandateError("a closed checkout mandate discloses checkout_jwt and checkout_hash")
    if checkout_hash(jwt) != h:
        raise MandateHashError("checkout_hash is not the hash of the checkout_jwt disclosed")
    if h != checkout_hash(checkout_jwt):
        raise MandateHashError("the mandate is for another checkout than the one this merchant issued")
    evaluate_checkout(v.opens, read_checkout(checkout_jwt))
    return v


@dataclass(frozen=True)
class Expected:
    """What a verifier is about to be paid: the checkout's hash, the payee's id, the amount in a
    currency, the paying instrument's id."""

    transaction_id: str
    payee: str
    amount: int
    currency: str
    instrument: str


def check_payment(
    text: Any,
    issuers: Mapping[str, sdjwt.PublicKey],
    *,
    aud: str,
    nonce: str,
    expected: Expected,
    now: float,
    ledger: PaymentLedger,
    checkout: Verified | None,
    digits: Mapping[str, int] = MINOR_DIGITS,
    root_typs: frozenset[str] = frozenset({sdjwt.TYP}),
    status: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[Verified, Reservation]:
    """Check a Payment Mandate chain against the payment about to be made: the chain, the closed
    mandate naming this checkout (``transaction_id``), payee, amount, currency and instrument,
    every constraint (``payment.reference`` against `checkout`'s chain), the transaction never
    accepted before, the budget and recurrence in `ledger` (where the payment is then reserved:
    :meth:`Ledger.release` it unless it settles)."""
    v = verify_mandate(
        text, PAYMENT, issuers, aud=aud, nonce=nonce, now=now, root_typs=root_typs, status=status
    )
    c = v.closed
    _str(c.get("transaction_id"), "transaction_id")
    amt = _obj(c.get("payment_amount"), "payment_amount")
    _int(amt.get("amount"), "payment_amount.amount")
    if c["transaction_id"] != expected.transaction_id:
        raise MandateHashError("transaction_id is not the hash of this checkout")
    if _id_of(_obj(c.get("payee"), "payee")) != expected.payee:
        raise MandateMismatchError(f"the mandate pays {_id_of(c['payee'])}, not {expected.payee}")
    if (amt.get("amount"), amt.get("currency")) != (expected.amount, expected.currency):
        raise MandateMismatchError(
            f"the mandate pays {amt.get('amount')} {amt.get('currency')}, not {expected.amount} {expected.currency}"
        )
    if _id_of(_obj(c.get("payment_instrument"), "payment_instrument")) != expected.instrument:
        raise MandateMismatchError(f"the mandate's payment instrument is not {expected.instrument}")
    links = None if checkout is None else checkout.link_digests
    if checkout is None and any(ct["type"] == REFERENCE for m in v.opens for ct in _constraints(m)):
        raise MandateHashError("payment.reference cannot be checked without the checkout mandate")
    return v, ledger.check_and_reserve(v, now=now, digits=digits, checkout_links=links)


def check_offer(
    mandate: dict[str, Any],
    offer: PaymentRequirements,
    payer: str,
    used: Usage,
    now: float,
    digits: Mapping[str, int] = MINOR_DIGITS,
) -> None:
    """The agent's own check of an x402 offer against its open payment mandate (content, plain)
    before it signs anything: expiry, then every constraint but ``payment.reference`` (no
    checkout yet), as a verifier would evaluate a closed mandate paying the offer."""
    if mandate.get("vct") != PAYMENT_OPEN:
        raise MandateTypeError("an agent pays x402 offers under a mandate.payment.open.1")
    if isinstance(mandate.get("exp"), int) and now >= mandate["exp"]:
        raise MandateExpiredError(f"the open payment mandate expired at {mandate['exp']}")
    if isinstance(mandate.get("nbf"), int) and now < mandate["nbf"]:
        raise MandateNotYetValidError(f"the open payment mandate is valid from {mandate['nbf']}")
    closed = closed_payment(
        "", payee(offer.pay_to), offer.amount, x402_currency(offer), x402_instrument(offer.network, payer)
    )
    evaluate_payment(
        [mandate], ["self"], closed, usage=lambda _: used, now=now, digits=digits, checkout_links=None
    )


# ---------------------------------------------------------------- receipts


def ap2_error(exc: MandateError) -> str:
    """AP2's error code for a refusal."""
    if isinstance(exc, MandateReplayError):
        return ALREADY_USED
    if isinstance(exc, MandateConstraintError):
        return UNRESOLVED_CONSTRAINT
    if isinstance(
        exc,
        SdJwtError | MandateSignatureError | MandateExpiredError | MandateNotYetValidError | MandateTypeError,
    ):
        return INVALID_CREDENTIAL
    return INVALID_MANDATE


def sign_receipt(
    key: sdjwt.PrivateKey,
    *,
    iss: str,
    reference: str,
    iat: int,
    error: MandateError | None = None,
    **claims: Any,
) -> str:
    """A receipt JWT (ES256) from `iss` for the closed mandate whose link digest is `reference`:
    ``status`` Success, or Error with AP2's ``error`` code and ``error_description``; `claims`
    adds the receipt's own (``payment_id``, ``psp_confirmation_id``, ... for a payment)."""
    body: dict[str, Any] = {
        "status": SUCCESS if error is None else ERROR,
        "iss": iss,
        "iat": iat,
        "reference": reference,
    }
    if error is not None:
        body |= {"error": ap2_error(error), "error_description": str(error)}
    return sdjwt.sign_jwt(key, {"typ": RECEIPT_TYP}, body | claims)


def verify_receipt(receipt: Any, key: sdjwt.PublicKey, *, reference: str) -> dict[str, Any]:
    """A receipt's claims, once its signature is `key`'s and its ``reference`` is `reference`
    (the digest of the closed mandate's link it answers)."""
    body = sdjwt.verify_jwt(receipt, key, RECEIPT_TYP, "receipt")
    if body.get("status") not in (SUCCESS, ERROR) or not isinstance(body.get("iss"), str):
        raise MandateError("a receipt has a status (Success or Error) and an iss")
    _int(body.get("iat"), "the receipt's iat")
    if body.get("reference") != reference:
        raise MandateHashError("the receipt answers another mandate (reference)")
    if body["status"] == ERROR and not isinstance(body.get("error"), str):
        raise MandateError("an Error receipt carries its error code")
    return body
