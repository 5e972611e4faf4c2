"""Operator-side glue: model + tokenizer + engine + key -> completions with signed receipts."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from eth_hash.auto import keccak

from offchain import settings
from offchain.abi import ZERO_ADDRESS
from offchain.ai.engine import Engine
from offchain.ai.errors import InferenceReceiptError, TokenizerError
from offchain.ai.generate import Request, TokenCallback, Transcript, generate
from offchain.ai.model_file import ModelFile, load_model_file
from offchain.ai.options import RequestOptions, stop_position
from offchain.ai.receipt import ENGINE_ID, FINISH_NAMES, Receipt, text_hash
from offchain.ai.sampler import SamplingParams
from offchain.ai.tokenizer import Tokenizer
from offchain.ai.verify import VerifyReport, verify_receipt

DEV_KEY = keccak(b"eigencloud/ai/dev-operator-key")  # public, for local use only


def load_operator_key(path: str | Path | None = None) -> tuple[bytes, bool]:
    """(private key, is_dev_key) from a hex file, else $EIGEN_AI_OPERATOR_KEY, else the public dev key."""
    text = None
    if path is not None:
        try:
            text = Path(path).read_text().strip()
        except OSError as exc:
            raise InferenceReceiptError(f"cannot read key file {path}: {exc}") from exc
    else:
        text = settings.ai_operator_key()
    if text is None:
        return DEV_KEY, True
    try:
        key = bytes.fromhex(text[2:] if text.startswith("0x") else text)
    except ValueError as exc:
        raise InferenceReceiptError("operator key must be 32 bytes of hex") from exc
    if len(key) != 32:
        raise InferenceReceiptError("operator key must be 32 bytes of hex")
    return key, False


@dataclass
class Completion:
    text: str
    receipt: Receipt
    transcript: Transcript

    @property
    def finish_reason(self) -> str:
        return FINISH_NAMES[self.receipt.finish_reason]


class InferenceService:
    def __init__(
        self,
        model: ModelFile | None = None,
        *,
        backend: str = "cpu",
        key: bytes | None = None,
        prefill_chunk: int | None = None,
    ) -> None:
        self.model = model if model is not None else load_model_file()
        self.tokenizer = Tokenizer.from_metadata(self.model.metadata)
        self.engine = Engine(self.model, backend=backend)
        self.key = key if key is not None else DEV_KEY
        self.prefill_chunk = prefill_chunk
        self.lock = threading.Lock()

    def prompt_tokens(
        self,
        messages: Sequence[dict[str, str]] | None = None,
        prompt: str | None = None,
        *,
        raw: bool = False,
    ) -> tuple[int, ...]:
        if messages is None:
            if prompt is None:
                raise TokenizerError("a prompt or messages are required")
            if raw:
                return tuple(self.tokenizer.encode(prompt))
            messages = [{"role": "user", "content": prompt}]
        return tuple(self.tokenizer.encode_chat(messages))

    def text_of(self, tokens: Sequence[int]) -> str:
        eos = self.tokenizer.eos_id
        return self.tokenizer.decode([t for t in tokens if t != eos])

    def complete_batch(
        self,
        reqs: Sequence[Request],
        on_token: TokenCallback | None = None,
        clients: Sequence[str] | None = None,
    ) -> list[Completion]:
        """Generate for every request and sign one receipt each, bound to ``clients[i]`` (default:
        the zero address, an unbound receipt that the dispute contract refuses)."""
        if clients is None:
            clients = [ZERO_ADDRESS] * len(reqs)
        if len(clients) != len(reqs):
            raise InferenceReceiptError(f"{len(clients)} client addresses for {len(reqs)} requests")
        with self.lock:
            trs = generate(
                self.engine,
                reqs,
                tokenizer_hash=self.tokenizer.hash,
                eos_id=self.tokenizer.eos_id,
                prefill_chunk=self.prefill_chunk,
                on_token=on_token,
            )
        return [self.sign(tr, client) for tr, client in zip(trs, clients, strict=True)]

    def sign(
        self, tr: Transcript, client: str = ZERO_ADDRESS, options: RequestOptions | None = None
    ) -> Completion:
        """The completion of a finished transcript with its receipt, bound to ``client``, signed.
        With ``options`` the receipt is version 3: it binds them and the returned text (the output cut
        before the earliest stop string), and the completion's text is that returned text."""
        text = self.text_of(tr.output_tokens)
        thash = None
        if options is not None:
            at = stop_position(text, options.stop)
            text = text if at is None else text[:at]
            thash = text_hash(text)
        r = Receipt(
            model_hash=self.model.sha256,
            tokenizer_hash=self.tokenizer.hash,
            engine_id=ENGINE_ID,
            operator=ZERO_ADDRESS,
            params=tr.request.params,
            prompt_tokens=tr.request.prompt_tokens,
            output_tokens=tuple(tr.output_tokens),
            logits_hashes=tuple(tr.logits_hashes),
            finish_reason=tr.finish_reason,
            client=client,
            options=options,
            text_hash=thash,
        ).signed(self.key)
        return Completion(text, r, tr)

    def complete(
        self,
        prompt_tokens: Sequence[int],
        params: SamplingParams,
        on_token: TokenCallback | None = None,
        client: str = ZERO_ADDRESS,
    ) -> Completion:
        return self.complete_batch([Request(tuple(prompt_tokens), params)], on_token, [client])[0]

    def verify(
        self, receipt: Receipt, *, expected_operator: str | None = None, expected_client: str | None = None
    ) -> VerifyReport:
        with self.lock:
            return verify_receipt(
                receipt,
                self.engine,
                tokenizer_hash=self.tokenizer.hash,
                eos_id=self.tokenizer.eos_id,
                expected_operator=expected_operator,
                expected_client=expected_client,
                prefill_chunk=self.prefill_chunk,
                tokenizer=self.tokenizer,
            )
