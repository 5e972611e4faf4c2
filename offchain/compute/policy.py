"""Acceptance policy and verdicts.

A :class:`Policy` fails closed by default: only TCB status ``UpToDate``, debug refused, roots pinned
to Intel's and AWS's (a test root must be named explicitly), a maximum evidence age, and expected
measurements checked whenever the policy names them. A :class:`Verdict` lists every check in the
order it ran, and names the first one that failed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

from eth_hash.auto import keccak

from offchain.compute.codec import load_json
from offchain.compute.errors import CheckFailed, PolicyError
from offchain.compute.pki import AWS_NITRO_ROOT_SHA256, INTEL_SGX_ROOT_SHA256

TDX_MEASUREMENTS = (
    "mrtd",
    "mrconfigid",
    "mrowner",
    "mrownerconfig",
    "rtmr0",
    "rtmr1",
    "rtmr2",
    "rtmr3",
    "reportdata",
)
NITRO_MEASUREMENTS = tuple(f"pcr{i}" for i in range(32)) + ("user_data", "nonce", "public_key")
EVENT_REGISTERS = ("rtmr0", "rtmr1", "rtmr2", "rtmr3")
# Intel's TCB statuses, best first (their rank is how statuses converge). "Revoked" is never accepted:
# a policy cannot list it, and the TCB status check refuses it whatever the policy object holds.
TCB_STATUSES = (
    "UpToDate",
    "SWHardeningNeeded",
    "ConfigurationNeeded",
    "ConfigurationAndSWHardeningNeeded",
    "OutOfDate",
    "OutOfDateConfigurationNeeded",
    "Revoked",
)
NEVER_ACCEPTED = frozenset({"Revoked"})


def parse_time(text: str) -> datetime:
    """ISO 8601 UTC (``2025-07-01T00:00:00Z``) to an aware datetime; anything else is a PolicyError."""
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError) as exc:
        raise PolicyError(f"not an ISO 8601 time: {text!r}") from exc
    if t.tzinfo is None or t.utcoffset() != UTC.utcoffset(None):
        raise PolicyError(f"time must be UTC (end in Z or +00:00): {text!r}")
    return t.astimezone(UTC)


def require_utc(at: datetime) -> datetime:
    if not isinstance(at, datetime) or at.tzinfo is None:
        raise PolicyError("verification time must be an aware UTC datetime")
    return at.astimezone(UTC)


def _hex(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise PolicyError(f"{what} must be a hex string")
    v = value.lower().removeprefix("0x")
    try:
        bytes.fromhex(v)
    except ValueError as exc:
        raise PolicyError(f"{what} is not hex") from exc
    return v


@dataclass(frozen=True)
class Policy:
    """What to accept. Defaults are the strict production defaults."""

    allowed_tcb_statuses: tuple[str, ...] = ("UpToDate",)
    allowed_advisories: tuple[str, ...] = ()
    allow_debug: bool = False
    require_sept_ve_disable: bool = True
    trusted_roots: tuple[str, ...] = (INTEL_SGX_ROOT_SHA256, AWS_NITRO_ROOT_SHA256)
    max_age_s: int = 86400
    max_future_skew_s: int = 300
    max_collateral_age_s: int | None = None
    allow_trailing_zeros: bool = True
    measurements: Mapping[str, str] = field(default_factory=dict)
    # TDX: per register ("rtmr0".."rtmr3"), the complete list of event digests (SHA-384, hex) the
    # event log must show, in order; needs an event log (``eigen attest verify --event-log``)
    event_digests: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        known = set(TDX_MEASUREMENTS) | set(NITRO_MEASUREMENTS)
        norm = {}
        for k, v in dict(self.measurements).items():
            if k not in known:
                raise PolicyError(f"unknown measurement name {k!r}")
            norm[k] = _hex(v, k)
        object.__setattr__(self, "measurements", norm)
        events: dict[str, tuple[str, ...]] = {}
        for reg, digests in dict(self.event_digests).items():
            if reg not in EVENT_REGISTERS:
                raise PolicyError(f"event_digests names {reg!r}; registers are {', '.join(EVENT_REGISTERS)}")
            if isinstance(digests, str) or not isinstance(digests, list | tuple):
                raise PolicyError(f"event_digests[{reg!r}] must be a list of hex digests")
            events[reg] = tuple(_hex(d, f"event_digests[{reg!r}]") for d in digests)
            if any(len(d) != 96 for d in events[reg]):
                raise PolicyError(f"event_digests[{reg!r}] holds SHA-384 digests (96 hex digits)")
        object.__setattr__(self, "event_digests", events)
        for status in self.allowed_tcb_statuses:
            if status in NEVER_ACCEPTED:
                raise PolicyError(f"TCB status {status!r} is never accepted; a policy cannot allow it")
            if status not in TCB_STATUSES:
                raise PolicyError(f"unknown TCB status {status!r} (known: {', '.join(TCB_STATUSES[:-1])})")
        roots = tuple(_hex(r, "trusted root") for r in self.trusted_roots)
        if any(len(r) != 64 for r in roots):
            raise PolicyError("trusted roots are SHA-256 fingerprints (64 hex digits)")
        object.__setattr__(self, "trusted_roots", roots)
        if self.max_age_s < 0 or self.max_future_skew_s < 0:
            raise PolicyError("ages must be non-negative")

    def to_json(self) -> dict[str, Any]:
        return {
            "allowed_tcb_statuses": sorted(self.allowed_tcb_statuses),
            "allowed_advisories": sorted(self.allowed_advisories),
            "allow_debug": self.allow_debug,
            "require_sept_ve_disable": self.require_sept_ve_disable,
            "trusted_roots": sorted(self.trusted_roots),
            "max_age_s": self.max_age_s,
            "max_future_skew_s": self.max_future_skew_s,
            "max_collateral_age_s": self.max_collateral_age_s,
            "allow_trailing_zeros": self.allow_trailing_zeros,
            "measurements": dict(sorted(self.measurements.items())),
            # absent when empty, so that the ids of policies without it are unchanged
            **(
                {"event_digests": {k: list(v) for k, v in sorted(self.event_digests.items())}}
                if self.event_digests
                else {}
            ),
        }

    def canonical_bytes(self) -> bytes:
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":")).encode()

    def hash(self) -> bytes:
        """keccak256 of the canonical JSON: the policy id that receipts carry."""
        return keccak(self.canonical_bytes())

    @classmethod
    def from_json(cls, obj: Any) -> Policy:
        if not isinstance(obj, dict):
            raise PolicyError("policy must be a JSON object")
        fields = {f: obj[f] for f in cls.__dataclass_fields__ if f in obj}
        unknown = set(obj) - set(cls.__dataclass_fields__)
        if unknown:
            raise PolicyError(f"unknown policy field(s): {sorted(unknown)}")
        for name in ("allowed_tcb_statuses", "allowed_advisories", "trusted_roots"):
            if name in fields:
                if not isinstance(fields[name], list) or not all(isinstance(s, str) for s in fields[name]):
                    raise PolicyError(f"{name} must be a list of strings")
                fields[name] = tuple(fields[name])
        for name in ("allow_debug", "require_sept_ve_disable", "allow_trailing_zeros"):
            if name in fields and not isinstance(fields[name], bool):
                raise PolicyError(f"{name} must be true or false")
        for name in ("max_age_s", "max_future_skew_s", "max_collateral_age_s"):
            v = fields.get(name, 0)
            if (v is not None or name != "max_collateral_age_s") and (
                isinstance(v, bool) or not isinstance(v, int)
            ):
                raise PolicyError(f"{name} must be an integer")
        for name in ("measurements", "event_digests"):
            if name in fields and not isinstance(fields[name], dict):
                raise PolicyError(f"{name} must be an object")
        return cls(**fields)

    @classmethod
    def from_file(cls, path: str) -> Policy:
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            raise PolicyError(f"cannot read policy {path}: {exc}") from exc
        return cls.loads(data, f"policy {path}")

    @classmethod
    def loads(cls, data: str | bytes, what: str = "policy") -> Policy:
        """A policy from its JSON text (strict: duplicate keys refused)."""
        return cls.from_json(load_json(data, what, PolicyError))


C = TypeVar("C")
# A verifier's rows: (check name, check function of the verifier's context), in verdict order.
CheckTable = tuple[tuple[str, Callable[[C], str]], ...]


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class Verdict:
    """Outcome of one verification: every check in order, the first failure, and the claims."""

    evidence_type: str
    at: datetime
    checks: list[Check] = field(default_factory=list)
    claims: dict[str, Any] = field(default_factory=dict)
    tcb_status: str | None = None
    advisory_ids: list[str] = field(default_factory=list)
    evidence_hash: bytes = b""
    collateral_hash: bytes = b""
    policy_hash: bytes = b""
    root_fingerprint: str | None = None
    # every signing chain that verified, by name, with the root it ended at (TDX: the PCK chain and the
    # TCB-info and QE-identity issuer chains, which must all end at one root; Nitro: the cabundle)
    roots: dict[str, str] = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def first_failure(self) -> Check | None:
        return next((c for c in self.checks if not c.ok), None)

    def check(self, name: str) -> Check:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def run(self, name: str, fn: Callable[[], str | None]) -> bool:
        """Run one check; a CheckFailed (or a missing prerequisite) records a failure."""
        try:
            detail = fn() or ""
        except CheckFailed as exc:
            self.checks.append(Check(name, False, str(exc)))
            return False
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            # malformed collateral or certificate fields surfacing lazily: fail closed, stay typed
            self.checks.append(Check(name, False, f"malformed input: {type(exc).__name__}: {exc}"))
            return False
        self.checks.append(Check(name, True, detail))
        return True

    def run_table(self, table: CheckTable[C], ctx: C) -> None:
        """Run each row of a check table on ``ctx``, in order."""
        for name, check in table:
            self.run(name, partial(check, ctx))

    def to_json(self) -> dict[str, Any]:
        first = self.first_failure
        return {
            "accepted": self.accepted,
            "evidence_type": self.evidence_type,
            "at": self.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "first_failure": None if first is None else {"check": first.name, "detail": first.detail},
            "tcb_status": self.tcb_status,
            "advisory_ids": self.advisory_ids,
            "evidence_hash": "0x" + self.evidence_hash.hex(),
            "collateral_hash": "0x" + self.collateral_hash.hex(),
            "policy_hash": "0x" + self.policy_hash.hex(),
            "root_fingerprint": self.root_fingerprint,
            "roots": dict(self.roots),
            "checks": [{"check": c.name, "ok": c.ok, "detail": c.detail} for c in self.checks],
            "claims": self.claims,
        }


def check_measurements(policy: Policy, actual: Mapping[str, bytes | None], names: tuple[str, ...]) -> str:
    """Compare every measurement the policy names (for this evidence type) with the evidence."""
    named = {k: v for k, v in policy.measurements.items() if k in names}
    foreign = sorted(set(policy.measurements) - set(names))
    if foreign:
        raise CheckFailed(f"policy names measurements this evidence lacks: {foreign}")
    for k, want in named.items():
        got = actual.get(k)
        if got is None or got.hex() != want:
            raise CheckFailed(f"{k} is {None if got is None else got.hex()}, policy expects {want}")
    return f"{len(named)} measurement(s) match" if named else "policy names no measurements"
