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

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from offchain.ai.errors import GrammarError
from offchain.ai.tokenizer import TOKEN_TYPE_CONTROL, Tokenizer

MAX_DEPTH = 32
GRAMMARS = ("json_object",)  # and "json_schema:<compact JSON of the schema>"

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


class VocabTrie:
    """The bytes of every non-control token, and a byte trie over them (built once per tokenizer)."""

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


class Grammar:
    """Token masks of a byte automaton (``step``, ``start``, ``is_complete``) over a vocabulary."""

    def __init__(
        self,
        vocab: VocabTrie,
        step_fn: Callable[[Any, int], Any],
        start: Any,
        is_complete: Callable[[Any], bool],
    ) -> None:
        self.v = vocab
        self.vocab = vocab.vocab
        self.eos = vocab.eos
        self.token_bytes = vocab.token_bytes
        self.step = step_fn
        self.start = start
        self.is_complete = is_complete
        self._masks: dict[Any, np.ndarray] = {}

    def advance(self, state: Any, token: int) -> Any:
        """The state after ``token`` (which the mask allowed)."""
        if token == self.eos:
            if not self.is_complete(state):
                raise GrammarError("end of sequence before the JSON document is complete")
            return state
        b = self.token_bytes[token] if 0 <= token < self.vocab else None
        if not b or self.is_complete(state):
            raise GrammarError(f"token {token} is not allowed by the grammar")
        for byte in b:
            nxt = self.step(state, byte)
            if nxt is None:
                raise GrammarError(f"token {token} is not allowed by the grammar")
            state = nxt
        return state

    def mask(self, state: Any) -> np.ndarray:
        """Boolean [vocab]: the tokens allowed after ``state``."""
        hit = self._masks.get(state)
        if hit is not None:
            return hit
        allowed = np.zeros(self.vocab, dtype=bool)
        if self.is_complete(state):
            allowed[self.eos] = True
        else:
            todo = [(self.v.trie, state)]
            while todo:
                node, st = todo.pop()
                for byte, child in node.items():
                    if byte < 0:
                        continue
                    nxt = self.step(st, byte)
                    if nxt is None:
                        continue
                    ids = child.get(-1)
                    if ids:
                        allowed[ids] = True
                    if len(child) > (1 if ids else 0):
                        todo.append((child, nxt))
        if not allowed.any():  # pragma: no cover - every byte is a token in a byte-level vocabulary
            raise GrammarError("no token continues the JSON document")
        if len(self._masks) > 4096:
            self._masks.clear()
        self._masks[state] = allowed
        return allowed


@lru_cache(maxsize=8)
def vocab_trie(tokenizer: Tokenizer) -> VocabTrie:
    return VocabTrie(tokenizer)


@lru_cache(maxsize=8)
def json_grammar(tokenizer: Tokenizer) -> Grammar:
    return Grammar(vocab_trie(tokenizer), step, START, complete)


@lru_cache(maxsize=64)
def grammar_for(tokenizer: Tokenizer, spec: str) -> Grammar:
    """The grammar named by an options ``grammar`` string: ``json_object`` or ``json_schema:<JSON>``."""
    if spec == "json_object":
        return json_grammar(tokenizer)
    if spec.startswith(SCHEMA_PREFIX):
        sch = compile_schema(json.loads(spec[len(SCHEMA_PREFIX) :]))
        return Grammar(vocab_trie(tokenizer), sch.step, sch.start, sch.is_complete)
    raise GrammarError(f"unknown grammar {spec[:40]!r}")


# -- JSON schema (the subset OpenAI's strict structured outputs use) ------------------------------

SCHEMA_PREFIX = "json_schema:"
MAX_SCHEMA_NODES = 256
MAX_SCHEMA_DEPTH = 16
_ANNOTATIONS = {"description", "title", "$comment", "examples"}
OBJ, ARR, STRG, LITS, NUM, INT = range(6)
_NUM_MODES = (NUM_SIGN, NUM_ZERO, NUM_INT, NUM_DOT, NUM_FRAC, NUM_E, NUM_ESIGN, NUM_EXP)
_INT_MODES = (NUM_SIGN, NUM_ZERO, NUM_INT)


@dataclass(frozen=True)
class _Node:
    kind: int
    props: tuple[int, ...] = ()  # OBJ: child node per property, in order; ARR: (item node,)
    lits: tuple[bytes, ...] = ()  # OBJ: key literals (',' + "key" + ':'); LITS: the allowed values


class Schema:
    """A compiled schema: a byte automaton whose state is a tuple of frames (node, phase, a, b)."""

    def __init__(self, nodes: list[_Node]) -> None:
        self.nodes = nodes
        self.start = ((0, -1, 0, b""),)

    @staticmethod
    def is_complete(state: tuple) -> bool:
        return state == ()

    def _done(self, rest: tuple) -> tuple:
        """The child on top finished: advance the parent waiting below it."""
        if not rest:
            return ()
        i, _, k, _ = rest[-1]
        node = self.nodes[i]
        if node.kind == OBJ:
            nxt = (i, 1, k + 1, b"") if k + 1 < len(node.props) else (i, 2, 0, b"")
        else:  # ARR
            nxt = (i, 2, k + 1, b"")
        return rest[:-1] + (nxt,)

    def _child(self, rest: tuple, waiting: tuple, child: int, b: int | None) -> tuple | None:
        """Push ``child``'s start frame above ``waiting`` and, if ``b`` is given, feed it."""
        st = rest + (waiting, (child, -1, 0, b""))
        return st if b is None else self.step(st, b)

    def step(self, state: tuple, b: int) -> tuple | None:
        if not state:
            return None
        rest, (i, phase, k, pre) = state[:-1], state[-1]
        node = self.nodes[i]
        kind = node.kind
        if kind == OBJ:
            if phase == -1:
                if b != 0x7B:
                    return None
                return rest + ((i, 1, 0, b"") if node.props else (i, 2, 0, b""),)
            if phase == 1:
                lit = node.lits[k]
                if b != lit[len(pre)]:
                    return None
                pre = pre + bytes([b])
                if len(pre) < len(lit):
                    return rest + ((i, 1, k, pre),)
                return self._child(rest, (i, 3, k, b""), node.props[k], None)
            if phase == 2:
                return self._done(rest) if b == 0x7D else None
            return None
        if kind == ARR:
            if phase == -1:
                return rest + ((i, 1, 0, b""),) if b == 0x5B else None
            if phase in (1, 2) and b == 0x5D:
                return self._done(rest)
            if phase == 2:
                return rest + ((i, 4, k, b""),) if b == 0x2C else None
            if phase in (1, 4):
                return self._child(rest, (i, 3, k, b""), node.props[0], b)
            return None
        if kind == STRG:
            if phase == -1:
                return rest + ((i, STR, 0, b""),) if b == 0x22 else None
            nxt = step(("", phase, k), b)  # the JSON string automaton (k: its aux, never a key)
            if nxt is None:
                return None
            if nxt[1] == DONE:
                return self._done(rest)
            return rest + ((i, nxt[1], nxt[2], b""),)
        if kind == LITS:
            pre = pre + bytes([b])
            cands = [x for x in node.lits if x.startswith(pre)]
            if not cands:
                return None
            return self._done(rest) if pre in node.lits else rest + ((i, 0, 0, pre),)
        # numbers: the JSON number automaton; a byte that cannot continue ends the number and goes
        # to the parent
        modes = _INT_MODES if kind == INT else _NUM_MODES
        if phase == -1:
            start = NUM_SIGN if b == 0x2D else NUM_ZERO if b == 0x30 else NUM_INT if b in _DIGITS else None
            return None if start is None else rest + ((i, start, 0, b""),)
        nxt = step(("[", phase, 0), b)
        if nxt is not None and nxt[0] == "[" and nxt[1] in modes:
            return rest + ((i, nxt[1], 0, b""),)
        if phase in _NUM_END and phase in modes:
            return self.step(self._done(rest), b)
        return None


def compile_schema(schema: Any) -> Schema:
    """Compile a JSON schema (root an object; objects list every property as required, no additional
    properties; arrays with ``items``; string, number, integer, boolean, null; ``enum``/``const`` of
    strings, booleans and null). Anything else is refused with a GrammarError naming it."""
    nodes: list[_Node] = []

    def add(sch: Any, depth: int, where: str) -> int:
        if depth > MAX_SCHEMA_DEPTH or len(nodes) >= MAX_SCHEMA_NODES:
            raise GrammarError("the schema is too deep or too large")
        if not isinstance(sch, dict):
            raise GrammarError(f"{where}: a schema must be an object")
        idx = len(nodes)
        nodes.append(_Node(LITS))  # placeholder, children come after their parent
        if "enum" in sch or "const" in sch:
            values = sch["enum"] if "enum" in sch else [sch["const"]]
            extra = set(sch) - _ANNOTATIONS - {"enum", "const", "type"}
            if extra or not isinstance(values, list) or not values:
                raise GrammarError(f"{where}: unsupported enum/const or keywords {sorted(extra)}")
            if any(not (v is None or isinstance(v, bool | str)) for v in values):
                raise GrammarError(f"{where}: enum values must be strings, booleans or null")
            lits = tuple(dict.fromkeys(json.dumps(v, ensure_ascii=False).encode() for v in values))
            nodes[idx] = _Node(LITS, lits=lits)
            return idx
        t = sch.get("type")
        if t == "object":
            extra = set(sch) - _ANNOTATIONS - {"type", "properties", "required", "additionalProperties"}
            props = sch.get("properties", {})
            if extra or not isinstance(props, dict):
                raise GrammarError(f"{where}: unsupported object keywords {sorted(extra)}")
            if sch.get("additionalProperties", False) is not False:
                raise GrammarError(f"{where}: additionalProperties must be false")
            if sorted(sch.get("required", [])) != sorted(props):
                raise GrammarError(f"{where}: every property must be listed in required")
            lits = tuple(
                ((b"," if n else b"") + json.dumps(key, ensure_ascii=False).encode() + b":")
                for n, key in enumerate(props)
            )
            kids = tuple(add(v, depth + 1, f"{where}.{key}") for key, v in props.items())
            nodes[idx] = _Node(OBJ, props=kids, lits=lits)
        elif t == "array":
            extra = set(sch) - _ANNOTATIONS - {"type", "items"}
            if extra or "items" not in sch:
                raise GrammarError(f"{where}: arrays need items and no other keywords ({sorted(extra)})")
            nodes[idx] = _Node(ARR, props=(add(sch["items"], depth + 1, f"{where}[]"),))
        elif t in ("string", "number", "integer", "boolean", "null"):
            extra = set(sch) - _ANNOTATIONS - {"type"}
            if extra:
                raise GrammarError(f"{where}: unsupported keywords {sorted(extra)}")
            if t == "boolean":
                nodes[idx] = _Node(LITS, lits=(b"true", b"false"))
            elif t == "null":
                nodes[idx] = _Node(LITS, lits=(b"null",))
            else:
                nodes[idx] = _Node({"string": STRG, "number": NUM, "integer": INT}[t])
        else:
            raise GrammarError(f"{where}: unsupported type {t!r}")
        return idx

    root = add(schema, 0, "schema")
    if nodes[root].kind != OBJ:
        raise GrammarError("the schema's root must be an object")
    return Schema(nodes)
