"""``eigen agent data-agent``'s TLS, mutual TLS and revocation options (offchain/agent/cli.py) and
their ``EIGEN_A2A_*`` settings: what they build serves real mutual TLS (a caller by certificate
served, a revoked one refused), each bad value is one error line and exit status 2, and the command
itself serves the data agent over mutual TLS in a real process, against the test chain."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from offchain import settings
from offchain.agent import errors as E
from offchain.agent.a2a import COMPLETED, INPUT_REQUIRED, A2AClient, user_message
from offchain.agent.a2a_revocation import MODES
from offchain.agent.cli import ServerTLS, tls_of
from offchain.agent.trading import FEED_SKILL
from offchain.cli import build_parser, main
from offchain.compute.testca import pem
from offchain.httpservice import ServiceServer
from tests.offchain.agent.test_agent_a2a_mtls import _agent, _free
from tests.offchain.agent.test_agent_a2a_revocation import DOWN, Pki

ROOT = Path(__file__).resolve().parents[3]
ADDR = "0x" + "11" * 20
REQUIRED = ["--rpc", "http://127.0.0.1:1", "--key", "0x" + "22" * 32, "--amm", ADDR, "--token", ADDR]
REQUIRED += ["--price", "10000", "--facilitator", "http://127.0.0.1:1"]
SETTINGS = [s.name for s in settings.ALL if s.name.startswith("EIGEN_A2A_") and s.name != "EIGEN_A2A_STORE"]


@pytest.fixture(scope="module")
def cli_pki(tmp_path_factory):
    """Callers' certificates naming an unreachable distribution point, a CRL file revoking bob,
    the callers file."""
    d = tmp_path_factory.mktemp("clitls")
    pki = Pki(d, DOWN)
    for name in ("alice", "bob"):
        pki.client(name)
    (d / "ca.crl").write_bytes(pki.crl("bob", encoding=Encoding.PEM))
    (d / "crl-issuer.pem").write_bytes(pem(pki.crl_issuers["crl issuer"][0]))
    (d / "callers.json").write_text(json.dumps({f"uri:spiffe://acme/{n}": n for n in ("alice", "bob")}))
    return pki


@pytest.fixture
def no_tls_env(monkeypatch):
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def _options(pki: Pki) -> dict[str, str]:
    d = pki.d
    return {
        "--tls-cert": str(d / "server.pem"),
        "--tls-key": str(d / "server.key"),
        "--client-ca": str(d / "ca.pem"),
        "--callers": str(d / "callers.json"),
        "--revocation": "crl",
        "--crl": str(d / "ca.crl"),
    }


def _argv(opts: dict[str, str], *extra: str) -> list[str]:
    return ["agent", "data-agent", *REQUIRED, *[x for kv in opts.items() for x in kv], *extra]


def _serves(pki: Pki, argv: list[str]) -> None:
    """What the options build serves alice and refuses bob (revoked by the CRL file; its
    distribution point unreachable: the file is what answers)."""
    tls = tls_of(build_parser().parse_args(argv))
    assert tls.mtls is not None and tls.context is not None and not tls.loopback_only
    assert tls.mtls.revocation is not None and tls.mtls.revocation.mode == "crl"
    server = _agent(mtls=tls.mtls, require_auth=True)
    with (
        ServiceServer(server.app(), log_level="warning", tls=tls.context) as s,
        pki.presents("alice").http_client() as alice,
        pki.presents("bob").http_client() as bob,
    ):
        assert A2AClient(s.url, http=alice).send(_free()).status.state == COMPLETED
        with pytest.raises(E.A2AUnauthenticatedError, match="revoked"):
            A2AClient(s.url, http=bob).send(_free())


def test_the_options_and_their_settings_build_mutual_tls_with_revocation(cli_pki, no_tls_env):
    pki = cli_pki
    _serves(pki, _argv(_options(pki)))
    # the same from the environment alone
    env = {
        "EIGEN_A2A_TLS_CERT": "--tls-cert",
        "EIGEN_A2A_TLS_KEY": "--tls-key",
        "EIGEN_A2A_CLIENT_CA": "--client-ca",
        "EIGEN_A2A_CALLERS": "--callers",
        "EIGEN_A2A_REVOCATION": "--revocation",
        "EIGEN_A2A_CRL_FILES": "--crl",
    }
    for name, option in env.items():
        no_tls_env.setenv(name, _options(pki)[option])
    _serves(pki, _argv({}))
    # an option overrides its setting
    no_tls_env.setenv("EIGEN_A2A_REVOCATION", "ocsp")
    no_tls_env.setenv("EIGEN_A2A_CRL_GRACE", "60")
    no_tls_env.setenv("EIGEN_A2A_REVOCATION_SOFT_FAIL", "1")
    _serves(pki, _argv({"--revocation": "crl"}, "--no-revocation-soft-fail"))
    tls = tls_of(build_parser().parse_args(_argv({"--revocation": "crl"}, "--crl-grace", "5")))
    assert tls.mtls is not None and tls.mtls.revocation is not None
    assert (tls.mtls.revocation.crl_grace_s, tls.mtls.revocation.fail_closed) == (5, False)
    # OCSP by GET and the CRL issuers' certificates (indirect CRLs), by option or setting
    issuer_pem = str(pki.d / "crl-issuer.pem")
    for argv, env in (
        (_argv({"--revocation": "either", "--crl-issuer": issuer_pem}, "--ocsp-get"), {}),
        (_argv({"--revocation": "either"}), {"EIGEN_A2A_OCSP_GET": "1", "EIGEN_A2A_CRL_ISSUERS": issuer_pem}),
    ):
        for name, value in env.items():
            no_tls_env.setenv(name, value)
        revocation = tls_of(build_parser().parse_args(argv)).mtls.revocation  # type: ignore[union-attr]
        assert revocation is not None and revocation.ocsp_get and not revocation.require_nonce
        assert revocation.crl_issuers == [pki.crl_issuers["crl issuer"][0]]
    no_tls_env.setenv("EIGEN_A2A_OCSP_GET", "1")
    revocation = tls_of(
        build_parser().parse_args(_argv({"--revocation": "either"}, "--no-ocsp-get"))
    ).mtls.revocation  # type: ignore[union-attr]
    assert revocation is not None and not revocation.ocsp_get
    assert settings.REVOCATION_MODES == MODES
    # no options, no settings: plain HTTP on loopback; TLS without client CAs: no client certificates
    for name in SETTINGS:
        no_tls_env.delenv(name, raising=False)
    assert tls_of(build_parser().parse_args(_argv({}))) == ServerTLS(None, None, True)
    opts = _options(pki)
    tls = tls_of(build_parser().parse_args(_argv({k: opts[k] for k in ("--tls-cert", "--tls-key")})))
    assert tls.context is not None and tls.mtls is None
    no_revocation = {k: v for k, v in opts.items() if k != "--crl"} | {"--revocation": "none"}
    tls = tls_of(build_parser().parse_args(_argv(no_revocation, "--no-require-client-cert")))
    assert tls.mtls is not None and tls.mtls.revocation is None


def _bad_cases(pki: Pki) -> list[tuple[dict[str, str], list[str], dict[str, str], str]]:
    """(options, extra arguments, settings, what the error line says)."""
    o = _options(pki)
    d = pki.d
    (d / "list.json").write_text("[1]")
    (d / "bad.json").write_text("{not json")
    (d / "badname.json").write_text(json.dumps({"cn:alice": "alice"}))
    (d / "garbage.crl").write_bytes(b"garbage")
    return [
        ({"--tls-cert": o["--tls-cert"]}, [], {}, "--tls-cert and --tls-key go together"),
        ({"--tls-cert": str(d / "absent.pem")}, [], {}, "does not exist"),
        ({"--tls-cert": str(d)}, [], {}, "not a regular file"),
        (o | {"--revocation": "sometimes"}, [], {}, "invalid choice"),
        (o, ["--crl-grace", "-1"], {}, "must be a finite number"),
        (o, ["--crl-grace", "1e9"], {}, "at most 2592000"),
        ({k: o[k] for k in ("--tls-cert", "--tls-key", "--client-ca")}, [], {}, "go together"),
        ({"--client-ca": o["--client-ca"], "--callers": o["--callers"]}, [], {}, "needs TLS"),
        (
            {k: o[k] for k in ("--tls-cert", "--tls-key")} | {"--revocation": "crl"},
            [],
            {},
            "give --client-ca",
        ),
        (o | {"--revocation": "ocsp"}, [], {}, "read in --revocation crl or either"),
        (o, ["--ocsp-get"], {}, "--ocsp-get asks OCSP: --revocation ocsp or either"),
        (
            {k: v for k, v in o.items() if k != "--crl"}
            | {"--revocation": "ocsp", "--crl-issuer": o["--client-ca"]},
            [],
            {},
            "--crl-issuer certificates are read in --revocation crl or either",
        ),
        (o | {"--crl-issuer": o["--crl"]}, [], {}, "CRL issuer certificate file"),
        ({}, [], {"EIGEN_A2A_OCSP_GET": "yes"}, "EIGEN_A2A_OCSP_GET is 0, 1"),
        (
            {},
            [],
            {"EIGEN_A2A_CRL_ISSUERS": str(d / "absent.pem")},
            "EIGEN_A2A_CRL_ISSUERS: .* does not exist",
        ),
        (o | {"--callers": str(d / "bad.json")}, [], {}, "not JSON"),
        (o | {"--callers": str(d / "list.json")}, [], {}, "a JSON object"),
        (o | {"--callers": str(d / "badname.json")}, [], {}, "a caller's certificate is named by"),
        (o | {"--crl": str(d / "garbage.crl")}, [], {}, "no X.509 CRL"),
        (o | {"--client-ca": o["--callers"]}, [], {}, "PEM certificates"),
        (o | {"--tls-key": o["--tls-cert"]}, [], {}, "SSLError|PEM"),
        ({}, [], {"EIGEN_A2A_REVOCATION": "maybe"}, "EIGEN_A2A_REVOCATION is one of"),
        ({}, [], {"EIGEN_A2A_REQUIRE_CLIENT_CERT": "yes"}, "EIGEN_A2A_REQUIRE_CLIENT_CERT is 0, 1"),
        ({}, [], {"EIGEN_A2A_REVOCATION_SOFT_FAIL": "2"}, "EIGEN_A2A_REVOCATION_SOFT_FAIL is 0, 1"),
        ({}, [], {"EIGEN_A2A_CRL_GRACE": "soon"}, "EIGEN_A2A_CRL_GRACE is a number"),
        ({}, [], {"EIGEN_A2A_CRL_GRACE": "-5"}, "EIGEN_A2A_CRL_GRACE is 0 to"),
        ({}, [], {"EIGEN_A2A_TLS_CERT": str(d / "absent.pem")}, "EIGEN_A2A_TLS_CERT: .* does not exist"),
        ({}, [], {"EIGEN_A2A_CRL_FILES": str(d / "absent.crl")}, "EIGEN_A2A_CRL_FILES: .* does not exist"),
    ]


def test_each_bad_value_is_one_line_and_exit_status_2(cli_pki, no_tls_env, capsys):
    import re

    for opts, extra, env, reason in _bad_cases(cli_pki):
        for name in SETTINGS:
            no_tls_env.delenv(name, raising=False)
        for name, value in env.items():
            no_tls_env.setenv(name, value)
        try:
            code = main(_argv(opts, *extra))
        except SystemExit as exc:  # argparse's refusal of an option's value
            code = exc.code
        err = capsys.readouterr().err
        lines = [ln for ln in err.splitlines() if "error:" in ln]
        assert code == 2 and len(lines) == 1 and re.search(reason, lines[0]), (opts, env, err)


# ---------------------------------------------------------------- the command, in its own process


@pytest.fixture(scope="module")
def cli_tls_market(project, accounts, chain):
    """A token and an AMM on the test chain (the pool's reserves are read, never traded)."""
    deployer = accounts[0]
    usdc = deployer.deploy(project.StableToken, "USD Coin", "USDC", deployer)
    asset = deployer.deploy(project.MockERC20, "Demo Ether", "dETH")
    amm = deployer.deploy(project.ConstantProductAMM, usdc, asset, 30, "AMM USDC/dETH", "LP")
    return chain.provider.uri, usdc.address, amm.address, accounts[2]


def _first_line(proc: subprocess.Popen[str], timeout_s: float) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
    if not ready:
        raise AssertionError("the data agent printed nothing")
    return proc.stdout.readline()


def test_the_data_agent_command_serves_over_mutual_tls_and_refuses_a_revoked_caller(cli_pki, cli_tls_market):
    pki = cli_pki
    rpc, token, amm, seller = cli_tls_market
    argv = ["agent", "data-agent", "--rpc", rpc, "--key", seller.private_key, "--amm", amm, "--token", token]
    argv += ["--price", "10000", "--facilitator", "http://127.0.0.1:1", "--port", "0", "--store", ":memory:"]
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    env |= {
        "EIGEN_A2A_REVOCATION": "crl",
        "EIGEN_A2A_CRL_FILES": str(pki.d / "ca.crl"),
    }  # settings and options
    opts = {k: v for k, v in _options(pki).items() if k not in ("--revocation", "--crl")}
    log = (pki.d / "data-agent.log").open("w")  # (a pipe nobody reads could fill and stall it)
    proc = subprocess.Popen(
        [sys.executable, "-m", "offchain.cli", *argv, *[x for kv in opts.items() for x in kv]],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        out: dict[str, Any] = json.loads(_first_line(proc, 60))
        assert out["mtls"] is True and out["revocation"] == "crl" and out["skill"] == FEED_SKILL
        assert out["url"].startswith("https://127.0.0.1:") and out["payee"] == seller.address
        with pki.presents("alice").http_client() as alice, pki.presents("bob").http_client() as bob:
            client = A2AClient(out["url"], http=alice)
            assert list(client.card().skills) == [FEED_SKILL]
            task = client.send(user_message("the feed", data={"step": 0}, metadata={"skill": FEED_SKILL}))
            assert task.status.state == INPUT_REQUIRED  # served: the x402 payment is asked for
            with pytest.raises(E.A2AUnauthenticatedError, match="revoked"):
                A2AClient(out["url"], http=bob).send(_free())
    finally:
        proc.terminate()
        proc.wait(20)
        log.close()
