"""Deterministic constrained decoding: a byte-level JSON automaton and the token masks it induces.

``json_object`` (OpenAI's JSON mode): the output is one JSON object in compact form (no whitespace
outside strings), strings valid UTF-8 without raw control characters, nesting at most
``MAX_DEPTH``. At each step the allowed tokens are those whose bytes keep the output a prefix of such
a document (found by walking a byte trie of the vocabulary with the automaton, so each byte of each
candidate is checked once per prefix); control tokens are never allowed, the end-of-sequence token
exactly when the object is complete, and then nothing else. The mask is a pure function of the
tokens generated so far, so a verifier recomputes it.

Automaton states are small tuples ``(stack, mode, aux)``: ``stack`` a string of open containers
('{' or '['), ``mode`` what the next byte may be, ``aux`` the mode's counter.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from offchain.ai.errors import GrammarError
from offchain.ai.tokenizer import TOKEN_TYPE_CONTROL, Tokenizer

MAX_DEPTH = 32
GRAMMARS = ("json_object",)

# modes
VALUE, VALUE_OR_CLOSE, KEY, KEY_OR_CLOSE, COLON, AFTER, DONE = range(7)
STR, STR_ESC, STR_HEX, STR_UTF8 = range(7, 11)
NUM_SIGN, NUM_ZERO, NUM_INT, NUM_DOT, NUM_FRAC, NUM_E, NUM_ESIGN, NUM_EXP = range(11, 19)
LIT = 19
_LITERALS = (b"true", b"false", b"null")
_NUM_END = (NUM_ZERO, NUM_INT, NUM_FRAC, NUM_EXP)  # a number may end here
_DIGITS = frozenset(b"0123456789")
_HEX = frozenset(b"0123456789abcdefABCDEF")
# allowed range of the next continuation byte: any, after E0, after ED, after F0, after F4
_FIRST_CONT = ((0x80, 0xBF), (0xA0, 0xBF), (0x80, 0x9F), (0x90, 0xBF), (0x80, 0x8F))

State = tuple[str, int, int]
START: State = ("", VALUE, 0)


def _after_value(stack: str) -> State:
    return (stack, AFTER, 0) if stack else ("", DONE, 0)


def _value_start(stack: str, b: int, top_level_object: bool) -> State | None:
    if top_level_object and not stack and b != 0x7B:
        return None
    if b == 0x7B:  # {
        return (stack + "{", KEY_OR_CLOSE, 0) if len(stack) < MAX_DEPTH else None
    if b == 0x5B:  # [
        return (stack + "[", VALUE_OR_CLOSE, 0) if len(stack) < MAX_DEPTH else None
    if b == 0x22:  # "
        return (stack, STR, 0)  # aux 0: a value string
    if b == 0x2D:
        return (stack, NUM_SIGN, 0)
    if b == 0x30:
        return (stack, NUM_ZERO, 0)
    if b in _DIGITS:
        return (stack, NUM_INT, 0)
    for i, lit in enumerate(_LITERALS):
        if b == lit[0]:
            return (stack, LIT, i * 8 + 1)  # literal index, bytes matched
    return None


def step(state: State, b: int) -> State | None:
    """The state after byte ``b``, or None when no JSON object has this prefix."""
    stack, mode, aux = state
    if mode == VALUE:
        return _value_start(stack, b, True)
    if mode == VALUE_OR_CLOSE:
        if b == 0x5D:
            return _after_value(stack[:-1])
        return _value_start(stack, b, True)
    if mode in (KEY, KEY_OR_CLOSE):
        if b == 0x22:
            return (stack, STR, 1)  # aux 1: a key
        if mode == KEY_OR_CLOSE and b == 0x7D:
            return _after_value(stack[:-1])
        return None
    if mode == COLON:
        return (stack, VALUE, 0) if b == 0x3A else None
    if mode == AFTER:
        top = stack[-1]
        if b == 0x2C:
            return (stack, KEY, 0) if top == "{" else (stack, VALUE, 0)
        if (b == 0x7D and top == "{") or (b == 0x5D and top == "["):
            return _after_value(stack[:-1])
        return None
    if mode == DONE:
        return None
    if mode == STR:
        if b == 0x22:
            return (stack, COLON, 0) if aux == 1 else _after_value(stack)
        if b == 0x5C:
            return (stack, STR_ESC, aux)
        if b < 0x20:
            return None
        if b < 0x80:
            return state
        # well-formed UTF-8 only (no overlong forms, surrogates or code points above U+10FFFF):
        # aux bit 0 = key flag, bits 1-2 = continuation bytes left, bits 3-5 = the first one's range
        if 0xC2 <= b <= 0xDF:
            return (stack, STR_UTF8, (aux & 1) | (1 << 1))
        if 0xE0 <= b <= 0xEF:
            first = 1 if b == 0xE0 else 2 if b == 0xED else 0
            return (stack, STR_UTF8, (aux & 1) | (2 << 1) | (first << 3))
        if 0xF0 <= b <= 0xF4:
            first = 3 if b == 0xF0 else 4 if b == 0xF4 else 0
            return (stack, STR_UTF8, (aux & 1) | (3 << 1) | (first << 3))
        return None
    if mode == STR_UTF8:
        lo, hi = _FIRST_CONT[aux >> 3]
        if not lo <= b <= hi:
            return None
        left = ((aux >> 1) & 3) - 1
        return (stack, STR, aux & 1) if left == 0 else (stack, STR_UTF8, (aux & 1) | (left << 1))
    if mode == STR_ESC:
        if b in b'"\\/bfnrt':
            return (stack, STR, aux)
        if b == 0x75:  # u
            return (stack, STR_HEX, aux | (4 << 1))
        return None
    if mode == STR_HEX:
        if b not in _HEX:
            return None
        left = (aux >> 1) - 1
        return (stack, STR, aux & 1) if left == 0 else (stack, STR_HEX, (aux & 1) | (left << 1))
    if mode == LIT:
        lit = _LITERALS[aux // 8]
        n = aux % 8
        if b != lit[n]:
            return None
        return _after_value(stack) if n + 1 == len(lit) else (stack, LIT, aux + 1)
    # numbers: a delimiter ends the number and is then read in AFTER mode
    if mode in _NUM_END and b in (0x2C, 0x7D, 0x5D) and stack:
        return step((stack, AFTER, 0), b)
    if mode == NUM_SIGN:
        return (stack, NUM_ZERO, 0) if b == 0x30 else (stack, NUM_INT, 0) if b in _DIGITS else None
    if mode in (NUM_ZERO, NUM_INT):
        if b == 0x2E:
            return (stack, NUM_DOT, 0)
        if b in (0x65, 0x45):
            return (stack, NUM_E, 0)
        return (stack, NUM_INT, 0) if mode == NUM_INT and b in _DIGITS else None
    if mode in (NUM_DOT, NUM_FRAC):
        if b in _DIGITS:
            return (stack, NUM_FRAC, 0)
        if mode == NUM_FRAC and b in (0x65, 0x45):
            return (stack, NUM_E, 0)
        return None
    if mode == NUM_E:
        return (stack, NUM_ESIGN, 0) if b in (0x2B, 0x2D) else (stack, NUM_EXP, 0) if b in _DIGITS else None
    if mode in (NUM_ESIGN, NUM_EXP):
        return (stack, NUM_EXP, 0) if b in _DIGITS else None
    raise GrammarError(f"bad automaton state {state!r}")  # pragma: no cover


def complete(state: State) -> bool:
    return state[1] == DONE


class JsonGrammar:
    """Token masks of the JSON-object automaton over one tokenizer's vocabulary."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.vocab = len(tokenizer.tokens)
        self.eos = tokenizer.eos_id
        self.token_bytes: list[bytes | None] = []
        trie: dict[int, Any] = {}
        for i in range(self.vocab):
            if tokenizer.token_types[i] == TOKEN_TYPE_CONTROL:
                self.token_bytes.append(None)
                continue
            b = tokenizer.decode_bytes([i])
            self.token_bytes.append(b)
            if not b:
                continue
            node = trie
            for byte in b:
                node = node.setdefault(byte, {})
            node.setdefault(-1, []).append(i)
        self.trie = trie
        self._masks: dict[State, np.ndarray] = {}

    def advance(self, state: State, token: int) -> State:
        """The state after ``token`` (which the mask allowed)."""
        if token == self.eos:
            if not complete(state):
                raise GrammarError("end of sequence before the JSON object is complete")
            return state
        b = self.token_bytes[token] if 0 <= token < self.vocab else None
        if not b:
            raise GrammarError(f"token {token} is not allowed by the JSON grammar")
        for byte in b:
            nxt = step(state, byte)
            if nxt is None:
                raise GrammarError(f"token {token} is not allowed by the JSON grammar")
            state = nxt
        return state

    def mask(self, state: State) -> np.ndarray:
        """Boolean [vocab]: the tokens allowed after ``state``."""
        hit = self._masks.get(state)
        if hit is not None:
            return hit
        allowed = np.zeros(self.vocab, dtype=bool)
        if complete(state):
            allowed[self.eos] = True
        else:
            todo = [(self.trie, state)]
            while todo:
                node, st = todo.pop()
                for byte, child in node.items():
                    if byte < 0:
                        continue
                    nxt = step(st, byte)
                    if nxt is None:
                        continue
                    ids = child.get(-1)
                    if ids:
                        allowed[ids] = True
                    if len(child) > (1 if ids else 0):
                        todo.append((child, nxt))
        if not allowed.any():  # pragma: no cover - every byte is a token in a byte-level vocabulary
            raise GrammarError("no token continues the JSON object")
        if len(self._masks) > 4096:
            self._masks.clear()
        self._masks[state] = allowed
        return allowed


@lru_cache(maxsize=8)
def json_grammar(tokenizer: Tokenizer) -> JsonGrammar:
    return JsonGrammar(tokenizer)
