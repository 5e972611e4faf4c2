"""The trading agent's policy as a compute-network task (docs/agent.md, *The policy on the compute network*).

The policy turns (the declared strategy's limits, the signed feed's pool fields, the inference
receipt's text) into an order: only the exact answer the decision grammar allows is read, anything
else is HOLD (fail closed), and so is a trade whose minimum output is zero. It is defined on
integers only, so the task image (``kernels/trading_policy.c``, built by
:func:`build_trading_policy_image`) computes the same bytes as :func:`run` here, bit for bit; the
agent's ``decide`` (offchain/agent/trading.py) is :func:`decide`.

Input: :class:`PolicyInput` and its one encoding (:meth:`PolicyInput.encode`; :meth:`PolicyInput.decode`
refuses every other byte string), big-endian::

    "TPI1" | strategyHash (32) | feedDigest (32) | receiptDigest (32) | maxBuy (u256) | maxSell (u256)
    | slippageBips (u16) | token0 (20) | token1 (20) | feeBips (u16) | reserve0 (u256) | reserve1 (u256)
    | textLength (u32) | text

The three digests bind the task to the declared strategy, the data agent's signed feed and the
inference receipt (the kernel carries them into the input hash only). ``textLength`` is at most
:data:`MAX_TEXT_BYTES`, or :data:`TEXT_OVER` when the answer is longer (no text follows: such an
answer is HOLD whatever it says). The text is UTF-8 with surrogates passed through (Python's
``surrogatepass``), so every ``str`` has an encoding.

Output: :class:`Decision` and its one encoding ``abi.encode(bytes32 keccak256(input), uint8 action,
uint256 amountIn, uint256 minOut, string reason)`` (:meth:`Decision.encode`,
:meth:`Decision.decode`), action 0 HOLD, 1 BUY, 2 SELL.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path

from eth_hash.auto import keccak

from offchain.compute.errors import PolicyInputError, PolicyOutputError
from offchain.compute.imagebuild import BuiltImage, build_kernel_image

INPUT_MAGIC = b"TPI1"
MAX_TEXT_BYTES = 1024
TEXT_OVER = 0xFFFF_FFFF
BIPS = 10_000
UINT256 = 1 << 256
SIZE_BIPS = {"small": 2_500, "medium": 5_000, "large": 10_000}  # of the strategy's per-step limit
ACTION_CODES = {"HOLD": 0, "BUY": 1, "SELL": 2}
_HEADER = struct.Struct(">4s32s32s32s32s32sH20s20sH32s32sI")
HEADER_SIZE = _HEADER.size  # 276
MAX_OUTPUT = 32 * 6 + 64
_ANSWER = re.compile(r'\{"action":"(BUY|SELL|HOLD)","size":"(small|medium|large)"\}')
KERNEL = Path(__file__).resolve().parent / "kernels" / "trading_policy.c"


def _word(v: int, what: str) -> bytes:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < UINT256:
        raise PolicyInputError(f"{what} must be a uint256, not {v!r}")
    return v.to_bytes(32, "big")


def _bytes(v: bytes, n: int, what: str) -> bytes:
    if not isinstance(v, bytes | bytearray) or len(v) != n:
        raise PolicyInputError(f"{what} must be {n} bytes")
    return bytes(v)


def text_bytes(text: str) -> bytes:
    """The text's UTF-8 bytes, surrogates passed through (so every ``str`` has them)."""
    return text.encode("utf-8", "surrogatepass")


@dataclass(frozen=True)
class PolicyInput:
    """What the policy decides on. Construction checks every field's range: limits in [1, 2**256),
    bips below 10,000, reserves below 2**256, addresses and digests of their sizes."""

    strategy_hash: bytes
    feed_digest: bytes
    receipt_digest: bytes
    max_buy: int
    max_sell: int
    slippage_bips: int
    token0: bytes
    token1: bytes
    fee_bips: int
    reserve0: int
    reserve1: int
    text: str

    def __post_init__(self) -> None:
        for name in ("strategy_hash", "feed_digest", "receipt_digest"):
            _bytes(getattr(self, name), 32, name)
        for name in ("token0", "token1"):
            _bytes(getattr(self, name), 20, name)
        for name in ("max_buy", "max_sell", "reserve0", "reserve1"):
            _word(getattr(self, name), name)
        if self.max_buy == 0 or self.max_sell == 0:
            raise PolicyInputError("the strategy's limits are positive")
        for name in ("slippage_bips", "fee_bips"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < BIPS:
                raise PolicyInputError(f"{name} must be in [0, {BIPS}), not {v!r}")
        if not isinstance(self.text, str):
            raise PolicyInputError(f"the answer text is a str, not {type(self.text).__name__}")

    def encode(self) -> bytes:
        """The input's one encoding (the module's docstring)."""
        raw = text_bytes(self.text)
        over = len(raw) > MAX_TEXT_BYTES
        head = _HEADER.pack(
            INPUT_MAGIC,
            self.strategy_hash,
            self.feed_digest,
            self.receipt_digest,
            _word(self.max_buy, "max_buy"),
            _word(self.max_sell, "max_sell"),
            self.slippage_bips,
            self.token0,
            self.token1,
            self.fee_bips,
            _word(self.reserve0, "reserve0"),
            _word(self.reserve1, "reserve1"),
            TEXT_OVER if over else len(raw),
        )
        return head if over else head + raw

    @classmethod
    def decode(cls, data: bytes) -> PolicyInput:
        """Parse an encoding; anything but an input's one encoding is a :class:`PolicyInputError`.
        An over-long answer (``textLength`` = :data:`TEXT_OVER`) decodes to the text :data:`OVER_TEXT`."""
        if not isinstance(data, bytes | bytearray):
            raise PolicyInputError(f"a policy input is bytes, not {type(data).__name__}")
        data = bytes(data)
        if len(data) < HEADER_SIZE:
            raise PolicyInputError(f"{len(data)} bytes: shorter than the {HEADER_SIZE}-byte header")
        magic, sh, fd, rd, mb, ms, slip, t0, t1, fee, r0, r1, tlen = _HEADER.unpack_from(data)
        if magic != INPUT_MAGIC:
            raise PolicyInputError(f"magic {magic!r}, not {INPUT_MAGIC!r}")
        if tlen != TEXT_OVER and tlen > MAX_TEXT_BYTES:
            raise PolicyInputError(f"text length {tlen} is over {MAX_TEXT_BYTES}")
        size = HEADER_SIZE + (0 if tlen == TEXT_OVER else tlen)
        if len(data) != size:
            raise PolicyInputError(f"{len(data)} bytes where the text length makes {size}")
        if tlen == TEXT_OVER:
            text = OVER_TEXT
        else:
            try:
                text = data[HEADER_SIZE:].decode("utf-8", "surrogatepass")
            except UnicodeDecodeError as exc:
                raise PolicyInputError(f"the text is not UTF-8: {exc.reason} at byte {exc.start}") from None
        big = (int.from_bytes(x, "big") for x in (mb, ms, r0, r1))
        max_buy, max_sell, reserve0, reserve1 = big
        return cls(sh, fd, rd, max_buy, max_sell, slip, t0, t1, fee, reserve0, reserve1, text)


# What an input whose answer was over MAX_TEXT_BYTES decodes to: any text that long is HOLD.
OVER_TEXT = " " * (MAX_TEXT_BYTES + 1) + "(an answer over the limit)"


@dataclass(frozen=True)
class Decision:
    """An order as the policy gives it: BUY pays `amount_in` of token0 for token1, SELL `amount_in`
    of token1 for token0, HOLD nothing; `min_out` is the quote less the slippage; `reason` says how
    the answer was read."""

    action: str
    amount_in: int
    min_out: int
    reason: str

    def encode(self, input_hash: bytes) -> bytes:
        """``abi.encode(bytes32 inputHash, uint8 action, uint256 amountIn, uint256 minOut, string reason)``."""
        if self.action not in ACTION_CODES:
            raise PolicyOutputError(f"action {self.action!r} is none of {sorted(ACTION_CODES)}")
        reason = self.reason.encode()
        if len(reason) > 64:
            raise PolicyOutputError("a reason is at most 64 bytes")
        pad = -len(reason) % 32
        return b"".join(
            (
                _bytes(input_hash, 32, "input hash"),
                ACTION_CODES[self.action].to_bytes(32, "big"),
                _word(self.amount_in, "amount_in"),
                _word(self.min_out, "min_out"),
                (0xA0).to_bytes(32, "big"),
                len(reason).to_bytes(32, "big"),
                reason + bytes(pad),
            )
        )

    @classmethod
    def decode(cls, data: bytes) -> tuple[bytes, Decision]:
        """(input hash, decision) of an output; anything but an order's one encoding (offset, lengths,
        zero padding, an action code, a HOLD with amounts, ASCII reason) is a :class:`PolicyOutputError`."""
        if not isinstance(data, bytes | bytearray) or not 192 <= len(data) <= MAX_OUTPUT or len(data) % 32:
            raise PolicyOutputError("a policy output is 192 to 256 bytes, whole words")
        data = bytes(data)
        w = [int.from_bytes(data[k : k + 32], "big") for k in range(0, 192, 32)]
        codes = {v: k for k, v in ACTION_CODES.items()}
        if w[1] not in codes:
            raise PolicyOutputError(f"action code {w[1]} is none of {sorted(codes)}")
        if w[4] != 0xA0:
            raise PolicyOutputError("the reason's offset is not 0xa0")
        n = w[5]
        if n == 0 or n > 64 or len(data) != 192 + 32 * ((n + 31) // 32):
            raise PolicyOutputError("the reason's length does not match the output's")
        if any(data[192 + n :]):
            raise PolicyOutputError("the reason's padding is not zero")
        reason = data[192 : 192 + n]
        if not all(0x20 <= b < 0x7F for b in reason):
            raise PolicyOutputError("the reason is not printable ASCII")
        action = codes[w[1]]
        if action == "HOLD" and (w[2] or w[3]):
            raise PolicyOutputError("a HOLD order moves nothing")
        if action != "HOLD" and not (w[2] and w[3]):
            raise PolicyOutputError(f"a {action} order has a positive amount and minimum output")
        return data[:32], cls(action, w[2], w[3], reason.decode())


def amount_out(amount_in: int, reserve_in: int, reserve_out: int, fee_bips: int) -> int:
    """The ConstantProductAMM's output for `amount_in` at these reserves (its formula)."""
    if amount_in <= 0 or not reserve_in or not reserve_out:
        return 0
    with_fee = amount_in * (BIPS - fee_bips)
    return with_fee * reserve_out // (reserve_in * BIPS + with_fee)


def decide(p: PolicyInput) -> Decision:
    """The fixed parser: the answer text -> an order within the strategy's limits. Only the exact
    answer the grammar allows is read (after Python's ``str.strip``); anything else (a truncated,
    tampered or over-long answer) is HOLD, and so is a trade whose minimum output is zero."""
    if len(text_bytes(p.text)) > MAX_TEXT_BYTES:
        return Decision("HOLD", 0, 0, f"answer over {MAX_TEXT_BYTES} bytes: hold (fail closed)")
    m = _ANSWER.fullmatch(p.text.strip())
    if m is None:
        return Decision("HOLD", 0, 0, "unparseable answer: hold (fail closed)")
    action, size = m.groups()
    if action == "HOLD":
        return Decision("HOLD", 0, 0, "the model holds")
    limit, token_in = (p.max_buy, p.token0) if action == "BUY" else (p.max_sell, p.token1)
    amount = limit * SIZE_BIPS[size] // BIPS
    r_in, r_out = (p.reserve0, p.reserve1) if token_in == p.token0 else (p.reserve1, p.reserve0)
    quote = amount_out(amount, r_in, r_out, p.fee_bips)
    min_out = quote * (BIPS - p.slippage_bips) // BIPS
    if min_out == 0:
        return Decision("HOLD", 0, 0, f"{action} {size}: the pool quotes nothing: hold")
    return Decision(action, amount, min_out, f"{action} {size} ({SIZE_BIPS[size] // 100}% of the limit)")


def run(data: bytes) -> bytes:
    """What the task image computes: the encoded input in, the encoded decision out."""
    return decide(PolicyInput.decode(data)).encode(keccak(bytes(data)))


def build_trading_policy_image(out: str | Path, *, ref: str | None = "trading-policy:v1") -> BuiltImage:
    """Compile ``kernels/trading_policy.c`` into a static binary and build the task image of it (one
    layer: ``/app/trading_policy``, the entrypoint). Register it with ``eigen compute deploy``."""
    return build_kernel_image(KERNEL, "trading_policy", out, ref=ref)
