"""ERC-8004 ReputationRegistry and ValidationRegistry (contracts/agent): selectors and events
against the spec's signatures, feedback with int128 values and decimals, self-feedback refused,
revocation, responses, getSummary over a required client list (mean in 18 decimals rescaled to
the modal decimals), readAllFeedback, and the validation request/response flow with its reads."""

from __future__ import annotations

import pytest
from eth_hash.auto import keccak

from tests.contracts.support import A, one, reverts

ZERO = "0x" + "00" * 20
H1, H2, H3 = (bytes([i]) * 32 for i in (1, 2, 3))

REPUTATION_SELECTORS = [
    "giveFeedback(uint256,int128,uint8,string,string,string,string,bytes32)",
    "revokeFeedback(uint256,uint64)",
    "appendResponse(uint256,address,uint64,string,bytes32)",
    "getSummary(uint256,address[],string,string)",
    "readFeedback(uint256,address,uint64)",
    "readAllFeedback(uint256,address[],string,string,bool)",
    "getResponseCount(uint256,address,uint64,address[])",
    "getClients(uint256)",
    "getLastIndex(uint256,address)",
    "getIdentityRegistry()",
]
REPUTATION_EVENTS = {
    "NewFeedback": "NewFeedback(uint256,address,uint64,int128,uint8,string,string,string,string,string,bytes32)",
    "FeedbackRevoked": "FeedbackRevoked(uint256,address,uint64)",
    "ResponseAppended": "ResponseAppended(uint256,address,uint64,address,string,bytes32)",
}
VALIDATION_SELECTORS = [
    "validationRequest(address,uint256,string,bytes32)",
    "validationResponse(bytes32,uint8,string,bytes32,string)",
    "getValidationStatus(bytes32)",
    "getSummary(uint256,address[],string)",
    "getAgentValidations(uint256)",
    "getValidatorRequests(address)",
    "getIdentityRegistry()",
]
VALIDATION_EVENTS = {
    "ValidationRequest": "ValidationRequest(address,uint256,string,bytes32)",
    "ValidationResponse": "ValidationResponse(address,uint256,bytes32,uint8,string,bytes32,string)",
}


def sel(sig: str) -> str:
    return "0x" + keccak(sig.encode())[:4].hex()


def check_abi(contract, selectors, events, indexed):
    abi = contract.contract_type
    ours = {sel(m.selector) for m in abi.mutable_methods} | {sel(m.selector) for m in abi.view_methods}
    for sig in selectors:
        assert sel(sig) in ours, sig
    topics = {e.name: keccak(e.selector.encode()) for e in abi.events}
    for name, sig in events.items():
        assert topics[name] == keccak(sig.encode()), name
    flags = {e.name: [i.indexed for i in e.inputs] for e in abi.events}
    for name, want in indexed.items():
        assert flags[name] == want, name


@pytest.fixture(scope="module")
def regs(project, accounts):
    ident = accounts[0].deploy(project.IdentityRegistry)
    rep = accounts[0].deploy(project.ReputationRegistry, ident)
    val = accounts[0].deploy(project.ValidationRegistry, ident)
    owner = accounts[1]
    aid = one(ident.register("https://agent.example/reg.json", sender=owner), "Registered").agentId
    return ident, rep, val, owner, aid


def give(rep, aid, client, value, decimals=0, tag1="", tag2="", uri="", h=b"\x00" * 32, endpoint=""):
    return rep.giveFeedback(aid, value, decimals, tag1, tag2, endpoint, uri, h, sender=client)


def test_reputation_abi_matches_the_spec(regs):
    _, rep, val, _, _ = regs
    check_abi(
        rep,
        REPUTATION_SELECTORS,
        REPUTATION_EVENTS,
        {
            "NewFeedback": [True, True, False, False, False, True, False, False, False, False, False],
            "FeedbackRevoked": [True, True, True],
            "ResponseAppended": [True, True, False, True, False, False],
        },
    )
    check_abi(
        val,
        VALIDATION_SELECTORS,
        VALIDATION_EVENTS,
        {
            "ValidationRequest": [True, True, False, True],
            "ValidationResponse": [True, True, True, False, False, False, False],
        },
    )
    assert A(rep.getIdentityRegistry()) == A(regs[0]) == A(val.getIdentityRegistry())


def test_feedback_events_reads_and_refusals(regs, accounts):
    ident, rep, _, owner, aid = regs
    c1, op, appr = accounts[2], accounts[3], accounts[4]
    r = give(rep, aid, c1, -1234, 2, "uptime", "day", "ipfs://fb", H1, "https://agent.example/a2a")
    e = one(r, "NewFeedback")
    assert (e.agentId, A(e.clientAddress), e.feedbackIndex, e.value, e.valueDecimals) == (
        aid,
        A(c1),
        1,
        -1234,
        2,
    )
    assert (e.tag1, e.tag2, e.endpoint, e.feedbackURI, bytes(e.feedbackHash)) == (
        "uptime",
        "day",
        "https://agent.example/a2a",
        "ipfs://fb",
        H1,
    )
    assert bytes(e.indexedTag1) == keccak(b"uptime")  # an indexed string is its hash
    assert rep.getLastIndex(aid, c1) == 1
    assert tuple(rep.readFeedback(aid, c1, 1)) == (-1234, 2, "uptime", "day", False)
    assert [A(x) for x in rep.getClients(aid)] == [A(c1)]
    # bounds of value and decimals
    reverts("too many decimals", rep.giveFeedback, aid, 1, 19, "", "", "", "", H1, sender=c1)
    reverts("value too large", rep.giveFeedback, aid, 10**38 + 1, 0, "", "", "", "", H1, sender=c1)
    reverts("value too large", rep.giveFeedback, aid, -(10**38) - 1, 0, "", "", "", "", H1, sender=c1)
    give(rep, aid, c1, 10**38, 18)
    give(rep, aid, c1, -(10**38), 0)
    # no self-feedback from the owner, an operator or the approved account; no unknown agent
    reverts("self-feedback not allowed", rep.giveFeedback, aid, 1, 0, "", "", "", "", H1, sender=owner)
    ident.setApprovalForAll(op, True, sender=owner)
    reverts("self-feedback not allowed", rep.giveFeedback, aid, 1, 0, "", "", "", "", H1, sender=op)
    ident.approve(appr, aid, sender=owner)
    reverts("self-feedback not allowed", rep.giveFeedback, aid, 1, 0, "", "", "", "", H1, sender=appr)
    reverts("unknown agent", rep.giveFeedback, 77, 1, 0, "", "", "", "", H1, sender=c1)
    reverts("index must be > 0", rep.readFeedback, aid, c1, 0, sender=c1)
    reverts("index out of bounds", rep.readFeedback, aid, c1, 4, sender=c1)


def test_revoke_and_responses(regs, accounts):
    _, rep, _, owner, aid = regs
    c1, c2, anyone = accounts[2], accounts[5], accounts[6]
    give(rep, aid, c1, 90)
    give(rep, aid, c1, 80)
    r = rep.revokeFeedback(aid, 2, sender=c1)
    e = one(r, "FeedbackRevoked")
    assert (e.agentId, A(e.clientAddress), e.feedbackIndex) == (aid, A(c1), 2)
    assert rep.readFeedback(aid, c1, 2)[4] is True
    reverts("already revoked", rep.revokeFeedback, aid, 2, sender=c1)
    reverts("index out of bounds", rep.revokeFeedback, aid, 1, sender=c2)  # not c2's feedback
    reverts("index must be > 0", rep.revokeFeedback, aid, 0, sender=c1)
    r = rep.appendResponse(aid, c1, 1, "ipfs://refund-proof", H2, sender=owner)
    e = one(r, "ResponseAppended")
    assert (
        e.agentId,
        A(e.clientAddress),
        e.feedbackIndex,
        A(e.responder),
        e.responseURI,
        bytes(e.responseHash),
    ) == (
        aid,
        A(c1),
        1,
        A(owner),
        "ipfs://refund-proof",
        H2,
    )
    rep.appendResponse(aid, c1, 1, "ipfs://spam-tag", H3, sender=anyone)
    rep.appendResponse(aid, c1, 1, "ipfs://again", H3, sender=anyone)
    rep.appendResponse(aid, c1, 2, "ipfs://x", H3, sender=owner)
    reverts("empty URI", rep.appendResponse, aid, c1, 1, "", H2, sender=owner)
    reverts("index out of bounds", rep.appendResponse, aid, c1, 3, "u", H2, sender=owner)
    reverts("index must be > 0", rep.appendResponse, aid, c1, 0, "u", H2, sender=owner)
    assert rep.getResponseCount(aid, c1, 1, []) == 3
    assert rep.getResponseCount(aid, c1, 1, [anyone]) == 2
    assert rep.getResponseCount(aid, c1, 1, [owner, anyone]) == 3
    assert rep.getResponseCount(aid, c1, 0, []) == 4  # every feedback of c1
    assert rep.getResponseCount(aid, ZERO, 0, [owner]) == 2  # every client


def test_summary_requires_clients_and_rescales_to_the_modal_decimals(regs, accounts):
    _, rep, _, _, aid = regs
    c1, c2, c3 = accounts[2], accounts[5], accounts[7]
    reverts("clientAddresses required", rep.getSummary, aid, [], "", "", sender=c1)
    assert tuple(rep.getSummary(aid, [c1], "", "")) == (0, 0, 0)
    give(rep, aid, c1, 9_500, 2, "quality")  # 95.00
    give(rep, aid, c2, 87, 0, "quality")  # 87
    give(rep, aid, c3, 9_000, 2, "speed")  # 90.00
    give(rep, aid, c3, 7_001, 2, "quality")  # 70.01
    # quality over c1, c2, c3: (95 + 87 + 70.01) / 3 = 84.003333.. -> decimals 2 (twice) -> 8400
    assert tuple(rep.getSummary(aid, [c1, c2, c3], "quality", "")) == (3, 8400, 2)
    # all tags: mean of 95, 87, 90, 70.01 = 85.5025 -> 8550
    assert tuple(rep.getSummary(aid, [c1, c2, c3], "", "")) == (4, 8550, 2)
    # only c2: decimals 0
    assert tuple(rep.getSummary(aid, [c2], "", "")) == (1, 87, 0)
    # negative means round toward zero
    c4 = accounts[8]
    give(rep, aid, c4, -5, 0)
    give(rep, aid, c4, -4, 0)
    assert tuple(rep.getSummary(aid, [c4], "", "")) == (2, -4, 0)
    # revoked feedback is left out
    rep.revokeFeedback(aid, 1, sender=c3)
    assert tuple(rep.getSummary(aid, [c3], "", "")) == (1, 7001, 2)
    # readAllFeedback: named clients, tag filter, revoked in or out
    cs, idx, vals, decs, t1s, t2s, rev = rep.readAllFeedback(aid, [c3], "", "", True)
    assert ([A(c) for c in cs], list(idx), list(vals), list(decs), list(t1s), list(rev)) == (
        [A(c3), A(c3)],
        [1, 2],
        [9000, 7001],
        [2, 2],
        ["speed", "quality"],
        [True, False],
    )
    out = rep.readAllFeedback(aid, [], "quality", "", False)
    assert [A(c) for c in out[0]] == [A(c1), A(c2), A(c3)] and list(out[2]) == [9500, 87, 7001]


def test_validation_flow(regs, accounts, chain):
    ident, _, val, owner, aid = regs
    v1, v2, stranger = accounts[2], accounts[3], accounts[6]
    reverts("bad validator", val.validationRequest, ZERO, aid, "ipfs://req", H1, sender=owner)
    reverts("not authorized", val.validationRequest, v1, aid, "ipfs://req", H1, sender=stranger)
    reverts("unknown agent", val.validationRequest, v1, 99, "ipfs://req", H1, sender=owner)
    r = val.validationRequest(v1, aid, "ipfs://req1", H1, sender=owner)
    e = one(r, "ValidationRequest")
    assert (A(e.validatorAddress), e.agentId, e.requestURI, bytes(e.requestHash)) == (
        A(v1),
        aid,
        "ipfs://req1",
        H1,
    )
    reverts("exists", val.validationRequest, v2, aid, "ipfs://req", H1, sender=owner)
    val.validationRequest(v2, aid, "ipfs://req2", H2, sender=owner)
    val.validationRequest(v1, aid, "ipfs://req3", H3, sender=owner)
    status = val.getValidationStatus(H1)
    assert (A(status[0]), status[1], status[2], bytes(status[3]), status[4]) == (
        A(v1),
        aid,
        0,
        b"\x00" * 32,
        "",
    )
    reverts("unknown", val.getValidationStatus, b"\x09" * 32, sender=owner)
    reverts("unknown", val.validationResponse, b"\x09" * 32, 1, "", H1, "", sender=v1)
    reverts("not validator", val.validationResponse, H1, 100, "", H1, "", sender=v2)
    reverts("resp>100", val.validationResponse, H1, 101, "", H1, "", sender=v1)
    # unanswered requests do not count
    assert tuple(val.getSummary(aid, [], "")) == (0, 0)
    r = val.validationResponse(H1, 40, "ipfs://soft", b"\x0a" * 32, "soft", sender=v1)
    e = one(r, "ValidationResponse")
    assert (A(e.validatorAddress), e.agentId, bytes(e.requestHash), e.response, e.responseURI) == (
        A(v1),
        aid,
        H1,
        40,
        "ipfs://soft",
    )
    assert (bytes(e.responseHash), e.tag) == (b"\x0a" * 32, "soft")
    # repeatable: the last answer counts
    val.validationResponse(H1, 100, "ipfs://hard", b"\x0b" * 32, "hard", sender=v1)
    status = val.getValidationStatus(H1)
    assert (status[2], bytes(status[3]), status[4]) == (100, b"\x0b" * 32, "hard")
    assert status[5] == chain.blocks.head.timestamp
    val.validationResponse(H2, 51, "", H2, "hard", sender=v2)
    val.validationResponse(H3, 0, "", H3, "soft", sender=v1)
    assert tuple(val.getSummary(aid, [], "")) == (3, 50)  # (100 + 51 + 0) // 3
    assert tuple(val.getSummary(aid, [], "hard")) == (2, 75)
    assert tuple(val.getSummary(aid, [v1], "")) == (2, 50)
    assert tuple(val.getSummary(aid, [v2, stranger], "")) == (1, 51)
    assert [bytes(h) for h in val.getAgentValidations(aid)] == [H1, H2, H3]
    assert [bytes(h) for h in val.getValidatorRequests(v1)] == [H1, H3]
    assert list(val.getValidatorRequests(stranger)) == []
    # an operator of the owner may request
    ident.setApprovalForAll(stranger, True, sender=owner)
    val.validationRequest(v2, aid, "", b"\x07" * 32, sender=stranger)
