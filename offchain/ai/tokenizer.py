"""Byte-level BPE tokenizer and chat template, both read from GGUF metadata.

Pre-tokenization reproduces the ``smollm`` pre-tokenizer of llama.cpp / the Hugging Face tokenizer
(individual digits, then the GPT-2 split pattern), byte-level mapping as in GPT-2, merges by rank.
Control tokens (token type 3) are recognised as whole tokens in text rendered from the chat template.
Token ids are the canonical engine input; the tokenizer hash binds everything that maps text to ids.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

import regex

from offchain.ai.errors import TokenizerError

_GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
_DIGIT_PATTERN = r"\p{N}"
SUPPORTED_PRE = ("smollm", "default", "gpt2")
TOKEN_TYPE_CONTROL = 3


@lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable unicode character map."""
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs), strict=True))


def _lp(b: bytes) -> bytes:
    return struct.pack(">I", len(b)) + b


class Tokenizer:
    def __init__(
        self,
        tokens: Sequence[str],
        merges: Sequence[str],
        token_types: Sequence[int],
        *,
        pre: str,
        bos_id: int | None,
        eos_id: int,
        chat_template: str | None,
    ) -> None:
        if pre not in SUPPORTED_PRE:
            raise TokenizerError(f"unsupported pre-tokenizer {pre!r} (supported: {SUPPORTED_PRE})")
        if len(tokens) != len(token_types):
            raise TokenizerError("token list and token type list differ in length")
        self.tokens = list(tokens)
        self.vocab = {t: i for i, t in enumerate(self.tokens)}
        if len(self.vocab) != len(self.tokens):
            raise TokenizerError("duplicate token strings in vocabulary")
        self.token_types = [int(t) for t in token_types]
        self.merges = list(merges)
        self.ranks: dict[tuple[str, str], int] = {}
        for i, m in enumerate(self.merges):
            parts = m.split(" ")
            if len(parts) != 2:
                raise TokenizerError(f"bad merge rule #{i}: {m!r}")
            self.ranks[(parts[0], parts[1])] = i
        self.pre = pre
        self.bos_id = bos_id
        self.eos_id = int(eos_id)
        if not 0 <= self.eos_id < len(self.tokens):
            raise TokenizerError("eos id out of range")
        self.chat_template = chat_template
        self.byte_enc = bytes_to_unicode()
        self.byte_dec = {c: b for b, c in self.byte_enc.items()}
        self.specials = {t: i for i, t in enumerate(self.tokens) if self.token_types[i] == TOKEN_TYPE_CONTROL}
        alts = sorted(self.specials, key=lambda s: (-len(s), s))
        self._special_re = (
            regex.compile("(" + "|".join(regex.escape(s) for s in alts) + ")") if alts else None
        )
        self._pat = regex.compile(_GPT2_PATTERN)
        self._digits = regex.compile(_DIGIT_PATTERN) if pre == "smollm" else None
        self._cache: dict[str, tuple[int, ...]] = {}
        self.hash = self._hash()

    @classmethod
    def from_metadata(cls, meta: dict[str, Any]) -> Tokenizer:
        model = meta.get("tokenizer.ggml.model")
        if model != "gpt2":
            raise TokenizerError(f"unsupported tokenizer model {model!r} (expected byte-level BPE 'gpt2')")
        try:
            return cls(
                meta["tokenizer.ggml.tokens"],
                meta["tokenizer.ggml.merges"],
                meta["tokenizer.ggml.token_type"],
                pre=str(meta.get("tokenizer.ggml.pre") or "default"),
                bos_id=meta.get("tokenizer.ggml.bos_token_id"),
                eos_id=meta["tokenizer.ggml.eos_token_id"],
                chat_template=meta.get("tokenizer.chat_template"),
            )
        except KeyError as exc:
            raise TokenizerError(f"tokenizer metadata key missing: {exc}") from exc

    # the fields to_json writes and from_json reads, exactly
    JSON_FIELDS = ("tokens", "merges", "token_types", "pre", "bos_id", "eos_id", "chat_template")

    def to_json(self) -> str:
        """The tokenizer as a JSON document (no model weights): what a program that only encodes
        prompts and decodes outputs loads with :meth:`from_json`; the loaded one has this ``hash``."""
        return json.dumps(
            {
                "tokens": self.tokens,
                "merges": self.merges,
                "token_types": self.token_types,
                "pre": self.pre,
                "bos_id": self.bos_id,
                "eos_id": self.eos_id,
                "chat_template": self.chat_template,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Tokenizer:
        """The tokenizer of a :meth:`to_json` document; :class:`TokenizerError` when it is not one."""
        try:
            d = json.loads(text)
        except ValueError as exc:
            raise TokenizerError(f"a tokenizer document is JSON: {exc}") from None
        if not isinstance(d, dict) or set(d) != set(cls.JSON_FIELDS):
            raise TokenizerError(f"a tokenizer document has exactly the fields {', '.join(cls.JSON_FIELDS)}")
        lists = (d["tokens"], d["merges"], d["token_types"])
        if not all(isinstance(v, list) for v in lists) or not (
            all(isinstance(t, str) for t in d["tokens"] + d["merges"])
            and all(type(t) is int for t in d["token_types"])
        ):
            raise TokenizerError(
                "a tokenizer document's tokens and merges are strings, its token types integers"
            )
        if (
            not isinstance(d["pre"], str)
            or type(d["eos_id"]) is not int
            or not (d["bos_id"] is None or type(d["bos_id"]) is int)
            or not (d["chat_template"] is None or isinstance(d["chat_template"], str))
        ):
            raise TokenizerError("a tokenizer document's pre, bos_id, eos_id or chat_template is malformed")
        return cls(
            d["tokens"], d["merges"], d["token_types"], pre=d["pre"], bos_id=d["bos_id"], eos_id=d["eos_id"],
            chat_template=d["chat_template"],
        )  # fmt: skip

    def _hash(self) -> bytes:
        h = hashlib.sha256(b"eigencloud/ai/tokenizer/v1")
        h.update(_lp(self.pre.encode()))
        h.update(struct.pack(">qI", -1 if self.bos_id is None else int(self.bos_id), self.eos_id))
        h.update(struct.pack(">I", len(self.tokens)))
        for t, ty in zip(self.tokens, self.token_types, strict=True):
            h.update(_lp(t.encode()) + struct.pack(">i", ty))
        h.update(struct.pack(">I", len(self.merges)))
        for m in self.merges:
            h.update(_lp(m.encode()))
        h.update(_lp((self.chat_template or "").encode()))
        return h.digest()

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    # -- encoding -------------------------------------------------------------------------------

    def _bpe(self, word: str) -> tuple[int, ...]:
        hit = self._cache.get(word)
        if hit is not None:
            return hit
        syms = [self.byte_enc[b] for b in word.encode("utf-8")]
        ranks = self.ranks
        while len(syms) > 1:
            best = None
            best_rank = None
            for i in range(len(syms) - 1):
                r = ranks.get((syms[i], syms[i + 1]))
                if r is not None and (best_rank is None or r < best_rank):
                    best, best_rank = i, r
            if best is None:
                break
            a, b = syms[best], syms[best + 1]
            merged: list[str] = []
            i = 0
            while i < len(syms):
                if i < len(syms) - 1 and syms[i] == a and syms[i + 1] == b:
                    merged.append(a + b)
                    i += 2
                else:
                    merged.append(syms[i])
                    i += 1
            syms = merged
        try:
            ids = tuple(self.vocab[s] for s in syms)
        except KeyError as exc:
            raise TokenizerError(f"BPE produced a symbol not in the vocabulary: {exc}") from exc
        if len(self._cache) < 100_000:
            self._cache[word] = ids
        return ids

    def _pre_split(self, text: str) -> Iterable[str]:
        pieces = [text]
        if self._digits is not None:
            pieces = []
            last = 0
            for m in self._digits.finditer(text):
                if m.start() > last:
                    pieces.append(text[last : m.start()])
                pieces.append(m.group())
                last = m.end()
            if last < len(text):
                pieces.append(text[last:])
        for piece in pieces:
            yield from self._pat.findall(piece)

    def encode(self, text: str, *, parse_special: bool = False) -> list[int]:
        """Token ids of ``text``; with ``parse_special`` control-token strings become single tokens."""
        if not isinstance(text, str):
            raise TokenizerError("text must be a str")
        out: list[int] = []
        chunks = self._special_re.split(text) if (parse_special and self._special_re) else [text]
        for chunk in chunks:
            if not chunk:
                continue
            if parse_special and chunk in self.specials:
                out.append(self.specials[chunk])
                continue
            for word in self._pre_split(chunk):
                out.extend(self._bpe(word))
        return out

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        parts: list[bytes] = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self.tokens):
                raise TokenizerError(f"token id {i} out of range")
            tok = self.tokens[i]
            if self.token_types[i] == TOKEN_TYPE_CONTROL:
                parts.append(tok.encode("utf-8"))
            else:
                try:
                    parts.append(bytes(self.byte_dec[c] for c in tok))
                except KeyError as exc:
                    raise TokenizerError(f"token {i} has a non byte-level character") from exc
        return b"".join(parts)

    def decode(self, ids: Iterable[int]) -> str:
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    # -- chat -----------------------------------------------------------------------------------

    def render_chat(self, messages: Sequence[dict[str, str]], *, add_generation_prompt: bool = True) -> str:
        if not self.chat_template:
            raise TokenizerError("the model file has no chat template")
        if not messages:
            raise TokenizerError("at least one message is required")
        for m in messages:
            if (
                not isinstance(m, dict)
                or not isinstance(m.get("role"), str)
                or not isinstance(m.get("content"), str)
            ):
                raise TokenizerError("each message needs string 'role' and 'content'")
        return _render(self.chat_template, [dict(m) for m in messages], add_generation_prompt)

    def encode_chat(
        self, messages: Sequence[dict[str, str]], *, add_generation_prompt: bool = True
    ) -> list[int]:
        return self.encode(
            self.render_chat(messages, add_generation_prompt=add_generation_prompt), parse_special=True
        )


def _render(template: str, messages: list[dict[str, str]], add_generation_prompt: bool) -> str:
    from jinja2 import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    try:
        return env.from_string(template).render(
            messages=messages, add_generation_prompt=add_generation_prompt
        )
    except TemplateError as exc:
        raise TokenizerError(f"chat template failed: {exc}") from exc
