"""Exact sampler: greedy (lowest id on ties) or temperature / top-k / top-p in integer arithmetic.

Randomness is one 64-bit draw per step from keccak256 over (tag, seed, request digest, step): stateless,
addressable per step, and reproducible in Solidity/Vyper. Weights are integers from the engine's exact
exp table; candidates are ordered by (weight desc, id asc); top-p compares integer masses exactly; the
draw is an integer inverse CDF.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation

import numpy as np
from eth_abi import encode as abi_encode
from eth_hash.auto import keccak

from offchain.ai import fixedpoint as fx
from offchain.ai.errors import SamplingError

SAMPLE_TAG = keccak(b"eigencloud/ai/sample/v1")
TEMP_SCALE = 1000  # temperature in milli-units
TOP_P_SCALE = 1_000_000  # top_p in micro-units
WEIGHT_BITS = 24
MAX_TEMPERATURE_MILLI = 100_000
U32 = (1 << 32) - 1
# exp_neg(d, 24) is 0 for every d >= ZERO_WEIGHT_D: there the shift n = (d * log2e_q32) >> 48 is at
# least WEIGHT_BITS + 2, and a table value <= 2^30 shifted right by n + 30 - WEIGHT_BITS >= 32 bits
# with rounding is 0. (Proved in the comment, checked in test_ai_sampler.)
ZERO_WEIGHT_D = -(-((WEIGHT_BITS + 2) << (fx.LOG_FRAC_BITS + 32)) // fx.log2e_q32())
U64 = (1 << 64) - 1


def _fixed(value: float | int | str, scale: int, name: str) -> int:
    try:
        d = Decimal(str(value))
    except InvalidOperation as exc:
        raise SamplingError(f"{name} is not a number: {value!r}") from exc
    if not d.is_finite():
        raise SamplingError(f"{name} must be finite")
    return int((d * scale).to_integral_value(rounding=ROUND_HALF_EVEN))


@dataclass(frozen=True)
class SamplingParams:
    """Canonical integer sampling parameters (what a receipt binds)."""

    seed: int = 0
    temperature_milli: int = 0  # 0 = greedy
    top_k: int = 0  # 0 = no top-k
    top_p_micro: int = TOP_P_SCALE  # 1_000_000 = no top-p
    max_tokens: int = 64

    def __post_init__(self) -> None:
        for name in ("seed", "temperature_milli", "top_k", "top_p_micro", "max_tokens"):
            if type(getattr(self, name)) is not int:
                raise SamplingError(f"{name} must be an int")
        if not 0 <= self.seed <= U64:
            raise SamplingError("seed must be in [0, 2^64)")
        if not 0 <= self.temperature_milli <= MAX_TEMPERATURE_MILLI:
            raise SamplingError(f"temperature must be in [0, {MAX_TEMPERATURE_MILLI / TEMP_SCALE}]")
        if not 0 <= self.top_k <= U32:
            raise SamplingError("top_k must be in [0, 2^32)")
        if not 1 <= self.top_p_micro <= TOP_P_SCALE:
            raise SamplingError("top_p must be in (0, 1]")
        if not 1 <= self.max_tokens <= U32:
            raise SamplingError("max_tokens must be >= 1")

    @classmethod
    def from_user(
        cls,
        *,
        seed: int = 0,
        temperature: float | int | str = 0,
        top_k: int = 0,
        top_p: float | int | str = 1,
        max_tokens: int = 64,
    ) -> SamplingParams:
        """From user-facing values (decimal temperature/top_p, canonicalised by decimal rounding)."""
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise SamplingError("seed must be an integer")
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int):
            raise SamplingError("max_tokens must be an integer")
        if isinstance(top_k, bool) or not isinstance(top_k, int):
            raise SamplingError("top_k must be an integer")
        return cls(
            seed=seed,
            temperature_milli=_fixed(temperature, TEMP_SCALE, "temperature"),
            top_k=top_k,
            top_p_micro=_fixed(top_p, TOP_P_SCALE, "top_p"),
            max_tokens=max_tokens,
        )

    @property
    def greedy(self) -> bool:
        return self.temperature_milli == 0


def draw_u64(seed: int, request_digest: bytes, step: int) -> int:
    """The step's 64-bit random value: first 8 bytes of keccak256(abi.encode(tag, seed, digest, step))."""
    h = keccak(
        abi_encode(["bytes32", "uint64", "bytes32", "uint32"], [SAMPLE_TAG, seed, request_digest, step])
    )
    return int.from_bytes(h[:8], "big")


def sample(
    logits: np.ndarray,
    params: SamplingParams,
    request_digest: bytes,
    step: int,
    allowed: np.ndarray | None = None,
) -> int:
    """Choose the token for ``step`` from integer logits (2^-16 units, shape [vocab]).

    ``allowed`` (boolean [vocab], constrained decoding): the draw is over the allowed tokens only, by
    the same procedure applied to their logits in id order, and returns a vocabulary id."""
    lg = np.asarray(logits).reshape(-1)
    if lg.dtype != np.int64:
        raise SamplingError("logits must be int64")
    if lg.size == 0:
        raise SamplingError("empty logits")
    if allowed is not None:
        mask = np.asarray(allowed).reshape(-1)
        if mask.dtype != np.bool_ or mask.size != lg.size:
            raise SamplingError("the allowed mask must be boolean, one entry per logit")
        ids = np.flatnonzero(mask)
        if ids.size == 0:
            raise SamplingError("no token is allowed")
        return int(ids[sample(lg[ids], params, request_digest, step)])
    if params.greedy:
        return int(np.argmax(lg))  # first maximum = lowest id on ties
    d = (lg.max() - lg) * TEMP_SCALE // params.temperature_milli
    # Order by (weight desc, id asc). Zero-weight tokens sort after every other token and change no
    # cumulative sum, so they can never be drawn nor move the top-p cut: leaving them out gives the
    # same token, far faster. Weights are computed only where they can be nonzero (d < ZERO_WEIGHT_D).
    cand = np.flatnonzero(d < ZERO_WEIGHT_D)
    wc = fx.exp_neg(np, d[cand], WEIGHT_BITS)  # <= 2^24, max token gets exactly 2^24
    keep = wc > 0
    pos, wp = cand[keep], wc[keep]
    by = np.lexsort((pos, -wp))
    order, ws = pos[by], wp[by]
    if params.top_k:
        ws = ws[: params.top_k]
    cum = np.cumsum(ws)  # exact int64
    total = int(cum[-1])
    n = cum.size
    if params.top_p_micro < TOP_P_SCALE:
        need = -(-params.top_p_micro * total // TOP_P_SCALE)  # ceil(p * total)
        n = int(np.searchsorted(cum, need, side="left")) + 1
    kept = int(cum[n - 1])
    target = (draw_u64(params.seed, request_digest, step) * kept) >> 64
    idx = int(np.searchsorted(cum[:n], target, side="right"))
    return int(order[idx])


CHOICE_TAG = keccak(b"eigencloud/ai/choice/v1")
LOGPROB_PREC = 40  # decimal digits: far beyond float64, so the float conversion is the only rounding


def choice_seed(seed: int, index: int) -> int:
    """The seed of choice ``index`` of a request with ``n`` > 1: choice 0 keeps the request's seed (so
    n = 1 and the first of n choices are the same completion); choice i > 0 uses the first 8 bytes of
    keccak256(abi.encode(CHOICE_TAG, uint64 seed, uint32 i))."""
    if not 0 <= seed <= U64 or not 0 <= index <= U32:
        raise SamplingError("seed must be in [0, 2^64) and the choice index in [0, 2^32)")
    if index == 0:
        return seed
    h = keccak(abi_encode(["bytes32", "uint64", "uint32"], [CHOICE_TAG, seed, index]))
    return int.from_bytes(h[:8], "big")


def logprobs(logits: np.ndarray, token: int, top: int) -> tuple[float, list[tuple[int, float]]]:
    """Natural-log probabilities under the model's distribution (temperature 1) from the exact integer
    logits (2^-16 units): ``lp_i = (l_i - max)/2^16 - ln(sum_j w_j / 2^24)`` with ``w_j`` the integer
    exp table of the sampler (``exp_neg``, max exactly 2^24) and ``ln`` evaluated in decimal to 40
    digits, so the float returned is the same on every machine. Returns (logprob of ``token``, the
    ``top`` most likely (id, logprob) ordered by (logit desc, id asc))."""
    lg = np.asarray(logits).reshape(-1)
    if lg.dtype != np.int64 or lg.size == 0:
        raise SamplingError("logits must be a non-empty int64 vector")
    if not 0 <= token < lg.size:
        raise SamplingError("token id out of range")
    m = int(lg.max())
    total = int(fx.exp_neg(np, m - lg, WEIGHT_BITS).sum())
    ctx = Context(prec=LOGPROB_PREC)
    ln_z = ctx.subtract(ctx.ln(Decimal(total)), ctx.multiply(WEIGHT_BITS, ctx.ln(Decimal(2))))

    def lp(i: int) -> float:
        return float(ctx.subtract(ctx.divide(Decimal(int(lg[i]) - m), Decimal(1 << 16)), ln_z))

    if top > 0:
        k = min(top, lg.size)
        cand = np.argpartition(-lg, k - 1)[:k] if k < lg.size else np.arange(lg.size)
        # every id tied with the k-th logit, so the (logit desc, id asc) order is exact
        kth = int(np.min(lg[cand]))
        cand = np.flatnonzero(lg >= kth)
        order = cand[np.lexsort((cand, -lg[cand]))][:k]
        best = [(int(i), lp(int(i))) for i in order]
    else:
        best = []
    return lp(token), best
