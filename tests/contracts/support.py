"""Shared helpers for the contract tests (the fixtures that build on them are in conftest.py).

- the core deployment: constants, TEST_CONFIG and `World`, shortcuts for multi-step flows;
- small helpers: addresses, events, blocks, rounding, exact revert reasons; `Batch` (many
  transactions in few blocks);
- `TokenWorld`: EIGEN / bEIGEN and the fork-and-challenge manager on top of the core;
- `ComputeWorld`: a ComputeAVS compute set of three operators, an app with one image, a dev TEE;
- `DisputeWorld`: an InferenceDisputes inference set of three operators and the tiny model;
- `BLSWorld`: a BLSRegistry as the registrar of an AVS's set with two quorums, operators made on demand.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from functools import cache

from eth_hash.auto import keccak
from eth_keys import keys
from eth_utils import to_checksum_address
from hypothesis import HealthCheck, Phase, settings

from offchain import settings as eigen_settings
from offchain.abi import BURN_ADDRESS, WAD, ZERO_ADDRESS
from offchain.ai.receipt import ENGINE_ID
from offchain.ai.sampler import SamplingParams
from offchain.bls.keys import SecretKey
from offchain.chain import agent as agent_chain
from offchain.chain.bls_registry import registration_data as bls_registration_data
from offchain.chain.compute_avs import EnrolmentStatement, receipt_args, registration_data, verify_enclave
from offchain.chain.deploy import (
    ComputeAVSConfig,
    DeployConfig,
    InferenceDisputesConfig,
    deploy_bls_registry,
    deploy_compute_avs,
    deploy_inference_disputes,
    deploy_token,
)
from offchain.chain.inference_disputes import Verdict, reexecute_with
from offchain.chain.inference_disputes import receipt_args as inference_receipt_args
from offchain.compute.devtee import DevTEE, dev_policy
from offchain.compute.pki import TrustStore
from offchain.compute.testca import NitroTestCA

# ---------------------------------------------------------------- the core

BURN, ZERO = BURN_ADDRESS, ZERO_ADDRESS  # the short names the tests use
TEST_CONFIG = DeployConfig(
    withdrawal_delay_blocks=20,
    deallocation_delay_blocks=20,
    allocation_configuration_delay_blocks=25,
    slash_resolution_delay_blocks=10,
    mock_tokens=(("Token A", "TKA"), ("Token B", "TKB"), ("Token C", "TKC")),
)
NO_SIG = (b"", 0)
SALT0 = b"\x00" * 32


class World:
    """The deployed core plus named accounts and shortcuts for multi-step flows."""

    def __init__(self, project, chain, accounts, d):
        self.project, self.chain, self.d = project, chain, d
        self.sm, self.dm, self.am, self.esc = (
            d.strategy_manager,
            d.delegation_manager,
            d.allocation_manager,
            d.slash_escrow,
        )
        (
            self.owner,
            self.avs,
            self.op,
            self.op2,
            self.staker,
            self.staker2,
            self.recipient,
            self.resolver,
            self.other,
            self.avs2,
        ) = accounts[:10]
        self.tokens = d.tokens
        self.strats = d.strategies
        self.sorted_strats = sorted(d.strategies.values(), key=lambda s: int(s.address, 16))

    # --- tokens and deposits
    def fund(self, who, sym, amount):
        self.tokens[sym].mint(who, amount, sender=who)
        self.tokens[sym].approve(self.sm, 2**256 - 1, sender=who)

    def deposit(self, who, sym, amount):
        self.fund(who, sym, amount)
        return self.sm.depositIntoStrategy(self.strats[sym], self.tokens[sym], amount, sender=who)

    # --- operators and sets
    def register_operator(self, op, delay=0, approver=ZERO):
        return self.dm.registerAsOperator(approver, delay, "https://op.example/meta.json", sender=op)

    def create_sets(self, ids=(1,), syms=("TKA", "TKB"), redistributing=False, resolver=ZERO, slasher=ZERO):
        if not self.am.avsRegisteredMetadata(self.avs):
            self.am.updateAVSMetadataURI(self.avs, "https://avs.example/meta.json", sender=self.avs)
        params = [(i, [self.strats[s] for s in syms], slasher) for i in ids]
        resolvers = [resolver] * len(ids)
        if redistributing:
            return self.am.createRedistributingOperatorSets(
                self.avs, params, [self.recipient] * len(ids), resolvers, sender=self.avs
            )
        return self.am.createOperatorSets(self.avs, params, resolvers, sender=self.avs)

    def opset(self, set_id=1):
        return (self.avs.address, set_id)

    def register_for_sets(self, op, ids=(1,), data=b""):
        return self.am.registerForOperatorSets(op, (self.avs, list(ids), data), sender=op)

    def allocate(self, op, set_id, sym_mags, expected=None):
        syms = list(sym_mags)
        cur = [self.am.getAllocation(op, self.opset(set_id), self.strats[s]).currentMagnitude for s in syms]
        exp = cur if expected is None else expected
        params = [(self.opset(set_id), [self.strats[s] for s in syms], [sym_mags[s] for s in syms], exp)]
        return self.am.modifyAllocations(op, params, sender=op)

    def slash(self, op, set_id, sym_wads, description="fault", sender=None):
        items = sorted(sym_wads.items(), key=lambda kv: int(self.strats[kv[0]].address, 16))
        params = (op, set_id, [self.strats[s] for s, _ in items], [w for _, w in items], description)
        return self.am.slashOperator(self.avs, params, sender=sender or self.avs)

    def mine(self, n):
        self.chain.mine(n)

    # --- views
    def withdrawable(self, staker, sym):
        return self.dm.getWithdrawableShares(staker, [self.strats[sym]])[0][0]

    def op_shares(self, op, sym):
        return self.dm.operatorShares(op, self.strats[sym])

    def withdrawal_from_event(self, receipt):
        ev = [e for e in receipt.events if e.event_name == "SlashingWithdrawalQueued"]
        return [self.withdrawal_tuple(e.withdrawal) for e in ev]

    @staticmethod
    def withdrawal_tuple(w):
        if isinstance(w, (list, tuple)):
            return (w[0], w[1], w[2], w[3], w[4], list(w[5]), list(w[6]))

        def g(k):
            return w[k] if isinstance(w, dict) else getattr(w, k)

        return (
            g("staker"),
            g("delegatedTo"),
            g("withdrawer"),
            g("nonce"),
            g("startBlock"),
            list(g("strategies")),
            list(g("scaledShares")),
        )


# ---------------------------------------------------------------- small helpers


def A(x):
    """Checksummed address of an account, contract or hex string."""
    return to_checksum_address(x.address if hasattr(x, "address") else x)


def evs(receipt, name, contract=None):
    """Events named `name` in `receipt`, optionally only those emitted by `contract`."""
    return [
        e
        for e in receipt.events
        if e.event_name == name and (contract is None or A(e.contract_address) == A(contract))
    ]


def one(receipt, name, contract=None):
    """The single event named `name` (asserts there is exactly one)."""
    found = evs(receipt, name, contract)
    assert len(found) == 1, f"expected one {name}, got {len(found)}"
    return found[0]


def head(w):
    return w.chain.blocks.head.number


def mine_to(w, blk):
    """Mine so that the next transaction is included in block `blk`."""
    n = blk - 1 - head(w)
    assert n >= 0, f"block {blk} already passed (head {head(w)})"
    if n:
        w.chain.mine(n)


def oset(x):
    """Normalise an OperatorSet from an event or call to (checksum-insensitive avs, id)."""
    return (str(x[0]).lower(), int(x[1]))


def typed_data(contract_name, chain_id, contract, primary, fields, message):
    """An EIP-712 message for eth_account's encoder (independent of the contracts' digest code):
    domain (name, version "1", chain id, verifying contract) and one struct type `primary` with
    `fields` [(name, type)] and values `message`."""
    return agent_chain.typed_data(
        primary, tuple(fields), (contract_name, "1"), chain_id, A(contract), message
    )


def ceil_div(a, b):
    return -(-a // b)


def reverts(reason, method, *args, sender):
    """Assert that calling `method(*args)` from `sender` reverts with exactly `reason`.

    The call is a bare eth_call through web3: ape's own revert handling replays the call's struct
    logs to build a source traceback, which takes seconds to minutes for these contracts (large
    memory, ecrecover loops, nested calls) and tells the test nothing more than the reason.

    The call runs on the pending block, as the transaction would: its timestamp is the chain's clock
    now, which arguments dated by ``chain.pending_timestamp`` expect (at ``latest`` the block time is
    that of the last block mined, seconds earlier on a loaded machine)."""
    from web3.exceptions import ContractLogicError

    web3 = method.provider.web3
    tx = {"to": method.contract.address, "from": sender.address, "data": method.encode_input(*args)}
    try:
        web3.eth.call(tx, "pending")
    except ContractLogicError as exc:
        got = exc.message if isinstance(exc.message, str) else str(exc)
        assert got == f"execution reverted: {reason}", f"expected revert {reason!r}, got {got!r}"
        return
    raise AssertionError(f"expected revert {reason!r}, but the call succeeded")


class Batch:
    """Many transactions of test accounts sent at once: JSON-RPC batches of ``eth_sendTransaction``
    (anvil impersonates the senders, so nothing is signed here), automine off, mined in as few
    blocks as the block gas limit holds; every one must succeed. ape's path costs tens of
    milliseconds a transaction (gas estimate, receipt, events); a 200-operator set needs ~1,800.

    ``add(sender, contract.method, *args)`` queues a call in order (a sender's calls keep their
    order; calls of different senders must not depend on each other); ``send()`` mines them."""

    GAS = 2_000_000  # the limit of each (gas price is 0 on the test chain)
    CHUNK = 400  # requests per HTTP batch

    def __init__(self, chain):
        self.chain = chain
        self.calls: list[tuple[str, str, str, str]] = []  # (from, to, data, label)

    def add(self, sender, method, *args) -> None:
        frm = getattr(sender, "address", sender)
        self.calls.append((frm, method.contract.address, method.encode_input(*args), str(method)))

    def _rpc(self, requests: list[tuple[str, list]]) -> list:
        provider = self.chain.provider.web3.provider
        out = []
        for i in range(0, len(requests), self.CHUNK):
            for r in provider.make_batch_request(requests[i : i + self.CHUNK]):
                if "error" in r:
                    raise AssertionError(f"anvil refused a batched request: {r['error']}")
                out.append(r["result"])
        return out

    def send(self) -> int:
        """Mine the queued calls; returns how many blocks that took."""
        calls, self.calls = self.calls, []
        if not calls:
            return 0
        senders = list(dict.fromkeys(c[0] for c in calls))
        counts = self._rpc([("eth_getTransactionCount", [a, "latest"]) for a in senders])
        nonces = {a: int(n, 16) for a, n in zip(senders, counts, strict=True)}
        txs = []
        for frm, to, data, _ in calls:
            txs.append({"from": frm, "to": to, "data": data, "gas": hex(self.GAS), "gasPrice": "0x0"})
            txs[-1]["nonce"] = hex(nonces[frm])
            nonces[frm] += 1
        self._rpc([("anvil_impersonateAccount", [a]) for a in senders])
        self._rpc([("anvil_setAutomine", [False])])
        blocks = 0
        try:
            hashes = self._rpc([("eth_sendTransaction", [tx]) for tx in txs])
            while int(self._rpc([("txpool_status", [])])[0]["pending"], 16):
                self._rpc([("evm_mine", [])])
                blocks += 1
                assert blocks <= len(txs), "transactions left pending"
        finally:
            self._rpc([("anvil_setAutomine", [True])])
            self._rpc([("anvil_stopImpersonatingAccount", [a]) for a in senders])
        receipts = self._rpc([("eth_getTransactionReceipt", [h]) for h in hashes])
        for (frm, _, _, label), r in zip(calls, receipts, strict=True):
            assert r is not None and int(r["status"], 16) == 1, f"batched {label} from {frm} failed"
        return blocks


# ---------------------------------------------------------------- EIGEN / bEIGEN

TOKEN_CONFIG = replace(
    TEST_CONFIG,
    eigen_enabled=True,
    eigen_initial_supply=1_000_000 * WAD,
    challenge_bond=10 * WAD,
    challenge_window_blocks=5,
    fork_timelock_blocks=3,
    challenger_reward_bps=1_000,
    beigen_extra_withdrawal_delay_blocks=10,
)
EVIDENCE = b"\x11" * 32


class TokenWorld(World):
    """The core World plus EIGEN, bEIGEN, the ForkManager and the bEIGEN strategy."""

    def __init__(self, project, chain, accounts, d):
        # a copy: the session-wide core deployment must not keep handles to token contracts that
        # a later snapshot restore removes
        d = replace(d, tokens=dict(d.tokens), strategies=dict(d.strategies))
        super().__init__(project, chain, accounts, d)
        deploy_token(project, self.owner, d, TOKEN_CONFIG)
        self.eigen, self.fm, self.bstrat = d.eigen, d.fork_manager, d.beigen_strategy
        self.genesis = d.beigen
        self.gov = self.owner

    def canonical(self):
        return self.project.BackingEigen.at(self.fm.canonicalToken())

    def give_eigen(self, who, amount):
        self.eigen.transfer(who, amount, sender=self.owner)

    def give_beigen(self, who, amount):
        """Unwrap from the deployer's EIGEN and send canonical bEIGEN to `who`."""
        self.eigen.unwrap(amount, sender=self.owner)
        self.canonical().transfer(who, amount, sender=self.owner)

    def stake(self, who, amount, op=None):
        tok = self.canonical()
        self.give_beigen(who, amount)
        tok.approve(self.sm, amount, sender=who)
        self.sm.depositIntoStrategy(self.bstrat, tok, amount, sender=who)
        if op is not None and self.dm.delegatedTo(who) != op.address:
            self.dm.delegateTo(op, NO_SIG, SALT0, sender=who)

    def staked(self, who):
        return self.dm.getWithdrawableShares(who, [self.bstrat])[0][0]

    def open_challenge(self, challenger, ops, evidence=EVIDENCE):
        self.give_eigen(challenger, self.fm.bondAmount())
        self.eigen.approve(self.fm, self.fm.bondAmount(), sender=challenger)
        r = self.fm.challenge(list(ops), evidence, sender=challenger)
        cid = self.fm.challengeCount()
        fork = self.project.BackingEigen.at(self.fm.getChallenge(cid).fork)
        return r, cid, fork

    def resolve(self, cid, adopt):
        c = self.fm.getChallenge(cid)
        wait = c.forkBlock + self.fm.challengeWindowBlocks() - self.chain.blocks.head.number - 1
        if wait > 0:
            self.chain.mine(wait)
        self.fm.queueResolution(cid, adopt, sender=self.gov)
        self.chain.mine(self.fm.timelockBlocks())
        return self.fm.executeResolution(cid, sender=self.other)


# ---------------------------------------------------------------- AVSs: shared

BLS_SET = 5  # BLSWorld's set
ROTATION_DELAY = 10  # BLSRegistry deployments in the tests: key rotation delay (blocks)
STALENESS = 50  # and the oldest reference block a certificate may use (blocks)

THRESHOLD = 6667
STAKES = (100, 60, 40)  # TKA deposited by each operator; 50% allocated -> 50, 30, 20


class _SetWorld:
    """An AVS contract (`contract`) with one operator set (`set_id`) that three operators joined
    with signing keys, TKA stake and half of it allocated."""

    def _add_operators(self, label):
        w = self.w
        self.ops = [w.op, w.op2, w.other]
        self.keys = [keys.PrivateKey(keccak(b"%s operator %d" % (label, i))) for i in range(3)]
        for op, key, amount in zip(self.ops, self.keys, STAKES, strict=True):
            self.join(op, key)
            w.deposit(op, "TKA", amount * WAD)
            self.allocate(op, WAD // 2)

    def allocate(self, op, mag, set_id=None):
        opset = (self.contract.address, self.set_id if set_id is None else set_id)
        cur = [self.w.am.getAllocation(op, opset, s).currentMagnitude for s in self.strats]
        self.w.am.modifyAllocations(op, [(opset, self.strats, [mag, mag], cur)], sender=op)


# ---------------------------------------------------------------- ComputeAVS

COMPUTE_SET = 7
FAULT_WAD = WAD // 10
TTL = 3600


class ComputeWorld(_SetWorld):
    """A ComputeAVS with compute set COMPUTE_SET: three operators with signing keys and stake, an app
    with one image and a development TEE."""

    set_id = COMPUTE_SET

    def __init__(self, w, project, chain, accounts, bls=False):
        """With `bls`, a BLSRegistry is attached before the set is created: operators join with an
        ECDSA and a BLS key (``bls_sk``), and enrolments may carry BLS certificates."""
        self.w, self.chain, self.project = w, chain, project
        self.avs = self.contract = deploy_compute_avs(
            project, w.owner, w.d, ComputeAVSConfig(enrolment_ttl_s=TTL, fault_wad=FAULT_WAD)
        )
        self.reg = None
        self.bls_sk: dict[str, SecretKey] = {}
        if bls:
            self.reg = deploy_bls_registry(project, w.owner, w.d, self.avs.address, ROTATION_DELAY, STALENESS)
            self.avs.setBLSRegistry(self.reg, sender=w.owner)
        self.strats = [w.strats["TKA"], w.strats["TKB"]]
        self.avs.createOperatorSet(
            COMPUTE_SET, self.strats, w.resolver, w.recipient, THRESHOLD, sender=w.owner
        )
        self._add_operators(b"compute")
        if bls:  # the stake allocated after joining
            self.reg.updateOperators(COMPUTE_SET, [o.address for o in self.ops], sender=w.other)
        self.app_owner = w.avs2
        self.app_id = keccak(b"app: deterministic sum")
        self.ca = NitroTestCA(seed=b"compute-avs tests")
        self.trust = TrustStore.default().with_roots([self.ca.root])
        self.image = keccak(b"image v1")
        self.policy = dev_policy(self.ca, self.image)
        self.avs.registerApp(self.app_id, COMPUTE_SET, True, sender=self.app_owner)
        self.avs.registerImage(
            self.app_id, self.image, "v1.0.0", self.policy.hash(), 0, sender=self.app_owner
        )

    # --- operators
    def join(self, op, key, set_id=COMPUTE_SET, data=None, expect=None):
        if not self.w.dm.isOperator(op):
            self.w.register_operator(op)
            self.w.am.setRedistributionConsent(op, (self.avs.address, set_id), True, sender=op)
        if data is None:
            data = registration_data(self.chain.chain_id, self.avs.address, op.address, key)
            if self.reg is not None:
                sk = self.bls_sk.setdefault(
                    op.address, SecretKey(int.from_bytes(keccak(key.to_bytes()), "big") % 2**250 + 1)
                )
                data += bls_registration_data(sk, op.address, self.chain.chain_id, self.reg.address)
        if expect is not None:
            return reverts(
                expect, self.w.am.registerForOperatorSets, op, (self.avs.address, [set_id], data), sender=op
            )
        return self.w.am.registerForOperatorSets(op, (self.avs.address, [set_id], data), sender=op)

    # --- time
    def now(self) -> datetime:
        return datetime.fromtimestamp(self.chain.blocks.head.timestamp, tz=UTC)

    # --- enrolment
    def tee(self, image=None) -> DevTEE:
        return DevTEE(self.ca, image or self.image)

    def statement(self, tee, op_index=0, at=None, image=None, policy=None):
        at = at or self.now()
        image = image or self.image
        policy = policy or self.policy
        ve = verify_enclave(tee.evidence(at), image_digest=image, policy=policy, at=at, trust=self.trust)
        return EnrolmentStatement(
            self.chain.chain_id,
            self.avs.address,
            self.app_id,
            image,
            policy.hash(),
            ve.enclave_key,
            ve.evidence_hash,
            self.ops[op_index].address,
            int(at.timestamp()),
        )

    def enrol(self, tee, op_index=0, signers=(0, 1), st=None, sender=None, expect=None):
        """expect: assert this revert reason instead of sending (see `reverts`)."""
        st = st or self.statement(tee, op_index)
        sigs = st.sign([self.keys[i] for i in signers])
        args = (st.app_id, st.image_digest, st.enclave_key, st.evidence_hash, st.verified_at, sigs)
        if expect is not None:
            return reverts(expect, self.avs.enrollEnclaveKey, *args, sender=sender or self.ops[op_index])
        return self.avs.enrollEnclaveKey(*args, sender=sender or self.ops[op_index])

    # --- receipts
    def receipt(self, tee, inp=b"2+2", out=b"4", at=None, **kw):
        kw.setdefault("app_id", self.app_id)
        kw.setdefault("chain_id", self.chain.chain_id)
        kw.setdefault("policy", self.policy)
        return tee.run(inp, out, at or self.now(), **kw)

    def submit(self, bundle, sender=None, expect=None):
        r, sig = receipt_args(bundle)
        if expect is not None:
            return reverts(expect, self.avs.submitReceipt, r, sig, sender=sender or self.w.other)
        return self.avs.submitReceipt(r, sig, sender=sender or self.w.other)


# ---------------------------------------------------------------- InferenceDisputes

INFERENCE_SET = 9
SLASH_WAD = WAD // 10
BOND = 10**16
CHALLENGE_WINDOW = 600
RESOLUTION_WINDOW = 900
ESCROW_BLOCKS = 10  # TEST_CONFIG.slash_resolution_delay_blocks


@cache
def tiny_engine_service():
    from offchain.ai.service import InferenceService
    from offchain.ai.tiny import tiny_model

    return InferenceService(tiny_model(0))


class DisputeWorld(_SetWorld):
    """InferenceDisputes with inference set INFERENCE_SET: three operators with signing keys and
    stake, the tiny seeded model allowed, and an inference service that signs receipts with each
    operator's signing key."""

    set_id = INFERENCE_SET

    def __init__(self, w, project, chain, challenge_window=CHALLENGE_WINDOW):
        self.w, self.chain, self.project = w, chain, project
        cfg = InferenceDisputesConfig(
            challenge_bond_wei=BOND,
            challenge_window_s=challenge_window,
            resolution_window_s=RESOLUTION_WINDOW,
            slash_wad=SLASH_WAD,
        )
        self.c = self.contract = deploy_inference_disputes(project, w.owner, w.d, cfg)
        self.strats = [w.strats["TKA"], w.strats["TKB"]]
        self.c.createInferenceSet(INFERENCE_SET, self.strats, w.resolver, THRESHOLD, sender=w.owner)
        self._add_operators(b"inference")
        self.svc = tiny_engine_service()
        self.c.setModelAllowed(
            self.svc.model.sha256, self.svc.tokenizer.hash, ENGINE_ID, True, sender=w.owner
        )
        self.client, self.watcher = w.staker, w.staker2

    def join(self, op, key, set_id=INFERENCE_SET):
        if not self.w.dm.isOperator(op):
            self.w.register_operator(op)
        self.w.am.setRedistributionConsent(op, (self.c.address, set_id), True, sender=op)
        data = registration_data(self.chain.chain_id, self.c.address, op.address, key)
        return self.w.am.registerForOperatorSets(op, (self.c.address, [set_id], data), sender=op)

    # --- receipts
    def answer(self, op_index=0, prompt="what is 2+2?", seed=1, temperature=0.7, max_tokens=8, client=None):
        """An honest completion's receipt for `client` (default: the world's client), signed by
        operator `op_index`'s signing key."""
        svc = self.svc
        params = SamplingParams.from_user(seed=seed, temperature=temperature, max_tokens=max_tokens)
        client = self.client.address if client is None else client
        c = svc.complete(svc.prompt_tokens(None, prompt), params, client=client)
        return c.receipt.signed(self.keys[op_index].to_bytes())

    def register(self, receipt, sender=None):
        r, sig = inference_receipt_args(receipt)
        if receipt.options is not None:  # version 3: publish the domain word's preimage first
            self.c.bindReceiptOptions(receipt.options.hash(), receipt.text_hash, sender=sender or self.client)
        return self.c.registerReceipt(r, sig, sender=sender or self.client)

    def challenge(self, receipt, sender=None, value=BOND):
        return self.c.challengeReceipt(receipt.digest(), sender=sender or self.watcher, value=value)

    def verdict(self, receipt, signers=(1, 2), correct=None):
        if correct is None:
            correct = reexecute_with(self.svc, receipt).correct_output
        v = Verdict(self.chain.chain_id, self.c.address, receipt.digest(), correct)
        return correct, v.sign([self.keys[i] for i in signers])

    def resolve(self, receipt, signers=(1, 2), correct=None, sender=None):
        correct, sigs = self.verdict(receipt, signers, correct)
        return self.c.resolveChallenge(receipt.digest(), correct, sigs, sender=sender or self.watcher)

    def warp(self, seconds):
        self.chain.pending_timestamp = self.chain.pending_timestamp + seconds


def tamper(receipt, key, position=-1, new_token=None):
    """The same receipt with one output token changed (re-signed by `key`): a wrong answer."""
    out = list(receipt.output_tokens)
    out[position] = new_token if new_token is not None else (out[position] + 1) % 256
    return replace(receipt, output_tokens=tuple(out), signature=b"").signed(key.to_bytes())


# ---------------------------------------------------------------- BLSRegistry


class BLSWorld:
    """A BLSRegistry serving the AVS account ``w.avs`` as its registrar, for set BLS_SET with quorums
    (TKA, TKB). ``operator(...)`` makes a funded operator with stake allocated to the set and a BLS key."""

    set_id = BLS_SET

    def __init__(self, w, project, chain, accounts, delay=ROTATION_DELAY, staleness=STALENESS):
        self.w, self.chain, self.accounts = w, chain, accounts
        self.reg = deploy_bls_registry(project, w.owner, w.d, w.avs.address, delay, staleness)
        w.create_sets(ids=(BLS_SET,), syms=("TKA", "TKB"))
        w.am.setAVSRegistrar(w.avs, self.reg, sender=w.avs)
        self.strats = [w.strats["TKA"], w.strats["TKB"]]
        self.reg.configureQuorums(BLS_SET, self.strats, sender=w.avs)
        self.sk: dict[str, SecretKey] = {}  # operator address -> its current key
        self._n = 0

    def operator(self, stake_a=100 * WAD, stake_b=50 * WAD, mag=WAD // 2, join=True, sk=None):
        """A new operator with TKA/TKB deposits, `mag` of each allocated to the set, and (with `join`)
        registered with a key (deterministic from a counter unless `sk`)."""
        w = self.w
        self._n += 1
        op = self.accounts.generate_test_account()
        w.owner.transfer(op, 10**19)
        w.register_operator(op)
        for sym, amount in (("TKA", stake_a), ("TKB", stake_b)):
            if amount:
                w.deposit(op, sym, amount)
        w.allocate(op, BLS_SET, {"TKA": mag, "TKB": mag})
        self.sk[op.address] = sk or SecretKey(
            int.from_bytes(keccak(b"bls operator %d" % self._n), "big") % (2**250) + 1
        )
        if join:
            self.join(op)
        return op

    def operators(self, stakes, mag=WAD // 2):
        """Many operators at once, as ``operator`` makes one, their transactions sent in a few
        blocks (``Batch``): ``stakes`` lists each one's (TKA, TKB) deposits, both nonzero."""
        w, batch = self.w, Batch(self.chain)
        ops = []
        for _ in stakes:  # keys made here: ape derives each generated account from the mnemonic (~50 ms)
            key = keys.PrivateKey(
                keccak(b"bls operator account %s %d" % (self.reg.address.encode(), len(ops)))
            )
            ops.append(
                self.accounts.init_test_account(
                    10_000 + len(ops), key.public_key.to_checksum_address(), key.to_hex()
                )
            )
        batch._rpc([("anvil_setBalance", [op.address, hex(10**19)]) for op in ops])
        for op, (stake_a, stake_b) in zip(ops, stakes, strict=True):
            self._n += 1
            sk = SecretKey(int.from_bytes(keccak(b"bls operator %d" % self._n), "big") % (2**250) + 1)
            self.sk[op.address] = sk
            batch.add(op, w.dm.registerAsOperator, ZERO, 0, "https://op.example/meta.json")
            for sym, amount in (("TKA", stake_a), ("TKB", stake_b)):
                batch.add(op, w.tokens[sym].mint, op, amount)
                batch.add(op, w.tokens[sym].approve, w.sm, 2**256 - 1)
                batch.add(op, w.sm.depositIntoStrategy, w.strats[sym], w.tokens[sym], amount)
            batch.add(op, w.am.modifyAllocations, op, [(w.opset(BLS_SET), self.strats, [mag, mag], [0, 0])])
            batch.add(op, w.am.registerForOperatorSets, op, (w.avs.address, [BLS_SET], self.data(op)))
        batch.send()
        return ops

    def leave_all(self, ops):
        """Deregister `ops` from the set (in a few blocks)."""
        batch = Batch(self.chain)
        for op in ops:
            batch.add(op, self.w.am.deregisterFromOperatorSets, (op, self.w.avs.address, [BLS_SET]))
        batch.send()

    def data(self, op, sk=None):
        return bls_registration_data(
            sk or self.sk[op.address], op.address, self.chain.chain_id, self.reg.address
        )

    def join(self, op, data=None):
        return self.w.am.registerForOperatorSets(
            op, (self.w.avs.address, [BLS_SET], self.data(op) if data is None else data), sender=op
        )

    def leave(self, op):
        return self.w.am.deregisterFromOperatorSets((op, self.w.avs.address, [BLS_SET]), sender=op)

    def stakes(self, op):
        """The operator's allocated stake per quorum now (as the AllocationManager reports it)."""
        return self.stakes_of([op])[0]

    def stakes_of(self, ops):
        """``stakes`` of each of `ops` (one call per 64, the view's bound)."""
        ops, oset = list(ops), (self.w.avs.address, BLS_SET)
        rows = [
            r
            for i in range(0, len(ops), 64)
            for r in self.w.am.getAllocatedStake(oset, ops[i : i + 64], self.strats)
        ]
        return [list(r) for r in rows]

    def head(self):
        return self.chain.blocks.head.number


def example_settings(ci: int, long: int) -> settings:
    """Hypothesis settings of a property test on anvil: `ci` examples in the CI profile, `long`
    otherwise, no deadline (block times vary), shrinking skipped with EIGEN_NO_SHRINK."""
    n = ci if eigen_settings.hypothesis_profile() == "ci" else long
    base = settings(max_examples=n, deadline=None, suppress_health_check=list(HealthCheck))
    if eigen_settings.no_shrink():
        base = settings(base, phases=[Phase.explicit, Phase.reuse, Phase.generate])
    return base
