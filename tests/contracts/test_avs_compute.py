"""ComputeAVS: operator-set signing keys and threshold checks, the image registry, enclave-key
enrolment, receipts and fault proofs, with the development TEE making real evidence and receipts."""

from __future__ import annotations

import ape
import pytest

from offchain.chain.compute_avs import possession_digest, receipt_args
from tests.contracts.compute_avs_support import SET, ComputeWorld


@pytest.fixture(scope="module")
def cw(project, chain, accounts, deployment):
    from tests.contracts.conftest import World
    return ComputeWorld(World(project, chain, accounts, deployment), project, chain, accounts)


def test_smoke(cw):
    assert list(cw.avs.getMembers(SET)) == [o.address for o in cw.ops]
    tee = cw.tee()
    r = cw.enrol(tee)
    assert cw.avs.enclaves(tee.address).operator == cw.ops[0].address
    b = cw.receipt(tee)
    rr = cw.submit(b)
    assert cw.avs.receiptAccepted(b.receipt.digest())
    assert cw.avs.signingKeyDigest(cw.ops[0], cw.avs.signingKeyOf(cw.ops[0])) == possession_digest(cw.chain.chain_id, cw.avs.address, cw.ops[0].address, cw.avs.signingKeyOf(cw.ops[0]))
