import json

import pytest

from offchain.ai.receipt import Receipt
from offchain.ai.sampler import SamplingParams
from offchain.cli import main
from tests.offchain.ai.support import tiny_service
from tests.support import gpu_available


def test_run_then_verify(tmp_path, capsys):
    out = tmp_path / "r.json"
    args = [
        "ai",
        "run",
        "--tiny",
        "0",
        "--prompt",
        "hello",
        "--seed",
        "3",
        "--max-tokens",
        "6",
        "--temperature",
        "0.7",
    ]
    assert main([*args, "--receipt-out", str(out)]) == 0
    first = capsys.readouterr().out
    assert main(args) == 0
    assert capsys.readouterr().out == first  # same bytes for the same inputs
    receipt = Receipt.from_json(out.read_text())
    assert first.splitlines()[-1] == receipt.to_json()
    assert main(["ai", "verify", str(out), "--tiny", "0"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["ok"] is True


def _run_tiny(*extra: str) -> int:
    return main(["ai", "run", "--tiny", "0", *extra])


def test_backend_takes_cpu_or_gpu(capsys):
    """`--backend` has the vocabulary of `eigen da` (cpu|gpu); the array module names are refused."""
    args = ["ai", "run", "--tiny", "0", "--prompt", "hi", "--max-tokens", "2"]
    assert main(args) == 0
    default = capsys.readouterr().out
    assert main([*args, "--backend", "cpu"]) == 0
    assert capsys.readouterr().out == default
    with pytest.raises(SystemExit) as exc:
        main([*args, "--backend", "numpy"])
    assert exc.value.code == 2
    if not gpu_available():
        assert main([*args, "--backend", "gpu"]) == 2
        assert "AIBackendError" in capsys.readouterr().err


def test_verify_negative_and_bad_input(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert _run_tiny("--prompt", "hi", "--max-tokens", "4", "--json", "--receipt-out", str(out)) == 0
    d = json.loads(capsys.readouterr().out)
    assert set(d) == {"completion", "finishReason", "receipt"}
    assert main(["ai", "verify", str(out), "--tiny", "1"]) == 1  # another model: negative verdict
    assert "modelHash" in json.loads(capsys.readouterr().out)["reason"]
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert main(["ai", "verify", str(bad), "--tiny", "0"]) == 2
    assert main(["ai", "verify", str(tmp_path / "missing.json"), "--tiny", "0"]) == 2
    assert _run_tiny("--prompt", "x", "--temperature", "-1") == 2
    keyf = tmp_path / "key"
    keyf.write_text("0x1234")
    assert _run_tiny("--prompt", "x", "--key-file", str(keyf)) == 2


def test_key_file_sets_operator(tmp_path, capsys):
    keyf = tmp_path / "key"
    keyf.write_text("0x" + "42" * 32)
    assert _run_tiny("--prompt", "x", "--max-tokens", "2", "--json", "--key-file", str(keyf)) == 0
    from eth_keys import keys

    addr = keys.PrivateKey(bytes([0x42] * 32)).public_key.to_checksum_address()
    assert json.loads(capsys.readouterr().out)["receipt"]["operator"] == addr


def test_client_flag_binds_and_verify_checks_it(tmp_path, capsys):
    out = tmp_path / "r.json"
    client = "0x" + "ab" * 20
    assert _run_tiny("--prompt", "x", "--max-tokens", "2", "--client", client, "--receipt-out", str(out)) == 0
    capsys.readouterr()
    assert Receipt.from_json(out.read_text()).client.lower() == client
    assert main(["ai", "verify", str(out), "--tiny", "0", "--client", client]) == 0
    capsys.readouterr()
    assert main(["ai", "verify", str(out), "--tiny", "0", "--client", "0x" + "cd" * 20]) == 1
    assert "client" in json.loads(capsys.readouterr().out)["reason"]
    with pytest.raises(SystemExit):
        _run_tiny("--prompt", "x", "--client", "0x12")


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--receipt-out", "/nonexistent-folder/r.json"], "does not exist"),
        (["--receipt-out", "."], "is a directory"),
        (["--seed", str(2**64)], "--seed"),
        (["--seed", "-1"], "--seed"),
        (["--client", "0x12"], "--client"),
    ],
)
def test_run_refuses_bad_arguments_before_generating(extra, message, capsys, monkeypatch):
    """Arguments are checked when parsed: exit 2 with one line, and no model is even loaded."""
    import offchain.ai.cli as ai_cli

    monkeypatch.setattr(ai_cli, "_service", lambda *a, **k: pytest.fail("the model was loaded"))
    with pytest.raises(SystemExit) as exc:
        main(["ai", "run", "--tiny", "0", "--prompt", "hi", *extra])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and "Traceback" not in "".join(err)


@pytest.mark.parametrize("extra", [["--port", "99999"], ["--port", "-1"], ["--port", "http"]])
def test_serve_refuses_a_bad_port(extra, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["ai", "serve", "--tiny", "0", *extra])
    assert exc.value.code == 2 and "--port" in capsys.readouterr().err


def test_verify_refuses_a_bad_operator_address(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["ai", "verify", str(tmp_path / "r.json"), "--tiny", "0", "--operator", "0x12"])
    assert exc.value.code == 2 and "--operator" in capsys.readouterr().err


def test_verify_reads_any_json_formatting(tmp_path, capsys):
    """A receipt pretty-printed, inside a completion response (top level or a choice), or fetched
    from the server's receipt URL all verify; a completion without a receipt is a clear error."""
    svc = tiny_service()
    comp = svc.complete(svc.prompt_tokens(None, "hi"), SamplingParams.from_user(seed=1, max_tokens=4))
    d = comp.receipt.to_dict()
    forms = {
        "pretty.json": json.dumps(d, indent=4),
        "response.json": json.dumps({"id": "x", "receipt": d}, indent=2),
        "choices.json": json.dumps({"id": "x", "choices": [{"index": 0, "receipt": d}]}),
        "run.txt": "some text\n" + comp.receipt.to_json() + "\n",
    }
    for name, text in forms.items():
        (tmp_path / name).write_text(text)
        assert main(["ai", "verify", str(tmp_path / name), "--tiny", "0"]) == 0, name
        assert json.loads(capsys.readouterr().out)["ok"] is True
    (tmp_path / "none.json").write_text(json.dumps({"choices": [{"index": 0}]}))
    assert main(["ai", "verify", str(tmp_path / "none.json"), "--tiny", "0"]) == 2
    assert "no receipt" in capsys.readouterr().err
