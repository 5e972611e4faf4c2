"""Shared setup for the InferenceDisputes tests: an inference set of three operators with signing
keys and stake, the tiny seeded model allowed, and an inference service per operator that signs
receipts with the operator's signing key."""

from __future__ import annotations

from functools import cache

import pytest
from eth_hash.auto import keccak
from eth_keys import keys

from offchain.ai.receipt import ENGINE_ID
from offchain.ai.sampler import SamplingParams
from offchain.chain.compute_avs import registration_data
from offchain.chain.deploy import InferenceDisputesConfig, deploy_inference_disputes
from offchain.chain.inference_disputes import Verdict, receipt_args, reexecute_with
from tests.contracts.conftest import WAD

SET = 9
THRESHOLD = 6667
STAKES = (100, 60, 40)  # TKA deposited by each operator; 50% allocated -> 50, 30, 20
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


class DisputeWorld:
    def __init__(self, w, project, chain):
        self.w, self.chain, self.project = w, chain, project
        cfg = InferenceDisputesConfig(challenge_bond_wei=BOND, challenge_window_s=CHALLENGE_WINDOW,
                                      resolution_window_s=RESOLUTION_WINDOW, slash_wad=SLASH_WAD)
        self.c = deploy_inference_disputes(project, w.owner, w.d, cfg)
        self.strats = [w.strats["TKA"], w.strats["TKB"]]
        self.c.createInferenceSet(SET, self.strats, w.resolver, THRESHOLD, sender=w.owner)
        self.ops = [w.op, w.op2, w.other]
        self.keys = [keys.PrivateKey(keccak(b"inference operator %d" % i)) for i in range(3)]
        for op, key, amount in zip(self.ops, self.keys, STAKES, strict=True):
            self.join(op, key)
            w.deposit(op, "TKA", amount * WAD)
            self.allocate(op, WAD // 2)
        self.svc = tiny_engine_service()
        self.c.setModelAllowed(self.svc.model.sha256, self.svc.tokenizer.hash, ENGINE_ID, True, sender=w.owner)
        self.client, self.watcher = w.staker, w.staker2

    def join(self, op, key, set_id=SET):
        if not self.w.dm.isOperator(op):
            self.w.register_operator(op)
        self.w.am.setRedistributionConsent(op, (self.c.address, set_id), True, sender=op)
        data = registration_data(self.chain.chain_id, self.c.address, op.address, key)
        return self.w.am.registerForOperatorSets(op, (self.c.address, [set_id], data), sender=op)

    def allocate(self, op, mag, set_id=SET):
        opset = (self.c.address, set_id)
        cur = [self.w.am.getAllocation(op, opset, s).currentMagnitude for s in self.strats]
        self.w.am.modifyAllocations(op, [(opset, self.strats, [mag, mag], cur)], sender=op)

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
        r, sig = receipt_args(receipt)
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
    from dataclasses import replace

    out = list(receipt.output_tokens)
    out[position] = new_token if new_token is not None else (out[position] + 1) % 256
    return replace(receipt, output_tokens=tuple(out), signature=b"").signed(key.to_bytes())


@pytest.fixture(scope="module")
def dworld(project, chain, accounts, deployment):
    """A fresh DisputeWorld per test module (ape restores the chain around each test)."""
    from tests.contracts.conftest import World

    return DisputeWorld(World(project, chain, accounts, deployment), project, chain)


def events(receipt, name):
    return [e for e in receipt.events if e.event_name == name]
