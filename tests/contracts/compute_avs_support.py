"""Shared setup for the ComputeAVS tests: a compute operator set of three operators with
signing keys and stake, an app with one image, and a development TEE."""

from __future__ import annotations

from datetime import UTC, datetime

from eth_hash.auto import keccak
from eth_keys import keys

from offchain.chain.compute_avs import EnrolmentStatement, receipt_args, registration_data, verify_enclave
from offchain.chain.deploy import ComputeAVSConfig, deploy_compute_avs
from offchain.compute.devtee import DevTEE, dev_policy
from offchain.compute.pki import TrustStore
from offchain.compute.testca import NitroTestCA
from tests.contracts.conftest import WAD

SET = 7
THRESHOLD = 6667
STAKES = (100, 60, 40)  # TKA deposited by each operator; 50% allocated -> 50, 30, 20
FAULT_WAD = WAD // 10
TTL = 3600


class ComputeWorld:
    def __init__(self, w, project, chain, accounts):
        self.w, self.chain, self.project = w, chain, project
        self.avs = deploy_compute_avs(project, w.owner, w.d, ComputeAVSConfig(enrolment_ttl_s=TTL, fault_wad=FAULT_WAD))
        self.strats = [w.strats["TKA"], w.strats["TKB"]]
        self.avs.createOperatorSet(SET, self.strats, w.resolver, w.recipient, THRESHOLD, sender=w.owner)
        self.ops = [w.op, w.op2, w.other]
        self.keys = [keys.PrivateKey(keccak(b"compute operator %d" % i)) for i in range(3)]
        for op, key, amount in zip(self.ops, self.keys, STAKES, strict=True):
            self.join(op, key)
            w.deposit(op, "TKA", amount * WAD)
            self.allocate(op, WAD // 2)
        self.app_owner = w.avs2
        self.app_id = keccak(b"app: deterministic sum")
        self.ca = NitroTestCA(seed=b"compute-avs tests")
        self.trust = TrustStore.default().with_roots([self.ca.root])
        self.image = keccak(b"image v1")
        self.policy = dev_policy(self.ca, self.image)
        self.avs.registerApp(self.app_id, SET, True, sender=self.app_owner)
        self.avs.registerImage(self.app_id, self.image, "v1.0.0", self.policy.hash(), 0, sender=self.app_owner)

    # --- operators
    def join(self, op, key, set_id=SET, data=None, expect=None):
        if not self.w.dm.isOperator(op):
            self.w.register_operator(op)
            self.w.am.setRedistributionConsent(op, (self.avs.address, set_id), True, sender=op)
        if data is None:
            data = registration_data(self.chain.chain_id, self.avs.address, op.address, key)
        if expect is not None:
            return reverts(expect, self.w.am.registerForOperatorSets, op, (self.avs.address, [set_id], data), sender=op)
        return self.w.am.registerForOperatorSets(op, (self.avs.address, [set_id], data), sender=op)

    def allocate(self, op, mag, set_id=SET):
        opset = (self.avs.address, set_id)
        cur = [self.w.am.getAllocation(op, opset, s).currentMagnitude for s in self.strats]
        self.w.am.modifyAllocations(op, [(opset, self.strats, [mag, mag], cur)], sender=op)

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
        return EnrolmentStatement(self.chain.chain_id, self.avs.address, self.app_id, image, policy.hash(),
                                  ve.enclave_key, ve.evidence_hash, self.ops[op_index].address, int(at.timestamp()))

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


import pytest  # noqa: E402


@pytest.fixture(scope="module")
def cw(project, chain, accounts, deployment):
    """A fresh ComputeWorld per test module (ape restores the chain around each test)."""
    from tests.contracts.conftest import World

    return ComputeWorld(World(project, chain, accounts, deployment), project, chain, accounts)


def events(receipt, name):
    return [e for e in receipt.events if e.event_name == name]


def reverts(reason, method, *args, sender):
    """Assert that calling `method(*args)` from `sender` reverts with exactly `reason`.

    The call is a bare eth_call through web3: ape's own revert handling replays the call's struct
    logs to build a source traceback, which takes seconds to minutes for these contracts (large
    memory, ecrecover loops, nested calls) and tells the test nothing more than the reason."""
    from web3.exceptions import ContractLogicError

    web3 = method.provider.web3
    tx = {"to": method.contract.address, "from": sender.address, "data": method.encode_input(*args)}
    try:
        web3.eth.call(tx)
    except ContractLogicError as exc:
        got = exc.message if isinstance(exc.message, str) else str(exc)
        assert got == f"execution reverted: {reason}", f"expected revert {reason!r}, got {got!r}"
        return
    raise AssertionError(f"expected revert {reason!r}, but the call succeeded")
