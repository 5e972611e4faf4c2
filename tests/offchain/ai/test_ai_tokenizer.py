import pytest
from hypothesis import given
from hypothesis import strategies as st

from offchain.ai.errors import TokenizerError
from offchain.ai.tokenizer import Tokenizer
from tests.offchain.ai.support import smol_service, tiny_service

GOLDEN = [
    "Hello world!",
    "The year 2024 had 366 days; 3.14159 is pi.",
    "  leading spaces\n\n\ttabs   and runs    ",
    "trailing newline\n",
    "naïve café — 東京 🚀 ÄÖÜ ß ﬁ",
    "x=3.14159; y = x**2 // 7",
    "it's we're they'll I'd IT'S",
    "\n",
    " ",
    "a\nb\r\nc",
    "1234567890 0x1F 1e-5",
    "email@example.com http://x.y/z?q=1&r=2",
    "def f(a, b):\n    return a+b  # sum\n",
    "   \n\n   x",
    "emoji 👩‍👩‍👧 and zero\u200bwidth",
]


def _reference(tok: Tokenizer):
    tokenizers = pytest.importorskip("tokenizers", reason="reference tokenizer (HF tokenizers) not installed")
    vocab = {t: i for i, t in enumerate(tok.tokens)}
    merges = [tuple(m.split(" ")) for m in tok.merges]
    ht = tokenizers.Tokenizer(tokenizers.models.BPE(vocab, merges))
    pre = tokenizers.pre_tokenizers
    ht.pre_tokenizer = pre.Sequence(
        [pre.Digits(individual_digits=True), pre.ByteLevel(add_prefix_space=False, use_regex=True)]
    )
    return ht


def test_smollm2_golden_set_matches_reference_tokenizer():
    tok = smol_service().tokenizer
    ht = _reference(tok)
    for s in GOLDEN:
        assert tok.encode(s) == ht.encode(s).ids, s
        assert tok.decode(tok.encode(s)) == s


def test_smollm2_known_ids_and_chat_template():
    tok = smol_service().tokenizer
    assert tok.encode("Hello world!") == [19556, 905, 17]
    assert tok.encode("2024") == [34, 32, 34, 36]  # digits split one by one
    text = tok.render_chat([{"role": "user", "content": "What is 2+2?"}])
    assert text == (
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"
    )
    ids = tok.encode_chat([{"role": "user", "content": "What is 2+2?"}])
    assert ids[0] == 1 and ids.count(2) == 2 and ids[-3:] == [520, 9531, 198]
    assert tok.hash.hex() == "c6142f898ca3c6183c65213ccd85b0b8b0673f00d3cf6812de6f354684eeb4d7"


@given(st.text(max_size=40))
def test_tiny_roundtrip_and_reference(s):
    tok = tiny_service().tokenizer
    ids = tok.encode(s)
    assert tok.decode(ids) == s
    ht = _reference(tok)
    assert ids == ht.encode(s).ids


def test_special_tokens_only_when_parsed():
    tok = tiny_service().tokenizer
    assert tok.encode("<|im_end|>", parse_special=True) == [2]
    assert 2 not in tok.encode("<|im_end|>")


def test_tokenizer_errors():
    tok = tiny_service().tokenizer
    with pytest.raises(TokenizerError):
        tok.encode(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(TokenizerError):
        tok.decode([10**6])
    with pytest.raises(TokenizerError):
        tok.render_chat([])
    with pytest.raises(TokenizerError):
        tok.render_chat([{"role": "user"}])
    meta = dict(tiny_service().model.metadata)
    meta["tokenizer.ggml.pre"] = "llama3"
    with pytest.raises(TokenizerError, match="pre-tokenizer"):
        Tokenizer.from_metadata(meta)
    meta["tokenizer.ggml.model"] = "llama"
    with pytest.raises(TokenizerError, match="tokenizer model"):
        Tokenizer.from_metadata(meta)
    meta = dict(tiny_service().model.metadata)
    meta["tokenizer.ggml.merges"] = ["a b c"]
    with pytest.raises(TokenizerError, match="merge"):
        Tokenizer.from_metadata(meta)
    meta = dict(tiny_service().model.metadata)
    del meta["tokenizer.ggml.eos_token_id"]
    with pytest.raises(TokenizerError):
        Tokenizer.from_metadata(meta)
