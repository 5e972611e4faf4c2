"""Request options that change which token is sampled or when generation ends, in exact arithmetic,
and the per-sequence decoder state that applies them (used by the server's scheduler and by the
verifier alike).

* ``logit_bias``: token id -> integer bias in [-100, 100], added as ``bias * 2^16`` to the integer
  logits (2^-16 units).
* ``presence_penalty`` / ``frequency_penalty`` in milli-units ([-2000, 2000]): the logit of a token
  generated ``c`` times so far is lowered by ``floor((presence * [c > 0] + frequency * c) * 2^16 / 1000)``.
* ``stop``: up to 4 strings; generation ends at the first token after which one occurs in the
  detokenized output, and the returned text is cut before the earliest occurrence.
* ``grammar``: ``json_object`` or ``json_schema:<compact JSON of a schema>`` masks tokens with
  :mod:`offchain.ai.grammar`.

The raw engine logits stay what the receipt's ``logitsHash`` commits to; the adjusted logits are a
function of them, the options and the tokens so far. ``optionsHash = keccak256(abi.encode(OPTIONS_TAG,
string[] stop, int32 presenceMilli, int32 frequencyMilli, uint32[] biasIds, int32[] biasValues, string
grammar))`` (bias ids ascending).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from eth_abi import encode as abi_encode
from eth_hash.auto import keccak

from offchain.ai.errors import GrammarError, SamplingError
from offchain.ai.grammar import GRAMMARS, SCHEMA_PREFIX, compile_schema, grammar_for
from offchain.ai.tokenizer import Tokenizer

OPTIONS_TAG = keccak(b"eigencloud/ai/options/v1")
MAX_STOP = 4
MAX_STOP_CHARS = 256
MAX_BIAS_ENTRIES = 1024
PENALTY_LIMIT_MILLI = 2000
MAX_GRAMMAR_CHARS = 16384


@dataclass(frozen=True)
class RequestOptions:
    stop: tuple[str, ...] = ()
    presence_milli: int = 0
    frequency_milli: int = 0
    logit_bias: tuple[tuple[int, int], ...] = ()  # (token id, bias), ids ascending
    grammar: str = ""

    def __post_init__(self) -> None:
        if len(self.stop) > MAX_STOP or any(not isinstance(s, str) or not s for s in self.stop):
            raise SamplingError(f"stop takes at most {MAX_STOP} non-empty strings")
        if any(len(s) > MAX_STOP_CHARS for s in self.stop):
            raise SamplingError(f"a stop string is longer than {MAX_STOP_CHARS} characters")
        for name in ("presence_milli", "frequency_milli"):
            v = getattr(self, name)
            if type(v) is not int or not -PENALTY_LIMIT_MILLI <= v <= PENALTY_LIMIT_MILLI:
                raise SamplingError(f"{name.split('_')[0]}_penalty must be in [-2, 2]")
        if len(self.logit_bias) > MAX_BIAS_ENTRIES:
            raise SamplingError(f"logit_bias takes at most {MAX_BIAS_ENTRIES} entries")
        ids = [i for i, _ in self.logit_bias]
        if ids != sorted(set(ids)) or any(type(i) is not int or not 0 <= i < 2**32 for i in ids):
            raise SamplingError("logit_bias ids must be distinct uint32, ascending")
        if any(type(b) is not int or not -100 <= b <= 100 for _, b in self.logit_bias):
            raise SamplingError("logit_bias values must be integers in [-100, 100]")
        if not isinstance(self.grammar, str) or len(self.grammar) > MAX_GRAMMAR_CHARS:
            raise SamplingError(f"the grammar must be a string of at most {MAX_GRAMMAR_CHARS} characters")
        if self.grammar.startswith(SCHEMA_PREFIX):
            try:
                compile_schema(json.loads(self.grammar[len(SCHEMA_PREFIX) :]))
            except (ValueError, RecursionError, GrammarError) as exc:
                raise SamplingError(f"bad JSON schema: {exc}") from None
        elif self.grammar and self.grammar not in GRAMMARS:
            raise SamplingError(f"unknown grammar {self.grammar[:40]!r}")

    @property
    def is_default(self) -> bool:
        return self == RequestOptions()

    @property
    def changes_logits(self) -> bool:
        return bool(self.presence_milli or self.frequency_milli or self.logit_bias)

    def hash(self) -> bytes:
        return keccak(
            abi_encode(
                ["bytes32", "string[]", "int32", "int32", "uint32[]", "int32[]", "string"],
                [
                    OPTIONS_TAG,
                    list(self.stop),
                    self.presence_milli,
                    self.frequency_milli,
                    [i for i, _ in self.logit_bias],
                    [b for _, b in self.logit_bias],
                    self.grammar,
                ],
            )
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "stop": list(self.stop),
            "presencePenaltyMilli": self.presence_milli,
            "frequencyPenaltyMilli": self.frequency_milli,
            "logitBias": [[i, b] for i, b in self.logit_bias],
            "grammar": self.grammar,
        }

    @classmethod
    def from_dict(cls, d: Any) -> RequestOptions:
        keys = {"stop", "presencePenaltyMilli", "frequencyPenaltyMilli", "logitBias", "grammar"}
        if not isinstance(d, dict) or set(d) != keys:
            raise SamplingError(f"options must be an object with exactly {sorted(keys)}")
        stop, bias = d["stop"], d["logitBias"]
        if not isinstance(stop, list) or not isinstance(bias, list) or not isinstance(d["grammar"], str):
            raise SamplingError("options: stop and logitBias must be lists, grammar a string")
        if any(not isinstance(p, list) or len(p) != 2 for p in bias):
            raise SamplingError("options: logitBias entries must be [id, bias] pairs")
        return cls(
            tuple(stop),
            d["presencePenaltyMilli"],
            d["frequencyPenaltyMilli"],
            tuple((p[0], p[1]) for p in bias),
            d["grammar"],
        )


def stop_position(text: str, stop: Sequence[str]) -> int | None:
    """The earliest position where a stop string starts in ``text`` (None: none occurs)."""
    best = None
    for s in stop:
        i = text.find(s)
        if i >= 0 and (best is None or i < best):
            best = i
    return best


class Decoder:
    """One sequence's option state: adjusted logits, the grammar mask, stop detection."""

    def __init__(self, options: RequestOptions, tokenizer: Tokenizer) -> None:
        self.options = options
        self.tokenizer = tokenizer
        self.tokens: list[int] = []
        self.counts: dict[int, int] = {}
        self.grammar = grammar_for(tokenizer, options.grammar) if options.grammar else None
        self.state: Any = self.grammar.start if self.grammar is not None else None
        self.stop_hit = False
        self._bias_ids = np.array([i for i, _ in options.logit_bias], dtype=np.int64)
        self._bias = np.array([b << 16 for _, b in options.logit_bias], dtype=np.int64)

    def logits(self, raw: np.ndarray) -> np.ndarray:
        """The integer logits the sampler uses (raw engine logits adjusted by bias and penalties)."""
        o = self.options
        if not o.changes_logits:
            return raw
        lg = np.array(raw, dtype=np.int64).reshape(-1)
        if self._bias_ids.size:
            if int(self._bias_ids.max()) >= lg.size:
                raise SamplingError("a logit_bias token id is outside the vocabulary")
            lg[self._bias_ids] += self._bias
        if self.counts and (o.presence_milli or o.frequency_milli):
            ids = np.fromiter(self.counts, dtype=np.int64)
            c = np.fromiter(self.counts.values(), dtype=np.int64)
            lg[ids] -= ((o.presence_milli * (c > 0) + o.frequency_milli * c) << 16) // 1000
        return lg

    def allowed(self) -> np.ndarray | None:
        return self.grammar.mask(self.state) if self.grammar is not None else None

    def accept(self, token: int) -> None:
        """Record the sampled ``token``: counts, grammar state, stop detection."""
        self.tokens.append(token)
        self.counts[token] = self.counts.get(token, 0) + 1
        if self.grammar is not None:
            self.state = self.grammar.advance(self.state, token)
        if self.options.stop and token != self.tokenizer.eos_id:
            self.stop_hit = stop_position(self.text(), self.options.stop) is not None

    def text(self) -> str:
        eos = self.tokenizer.eos_id
        return self.tokenizer.decode([t for t in self.tokens if t != eos])

    def returned_text(self) -> str:
        """The text a client gets: the output cut before the earliest stop string."""
        text = self.text()
        at = stop_position(text, self.options.stop)
        return text if at is None else text[:at]
