"""Demo step: the verifiable trading agent (offchain/agent/trading.py; docs/agent.md, *The story*).

``run(demo)`` runs after the inference step (scripts/_demo/ai.py) and reuses its world: the model, the
InferenceDisputes contract, its set (operators A, B, C) and their signing and BLS keys. On the same devnet
it deploys the agent component (ERC-8004 registries, the stablecoin, the ConstantProductAMM with a demo
asset), starts the demo's DA devnet on its chain (scripts/_demo/da.py: 4 validators registered in a
BLSRegistry, a disperser, a relay; the DA step reuses it), serves a data agent that sells a signed market
feed as an A2A skill paid through the x402 extension, and registers Dave's trading agent (ERC-8004, with
its strategy's hash and its policy image as metadata). The agent's policy (the parser that turns the
answer into an order) is a compute-network task: its static kernel's image is registered for Dave's app on a
TaskMailbox over the compute step's ComputeAVS, and operators A and B, restaked in its executor set, run it
in the sandbox with the development TEE. Then: a few steps, each buying the feed over A2A, deciding with
operator A's signed inference, bought from A's inference agent (offchain/agent/inference_agent.py) under x402
``verified`` (kind inference: the vault's payment is held in a VerifiedEscrow over InferenceDisputes, conditioned on
the request digest, A's receipt bound to it), having Dave's AgentVault (which holds his trading funds and pays the
agent's feeds, decisions and policy fees within his budgets: the agent's wallet holds gas only) post the policy
task and execute only its certified order, and recording to DA (each certificate checked by checkDACert); a watcher
disputes one honest decision (B and C re-execute it from the DA record alone, it matches, the watcher's
bond goes to A, and that decision's payment is released to A at once); in a later step A tampers with the
output, the agent trades on it, anyone re-executing the DA record sees it, Dave challenges, A is slashed and the
vault (the receipt's client) compensated, and once the slash is final that decision's payment is refunded to the
vault and credited back to its feed budget (the other decisions' payments are released to A after the receipts'
challenge window, the devnet's clock moved past it); in the last step A tampers with
its policy executor instead (its share alone meets the policy set's threshold, so the wrong order is
certified), the agent refuses it and records the refused step (had its host tried, the vault would revert both that
order, beyond the slippage bound, and an uncertified one), and operator B re-executes the policy image
on the certified input from that DA record in its enrolled enclave and proves the output wrong
(proveReceiptFault): A is slashed, B is not, and the slashed stake goes to Dave, the set's redistribution
recipient; each policy task's fee is paid by the vault into a VerifiedEscrow bound to the task (its task type
charges nothing on the mailbox) for its certifiers (the escrow's payee is the mailbox): the proven-wrong step's is
refunded to the vault once A's slash is final, the others are released after the escrow's window to the operators
that certified each task, pro rata to the stake each signed with, as the mailbox's fees (withdrawFees); the TaskValidator answers the agent's validation requests from InferenceDisputes (100 and 0)
and from the TaskMailbox and TaskSlasher for two policy tasks (certified: 100; proven wrong: 0), and
Carol's feedback says the same as the inference answers.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_hash.auto import keccak
from eth_keys import keys as eth_keys

from offchain.abi import WAD
from offchain.agent.errors import VaultRefusedError
from offchain.agent.evm import EvmFacilitator
from offchain.agent.facilitator import LocalFacilitator
from offchain.agent.inference_agent import InferenceSeller, grammar_request
from offchain.agent.keeper import Keeper
from offchain.agent.taskfee import EscrowFeeGate, TaskFee
from offchain.agent.trading import (
    ASSET_UNIT,
    FEED_SKILL,
    USDC_UNIT,
    AgentImage,
    DARecords,
    Order,
    PolicyReexecutor,
    PolicyVerifier,
    Strategy,
    data_agent_a2a,
    decide,
    policy_input,
    receipt_text,
    reexecute_step,
)
from offchain.agent.trading_app import (
    DEFAULT_KEY_FILE,
    IMAGE_ABIS,
    IMAGE_TOKENIZER,
    AppConfig,
    DAConfig,
    FeeConfig,
    PolicyConfig,
    TradingApp,
    build_agent_image,
)
from offchain.agent.vault import AgentVault, VaultTerms
from offchain.ai.receipt import text_hash
from offchain.chain.agent import (
    VALIDATION_KIND_INFERENCE,
    VALIDATION_KIND_TASK,
    Escrow,
    Sender,
    Settler,
    StableToken,
    agent_wallet_data,
    sign,
    validation_request_hash,
)
from offchain.chain.deploy import (
    TaskMailboxConfig,
    deploy_agent,
    deploy_task_mailbox,
    deploy_task_validator,
    deploy_verified_escrow,
)
from offchain.chain.sdk import Deployment, load_abis
from offchain.chain.task_mailbox import CERT_ECDSA, BlsSigner, EcdsaSigner, OperatorSigner, Web3TaskMailbox
from offchain.compute.app import start_app
from offchain.compute.devtee import DevTEE, dev_policy
from offchain.compute.executor import TaskOutcome, dev_enclave, execute_task
from offchain.compute.pki import TrustStore
from offchain.compute.taskrun import Aggregator, Executor
from offchain.compute.testca import NitroTestCA
from offchain.compute.trading_policy import Decision as PolicyDecision
from offchain.compute.trading_policy import build_trading_policy_image
from offchain.httpservice import ServiceServer
from scripts._demo import compute as demo_compute
from scripts._demo import da as demo_da
from scripts._demo.ai import BOND, WINDOW_S
from scripts._demo.common import bls_keys, enrol_enclave, event, fmt, join_set, local_executors

FEED_PRICE = 20_000  # 0.02 USDC a feed
# 0.01 USDC a policy task, paid into VerifiedEscrow (the task type charges 0 on the mailbox), whose window after
# a task's confirmation is the inference set's challenge window
POLICY_FEE = 10_000
POLICY_FEE_WINDOW_S = WINDOW_S
# Dave's budgets for the vault's running costs (the agent's wallet holds no USDC: gas only)
FEE_BUDGET = 10 * POLICY_FEE  # the policy fees it may pay into escrow, at most POLICY_FEE a task
FEED_BUDGET = (
    10 * FEED_PRICE
)  # the feeds and inferences it may pay, at most FEED_PRICE each, to their sellers only
# 0.01 USDC a decision, bought from operator A's inference agent under x402 verified (kind inference), paid by the
# vault into a VerifiedEscrow over InferenceDisputes; the offer's refund deadline if no receipt is bound by then
INFER_PRICE = 10_000
INFER_DEADLINE_S = 3_600
VAULT_TASK_AGE = 1_000  # blocks between a policy task's posting and its order's execution, at most
STEPS = 2  # honest steps before the tampered one (then one whose policy output A tampers with)
POLICY_STEP = STEPS + 1  # the step whose certified policy output is wrong
STRATEGY = Strategy(max_buy_usdc=500 * USDC_UNIT, max_sell_asset=ASSET_UNIT // 4)


def _key(label: bytes) -> bytes:
    return keccak(b"demo trading " + label)


def run(demo: Any) -> dict[str, Any]:
    """Run the trading-agent story on `demo` (after the ai step); returns its key figures."""
    t_start = time.perf_counter()
    w = demo.ai_world  # set by the ai step (scripts/_demo/ai.py)
    print(
        "\n##### The verifiable trading agent: paid market data, deterministic inference, AMM trades, DA records; "
        "an honest decision disputed and upheld, a tampered one slashed"
    )
    net = demo_da.start(demo)  # the demo's one DA devnet, on its chain (the DA step reuses it)
    work = Path(tempfile.mkdtemp(prefix="demo-trading-policy-"))
    os.chmod(work, 0o711)  # the sandbox's uid reaches the unpacked image through it
    try:
        return _story(demo, w, net, t_start, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


@dataclass
class PolicyWorld:
    """The policy task's deployment: the mailbox (a web3 view), the task type, the image, its store,
    the executors of operators B and A (in the order they answer) and the aggregator, in this process;
    operator B's enclave, enrolled in ComputeAVS for Dave's app and the policy image."""

    dep: Deployment
    set_id: int
    task_type: int
    image: bytes
    store: Path
    work: Path
    ca: NitroTestCA
    executors: list[Executor]
    aggregator: Aggregator
    app_id: bytes
    enclave_b: DevTEE
    stakes: tuple[int, int]  # A's and B's allocated stake in the set
    escrow: Escrow  # the VerifiedEscrow the policy fees are paid into
    keeper_account: Any  # the policy fees' keeper (an account with gas: it confirms and releases)
    fee: TaskFee  # what the agent pays per policy task
    driven_s: float = 0.0  # time in the executors and the aggregator, all tasks together

    def drive(self) -> None:
        """Operators B and A answer every new task, B first; the aggregator certifies (ECDSA, 66.67%:
        A's share is needed, and with B's the result is certified by both)."""
        t0 = time.perf_counter()
        for ex in self.executors:
            ex.poll()
        self.driven_s += time.perf_counter() - t0

    @contextlib.contextmanager
    def watching(self, every_s: float = 0.2) -> Iterator[None]:
        """The executors as the operators' daemons run them: polling the mailbox every `every_s`
        while the block runs (the agent program waits for its task's certificate meanwhile)."""
        stop = threading.Event()
        failed: list[BaseException] = []

        def loop() -> None:
            while not stop.is_set():
                try:
                    self.drive()
                except Exception as exc:  # noqa: BLE001 - re-raised in the caller's thread
                    failed.append(exc)
                    return
                stop.wait(every_s)

        th = threading.Thread(target=loop, daemon=True)
        th.start()
        try:
            yield
        finally:
            stop.set()
            th.join()
        if failed:
            raise failed[0]

    def keeper(self) -> Keeper:
        """The keeper of the policy fees (confirm, then release to the certifiers after the window; refund
        when due)."""
        return Keeper(
            self.escrow, Sender(self.dep.w3, self.keeper_account.key), load_abis()["TaskMailbox"], []
        )

    def _run(self, payload: bytes, enclave: Any) -> TaskOutcome:
        image = self.store / self.image.hex()
        chain_id = Web3TaskMailbox(self.dep).chain_id
        return execute_task(
            image, "sha256:" + self.image.hex(), payload, enclave=enclave, app_id=self.app_id,
            chain_id=chain_id, workdir=self.work,
        )  # fmt: skip

    def verifier(self) -> PolicyVerifier:
        """A re-executor's check: the chain, and the image re-run in its own sandbox."""
        return PolicyVerifier(
            Web3TaskMailbox(self.dep),
            self.task_type,
            self.image,
            lambda payload: self._run(payload, dev_enclave(self.ca)).output,
        )

    def reexecutor(self, key: bytes) -> PolicyReexecutor:
        """Operator B's audit of a step's policy task: the image re-run in its enrolled enclave (the
        receipt a fault proof needs), proofs sent from `key`."""
        return PolicyReexecutor(
            Web3TaskMailbox(self.dep, account=Account.from_key(key)),
            self.task_type,
            self.image,
            lambda payload: self._run(payload, lambda digest: self.enclave_b),
        )


class _AgentImageBuild:
    """The trading agent's image (``python -m offchain.agent.trading_app`` with its packages, the
    tokenizer and the ABIs the program reads), built in a thread while the chain is set up."""

    def __init__(self, svc: Any, work: Path) -> None:
        self.seconds = 0.0
        self._box: dict[str, Any] = {}

        def build() -> None:
            t0 = time.perf_counter()
            try:
                self._box["image"] = build_agent_image(work / "agent-image", svc.tokenizer, work)
            except Exception as exc:  # noqa: BLE001 - re-raised by result()
                self._box["error"] = exc
            self.seconds = time.perf_counter() - t0

        self._thread = threading.Thread(target=build, daemon=True)
        self._thread.start()

    def result(self) -> Any:
        self._thread.join()
        if "error" in self._box:
            raise self._box["error"]
        return self._box["image"]


def _enrol_agent(demo: Any, policy_w: PolicyWorld, img: Any) -> tuple[DevTEE, AgentImage]:
    """Dave registers the agent's image for his app on ComputeAVS (the dev TEE's policy); operator B's
    enclave for it attests, the compute set verifies the evidence and enrols its key (BLS)."""
    from ape import chain, project

    raw = bytes.fromhex(img.digest[7:])
    cavs = project.ComputeAVS.at(policy_w.dep.addresses["compute_avs"])
    pol = dev_policy(policy_w.ca, raw)
    cavs.registerImage(
        policy_w.app_id,
        raw,
        "trading-agent-v1",
        pol.hash(),
        chain.pending_timestamp + 86400,
        sender=demo.dave,
    )
    tee = DevTEE(policy_w.ca, raw)
    enrol_enclave(
        cavs, demo_compute.COMPUTE_SET, policy_w.app_id, tee, pol,
        TrustStore.default().with_roots([policy_w.ca.root]), demo.op_b,
        demo.results[demo_compute.__name__]["bls_keys"],
    )  # fmt: skip
    return tee, AgentImage(cavs.address, policy_w.app_id, raw)


def _enclave_of(policy_w: PolicyWorld, key: str) -> tuple[bytes, bytes, bool]:
    """ComputeAVS's record of enclave key `key`: (app id, image digest, revoked)."""
    from ape import project

    e = project.ComputeAVS.at(policy_w.dep.addresses["compute_avs"]).enclaves(key)
    return bytes(e.appId), bytes(e.imageDigest), bool(e.revoked)


class _AgentProcess:
    """The started image as :class:`TradingApp` launches it: its sandboxed process's pipes; stopping
    it closes the app (the process tree stopped, the rootfs removed)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.stdin, self.stdout = app.stdin, app.stdout

    def poll(self) -> int | None:
        return self.app.process.poll()

    def kill(self) -> None:
        self.app.close()

    def stop(self) -> None:
        self.app.close()


def _launch_agent(img: Any, key: bytes, work: Path) -> _AgentProcess:
    """Operator B runs the agent's image: its digest checked, unpacked, started in the sandbox with
    the network, the enclave's key a read-only file (/run/enclave/key)."""
    log = (work / "agent-app.log").open("wb")
    try:
        app = start_app(
            img.out, img.digest, workdir=work, share_net=True, files={DEFAULT_KEY_FILE: key}, stderr=log
        )
    finally:
        log.close()  # (the child holds its own descriptor)
    return _AgentProcess(app)


def _policy_world(demo: Any, usdc: Any, work: Path) -> PolicyWorld:
    """A TaskMailbox over the compute step's ComputeAVS; Dave's app (on its compute set) with an
    executor set that operators A and B join (A with most of its stake: its share alone meets the
    threshold) redistributing to Dave; the policy image built, registered with the dev TEE's policy
    and a task type running it (as `eigen compute deploy`) that charges nothing on the mailbox: its
    fee, in USDC, is a VerifiedEscrow deposit bound to each task for its certifiers (payee: the
    mailbox, which credits each its share of the fees at release), and A's and B's
    executors answer a task only once its fee is held (EscrowFeeGate); operator B's enclave enrolled
    for the image (both compute-set operators verify its evidence and sign)."""
    from ape import chain, networks, project

    store = work / "images"
    store.mkdir()
    built: dict[str, Any] = {}

    def build() -> None:  # the compiler runs while the chain is set up
        try:
            built["image"] = build_trading_policy_image(work / "policy.tar")
        except Exception as exc:  # noqa: BLE001 - re-raised below
            built["error"] = exc

    builder = threading.Thread(target=build, daemon=True)
    builder.start()
    computed = demo.results[demo_compute.__name__]
    avs = computed["avs"]
    mailbox, _, registry = deploy_task_mailbox(
        project,
        demo.deployer,
        demo.d,
        avs,
        TaskMailboxConfig(bls_rotation_delay_blocks=10, bls_max_staleness_blocks=100),
    )
    app_id = keccak(b"demo app: dave's trading policy")
    cavs = project.ComputeAVS.at(avs)
    cavs.registerApp(app_id, demo_compute.COMPUTE_SET, True, sender=demo.dave)
    set_id = mailbox.createExecutorOperatorSet(
        app_id, demo.sorted_strats(), demo.arbiter, demo.dave, 6667, sender=demo.dave
    ).return_value
    ops = [demo.op_b, demo.op_a]  # in the order they answer
    signing = {
        op.address: eth_keys.PrivateKey(keccak(b"demo policy executor " + op.address.encode())) for op in ops
    }
    bls = bls_keys(b"demo policy executor bls ", ops)
    # A allocates half its free magnitude, B a tenth: A's share alone meets the threshold
    for op, part in ((demo.op_a, 2), (demo.op_b, 10)):
        join_set(
            demo, mailbox.address, set_id, [op], signing, 10 * WAD, allocation_delay=2, bls=bls,
            registry=registry, part=part,
        )  # fmt: skip
    a_stake, b_stake = (
        sum(row) for row in demo.am.getAllocatedStake((mailbox.address, set_id), [demo.op_a, demo.op_b], demo.sorted_strats())
    )  # fmt: skip
    if not b_stake * 10_000 < (a_stake + b_stake) * 6667 <= a_stake * 10_000:
        raise RuntimeError(
            f"the policy set's stakes (A {a_stake}, B {b_stake}) do not give A alone the threshold"
        )
    builder.join()
    if "error" in built:
        raise built["error"]
    digest = built["image"].digest
    (work / "policy.tar").rename(store / digest[7:])
    raw = bytes.fromhex(digest[7:])
    ca = NitroTestCA(seed=b"eigen demo policy TEE")
    dep = Deployment(
        chain_id=chain.chain_id,
        rpc_url=networks.provider.uri,
        addresses={
            "task_mailbox": mailbox.address,
            "allocation_manager": demo.am.address,
            "compute_avs": avs,
        },
    )
    deployed = Web3TaskMailbox(dep).deploy_image(
        Account.from_key(demo.dave.private_key), raw, set_id, dev_policy(ca, raw).hash(),
        fee_token=usdc.address, fee=0, timeout=mailbox.MAX_TASK_TIMEOUT(), cert_kind=CERT_ECDSA,
        threshold_bps=6667, version="trading-policy-v1", upgrade_by=chain.pending_timestamp + 86400,
    )  # fmt: skip
    enclave_b = DevTEE(ca, raw)
    enrol_enclave(
        cavs, demo_compute.COMPUTE_SET, app_id, enclave_b, dev_policy(ca, raw),
        TrustStore.default().with_roots([ca.root]), demo.op_b, computed["bls_keys"],
    )  # fmt: skip
    agg_key = _key(b"policy aggregator")
    demo.deployer.transfer(Account.from_key(agg_key).address, WAD)
    aggregator = Aggregator(
        Web3TaskMailbox(dep, account=Account.from_key(agg_key)), work / "evidence", prove_faults=False
    )
    signers = [
        OperatorSigner(EcdsaSigner(op.address, signing[op.address]), BlsSigner(op.address, bls[op.address]))
        for op in ops
    ]
    executors = local_executors(dep, signers, store, set_id, dev_enclave(ca), aggregator.add, work)
    # the policy fee: a VerifiedEscrow over the mailbox, for each task's certifiers (payee: the mailbox); the
    # executors' gate; the keeper that settles the fees (anyone may: an account with gas)
    fee_escrow = deploy_verified_escrow(
        project, demo.deployer, mailbox.address, task_window_s=POLICY_FEE_WINDOW_S
    )
    escrow = Escrow(dep.w3, fee_escrow.address, load_abis()["VerifiedEscrow"])
    keeper_account = Account.from_key(_key(b"policy fee payee"))
    demo.deployer.transfer(keeper_account.address, WAD)
    gate = EscrowFeeGate(
        escrow, mailbox.address, frozenset({deployed["task_type"]}), usdc.address, mailbox.address, POLICY_FEE
    )
    for ex in executors:
        ex.admit = gate
    fee = TaskFee.for_certifiers(escrow, usdc.address, usdc.name(), POLICY_FEE)
    return PolicyWorld(
        dep, set_id, deployed["task_type"], raw, store, work, ca, executors, aggregator, app_id, enclave_b,
        (a_stake, b_stake), escrow, keeper_account, fee,
    )  # fmt: skip


def _story(demo: Any, w: Any, net: Any, t_start: float, work: Path) -> dict[str, Any]:
    from ape import chain, project

    svc, c = w.svc, w.c
    deployer, dave, watcher = demo.deployer, demo.dave, demo.carol
    w3 = chain.provider.web3
    abis = load_abis()
    ag = deploy_agent(project, deployer)
    usdc, asset, amm = ag["stable_token"], ag["amm_asset"], ag["amm"]
    # keys: the trading agent's wallet, the data agent, the facilitator (the last two funded with gas)
    # and operator A's inference agent (its wallet: gas, and the payments it earns)
    data_key, fac_key, seller_key = (
        _key(x) for x in (b"data", b"facilitator", b"operator A inference agent")
    )
    data_addr, fac_addr, seller_addr = (Account.from_key(k).address for k in (data_key, fac_key, seller_key))
    for a in (fac_addr, seller_addr):
        deployer.transfer(a, WAD)
    # the trading agent's image (the program offchain/agent/trading_app.py, Python and its packages, the
    # tokenizer, the ABIs it reads), built while the chain is set up
    agent_build = _AgentImageBuild(svc, work)
    usdc.mint(deployer, 200_000 * USDC_UNIT, sender=deployer)
    asset.mint(deployer, 100 * ASSET_UNIT, sender=deployer)
    usdc.approve(amm, 2**256 - 1, sender=deployer)
    asset.approve(amm, 2**256 - 1, sender=deployer)
    amm.addLiquidity(100_000 * USDC_UNIT, 50 * ASSET_UNIT, 0, 0, deployer, 2**40, sender=deployer)
    usdc.mint(dave, 3_000 * USDC_UNIT, sender=deployer)
    asset.mint(dave, ASSET_UNIT, sender=deployer)
    print(
        f"Agent contracts deployed; pool {amm.address}: 100,000 USDC / 50 dETH (2,000 USDC per dETH), fee "
        f"{amm.feeBips()} bips."
    )

    # the policy on the compute network: the image registered for Dave's app, run by A and B
    t_policy = time.perf_counter()
    policy_w = _policy_world(demo, usdc, work)
    print(
        f"Dave's trading policy (offchain/compute/kernels/trading_policy.c, a static binary) is an image "
        f"sha256:{policy_w.image.hex()[:16]}… registered for his app on a TaskMailbox over the compute step's "
        f"ComputeAVS as task type {policy_w.task_type}; operators A and B restaked in its executor set "
        f"{policy_w.set_id} and run it in the sandbox with the dev TEE ({time.perf_counter() - t_policy:.1f} s to set up). "
        f"The type charges nothing on the mailbox: each task's fee, {POLICY_FEE / USDC_UNIT:.2f} USDC, is paid into a "
        f"VerifiedEscrow {policy_w.escrow.address[:10]}… bound to the task, for its certifiers (the escrow's payee is "
        f"the mailbox: released {POLICY_FEE_WINDOW_S} s after confirmation unless a fault is proven, to the operators "
        "that certified the task, pro rata to the stake each signed with, as mailbox fees; refunded once a fault "
        "proof's slash is final), and A and B answer a task only once its fee is held."
    )

    # the trading agent itself: an image registered for Dave's app, run by operator B in its (dev) TEE, whose
    # enclave key (enrolled on ComputeAVS) is the agent's only key
    agent_img = agent_build.result()
    agent_tee, agent_image = _enrol_agent(demo, policy_w, agent_img)
    agent_key = agent_tee.enclave_key.to_bytes()
    agent_addr = Account.from_key(agent_key).address
    deployer.transfer(agent_addr, WAD)
    print(
        f"Dave's trading agent is a program (offchain/agent/trading_app.py) packaged as an OCI image "
        f"sha256:{agent_img.digest[7:23]}… ({agent_img.size / 2**20:.0f} MiB: Python, its packages, the tokenizer, "
        f"the ABIs; built reproducibly in {agent_build.seconds:.1f} s) registered for his app on ComputeAVS. "
        f"Operator B runs it in its TEE (the dev TEE here); the compute set verified the enclave's attestation and "
        f"enrolled its key {agent_addr[:10]}… for the app and that image: the agent's wallet is that key, which "
        "exists only in the enclave running the registered image (with a real TEE: the operator never sees it). "
        "It holds gas only: Dave's funds go into a vault, which pays the agent's feeds and policy fees too."
    )

    # the agent's vault: Dave's funds move only on a certified policy order of a task the vault posted
    vault = AgentVault.deploy(
        w3,
        dave.private_key,
        VaultTerms.for_strategy(
            STRATEGY,
            mailbox=policy_w.dep.addresses["task_mailbox"],
            task_type=policy_w.task_type,
            pool=amm.address,
            agent=agent_addr,
            max_task_age=VAULT_TASK_AGE,
            min_trade_interval=0,
        ),
    )
    vault.deposit(dave.private_key, usdc.address, 3_000 * USDC_UNIT)
    vault.deposit(dave.private_key, asset.address, ASSET_UNIT)
    # its running costs, within Dave's limits: the policy fees into escrow, the feeds over x402
    vault.set_fee_escrow(
        dave.private_key, policy_w.escrow.address, policy_w.fee.payee, POLICY_FEE, policy_w.fee.deadline_s
    )
    vault.set_fee_budget(dave.private_key, FEE_BUDGET)
    vault.set_feed_terms(dave.private_key, usdc.address, FEED_PRICE)
    vault.set_feed_payee(dave.private_key, data_addr)
    vault.set_feed_budget(dave.private_key, FEED_BUDGET)
    # the agent's decisions, bought from operator A's inference agent under x402 verified (kind inference): paid
    # into a VerifiedEscrow over InferenceDisputes, released to A once the receipt's challenge window passed (or
    # it was upheld), refunded to the vault once it is proven wrong and the slash is final
    infer_escrow = Escrow(
        w3, deploy_verified_escrow(project, deployer, disputes=c.address).address, abis["VerifiedEscrow"]
    )
    vault.set_verified_escrow(dave.private_key, infer_escrow.address)
    vault.set_feed_payee(dave.private_key, seller_addr)
    print(
        f"Dave deploys his AgentVault {vault.address[:10]}… (contracts/agent/AgentVault.vy) and deposits 3,000 USDC "
        f"and 1 dETH: it swaps on the pool only on an order the TaskMailbox certified for a policy task it posted "
        f"itself (input checked against the strategy's hash, limits, slippage and the pool's reserves), within "
        f"{STRATEGY.max_buy_usdc // USDC_UNIT} USDC / {STRATEGY.max_sell_asset / ASSET_UNIT:g} dETH a trade and the "
        "slippage bound; the agent's key may post and execute, only Dave may withdraw. It also pays the agent's "
        f"running costs within Dave's limits: each policy fee into the escrow for the task's certifiers (at most "
        f"{POLICY_FEE / USDC_UNIT:.2f} USDC a task, {FEE_BUDGET / USDC_UNIT:.2f} USDC in all; a refund returns to "
        f"the vault) and each feed over x402 as an ERC-1271 payer, to the data agent {data_addr[:10]}… only (at most "
        f"{FEED_PRICE / USDC_UNIT:.2f} USDC a feed, {FEED_BUDGET / USDC_UNIT:.2f} USDC in all), and each decision it "
        f"buys from operator A's inference agent {seller_addr[:10]}… under x402 verified (kind inference: "
        f"{INFER_PRICE / USDC_UNIT:.2f} USDC into a VerifiedEscrow {infer_escrow.address[:10]}… over InferenceDisputes, "
        "from the same budget; released to A once the receipt's challenge window passed or it was upheld, refunded "
        "to the vault once it is proven wrong and the slash is final)."
    )

    # ERC-8004: the agent's identity, its strategy's hash, its policy image and its vault as metadata
    ident = ag["identity_registry"]
    r = ident.register(
        "https://agents.example/dave-trader.json",
        [
            ("strategy", STRATEGY.hash()),
            ("strategyName", STRATEGY.name.encode()),
            ("policyImage", policy_w.image),
            ("vault", bytes.fromhex(vault.address[2:])),
            ("agentImage", agent_image.image),
            ("agentApp", agent_image.app_id),
        ],
        sender=dave,
    )
    agent_id = event(r, "Registered").agentId
    # the agent's own key becomes its ERC-8004 agent wallet (proven by its signature): the policy tasks it
    # posts are then the agent's work, which the TaskValidator answers for (anyone else's is answered 0).
    # (The enclave signs it: with the dev TEE, whose key the operator's process holds, it is signed here.)
    deadline = chain.pending_timestamp + 120
    wallet_msg = agent_wallet_data(
        chain.chain_id, ident.address, agent_id, agent_addr, dave.address, deadline
    )
    ident.setAgentWallet(agent_id, agent_addr, deadline, sign(agent_key, wallet_msg), sender=dave)
    print(
        f"Dave registers the trading agent in the ERC-8004 identity registry: agent id {agent_id}, "
        f"metadata strategy = {STRATEGY.hash().hex()[:16]}… (the hash of its declared strategy: "
        f"{STRATEGY.text!r}, at most {STRATEGY.max_buy_usdc // USDC_UNIT} USDC / "
        f"{STRATEGY.max_sell_asset / ASSET_UNIT:g} dETH a step), vault = {vault.address[:10]}…, agentImage = "
        f"sha256:{agent_image.image.hex()[:16]}… of agentApp {agent_image.app_id.hex()[:16]}…; its agent wallet is "
        f"the enclave's key {agent_addr[:10]}…, which signed for it."
    )

    # the data agent over A2A, its skill paid through the x402 extension
    token = StableToken(w3, usdc.address, abis["StableToken"])
    settler = Settler(w3, ag["upto_settler"].address, abis["UptoSettler"])
    fac = EvmFacilitator(w3, fac_key, [token], settler, escrow=infer_escrow)
    offer = fac.requirements("exact", usdc.address, data_addr, FEED_PRICE)
    amm_w3 = w3.eth.contract(address=amm.address, abi=abis["ConstantProductAMM"])

    def chain_clock() -> float:
        return float(w3.eth.get_block("pending")["timestamp"])

    data_agent = data_agent_a2a(w3, amm_w3, data_key, (offer,), LocalFacilitator(fac), clock=chain_clock)
    server = ServiceServer(data_agent.app(), log_level="warning").start()
    print(
        f"The data agent {data_agent.name!r} publishes its A2A card at {server.url}/.well-known/agent-card.json: "
        f"skill {FEED_SKILL!r}, a signed USDC/dETH feed for {FEED_PRICE / USDC_UNIT:.2f} USDC (the x402 extension, "
        "exact, EIP-3009); the trading agent buys it over A2A (SendMessage, payment-submitted), paid from the vault."
    )
    info = net.wait()
    records = net.records()
    print(
        f"DA devnet on the demo's chain up: 4 validators registered in its BLSRegistry, disperser "
        f"{info['disperser']}, relay {info['relay']}; every record's certificate must pass the "
        f"EigenDACertVerifier's checkDACert ({info['chain']['cert_verifier'][:10]}…)."
    )
    t_setup = time.perf_counter()

    a_key = w.signing[demo.op_a.address].to_bytes()
    # operator A sells the decisions: its inference agent answers under the strategy's parameters and grammar,
    # signs the receipt with A's key for the payer (the vault) and registers it on InferenceDisputes; the agent
    # buys each over x402 verified, paid by the vault, conditioned on the request digest it computes itself
    request = grammar_request(svc, STRATEGY)
    seller_sender = Sender(w3, seller_key)
    seller = InferenceSeller(
        svc, a_key, fac.requirements, usdc.address, seller_addr,
        w3.eth.contract(address=c.address, abi=abis["InferenceDisputes"]), seller_sender, chain_clock,
        price=INFER_PRICE, window_s=INFER_DEADLINE_S, request=request,
    )  # fmt: skip
    infer_server = ServiceServer(seller.http_app(LocalFacilitator(fac)), log_level="warning").start()
    # operator B starts the agent's image in its enclave and gives it its configuration: everything it needs
    # is named here, and the program checks it against the chain before it serves (its strategy the declared
    # one, its vault and agent wallet its own key); then it only takes "step N" and "record N"
    f = policy_w.fee
    config = AppConfig(
        rpc_url=w3.provider.endpoint_uri, chain_id=chain.chain_id, identity_registry=ident.address,
        agent_id=agent_id, strategy=STRATEGY, amm=amm.address, usdc=usdc.address, asset=asset.address,
        data_agent_url=server.url, data_agent=data_addr, inference_url=infer_server.url + "/inference",
        model_hash=svc.model.sha256, tokenizer_hash=svc.tokenizer.hash, tokenizer_file=IMAGE_TOKENIZER,
        vault=vault.address, feed_budget=FEED_BUDGET, abi_source=IMAGE_ABIS,
        da=DAConfig(
            disperser=info["disperser"], payer_key=net.payer_key(),
            cert_verifier=info["chain"]["cert_verifier"],
        ),
        policy=PolicyConfig(
            mailbox=policy_w.dep.addresses["task_mailbox"], task_type=policy_w.task_type, image=policy_w.image,
            fee=FeeConfig(
                escrow=f.escrow.address, payee=f.payee, amount=f.amount, token=f.token, token_name=f.token_name,
                deadline_s=f.deadline_s, token_version=f.token_version,
            ),
        ),
    )  # fmt: skip
    t_app = time.perf_counter()
    agent = TradingApp(lambda: _launch_agent(agent_img, agent_key, work), config, timeout_s=600)
    if agent.address() != agent_addr:
        raise RuntimeError("the agent program's key is not the enrolled enclave's")
    print(
        f"Operator B starts the agent's image in its enclave ({time.perf_counter() - t_app:.1f} s: the image's digest "
        f"checked against the registry, unpacked, run in the sandbox with the network, its key a read-only file from "
        f"the enclave); the program checks its configuration against the chain (its strategy's hash is agent "
        f"{agent_id}'s, the vault's agent and the agent wallet are its own key) and then takes only "
        '"step N" (and "record N", the step\'s DA certificate): '
        "the operator relays, it cannot make the agent sign anything else. Operators A and B's executors watch "
        "the mailbox for the agent's policy tasks."
    )
    # A's keeper settles its inference payments (with the vault: a refund is credited back to the feed budget)
    infer_keeper = Keeper(
        infer_escrow, seller_sender, abis["TaskMailbox"], abis["InferenceDisputes"], vault=vault
    )
    infer_of: dict[int, bytes] = {}

    def bind_inference(i: int) -> None:
        """A's keeper binds step i's receipt to its escrowed payment (the receipt's window runs)."""
        eid = steps_run[i].inference_escrow
        if eid is None:
            raise RuntimeError(f"step {i}'s decision was not bought under verified")
        infer_of[i] = eid
        done = infer_keeper.step(eid)
        if done.action != "bind":
            raise RuntimeError(f"step {i}'s inference payment was not bound: {done.action} ({done.reason})")
        print(
            f"  Step {i}'s decision was bought from A's inference agent under x402 verified: "
            f"{INFER_PRICE / USDC_UNIT:.2f} USDC from the vault held in escrow 0x{eid.hex()[:10]}…, conditioned on "
            f"the request digest, its receipt (registered by A on InferenceDisputes) bound to it."
        )

    steps_run: dict[int, Any] = {}

    def run_step(i: int) -> Any:
        """The agent program runs step i; the operators' executors answer its policy task meanwhile."""
        with policy_w.watching():
            done = agent.step(i)
        steps_run[i] = done
        return done

    vault_balances: dict[str, tuple[int, int]] = {}

    def balances(title: str) -> None:
        st = vault.state()
        vault_balances[title] = (st.balance0, st.balance1)
        r0, r1 = amm.getReserves()
        print(
            f"  {title}: vault {st.balance0 / USDC_UNIT:,.2f} USDC, {st.balance1 / ASSET_UNIT:.4f} dETH (budgets spent: "
            f"fees {(FEE_BUDGET - st.fee_budget) / USDC_UNIT:.2f}, feeds {(FEED_BUDGET - st.feed_budget) / USDC_UNIT:.2f} "
            f"USDC); agent wallet {usdc.balanceOf(agent_addr) / USDC_UNIT:.2f} USDC; pool {r0 / USDC_UNIT:,.2f} USDC / "
            f"{r1 / ASSET_UNIT:.4f} dETH; data agent earned {usdc.balanceOf(data_addr) / USDC_UNIT:.2f} USDC"
        )

    fee_keeper = policy_w.keeper()
    fee_of: dict[int, bytes] = {}

    def confirm_fee(i: int, task: Any) -> None:
        """The keeper opens the window of step i's fee escrow once its task is certified."""
        eid = steps_run[i].policy_fee_escrow
        if eid is None:
            raise RuntimeError(
                f"step {i}'s policy fee was not paid into escrow (task 0x{task.task_hash.hex()})"
            )
        fee_of[i] = eid
        done = fee_keeper.step(eid)
        if done.action != "confirm":
            raise RuntimeError(
                f"step {i}'s policy fee escrow was not confirmed: {done.action} ({done.reason})"
            )

    balances("start")
    pending: list[Any] = []  # each step as the program answered it, its record dispersed by the program
    steps = []
    for i in range(STEPS):
        res = run_step(i)
        steps.append(res)
        confirm_fee(i, res.record.policy)
        bind_inference(i)
        o = res.record.order
        print(
            f"Step {i}: feed (pool {res.record.feed.feed.pool_price / USDC_UNIT:,.2f}, reference "
            f"{res.record.feed.feed.reference_price / USDC_UNIT:,.2f}; reserves proven at block "
            f"{res.record.feed.feed.block}) paid {int(res.record.payment['amount']) / USDC_UNIT:.2f} USDC by the vault "
            f"(A2A task {res.record.payment['a2a_task'][:8]}…); "
            f"A's receipt {res.record.receipt.digest().hex()[:12]}… answers {res.text}; "
            f"{_policy(w, res.record.policy)} (its {POLICY_FEE / USDC_UNIT:.2f} USDC fee paid into escrow by the vault): order {o.action} "
            f"{_amount(o)}" + (f", tx {res.record.trade['tx'][:12]}…" if res.record.trade else "")
        )
        pending.append(_recorded(res, i))
        balances(f"after step {i}")

    # a tampered step: A signs another answer than the model's; the agent trades on it
    i = STEPS
    seller.tamper = lambda r: tampered_decision(svc, r, a_key)
    try:
        res_bad = run_step(i)
    finally:
        seller.tamper = None
    confirm_fee(i, res_bad.record.policy)
    bind_inference(i)
    o = res_bad.record.order
    print(
        f"Step {i}: operator A tampers with its output: its receipt answers {res_bad.text} "
        f"(validly signed by A); the agent, which cannot tell yet, posts it to its policy "
        f"({_policy(w, res_bad.record.policy)}) and orders {o.action} {_amount(o)}."
    )
    pending.append(_recorded(res_bad, i))
    balances(f"after step {i}")

    # a step whose policy output A tampers with: its share alone certifies it; the agent refuses it
    i = POLICY_STEP
    a_exec = policy_w.executors[1]
    a_exec.run = tampered_policy(STRATEGY)
    try:
        refused = run_step(i)
    finally:
        a_exec.run = execute_task
    if not refused.refused:
        raise RuntimeError("the agent traded on a tampered policy output")
    task = refused.record.policy
    confirm_fee(i, task)
    bind_inference(i)
    own = decide(STRATEGY, refused.record.feed.feed, refused.text)
    lie = certified_order_of(task.output)
    a_stake, b_stake = policy_w.stakes
    print(
        f"Step {i}: A's inference is honest ({refused.text}), but operator A tampers with its policy "
        f"executor: it signs an order {lie.action} {_amount(lie)} with no slippage limit. A holds "
        f"{100 * a_stake / (a_stake + b_stake):.0f}% of the policy set's stake, so its share alone meets the 66.67% "
        f"threshold: {_policy(w, task)}; B's correct response, the first, was below it and is kept as evidence. The agent's own "
        f"parser orders {own.action} {_amount(own)}: it refuses the certified output, trades nothing, and records the "
        "refused step (order HOLD, the certified task) to DA."
    )
    pending.append(_recorded(refused, i))
    # even if the agent's host tried: the vault executes only what was certified, within its bounds
    payload = policy_input(
        STRATEGY, refused.record.feed, refused.record.receipt.digest(), refused.text
    ).encode()
    host_order = PolicyDecision("BUY", STRATEGY.max_buy_usdc, 1, "the host's").encode(keccak(payload))
    vault_refusals = []
    for result in (task.output, host_order):
        try:  # (the dev TEE's key, which only a simulated enclave leaves in its operator's process)
            vault.execute(agent_key, task.task_hash, payload, result)
        except VaultRefusedError as exc:
            vault_refusals.append(exc.reason)
        else:
            raise RuntimeError("the vault executed an order it should have refused")
    print(
        f"  Had the agent's key been used anyway, the vault refuses both: the certified wrong order ({lie.action} "
        f"{_amount(lie)}, min out 1) reverts {vault_refusals[0]!r}, and an order the network did not certify "
        f"(BUY {_amount(Order('BUY', STRATEGY.max_buy_usdc, 1, ''))}) reverts {vault_refusals[1]!r}. (A certified "
        "wrong order within the limits and the slippage bound would execute: refusing it is the agent's parser's "
        "job, proving it the fault proof's.)"
    )
    balances(f"after step {i}")
    t_steps = time.perf_counter()
    certs: dict[int, Any] = {}

    def cert(i: int) -> Any:
        """Step i's DA certificate (the program dispersed the record; the chain's checkDACert accepted it)."""
        if i not in certs:
            cert, why = agent.record(i)  # the program dispersed step i's record in the background
            if cert is None:
                raise RuntimeError(f"step {i}'s record was not dispersed: {why}")
            certs[i] = cert
            print(
                f"  Step {i}'s record (feed, payment, prompt, receipt, order, trade tx) is certified by the DA "
                f"network: blob {certs[i]['blob_key'][:16]}…"
            )
        return certs[i]

    print(
        f"A's inference agent registered the {POLICY_STEP + 1} receipts it sold on InferenceDisputes "
        "(challengeable for the window; their payments wait in escrow)."
    )
    seller_earned = [usdc.balanceOf(seller_addr)]

    def release_inference(i: int, why: str) -> None:
        """A's keeper releases step i's inference payment to A's inference agent."""
        before = usdc.balanceOf(seller_addr)
        done = infer_keeper.step(infer_of[i])
        if done.action != "release":
            raise RuntimeError(
                f"step {i}'s inference payment was not released: {done.action} ({done.reason})"
            )
        print(
            f"  Step {i}'s inference payment ({INFER_PRICE / USDC_UNIT:.2f} USDC) is released to A's inference agent "
            f"({why}): its USDC {before / USDC_UNIT:.2f} -> {usdc.balanceOf(seller_addr) / USDC_UNIT:.2f}."
        )

    # 1) an honest decision disputed: re-executed from DA alone, matches, the challenge fails
    cert(1)
    disputed = steps[1].record.receipt
    ch = c.challengeReceipt(disputed.digest(), sender=watcher, value=BOND)
    print(
        f"\nCarol, a watcher, disputes step 1's decision with a {fmt(BOND)} ETH bond (gas {ch.gas_used:,})."
    )

    def reexecute(i: int) -> Any:
        """Step i re-executed from its DA record, its trade the declared vault's."""
        check_policy = policy_w.verifier()
        return reexecute_step(
            cert(i), records, svc, data_addr, STRATEGY.hash(), w3, amm_w3, check_policy, vault.address,
            agent_image,
        )  # fmt: skip

    outputs = set()
    checks = _both(lambda: reexecute(1))
    for op, (check, secs) in zip((demo.op_b, w.op_c), checks, strict=True):
        outputs.add(check.reexecution.correct_output)
        print(
            f"  {w.names[op.address]} fetches the record by its certificate from DA (verified), checks the feed's "
            f"signature and its reserves' state proof against block {check.record.feed.feed.block}'s hash, the "
            f"strategy hash, the prompt and the receipt, re-executes the inference and the policy "
            f"image on the certified task's input, checks on ComputeAVS that the record's wallet was the key of an "
            f"enclave enrolled for the declared agent image at the step's blocks ({secs:.1f} s): "
            f"{'MATCH' if check.matches else 'MISMATCH'}: order {check.recomputed.action} {_amount(check.recomputed)}, "
            f"the trade on chain is the order."
        )
    (upheld,) = outputs
    up = w.post_verdict(disputed.digest(), upheld, watcher)
    rej = event(up, "ChallengeRejected")
    print(
        f"  B and C's BLS verdict upholds the receipt (gas {up.gas_used:,}); Carol's bond "
        f"({fmt(rej.bondForfeited)} ETH) goes to operator A."
    )
    if c.credits(demo.op_a):
        c.withdraw(sender=demo.op_a)
    release_inference(1, "the receipt is upheld: no wait for its window")

    # 2) the tampered step: re-executing the DA record shows it; Dave challenges; A is slashed
    cert(STEPS)
    bad = res_bad.record.receipt
    ch = c.challengeReceipt(bad.digest(), sender=dave, value=BOND)
    print(f"\nDave challenges step {STEPS}'s receipt with a {fmt(BOND)} ETH bond (gas {ch.gas_used:,}).")
    correct = None
    checks = _both(lambda: reexecute(STEPS))
    for op, (check, secs) in zip((demo.op_b, w.op_c), checks, strict=True):
        rex = check.reexecution
        correct = rex.correct_output if correct is None else correct
        assert rex.correct_output == correct, "re-executions disagree"
        print(
            f"  {w.names[op.address]} re-executes step {STEPS} from its DA record ({secs:.1f} s): "
            f"{'MATCH' if check.matches else 'MISMATCH'}: "
            + "; ".join(check.problems)
            + f". The model's answer is {svc.text_of(rex.output_tokens)!r}: {check.recomputed.action} "
            f"{_amount(check.recomputed)}."
        )
    sym0 = demo.syms[0]
    res, pw, before, after = w.prove_wrong(bad.digest(), correct, dave)
    print(
        f"  B and C's BLS verdict: the receipt is proven wrong (gas {res.gas_used:,}): operator A slashed (slash {pw.slashId}), {sym0} delegated to A "
        f"{fmt(before)} -> {fmt(after)}."
    )
    # the escrowed payment waits while the set's resolver may still cancel the slash
    why = _refusal(infer_escrow.refund(infer_of[STEPS], []), seller_addr)
    print(
        f"  Step {STEPS}'s inference payment stays in escrow while the set's resolver may still cancel the slash "
        f"(refund: {why!r})."
    )
    chain.mine(demo.config.slash_resolution_delay_blocks + 1)
    bal_before = [demo.d.tokens[s].balanceOf(vault.address) for s in demo.syms]
    c.claimCompensation(bad.digest(), sender=dave)
    paid = {
        s: demo.d.tokens[s].balanceOf(vault.address) - b for s, b in zip(demo.syms, bal_before, strict=True)
    }
    c.withdraw(sender=dave)
    print(
        "  After the escrow window the receipt's client, Dave's vault (which paid for it), is compensated: "
        + ", ".join(f"{fmt(v)} {s}" for s, v in paid.items())
        + " forwarded to it (Dave may withdraw them), and Dave's bond returned."
    )
    # the slash is final: A's keeper refunds the payment to the vault and credits it back to its feed budget
    st0, vault_usdc0 = vault.state(), usdc.balanceOf(vault.address)
    done = infer_keeper.run([infer_of[STEPS]])
    if [d.action for d in done] != ["refund", "credit"]:
        raise RuntimeError(f"step {STEPS}'s inference payment: {[(d.action, d.reason) for d in done]}")
    st1 = vault.state()
    inference = {
        "refunded": usdc.balanceOf(vault.address) - vault_usdc0,
        "credited": st1.feed_budget - st0.feed_budget,
    }
    print(
        f"  Step {STEPS}'s inference payment ({INFER_PRICE / USDC_UNIT:.2f} USDC) is refunded to the vault, the receipt "
        f"proven wrong and A's slash final: vault {vault_usdc0 / USDC_UNIT:,.2f} -> "
        f"{usdc.balanceOf(vault.address) / USDC_UNIT:,.2f} USDC; credited back to its feed budget "
        f"(creditRefundedPayment): {st0.feed_budget / USDC_UNIT:.2f} -> {st1.feed_budget / USDC_UNIT:.2f} USDC left."
    )

    # 3) the refused step: B re-executes the policy image on the certified input from the DA record
    # alone in its enrolled enclave; the enclave's receipt proves the certified output wrong
    def fee_pending() -> None:
        """Step POLICY_STEP's fee while the slash may still be cancelled: neither refund nor release."""
        eid = fee_of[POLICY_STEP]
        signers = list(refused.record.policy.signers)
        why = _refusal(policy_w.escrow.refund(eid, signers), policy_w.keeper_account.address)
        print(
            f"  Step {POLICY_STEP}'s policy fee stays in escrow while the set's resolver may still cancel the slash "
            f"(refund: {why!r})."
        )

    policy_fault = _prove_policy_fault(demo, w, policy_w, records, cert(POLICY_STEP), fee_pending)
    fees = _settle_policy_fees(policy_w, fee_keeper, fee_of, vault.address, usdc, w.names)
    # the other decisions' receipts: unchallenged, their window over (the clock moved past it), released to A
    end = max(int(c.claims(infer_escrow.get(infer_of[i]).receipt).deadline) for i in (0, POLICY_STEP))
    if chain.blocks.head.timestamp <= end:
        chain.pending_timestamp = end + 1
        chain.mine(1)
    for i in (0, POLICY_STEP):
        release_inference(i, f"its receipt unchallenged for the {WINDOW_S} s window")
    inference["states"] = {i: infer_escrow.get(eid).state for i, eid in sorted(infer_of.items())}
    inference["seller_earned"] = usdc.balanceOf(seller_addr) - seller_earned[0]
    # the refund came back to the vault's balance; creditRefundedFee (anyone may send it, once the escrow says
    # refunded) returns it to the fee budget too
    fees["credited"] = vault.credit_refunded_fee(dave.private_key, fee_of[POLICY_STEP])
    print(
        f"  Dave sends creditRefundedFee: step {POLICY_STEP}'s refunded fee ({fees['credited'] / USDC_UNIT:.2f} "
        "USDC) is back in the vault's fee budget (a released fee stays spent)."
    )
    costs = vault.state()
    spent = {"fees": FEE_BUDGET - costs.fee_budget, "feeds": FEED_BUDGET - costs.feed_budget}
    print(
        f"  The vault paid the agent's running costs: {len(fee_of)} policy fees into escrow "
        f"({spent['fees'] / USDC_UNIT:.2f} of its {FEE_BUDGET / USDC_UNIT:.2f} USDC fee budget spent: the refunded one "
        f"came back to it), {len(pending)} feeds and {len(infer_of)} decisions under x402 verified "
        f"({spent['feeds'] / USDC_UNIT:.2f} of its {FEED_BUDGET / USDC_UNIT:.2f} USDC feed budget: the refunded "
        "decision came back to it); the agent's wallet paid gas only "
        f"({usdc.balanceOf(agent_addr) / USDC_UNIT:.2f} USDC)."
    )

    for i in range(len(pending)):  # every step's record is on DA, disputed or not
        cert(i)

    # 3) ERC-8004 validation and reputation records for both: the TaskValidator answers each request
    # from InferenceDisputes' record (anyone may ask it to; nobody chooses the score)
    val, rep = ag["validation_registry"], ag["reputation_registry"]
    mailbox_addr = policy_w.dep.addresses["task_mailbox"]
    tv = deploy_task_validator(project, deployer, val.address, mailbox=mailbox_addr, disputes=c.address)
    answers = []

    def validate(step_i: int, kind: int, ref: bytes, respond: Any) -> tuple[str, int, str, bytes]:
        """Dave files a validation request naming step `step_i`'s DA record (the salt: one request per
        record and kind); Carol has the TaskValidator answer it with `respond(salt)`."""
        blob = certs[step_i]["blob_key"]
        salt = keccak(blob.encode())
        req_hash = validation_request_hash(tv.address, chain.chain_id, agent_id, kind, ref, salt=salt)
        assert bytes(tv.requestHash(agent_id, kind, ref, bytes(32), salt)) == req_hash
        val.validationRequest(tv, agent_id, f"eigenda:{blob}", req_hash, sender=dave)
        respond(salt)
        _, _, score, resp_hash, tag, _ = val.getValidationStatus(req_hash)
        answers.append((step_i, score, tag))
        return blob, score, tag, bytes(resp_hash)

    for step_i, rc in ((1, disputed), (STEPS, bad)):
        blob, score, tag, resp_hash = validate(
            step_i,
            VALIDATION_KIND_INFERENCE,
            rc.digest(),
            lambda salt, rc=rc: tv.respondInference(agent_id, rc.digest(), salt, sender=watcher),
        )
        print(
            f"Dave files a validation request for step {step_i}'s receipt (naming its DA record) with the "
            f"TaskValidator {tv.address[:10]}…; Carol asks it to answer: {score} ({tag}), read from "
            f"InferenceDisputes (response hash = the receipt's output {resp_hash.hex()[:12]}…)."
        )
        rep.giveFeedback(agent_id, score, 0, tag, "step", f"eigenda:{blob}", "", rc.digest(), sender=watcher)
    # ... and for two of the agent's policy tasks, from the TaskMailbox's certificates and the TaskSlasher's
    # final slash: step 1's (certified, no fault) and the refused step's (its certifier slashed)
    mailbox = Web3TaskMailbox(policy_w.dep)
    for step_i, task_hash in ((1, steps[1].record.policy.task_hash), (POLICY_STEP, policy_fault["task"])):
        signers = mailbox.result(task_hash)["signers"]
        _, score, tag, _ = validate(
            step_i,
            VALIDATION_KIND_TASK,
            task_hash,
            lambda salt, h=task_hash, s=signers: tv.respondTask(
                agent_id, h, bytes(32), salt, s, sender=watcher
            ),
        )
        print(
            f"Dave files a validation request for step {step_i}'s policy task 0x{bytes(task_hash).hex()[:12]}…; "
            f"the TaskValidator answers {score} ({tag}), read from the TaskMailbox's certificate and the "
            f"TaskSlasher's {'final slash of its certifier' if score == 0 else 'record: no fault proven'}."
        )
    count, avg = val.getSummary(agent_id, [tv.address], "")
    rcount, rvalue, rdec = rep.getSummary(agent_id, [watcher.address], "", "")
    print(
        f"\nERC-8004 records of agent {agent_id}: validations {count} (average {avg}: step 1's receipt upheld and "
        f"its policy task certified = 100 each, step {STEPS}'s receipt slashed and step {POLICY_STEP}'s policy task "
        f"proven wrong = 0 each), answered by the stake-backed TaskValidator, each naming its DA record; Carol's "
        f"feedback: {rcount} entries, mean {rvalue / 10**rdec:g}."
    )
    agent.close()
    server.stop()
    infer_server.stop()
    t_end = time.perf_counter()
    print(
        f"Trading agent step: {t_end - t_start:.1f} s (setup with the DA devnet {t_setup - t_start:.1f} s, "
        f"{POLICY_STEP + 1} steps {t_steps - t_setup:.1f} s, of which {policy_w.driven_s:.1f} s running the policy "
        f"tasks, then disputes and ERC-8004 records "
        f"{t_end - t_steps:.1f} s)."
    )
    return {
        "agent_id": agent_id,
        "steps": [s.record.order.action for s in steps],
        "tampered_order": res_bad.record.order.action,
        "recomputed_order": check.recomputed.action,
        "honest_upheld": bool(c.isFinalized(disputed.digest())),
        "slash_id": pw.slashId,
        "compensation": paid,
        "certificates": {k: v["blob_key"] for k, v in certs.items()},
        "cert_statuses": [records.cert_checker.check_da_cert(certs[k]) for k in sorted(certs)],
        "cert_verifier": info["chain"]["cert_verifier"],
        "feed_tasks": [r.record.payment["a2a_task"] for r in (*steps, res_bad, refused)],
        "data_agent_earned": usdc.balanceOf(data_addr),
        "validations": (count, avg),
        "validator": tv.address,
        "answers": answers,
        "policy_image": policy_w.image,
        "agent_image": agent_image.image,
        "agent_app": agent_image.app_id,
        "agent_wallet": agent_addr,
        # what ComputeAVS says of the agent's wallet: (app, image) it is the enrolled enclave key of
        "agent_enclave": _enclave_of(policy_w, agent_addr),
        "record_wallets": [r.record.agent["wallet"] for r in (*steps, res_bad, refused)],
        "policy_tasks": [r.record.policy.task_hash for r in (*steps, res_bad)],
        "policy_problems": [p for p in check.problems if "policy" in p],
        "policy_fees": fees,
        "inference_payments": inference,
        "vault": {
            "address": vault.address,
            "balances": vault_balances,
            "refusals": vault_refusals,
            "budget_spent": spent,
            "agent_usdc": usdc.balanceOf(agent_addr),
        },  # fmt: skip
        "policy_fault": {
            **policy_fault,
            "refused_order": refused.record.order.action,
            "traded": refused.record.trade,
        },
    }


def _prove_policy_fault(
    demo: Any, w: Any, policy_w: PolicyWorld, records: DARecords, cert: Any, pending: Any
) -> dict[str, Any]:
    """Operator B audits the refused step from its DA record: re-executes the policy image on the
    task's certified input in its enrolled enclave, proves the certified output wrong with the
    enclave's receipt (proveReceiptFault: the certifiers, A alone, slashed), `pending()` shows what
    waits on the slash and, after the escrow window, the slashed stake goes to Dave, the set's
    redistribution recipient. Returns the facts."""
    from ape import chain, project

    mailbox = project.TaskMailbox.at(policy_w.dep.addresses["task_mailbox"])
    slasher = project.TaskSlasher.at(mailbox.taskSlasher())
    t0 = time.perf_counter()
    rex = policy_w.reexecutor(demo.op_b.private_key)
    fault = rex.fault(records.get(cert))
    secs = time.perf_counter() - t0
    if fault is None:
        raise RuntimeError("the tampered policy output re-executed as correct")
    wrong, right = (certified_order_of(o) for o in (fault.certified, fault.correct))
    print(
        f"\nOperator B fetches the refused step's record by its certificate from DA (verified) and re-executes the "
        f"policy image on the task's certified input in its enclave, enrolled in ComputeAVS for Dave's app and the "
        f"image ({secs:.1f} s): the image orders {right.action} {_amount(right)}, the certified output "
        f"{wrong.action} {_amount(wrong)}."
    )
    sym0 = demo.syms[0]
    shares = [demo.dm.operatorShares(op, demo.strat(sym0)) for op in (demo.op_a, demo.op_b)]
    rc = chain.get_receipt("0x" + bytes(rex.prove(fault)).hex())
    proven = slasher.TaskFaultProven.from_receipt(rc)
    after = [demo.dm.operatorShares(op, demo.strat(sym0)) for op in (demo.op_a, demo.op_b)]
    print(
        f"  B proves it with its enclave's receipt (TaskSlasher.proveReceiptFault, gas {rc.gas_used:,}): "
        + ", ".join(f"{w.names[e.operator]} slashed (slash {e.slashId})" for e in proven)
        + f"; {sym0} delegated to A {fmt(shares[0])} -> {fmt(after[0])}, to B (which did not sign it) "
        f"{fmt(shares[1])} -> {fmt(after[1])}."
    )
    pending()
    chain.mine(demo.config.slash_resolution_delay_blocks + 1)
    before = [demo.d.tokens[s].balanceOf(demo.dave) for s in demo.syms]
    for e in proven:
        demo.esc.releaseSlash(mailbox.address, policy_w.set_id, e.slashId, sender=demo.dave)
    paid = {s: demo.d.tokens[s].balanceOf(demo.dave) - b for s, b in zip(demo.syms, before, strict=True)}
    print(
        "  After the escrow window the slashed stake is redistributed to Dave, the policy set's recipient: "
        + ", ".join(f"{fmt(v)} {s}" for s, v in paid.items())
        + "."
    )
    return {
        "task": fault.task_hash,
        "certifiers": list(fault.signers),
        "slashed": [e.operator for e in proven],
        "kinds": [e.kind for e in proven],
        "faulted": {
            w.names[op.address]: slasher.faultSlashed(fault.task_hash, op) for op in (demo.op_a, demo.op_b)
        },
        "certified_order": wrong.action,
        "correct_order": right.action,
        "redistributed": paid,
        "gas": rc.gas_used,
        "reexecute_s": secs,
    }


def _refusal(call: Any, sender: str) -> str:
    """Why the contract refuses `call` from `sender` now (its revert reason); an error if it would not."""
    from web3.exceptions import ContractLogicError

    try:
        call.call({"from": sender})
    except ContractLogicError as exc:
        return str(getattr(exc, "message", None) or exc).removeprefix("execution reverted: ")
    raise RuntimeError("the call would succeed")


def _settle_policy_fees(
    policy_w: PolicyWorld,
    keeper: Keeper,
    fee_of: dict[int, bytes],
    payer: str,
    usdc: Any,
    names: dict[str, str],
) -> dict[str, Any]:
    """The keeper settles the policy fees: the proven-wrong step's is refunded to its payer, the vault
    (its certifier's slash is final), the others are released to their tasks' certifiers once their window
    is over (the devnet's clock is moved to it: no wall-clock wait), each operator's share credited to its
    mailbox fees. Returns the facts."""
    from ape import chain, project

    unit = USDC_UNIT
    mailbox = project.TaskMailbox.at(policy_w.dep.addresses["task_mailbox"])
    print(
        f"\nThe policy fees in VerifiedEscrow ({POLICY_FEE / unit:.2f} USDC a task, {len(fee_of)} tasks, for each "
        "task's certifiers; the mailbox's own fee for the type is zero), settled by the keeper:"
    )
    before = usdc.balanceOf(payer)
    done = keeper.step(fee_of[POLICY_STEP])
    if done.action != "refund":
        raise RuntimeError(f"step {POLICY_STEP}'s policy fee was not refunded: {done.action} ({done.reason})")
    refunded = usdc.balanceOf(payer) - before
    print(
        f"  Step {POLICY_STEP}'s policy fee ({POLICY_FEE / unit:.2f} USDC) is refunded to the vault that paid it: its "
        f"certifier's slash is final (reason 4, a fault proven); vault {before / unit:,.2f} -> "
        f"{usdc.balanceOf(payer) / unit:,.2f} USDC."
    )
    end = max(policy_w.escrow.get(fee_of[i]).window_end for i in range(POLICY_STEP))
    if chain.blocks.head.timestamp <= end:
        chain.pending_timestamp = end + 1  # the devnet's clock moves past the window
        chain.mine(1)
        print(f"  The devnet's clock moves past the other escrows' {POLICY_FEE_WINDOW_S} s windows.")
    ops = [ex.signer.operator for ex in policy_w.executors]
    start = {op: mailbox.feesOwed(op, usdc.address) for op in ops}
    for i in range(POLICY_STEP):
        b = {op: mailbox.feesOwed(op, usdc.address) for op in ops}
        done = keeper.step(fee_of[i])
        if done.action != "release":
            raise RuntimeError(f"step {i}'s policy fee was not released: {done.action} ({done.reason})")
        got = {op: mailbox.feesOwed(op, usdc.address) - b[op] for op in ops}
        shares = ", ".join(f"{names.get(op, op[:10])} +{v / unit:.6f}" for op, v in got.items() if v)
        print(
            f"  Step {i}'s policy fee ({POLICY_FEE / unit:.2f} USDC) is released to its certifiers after the "
            f"{POLICY_FEE_WINDOW_S} s window, no fault proven against them, pro rata to the stake each signed "
            f"with: {shares} USDC owed on the mailbox."
        )
    owed = {op: mailbox.feesOwed(op, usdc.address) - start[op] for op in ops}
    print(
        "  Owed to the certifying operators from the escrowed policy fees (withdrawn with the mailbox's "
        "withdrawFees): "
        + ", ".join(f"{names.get(op, op[:10])} {v / unit:.6f} USDC" for op, v in owed.items())
        + "."
    )
    return {
        "states": {i: policy_w.escrow.get(eid).state for i, eid in sorted(fee_of.items())},
        "refunded": refunded,
        "certifiers_owed": {names.get(op, op): v for op, v in owed.items()},
        "mailbox_owed": [mailbox.feesOwed(op, usdc.address) for op in ops],
        "escrow_left": usdc.balanceOf(policy_w.escrow.address),
    }


def certified_order_of(output: bytes) -> Any:
    """The order a policy output encodes (whatever input it binds)."""
    return PolicyDecision.decode(output)[1]


def tampered_policy(strategy: Strategy) -> Any:
    """What a tampering operator's executor runs instead of the image: the image's output for the
    same input with the order replaced by the opposite one at the strategy's whole limit and no
    slippage protection (min_out 1), well formed, so only re-execution shows it is wrong."""

    def run(image: Any, digest: str, payload: bytes, **kw: Any) -> TaskOutcome:
        out = execute_task(image, digest, payload, **kw)
        h, d = PolicyDecision.decode(out.output)
        lie = (
            PolicyDecision("SELL", strategy.max_sell_asset, 1, "SELL large (100% of the limit)")
            if d.action != "SELL"
            else PolicyDecision("BUY", strategy.max_buy_usdc, 1, "BUY large (100% of the limit)")
        )
        return replace(out, output=lie.encode(h))

    return run


def _both(check: Any) -> list[tuple[Any, float]]:
    """Operators B and C each run `check` on their own, at the same time (the DA fetches overlap; the
    model is shared by this one process, so the re-executions themselves take turns): [(result, s)]."""
    out: list[Any] = [None, None]

    def one(i: int) -> None:
        t0 = time.perf_counter()
        try:
            out[i] = (check(), time.perf_counter() - t0)
        except Exception as exc:  # noqa: BLE001 - re-raised below
            out[i] = exc

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for r in out:
        if isinstance(r, Exception):
            raise r
    return out


def _policy(w: Any, task: Any) -> str:
    signers = ", ".join(w.names.get(s, s[:10]) for s in task.signers)
    return f"policy task 0x{task.task_hash.hex()[:10]}… certified by {signers}"


def _amount(o: Any) -> str:
    if o.action == "BUY":
        return f"{o.amount_in / USDC_UNIT:,.2f} USDC"
    if o.action == "SELL":
        return f"{o.amount_in / ASSET_UNIT:.4f} dETH"
    return f"({o.reason})"


def _recorded(step: Any, i: int) -> Any:
    """Step i as the program answered it (dispersing its record: ``TradingApp.record`` says how it went)."""
    if not step.dispersing:
        raise RuntimeError(f"the agent program does not disperse step {i}'s record")
    return step


def tampered_decision(svc: Any, honest: Any, key: bytes) -> Any:
    """What a dishonest operator signs instead of `honest`: the opposite answer at full size, with
    made-up logits commitments (the text hash matches the forged text, so only re-execution shows it)."""
    text = receipt_text(svc, honest)
    forged = '{"action":"SELL","size":"large"}' if '"BUY"' in text else '{"action":"BUY","size":"large"}'
    out = (*svc.tokenizer.encode(forged), svc.tokenizer.eos_id)
    hashes = tuple(keccak(b"made up %d" % i) for i in range(len(out)))
    return replace(
        honest,
        output_tokens=out,
        logits_hashes=hashes,
        finish_reason=1,
        text_hash=text_hash(forged),
        signature=b"",
    ).signed(key)
