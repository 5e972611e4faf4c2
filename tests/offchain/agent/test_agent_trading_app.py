"""The trading agent as a program (offchain/agent/trading_app.py), launched as a plain subprocess
with its enclave key in a file: it checks its configuration against the chain (ERC-8004 metadata,
vault, agent wallet, tokenizer), then runs steps through its vault with the policy on the compute
network (the executors driven by a background thread, as an operator's daemon would) and answers
exactly two commands; the host's TradingApp parses what it relays strictly and turns every failure
into AppError."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from eth_account import Account
from eth_hash.auto import keccak

from offchain.agent import errors as E
from offchain.agent.evm import EvmFacilitator
from offchain.agent.facilitator import LocalFacilitator
from offchain.agent.inference_agent import InferenceSeller, grammar_request, receipt_text
from offchain.agent.trading import StepRecord, data_agent_a2a, decide, reexecute_step
from offchain.agent.trading_app import (
    KEY_FILE_ENV,
    MAX_COMMAND_BYTES,
    AppConfig,
    DAConfig,
    FeeConfig,
    PolicyConfig,
    TradingApp,
    build_app,
    read_key,
    write_abis,
)
from offchain.agent.vault import AgentVault, VaultTerms
from offchain.ai.tokenizer import Tokenizer
from offchain.chain.agent import Escrow, Sender, agent_wallet_data, sign
from offchain.chain.deploy import deploy_core, deploy_verified_escrow
from offchain.chain.sdk import load_abis
from offchain.httpservice import ServiceServer
from scripts._demo.trading import tampered_policy
from tests.contracts.support import TEST_CONFIG, DisputeWorld
from tests.contracts.support import World as CoreWorld
from tests.offchain.agent.support import PRICE
from tests.offchain.agent.test_agent_trading import (  # noqa: F401 - the module-scoped fixtures
    ASSET_UNIT,
    STRATEGY,
    USDC_UNIT,
    fee_world,
    market,
    policy_fee,
    policy_for,
    policy_net,
)
from tests.offchain.compute.test_compute_sandbox import needs_bwrap

ROOT = Path(__file__).resolve().parents[3]
APP_KEY = keccak(b"trading app test enclave key")
APP = Account.from_key(APP_KEY).address


class MemoryRecords:
    """Records kept by certificate in memory (what DARecords serves after its checks)."""

    def __init__(self) -> None:
        self.by_cert: dict[str, bytes] = {}

    def put(self, raw: bytes) -> str:
        cert = "0x" + keccak(raw).hex()
        self.by_cert[cert] = raw
        return cert

    def get(self, cert: str) -> bytes:
        return self.by_cert[cert]


def launcher(key_file: Path, log: Path):
    """Starts the program as a plain subprocess with `key_file` as its enclave key."""

    def launch() -> subprocess.Popen:
        env = {**os.environ, KEY_FILE_ENV: str(key_file)}
        with log.open("ab") as err:
            return subprocess.Popen(
                [sys.executable, "-m", "offchain.agent.trading_app"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, env=env, cwd=ROOT,
            )  # fmt: skip

    return launch


@pytest.fixture(scope="module")
def app_world(project, accounts, chain, market, policy_net, fee_world, tmp_path_factory):  # noqa: F811
    """The agent's vault (agent: the program's key) and ERC-8004 identity (strategy, policy image,
    vault; agent wallet: the program's key, which signed for it), a second identity whose wallet is
    not the program's, the data agent over A2A and an inference seller (x402 verified into a
    VerifiedEscrow over InferenceDisputes), and the program's configuration."""
    w, c = market
    fw, net = fee_world, policy_net
    tmp = tmp_path_factory.mktemp("trading-app")
    abis = load_abis()
    owner = accounts[7]
    accounts[0].transfer(APP, 10**18)
    project.StableToken.at(w.token.address).mint(owner, 100 * USDC_UNIT, sender=accounts[0])
    project.MockERC20.at(c["asset"].address).mint(owner, ASSET_UNIT, sender=accounts[0])

    # the inference seller: the tiny model, receipts on InferenceDisputes, paid verified
    d = DisputeWorld(
        CoreWorld(project, chain, accounts, deploy_core(project, accounts[0], TEST_CONFIG)), project, chain
    )
    infer_escrow = Escrow(
        w.w3,
        deploy_verified_escrow(project, accounts[0], disputes=d.c.address).address,
        abis["VerifiedEscrow"],
    )
    fac = EvmFacilitator(w.w3, w.keys["facilitator"], [w.token], w.settler, escrow=infer_escrow)
    seller_addr = w.addresses["seller"]
    seller = InferenceSeller(
        d.svc, d.keys[0].to_bytes(), fac.requirements, w.token.address, seller_addr,
        w.w3.eth.contract(address=d.c.address, abi=abis["InferenceDisputes"]), Sender(w.w3, w.keys["seller"]),
        w.clock, price=PRICE, window_s=3600, request=grammar_request(d.svc, STRATEGY),
    )  # fmt: skip
    offer = fac.requirements("exact", w.token.address, seller_addr, PRICE)
    data = data_agent_a2a(w.w3, c["amm"], w.keys["seller"], (offer,), LocalFacilitator(fac), clock=w.clock)

    terms = VaultTerms.for_strategy(
        STRATEGY, mailbox=net.mailbox.address, task_type=fw.type, pool=c["amm"].address, agent=APP,
        max_task_age=100, min_trade_interval=0,
    )  # fmt: skip
    key = owner.private_key
    vault = AgentVault.deploy(w.w3, key, terms)
    vault.deposit(key, c["usdc"].address, 100 * USDC_UNIT)
    vault.deposit(key, c["asset"].address, ASSET_UNIT)
    vault.set_fee_escrow(key, fw.escrow.address, fw.payee.address, PRICE, 3600)
    vault.set_fee_budget(key, 10 * PRICE)
    vault.set_feed_terms(key, w.token.address, PRICE)
    vault.set_feed_payee(key, seller_addr)
    vault.set_feed_budget(key, 20 * PRICE)
    vault.set_verified_escrow(key, infer_escrow.address)

    ident = accounts[0].deploy(project.IdentityRegistry)
    meta = [
        ("strategy", STRATEGY.hash()),
        ("policyImage", net.image),
        ("vault", bytes.fromhex(vault.address[2:])),
    ]
    agent_id = ident.register("https://agents.example/app.json", meta, sender=owner).return_value
    deadline = chain.pending_timestamp + 120
    msg = agent_wallet_data(chain.chain_id, ident.address, agent_id, APP, owner.address, deadline)
    ident.setAgentWallet(agent_id, APP, deadline, sign(APP_KEY, msg), sender=owner)
    other_id = ident.register("https://agents.example/other.json", meta, sender=owner).return_value

    (tmp / "tokenizer-only").mkdir()
    (tmp / "tokenizer-only" / "TaskMailbox.json").write_text(json.dumps(abis["TaskMailbox"]))
    write_abis(tmp / "abis")  # what the image carries: the program reads these, not the build's artifacts
    (tmp / "key").write_text("0x" + APP_KEY.hex() + "\n")
    (tmp / "tokenizer.json").write_text(d.svc.tokenizer.to_json())
    fee = FeeConfig(
        escrow=fw.escrow.address,
        payee=fw.payee.address,
        amount=PRICE,
        token=w.token.address,
        token_name=w.token.name,
    )
    with (
        ServiceServer(data.app(), log_level="warning") as data_server,
        ServiceServer(seller.http_app(LocalFacilitator(fac)), log_level="warning") as infer_server,
    ):
        cfg = AppConfig(
            rpc_url=w.w3.provider.endpoint_uri, chain_id=chain.chain_id, identity_registry=ident.address,
            agent_id=agent_id, strategy=STRATEGY, amm=c["amm"].address, usdc=c["usdc"].address,
            asset=c["asset"].address, data_agent_url=data_server.url, data_agent=seller_addr,
            inference_url=infer_server.url + "/inference", model_hash=d.svc.model.sha256,
            tokenizer_hash=d.svc.tokenizer.hash, tokenizer_file=str(tmp / "tokenizer.json"), vault=vault.address,
            policy=PolicyConfig(net.mailbox.address, fw.type, net.image, fee, timeout_s=60, poll_s=0.2),
            feed_budget=20 * PRICE, abi_source=str(tmp / "abis"),
        )  # fmt: skip
        yield SimpleNamespace(
            w=w, c=c, d=d, vault=vault, owner=owner, market=market, fw=fw, net=net, cfg=cfg, other_id=other_id, tmp=tmp, infer_escrow=infer_escrow,
            launch=launcher(tmp / "key", tmp / "app.log"),
        )  # fmt: skip


def test_the_tokenizer_round_trips_through_json(app_world):
    tok = app_world.d.svc.tokenizer
    again = Tokenizer.from_json(tok.to_json())
    assert again.hash == tok.hash and again.encode("Pool 2000.00") == tok.encode("Pool 2000.00")
    from offchain.ai.errors import TokenizerError

    for bad in ("[]", "{", json.dumps({**json.loads(tok.to_json()), "eos_id": "1"})):
        with pytest.raises(TokenizerError):
            Tokenizer.from_json(bad)


def test_a_config_round_trips_and_malformed_ones_are_refused(app_world):
    cfg = app_world.cfg
    assert AppConfig.from_json(cfg.to_json()) == cfg
    d = json.loads(cfg.to_json())
    for bad, match in (
        (b"{", "not JSON"),
        (json.dumps({k: v for k, v in d.items() if k != "vault"}).encode(), "has the fields"),
        (json.dumps({**d, "extra": 1}).encode(), "has the fields"),
        (json.dumps({**d, "agent_id": "7"}).encode(), "agent_id"),
        (json.dumps({**d, "vault": "0x12"}).encode(), "vault"),
        (json.dumps({**d, "model_hash": "0x12"}).encode(), "model_hash"),
        (json.dumps({**d, "strategy": {**d["strategy"], "band_bips": 10**9}}).encode(), "band_bips"),
        (json.dumps({**d, "policy": {**d["policy"], "fee": {"escrow": d["vault"]}}}).encode(), "FeeConfig"),
    ):
        with pytest.raises(E.AppConfigError, match=match):
            AppConfig.from_json(bad)


def test_the_key_file(tmp_path):
    for content in (b"", b"0x1234", b"z" * 64, bytes(32), b"\xff" * 32):
        (tmp_path / "k").write_bytes(content)
        with pytest.raises(E.AppKeyError):
            read_key(tmp_path / "k")
    with pytest.raises(E.AppKeyError, match="unreadable"):
        read_key(tmp_path / "missing")
    (tmp_path / "k").write_bytes(APP_KEY)
    assert read_key(tmp_path / "k") == APP_KEY
    (tmp_path / "k").write_text(APP_KEY.hex())
    assert read_key(tmp_path / "k") == APP_KEY


def test_every_config_the_chain_disagrees_with_is_refused(app_world):
    """The checks the program makes before it serves (build_app, in process here; the subprocess's
    exit and the host's AppError are tested below)."""
    w, cfg = app_world.w, app_world.cfg
    assert build_app(cfg, APP_KEY).agent.wallet == APP
    for bad, key, match in (
        (
            replace(cfg, strategy=replace(STRATEGY, band_bips=STRATEGY.band_bips + 1)),
            APP_KEY,
            "ERC-8004 strategy",
        ),
        (replace(cfg, vault=w.addresses["payer2"]), APP_KEY, "ERC-8004 vault"),
        (replace(cfg, policy=replace(cfg.policy, image=keccak(b"other image"))), APP_KEY, "policy image"),
        (cfg, keccak(b"another enclave"), "the vault's agent is"),
        (replace(cfg, agent_id=app_world.other_id), APP_KEY, "agent wallet is"),
        (replace(cfg, tokenizer_hash=keccak(b"tok")), APP_KEY, "tokenizer file's hash"),
        (replace(cfg, engine_id=keccak(b"engine")), APP_KEY, "engine"),
        (replace(cfg, chain_id=cfg.chain_id + 1), APP_KEY, "chain"),
    ):
        with pytest.raises(E.AppRefusedError, match=match):
            build_app(bad, key)
    with pytest.raises(E.AppConfigError, match="tokenizer file"):
        build_app(replace(cfg, tokenizer_file=str(app_world.tmp / "missing.json")), APP_KEY)
    with pytest.raises(E.AppConfigError, match="policy fee"):
        build_app(replace(cfg, policy=replace(cfg.policy, fee=replace(cfg.policy.fee, amount=0))), APP_KEY)
    with pytest.raises(E.AppConfigError, match="lack AgentVault"):
        build_app(replace(cfg, abi_source=str(app_world.tmp / "tokenizer-only")), APP_KEY)


def test_the_program_refuses_a_bad_key_or_config_and_exits(app_world, tmp_path):
    (tmp_path / "key").write_bytes(b"not a key")
    p = launcher(tmp_path / "key", tmp_path / "log")()
    out, _ = p.communicate(app_world.cfg.to_json() + b"\n", timeout=60)
    assert p.returncode == 2 and json.loads(out)["error"] == "AppKeyError"
    other = replace(app_world.cfg, strategy=replace(STRATEGY, band_bips=1))
    with pytest.raises(E.AppError, match="ERC-8004 strategy") as refused:
        TradingApp(app_world.launch, other, timeout_s=60)
    assert refused.value.remote == "AppRefusedError"


@needs_bwrap
def test_the_program_trades_through_the_vault_and_answers_only_its_commands(app_world, tmp_path):
    """Two steps run by the program: each record parses, names the program's key as the agent's
    wallet and the vault, its order is the decision text's (decoded by the program from the
    receipt's tokens) and the vault traded it on the certified task; re-executed from the record, it
    matches. Executors that certify a wrong output: the step is refused, nothing traded. The host cannot make the program do anything else: every other line is answered with
    an error, nothing is sent from the key, and the program goes on serving; once it is killed, the
    host gets AppError."""
    aw, w, c, fw = app_world, app_world.w, app_world.c, app_world.fw
    pn = policy_for(aw.net, aw.market, tmp_path, task_type=fw.type, fee=policy_fee(w, fw), admit=fw.gate)
    stop, errors, driving = threading.Event(), [], [pn]

    def operators() -> None:
        """The executor set's daemons: answer each new task; the aggregator certifies."""
        while not stop.is_set():
            try:
                for ex in driving[0].executors:
                    ex.poll()
            except Exception as exc:  # surfaced by the assertion below
                errors.append(exc)
            stop.wait(0.2)

    daemon = threading.Thread(target=operators, daemon=True)
    daemon.start()
    # the program records its steps on a DA network that does not answer: each step stands, its
    # record answered without a certificate and with why (a certificate is tested in the e2e demo)
    da = DAConfig(disperser="http://127.0.0.1:1", payer_key=keccak(b"da payer"), timeout_s=2)
    app = TradingApp(aw.launch, replace(aw.cfg, da=da), timeout_s=120)
    try:
        assert app.address() == APP
        records = MemoryRecords()
        for i in (0, 1):
            s = app.step(i)
            rec = s.record
            assert not s.refused and errors == []
            assert s.dispersing
            cert, why = app.record(i)
            assert cert is None and why is not None and "127.0.0.1:1" in why
            assert rec.agent["wallet"] == APP and rec.agent["vault"] == aw.vault.address
            assert s.text == receipt_text(aw.d.svc, rec.receipt)
            assert rec.order == decide(STRATEGY, rec.feed.feed, s.text)
            assert StepRecord.from_json(s.raw) == rec
            held = fw.escrow.get(s.policy_fee_escrow)
            assert (held.ref, held.payer) == (rec.policy.task_hash, aw.vault.address)
            paid = aw.infer_escrow.get(s.inference_escrow)
            assert (paid.ref, paid.payer) == (rec.receipt.request_digest, aw.vault.address)
            if rec.order.action != "HOLD":
                assert aw.vault.executed(rec.policy.task_hash)
            check = reexecute_step(
                records.put(s.raw), records, aw.d.svc, w.addresses["seller"], STRATEGY.hash(), w.w3, c["amm"],
                vault=aw.vault.address,
            )  # fmt: skip
            assert check.matches, check.problems

        # executors that certify a wrong policy output: the program refuses the step, nothing traded
        lie = tampered_policy(STRATEGY)
        driving[0] = policy_for(
            aw.net, aw.market, tmp_path / "lie", run_by={0: lie, 1: lie}, task_type=fw.type,
            fee=policy_fee(w, fw), admit=fw.gate, prove_faults=False,
        )  # fmt: skip
        s = app.step(2)
        assert s.refused and s.record.trade is None and s.record.order.action == "HOLD"
        assert s.record.policy is not None and not aw.vault.executed(s.record.policy.task_hash)
        assert s.policy_fee_escrow is not None and s.inference_escrow is not None

        nonce = w.w3.eth.get_transaction_count(APP)
        for line in (
            b'{"op":"sign","data":"0x00"}',
            b'{"op":"address","x":1}',
            b'{"op":"step","step":-1}',
            b'{"op":"step","step":true}',
            b'{"op":"step","step":"2"}',
            b'{"op":"record","step":9}',  # a step it did not run, so did not disperse
            b'{"op":"record","step":1,"x":1}',
            b"not json",
            b"[]",
            b'{"op":"step","step":2,' + b" " * MAX_COMMAND_BYTES + b"}",
        ):
            with pytest.raises(E.AppError) as bad:
                app._ask(line)
            assert bad.value.remote == "AppRequestError", line
            assert app.address() == APP  # still serving
        assert w.w3.eth.get_transaction_count(APP) == nonce  # nothing sent from the key

        # a step that fails (the vault's owner spent its feed budget to 0) is answered with its class
        aw.vault.set_feed_budget(aw.owner.private_key, 0)
        with pytest.raises(E.AppError, match="refused the feed payment") as failed:
            app.step(3)
        assert failed.value.remote == "FeedError" and app.address() == APP
        app.proc.kill()
        with pytest.raises(E.AppError, match="gone"):
            app.step(4)
        with pytest.raises(E.AppError, match="closed"):
            app.address()
    finally:
        app.close()
        stop.set()
        daemon.join(timeout=10)


def hostile(script: str):
    """A launcher of a program that answers its ready line, then runs `script` for the first command
    (the host must not trust what it answers)."""
    ready = json.dumps({"ok": True, "ready": True, "address": APP})
    code = f"import sys, time\nsys.stdin.readline()\nprint({ready!r}, flush=True)\nsys.stdin.readline()\n{script}"

    def launch() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    return launch


def test_the_host_refuses_what_a_hostile_program_answers(app_world):
    from offchain.agent.trading_app import MAX_ANSWER_BYTES

    for script, match in (
        ("print('not json', flush=True)", "not JSON"),
        ("print('[1]', flush=True)", "not an answer object"),
        (f"print('x' * {MAX_ANSWER_BYTES + 1}, flush=True)", "longer than"),
        ("time.sleep(30)", "did not answer within"),
        ("sys.exit(0)", "gone"),
        (f"print({json.dumps({'ok': True, 'address': '0x' + '11' * 20})!r}, flush=True)", "another address"),
    ):
        app = TradingApp(hostile(script), app_world.cfg, timeout_s=3)
        with pytest.raises(E.AppError, match=match) as refused:
            app.address()
        assert refused.value.remote is None and app.closed
    # a step answer whose record does not parse, or is of another step
    rec = {"ok": True, "refused": False, "text": "", "policy_fee_escrow": None, "inference_escrow": None}
    rec |= {"dispersing": True}
    for record, match in (("{}", "does not parse"), ("x", "does not parse")):
        script = f"print({json.dumps({**rec, 'record': record})!r}, flush=True)"
        with pytest.raises(E.AppError, match=match):
            TradingApp(hostile(script), app_world.cfg, timeout_s=3).step(0)
    script = f"print({json.dumps({**rec, 'record': '{}', 'dispersing': 1})!r}, flush=True)"
    with pytest.raises(E.AppError, match="dispersing is not a boolean"):
        TradingApp(hostile(script), app_world.cfg, timeout_s=3).step(0)
    # a record answer that is neither a certificate object nor a reason, or of another step
    for bad, match in (
        ({"cert": "0x00", "da_error": None}, "neither a certificate object nor a reason"),
        ({"cert": None, "da_error": 3}, "neither a certificate object nor a reason"),
        ({"cert": {}, "da_error": "both"}, "neither a certificate object nor a reason"),
        ({"cert": None, "da_error": "x", "step": 5}, "not exactly the fields"),
        ({"cert": None, "da_error": "x", "sig": "0x"}, "not exactly the fields"),
    ):
        script = f"print({json.dumps({'ok': True, 'step': 0, **bad})!r}, flush=True)"
        with pytest.raises(E.AppError, match=match):
            TradingApp(hostile(script), app_world.cfg, timeout_s=3).record(0)
    extra = f"print({json.dumps({**rec, 'record': '{}', 'sign': '0x'})!r}, flush=True)"
    with pytest.raises(E.AppError, match="not exactly the fields"):
        TradingApp(hostile(extra), app_world.cfg, timeout_s=3).step(0)
