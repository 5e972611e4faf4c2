"""Inference receipts: canonical ABI encoding + keccak256, per-step logits commitments, secp256k1 signature.

The signed digest is ``keccak256(abi.encode(f_1, ..., f_n))`` over the fields of ``RECEIPT_FIELDS`` in
order (encoded as a list of arguments, i.e. Vyper ``abi_encode(f_1, ..., f_n)``); a version 3 receipt
(request options) signs the same fields with ``bound_domain(optionsHash, textHash)`` as its domain word.
It is signed without any prefix so a contract recovers the operator with ``ecrecover(digest, v, r, s)``; ``v`` is 27 or 28.

Per step t the engine commits ``logitsHash_t = keccak256(int32 big-endian logits)`` and
``stepHash_t = keccak256(abi.encode(STEP_TAG, uint32 t, uint32 token_t, bytes32 logitsHash_t))``;
``stepsRoot`` is the Merkle root over step hashes (leaves padded with zero words to a power of two,
parent = keccak256(left ++ right), one leaf = the leaf itself, none = zero). A dispute points at the
first step whose hash differs, with a Merkle proof.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np
from eth_abi import encode as abi_encode
from eth_hash.auto import keccak
from eth_keys import keys
from eth_keys.exceptions import BadSignature, ValidationError
from eth_utils import to_checksum_address

from offchain import abi
from offchain.ai.engine import ENGINE_VERSION
from offchain.ai.errors import InferenceReceiptError
from offchain.ai.options import RequestOptions
from offchain.ai.sampler import SamplingParams

RECEIPT_VERSION = 2
DOMAIN = keccak(b"eigencloud/ai/receipt/v2")
REQUEST_TAG = keccak(b"eigencloud/ai/request/v1")
# Version 3: a request with options (stop strings, penalties, logit bias, a grammar) binds their hash
# and the hash of the returned text; the fields of version 2 come first, unchanged.
RECEIPT_VERSION_OPTIONS = 3
DOMAIN_V3 = keccak(b"eigencloud/ai/receipt/v3")
STEP_TAG = keccak(b"eigencloud/ai/step/v1")
ENGINE_ID = keccak(ENGINE_VERSION.encode())
FINISH_LENGTH = 0
FINISH_STOP = 1
FINISH_STOP_SEQUENCE = 2  # version 3: a stop string occurred in the output
FINISH_NAMES = {FINISH_LENGTH: "length", FINISH_STOP: "stop", FINISH_STOP_SEQUENCE: "stop"}

RECEIPT_FIELDS: tuple[tuple[str, str], ...] = (
    ("domain", "bytes32"),
    ("modelHash", "bytes32"),
    ("tokenizerHash", "bytes32"),
    ("engineId", "bytes32"),
    ("operator", "address"),
    ("client", "address"),
    ("seed", "uint64"),
    ("temperatureMilli", "uint32"),
    ("topK", "uint32"),
    ("topPMicro", "uint32"),
    ("maxTokens", "uint32"),
    ("promptTokens", "uint32[]"),
    ("outputTokens", "uint32[]"),
    ("stepsRoot", "bytes32"),
    ("finishReason", "uint8"),
)


def bound_domain(options_hash: bytes, text_hash: bytes) -> bytes:
    """The domain word a version 3 receipt signs in place of ``DOMAIN``:
    ``keccak256(abi.encode(DOMAIN_V3, optionsHash, textHash))``. The digest keeps version 2's field
    list, so InferenceDisputes takes both versions through one struct; it accepts this word once
    ``bindReceiptOptions(optionsHash, textHash)`` has published its preimage."""
    return keccak(abi_encode(["bytes32", "bytes32", "bytes32"], [DOMAIN_V3, options_hash, text_hash]))


def receipt_abi_type(version: int = RECEIPT_VERSION) -> str:
    """The ABI tuple type of a receipt, e.g. for a Vyper struct / ``abi_decode``."""
    return "(" + ",".join(t for _, t in receipt_field_order(version)) + ")"


def receipt_field_order(version: int = RECEIPT_VERSION) -> list[tuple[str, str]]:
    """(name, ABI type) of each receipt field, in encoding order."""
    if version not in (RECEIPT_VERSION, RECEIPT_VERSION_OPTIONS):
        raise InferenceReceiptError(f"unknown receipt version {version!r}")
    return list(RECEIPT_FIELDS)


def text_hash(text: str) -> bytes:
    """keccak256 of the returned text's UTF-8 bytes (version 3 receipts)."""
    return keccak(text.encode("utf-8", errors="surrogatepass"))


def logits_hash(logits: np.ndarray) -> bytes:
    lg = np.asarray(logits).reshape(-1)
    if lg.dtype.kind != "i":
        raise InferenceReceiptError("logits must be integers")
    if lg.size and (int(lg.max()) > 2**31 - 1 or int(lg.min()) < -(2**31)):
        raise InferenceReceiptError("logit outside the int32 commitment range")
    return keccak(lg.astype(">i4").tobytes())


def step_hash(step: int, token: int, lhash: bytes) -> bytes:
    return keccak(abi_encode(["bytes32", "uint32", "uint32", "bytes32"], [STEP_TAG, step, token, lhash]))


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    if not leaves:
        return abi.ZERO32
    return abi.merkle_levels(leaves)[-1][0]


def merkle_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    if not 0 <= index < len(leaves):
        raise InferenceReceiptError("leaf index out of range")
    proof = []
    for level in abi.merkle_levels(leaves)[:-1]:
        proof.append(level[index ^ 1])
        index //= 2
    return proof


def verify_merkle_proof(root: bytes, leaf: bytes, index: int, proof: Sequence[bytes]) -> bool:
    h = leaf
    for sib in proof:
        h = keccak(h + sib) if index % 2 == 0 else keccak(sib + h)
        index //= 2
    return index == 0 and h == root


def request_digest(
    model_hash: bytes, tokenizer_hash: bytes, engine_id: bytes, params: SamplingParams, prompt: Sequence[int]
) -> bytes:
    """Digest of everything that determines the output (the sampler's randomness is keyed by it).
    Request options (version 3) are not part of it: they are bound by the receipt digest, and the same
    draws with or without a stop string give the same tokens up to the stop."""
    return keccak(
        abi_encode(
            [
                "bytes32",
                "bytes32",
                "bytes32",
                "bytes32",
                "uint64",
                "uint32",
                "uint32",
                "uint32",
                "uint32",
                "uint32[]",
            ],
            [
                REQUEST_TAG,
                model_hash,
                tokenizer_hash,
                engine_id,
                params.seed,
                params.temperature_milli,
                params.top_k,
                params.top_p_micro,
                params.max_tokens,
                list(prompt),
            ],
        )
    )


_b32 = partial(abi.b32, err=InferenceReceiptError)


def _uint(bits: int) -> Callable[[Any, str], int]:
    return lambda v, name: abi.uint(v, bits, name, InferenceReceiptError)


def _list(item: Callable[[Any, str], Any]) -> Callable[[Any, str], tuple[Any, ...]]:
    def parse(v: Any, name: str) -> tuple[Any, ...]:
        if not isinstance(v, list):
            raise InferenceReceiptError(f"{name} must be a list")
        return tuple(item(x, name) for x in v)

    return parse


def _address_text(v: Any, name: str) -> str:
    if not isinstance(v, str):
        raise InferenceReceiptError(f"{name} must be an address string")
    return v  # checked and checksummed by Receipt.__post_init__


def _hex(v: Any, name: str) -> bytes:
    if not isinstance(v, str):
        raise InferenceReceiptError(f"{name} must be a hex string")
    try:
        return bytes.fromhex(v.removeprefix("0x"))
    except ValueError as exc:
        raise InferenceReceiptError(f"{name} is not hex") from exc


# The fields of a receipt's JSON form and how each is parsed; "version", "engine" (informative) and
# "digest" (checked when present) may also appear, nothing else.
JSON_FIELDS: tuple[tuple[str, Callable[[Any, str], Any]], ...] = (
    ("domain", _b32),
    ("modelHash", _b32),
    ("tokenizerHash", _b32),
    ("engineId", _b32),
    ("operator", _address_text),
    ("client", _address_text),
    ("seed", _uint(64)),
    ("temperatureMilli", _uint(32)),
    ("topK", _uint(32)),
    ("topPMicro", _uint(32)),
    ("maxTokens", _uint(32)),
    ("promptTokens", _list(_uint(32))),
    ("outputTokens", _list(_uint(32))),
    ("logitsHashes", _list(_b32)),
    ("stepsRoot", _b32),
    ("finishReason", _uint(8)),
    ("signature", _hex),
)
_OPTIONAL_JSON_FIELDS = ("version", "engine", "digest")
_V3_JSON_FIELDS = ("options", "optionsHash", "textHash")


@dataclass(frozen=True)
class Receipt:
    model_hash: bytes
    tokenizer_hash: bytes
    engine_id: bytes
    operator: str
    params: SamplingParams
    prompt_tokens: tuple[int, ...]
    output_tokens: tuple[int, ...]
    logits_hashes: tuple[bytes, ...]
    finish_reason: int
    signature: bytes = field(default=b"")
    domain: bytes = DOMAIN
    # The address the operator answers to for this receipt: the one a slash over it compensates.
    # The zero address leaves the receipt unbound (valid off-chain; the dispute contract refuses it,
    # since otherwise whoever registered it first would collect the compensation).
    client: str = abi.ZERO_ADDRESS
    # Version 3: the request's options and keccak256 of the returned text (None: version 2).
    options: RequestOptions | None = None
    text_hash: bytes | None = None

    @property
    def version(self) -> int:
        return RECEIPT_VERSION if self.options is None else RECEIPT_VERSION_OPTIONS

    def __post_init__(self) -> None:
        if (self.options is None) != (self.text_hash is None):
            raise InferenceReceiptError("options and textHash come together (version 3) or not at all")
        if self.options is not None:
            _b32(self.text_hash, "textHash")
            if self.domain == DOMAIN:
                object.__setattr__(self, "domain", DOMAIN_V3)
        elif self.finish_reason == FINISH_STOP_SEQUENCE:
            raise InferenceReceiptError("finish reason 2 (stop sequence) needs a version 3 receipt")
        for name in ("model_hash", "tokenizer_hash", "engine_id", "domain"):
            _b32(getattr(self, name), name)
        if len(self.logits_hashes) != len(self.output_tokens):
            raise InferenceReceiptError("one logits hash per output token is required")
        for h in self.logits_hashes:
            _b32(h, "logits hash")
        for t in (*self.prompt_tokens, *self.output_tokens):
            abi.uint(t, 32, "token id", InferenceReceiptError)
        if self.finish_reason not in FINISH_NAMES:
            raise InferenceReceiptError("finish reason must be 0 (length), 1 (stop) or 2 (stop sequence)")
        if self.signature and len(self.signature) != 65:
            raise InferenceReceiptError("signature must be 65 bytes (r, s, v)")
        for name in ("operator", "client"):
            v = getattr(self, name)
            try:
                if not isinstance(v, str) or len(v) != 42:
                    raise ValueError("not a 0x-prefixed 20-byte hex address")
                checksummed = to_checksum_address(v)
            except Exception as exc:
                raise InferenceReceiptError(f"bad {name} address {v!r}") from exc
            object.__setattr__(self, name, checksummed)  # one canonical form for equality and JSON

    # -- commitments ----------------------------------------------------------------------------

    @property
    def step_hashes(self) -> list[bytes]:
        return [
            step_hash(i, t, h)
            for i, (t, h) in enumerate(zip(self.output_tokens, self.logits_hashes, strict=True))
        ]

    @property
    def steps_root(self) -> bytes:
        return merkle_root(self.step_hashes)

    @property
    def request_digest(self) -> bytes:
        return request_digest(
            self.model_hash,
            self.tokenizer_hash,
            self.engine_id,
            self.params,
            self.prompt_tokens,
        )

    def abi_values(self) -> list[Any]:
        p = self.params
        domain = self.domain
        if self.options is not None:
            assert self.text_hash is not None
            domain = bound_domain(self.options.hash(), self.text_hash)
        return [
            domain,
            self.model_hash,
            self.tokenizer_hash,
            self.engine_id,
            to_checksum_address(self.operator),
            to_checksum_address(self.client),
            p.seed,
            p.temperature_milli,
            p.top_k,
            p.top_p_micro,
            p.max_tokens,
            list(self.prompt_tokens),
            list(self.output_tokens),
            self.steps_root,
            self.finish_reason,
        ]

    def encode(self) -> bytes:
        return abi_encode([t for _, t in receipt_field_order(self.version)], self.abi_values())

    def digest(self) -> bytes:
        return keccak(self.encode())

    # -- signatures -----------------------------------------------------------------------------

    def signed(self, private_key: bytes) -> Receipt:
        try:
            pk = keys.PrivateKey(private_key)
        except (ValidationError, ValueError) as exc:
            raise InferenceReceiptError(f"bad operator private key: {exc}") from exc
        addr = pk.public_key.to_checksum_address()
        unsigned = replace(self, operator=addr, signature=b"")
        sig = pk.sign_msg_hash(unsigned.digest())
        raw = sig.r.to_bytes(32, "big") + sig.s.to_bytes(32, "big") + bytes([sig.v + 27])
        return replace(unsigned, signature=raw)

    def recover_signer(self) -> str:
        if len(self.signature) != 65:
            raise InferenceReceiptError("receipt is not signed")
        v = self.signature[64]
        if v not in (27, 28):
            raise InferenceReceiptError("signature v must be 27 or 28")
        try:
            sig = keys.Signature(
                vrs=(
                    v - 27,
                    int.from_bytes(self.signature[:32], "big"),
                    int.from_bytes(self.signature[32:64], "big"),
                )
            )
            return sig.recover_public_key_from_msg_hash(self.digest()).to_checksum_address()
        except (BadSignature, ValidationError, ValueError) as exc:
            raise InferenceReceiptError(f"bad signature: {exc}") from exc

    def signature_valid(self) -> bool:
        try:
            return self.recover_signer() == to_checksum_address(self.operator)
        except InferenceReceiptError:
            return False

    # -- JSON -----------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        p = self.params
        d = {
            "version": self.version,
            "engine": ENGINE_VERSION,
            "domain": "0x" + self.domain.hex(),
            "modelHash": "0x" + self.model_hash.hex(),
            "tokenizerHash": "0x" + self.tokenizer_hash.hex(),
            "engineId": "0x" + self.engine_id.hex(),
            "operator": to_checksum_address(self.operator),
            "client": to_checksum_address(self.client),
            "seed": p.seed,
            "temperatureMilli": p.temperature_milli,
            "topK": p.top_k,
            "topPMicro": p.top_p_micro,
            "maxTokens": p.max_tokens,
            "promptTokens": list(self.prompt_tokens),
            "outputTokens": list(self.output_tokens),
            "logitsHashes": ["0x" + h.hex() for h in self.logits_hashes],
            "stepsRoot": "0x" + self.steps_root.hex(),
            "finishReason": self.finish_reason,
            "digest": "0x" + self.digest().hex(),
            "signature": "0x" + self.signature.hex(),
        }
        if self.options is not None:
            assert self.text_hash is not None
            d["options"] = self.options.to_dict()
            d["optionsHash"] = "0x" + self.options.hash().hex()
            d["textHash"] = "0x" + self.text_hash.hex()
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: Any) -> Receipt:
        if not isinstance(d, dict):
            raise InferenceReceiptError("receipt must be a JSON object")
        version = d.get("version")
        if version not in (RECEIPT_VERSION, RECEIPT_VERSION_OPTIONS):
            raise InferenceReceiptError(f"unknown receipt version {d.get('version')!r}")
        names = {name for name, _ in JSON_FIELDS}
        if version == RECEIPT_VERSION_OPTIONS:
            names |= set(_V3_JSON_FIELDS)
        missing = names - set(d)
        if missing:
            raise InferenceReceiptError(f"receipt fields missing: {sorted(missing)}")
        unknown = set(d) - names - set(_OPTIONAL_JSON_FIELDS)
        if unknown:
            raise InferenceReceiptError(f"unknown receipt fields: {sorted(unknown)}")
        f = {name: parse(d[name], name) for name, parse in JSON_FIELDS}
        try:
            params = SamplingParams(
                seed=f["seed"],
                temperature_milli=f["temperatureMilli"],
                top_k=f["topK"],
                top_p_micro=f["topPMicro"],
                max_tokens=f["maxTokens"],
            )
        except Exception as exc:
            raise InferenceReceiptError(f"bad sampling parameters: {exc}") from exc
        options, thash = None, None
        if version == RECEIPT_VERSION_OPTIONS:
            try:
                options = RequestOptions.from_dict(d["options"])
            except Exception as exc:
                raise InferenceReceiptError(f"bad options: {exc}") from exc
            if _b32(d["optionsHash"], "optionsHash") != options.hash():
                raise InferenceReceiptError("optionsHash does not match the options")
            thash = _b32(d["textHash"], "textHash")
        if f["domain"] != (DOMAIN if options is None else DOMAIN_V3):
            raise InferenceReceiptError("receipt domain tag is not this protocol's")
        r = cls(
            model_hash=f["modelHash"],
            tokenizer_hash=f["tokenizerHash"],
            engine_id=f["engineId"],
            operator=f["operator"],
            params=params,
            prompt_tokens=f["promptTokens"],
            output_tokens=f["outputTokens"],
            logits_hashes=f["logitsHashes"],
            finish_reason=f["finishReason"],
            signature=f["signature"],
            domain=f["domain"],
            client=f["client"],
            options=options,
            text_hash=thash,
        )
        if r.domain != (DOMAIN if options is None else DOMAIN_V3):
            raise InferenceReceiptError("receipt domain tag is not this protocol's")
        if f["stepsRoot"] != r.steps_root:
            raise InferenceReceiptError("stepsRoot does not match the logits hashes and output tokens")
        if "digest" in d and _b32(d["digest"], "digest") != r.digest():
            raise InferenceReceiptError("digest does not match the receipt fields")
        return r

    @classmethod
    def from_json(cls, text: str | bytes) -> Receipt:
        abi.json_depth(text, "receipt", InferenceReceiptError)
        try:
            d = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InferenceReceiptError(f"receipt is not valid JSON: {exc}") from exc
        except RecursionError as exc:
            raise InferenceReceiptError("receipt is not valid JSON: nested too deeply") from exc
        return cls.from_dict(d)
