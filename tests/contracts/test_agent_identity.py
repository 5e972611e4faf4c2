"""ERC-8004 IdentityRegistry (contracts/agent): selectors against the spec's signatures, ERC-721
(balances, approvals, transfers, safe transfers, ERC-165), registration with URI and metadata,
the reserved agentWallet key, the agent wallet set by an EIP-712 (EOA) or ERC-1271 (contract)
signature within its deadline and cleared on transfer, and every refusal."""

from __future__ import annotations

import base64
import json

import ape
import pytest
from eth_hash.auto import keccak

from offchain.chain.agent import agent_wallet_data, digest, sign
from tests.contracts.support import A, evs, one, reverts

ZERO = "0x" + "00" * 20

SPEC_SELECTORS = [
    "register()",
    "register(string)",
    "register(string,(string,bytes)[])",
    "setAgentURI(uint256,string)",
    "getMetadata(uint256,string)",
    "setMetadata(uint256,string,bytes)",
    "setAgentWallet(uint256,address,uint256,bytes)",
    "getAgentWallet(uint256)",
    "unsetAgentWallet(uint256)",
    "isAuthorizedOrOwner(address,uint256)",
    "tokenURI(uint256)",
    "balanceOf(address)",
    "ownerOf(uint256)",
    "approve(address,uint256)",
    "getApproved(uint256)",
    "setApprovalForAll(address,bool)",
    "isApprovedForAll(address,address)",
    "transferFrom(address,address,uint256)",
    "safeTransferFrom(address,address,uint256)",
    "safeTransferFrom(address,address,uint256,bytes)",
    "supportsInterface(bytes4)",
    "name()",
    "symbol()",
    "eip712Domain()",  # ERC-5267, as the reference registry (OpenZeppelin EIP712)
]
SPEC_EVENTS = {
    "Registered": "Registered(uint256,string,address)",
    "URIUpdated": "URIUpdated(uint256,string,address)",
    "MetadataSet": "MetadataSet(uint256,string,string,bytes)",
    "Transfer": "Transfer(address,address,uint256)",
    "Approval": "Approval(address,address,uint256)",
    "ApprovalForAll": "ApprovalForAll(address,address,bool)",
    "MetadataUpdate": "MetadataUpdate(uint256)",  # ERC-4906, ERC721URIStorage's
}


def sel(sig: str) -> str:
    return "0x" + keccak(sig.encode())[:4].hex()


@pytest.fixture(scope="module")
def reg(project, accounts):
    return accounts[0].deploy(project.IdentityRegistry)


@pytest.fixture(scope="module")
def wallet_1271(project, accounts):
    return accounts[0].deploy(project.MockERC1271Wallet, accounts[6])


def now(chain):
    return chain.pending_timestamp


def test_selectors_and_events_match_the_spec(reg):
    abi = reg.contract_type
    ours = {sel(m.selector) for m in abi.mutable_methods} | {sel(m.selector) for m in abi.view_methods}
    for sig in SPEC_SELECTORS:
        assert sel(sig) in ours, sig
    topics = {e.name: "0x" + keccak(e.selector.encode()).hex() for e in abi.events}
    for name, sig in SPEC_EVENTS.items():
        assert topics[name] == "0x" + keccak(sig.encode()).hex(), name
    # the indexed fields of the spec's events
    ev = {e.name: [i.indexed for i in e.inputs] for e in abi.events}
    assert ev["Registered"] == [True, False, True]
    assert ev["URIUpdated"] == [True, False, True]
    assert ev["MetadataSet"] == [True, True, False, False]
    assert ev["MetadataUpdate"] == [False]


def test_erc165_and_names(reg):
    for iid in ("0x01ffc9a7", "0x80ac58cd", "0x5b5e139f", "0x49064906"):
        assert reg.supportsInterface(iid)
    assert not reg.supportsInterface("0xffffffff")
    assert not reg.supportsInterface("0x780e9d63")  # ERC-721 Enumerable: not implemented
    assert (reg.name(), reg.symbol()) == ("AgentIdentity", "AGENT")


def test_register_three_overloads(reg, accounts):
    a, b = accounts[1], accounts[2]
    r0 = reg.register(sender=a)
    r1 = reg.register("ipfs://agent-1", sender=a)
    r2 = reg.register(
        "https://b.example/agent.json", [("team", b"\x01\x02"), ("mcp", b"https://b/mcp")], sender=b
    )
    ids = [one(r, "Registered").agentId for r in (r0, r1, r2)]
    assert ids == [0, 1, 2] and reg.totalAgents() == 3
    e = one(r2, "Registered")
    assert (e.agentURI, A(e.owner)) == ("https://b.example/agent.json", A(b))
    t = one(r2, "Transfer")
    assert (A(t.sender), A(t.receiver), t.tokenId) == (ZERO, A(b), 2)
    sets = evs(r2, "MetadataSet")
    assert [(s.metadataKey, bytes(s.metadataValue)) for s in sets] == [
        ("agentWallet", bytes.fromhex(A(b)[2:])),
        ("team", b"\x01\x02"),
        ("mcp", b"https://b/mcp"),
    ]
    assert reg.tokenURI(0) == "" and reg.tokenURI(1) == "ipfs://agent-1"
    assert reg.balanceOf(a) == 2 and reg.balanceOf(b) == 1
    assert A(reg.ownerOf(2)) == A(b)
    assert bytes(reg.getMetadata(2, "team")) == b"\x01\x02"
    assert bytes(reg.getMetadata(2, "absent")) == b""
    # the registrant is the first agent wallet, mirrored under the reserved key
    assert A(reg.getAgentWallet(2)) == A(b)
    assert bytes(reg.getMetadata(2, "agentWallet")) == bytes.fromhex(A(b)[2:])


def test_register_refusals(reg, accounts):
    a = accounts[1]
    reverts("reserved key", reg.register, "u", [("agentWallet", b"\x00" * 20)], sender=a)
    reverts("zero owner", reg.balanceOf, ZERO, sender=a)
    reverts("unknown agent", reg.ownerOf, 99, sender=a)
    reverts("unknown agent", reg.tokenURI, 99, sender=a)
    reverts("unknown agent", reg.getAgentWallet, 99, sender=a)


def test_uri_and_metadata_authorization(reg, accounts):
    a, b, op = accounts[1], accounts[2], accounts[3]
    aid = one(reg.register("u0", sender=a), "Registered").agentId
    r = reg.setAgentURI(aid, "u1", sender=a)
    e = one(r, "URIUpdated")
    assert (e.agentId, e.newURI, A(e.updatedBy)) == (aid, "u1", A(a))
    reverts("not authorized", reg.setAgentURI, aid, "x", sender=b)
    reverts("not authorized", reg.setMetadata, aid, "k", b"v", sender=b)
    reverts("reserved key", reg.setMetadata, aid, "agentWallet", b"v", sender=a)
    reverts("unknown agent", reg.setMetadata, 99, "k", b"v", sender=a)
    # an operator and a token-approved account may edit
    reg.setApprovalForAll(op, True, sender=a)
    assert reg.isAuthorizedOrOwner(op, aid)
    r = reg.setMetadata(aid, "k", b"v1", sender=op)
    e = one(r, "MetadataSet")
    assert (e.agentId, e.metadataKey, bytes(e.metadataValue)) == (aid, "k", b"v1")
    reg.setApprovalForAll(op, False, sender=a)
    assert not reg.isAuthorizedOrOwner(op, aid)
    reg.approve(b, aid, sender=a)
    assert A(reg.getApproved(aid)) == A(b)
    reg.setAgentURI(aid, "u2", sender=b)
    assert reg.tokenURI(aid) == "u2"


def test_erc721_transfers_and_refusals(reg, project, accounts):
    a, b, c = accounts[1], accounts[2], accounts[3]
    aid = one(reg.register("u", sender=a), "Registered").agentId
    reverts("not authorized", reg.transferFrom, a, c, aid, sender=b)
    reverts("not owner", reg.transferFrom, b, c, aid, sender=a)
    reverts("zero receiver", reg.transferFrom, a, ZERO, aid, sender=a)
    reverts("self approval", reg.approve, a, aid, sender=a)
    reverts("not authorized", reg.approve, c, aid, sender=b)
    reverts("self approval", reg.setApprovalForAll, a, True, sender=a)
    reg.approve(b, aid, sender=a)
    r = reg.transferFrom(a, c, aid, sender=b)
    t = one(r, "Transfer")
    assert (A(t.sender), A(t.receiver), t.tokenId) == (A(a), A(c), aid)
    assert A(reg.ownerOf(aid)) == A(c) and A(reg.getApproved(aid)) == ZERO  # approval cleared
    # safe transfer to a contract that is no ERC-721 receiver is refused
    token = accounts[0].deploy(project.MockERC20, "T", "T")
    with ape.reverts():
        reg.safeTransferFrom(c, token, aid, sender=c)
    reg.safeTransferFrom(c, a, aid, b"data", sender=c)  # to an account: no callback
    assert A(reg.ownerOf(aid)) == A(a)


def test_agent_wallet_by_eoa_signature(reg, chain, accounts):
    a, w, other = accounts[1], accounts[5], accounts[7]
    aid = one(reg.register("u", sender=a), "Registered").agentId
    deadline = now(chain) + 120
    data = agent_wallet_data(chain.chain_id, reg.address, aid, w.address, a.address, deadline)
    # our digest (eth_account's encoder) is the contract's
    assert bytes(reg.agentWalletDigest(aid, w, a, deadline)) == digest(data)
    sig = sign(w.private_key, data)
    reverts("not authorized", reg.setAgentWallet, aid, w, deadline, sig, sender=other)
    # signed by someone else, or for another deadline / owner / agent
    reverts(
        "invalid signature", reg.setAgentWallet, aid, w, deadline, sign(other.private_key, data), sender=a
    )
    reverts("invalid signature", reg.setAgentWallet, aid, w, deadline - 1, sig, sender=a)
    tampered = sig[:10] + bytes([sig[10] ^ 1]) + sig[11:]
    reverts("invalid signature", reg.setAgentWallet, aid, w, deadline, tampered, sender=a)
    reverts("invalid signature length", reg.setAgentWallet, aid, w, deadline, sig[:64], sender=a)
    reverts("zero wallet", reg.setAgentWallet, aid, ZERO, deadline, sig, sender=a)
    far = now(chain) + 301
    far_sig = sign(
        w.private_key, agent_wallet_data(chain.chain_id, reg.address, aid, w.address, a.address, far)
    )
    reverts("deadline too far", reg.setAgentWallet, aid, w, far, far_sig, sender=a)
    r = reg.setAgentWallet(aid, w, deadline, sig, sender=a)
    e = one(r, "MetadataSet")
    assert (e.metadataKey, bytes(e.metadataValue)) == ("agentWallet", bytes.fromhex(A(w)[2:]))
    assert A(reg.getAgentWallet(aid)) == A(w)
    # expired
    past = now(chain) + 5
    sig2 = sign(
        w.private_key, agent_wallet_data(chain.chain_id, reg.address, aid, w.address, a.address, past)
    )
    chain.mine(1, timestamp=past + 1)
    reverts("expired", reg.setAgentWallet, aid, w, past, sig2, sender=a)
    # unset
    reverts("not authorized", reg.unsetAgentWallet, aid, sender=other)
    r = reg.unsetAgentWallet(aid, sender=a)
    assert bytes(one(r, "MetadataSet").metadataValue) == b""
    assert A(reg.getAgentWallet(aid)) == ZERO


def test_agent_wallet_by_erc1271_and_cleared_on_transfer(reg, chain, accounts, wallet_1271):
    a, b, signer = accounts[1], accounts[2], accounts[6]
    aid = one(reg.register("u", sender=a), "Registered").agentId
    deadline = now(chain) + 60
    data = agent_wallet_data(chain.chain_id, reg.address, aid, wallet_1271.address, a.address, deadline)

    def refused(key, sender):
        reverts(
            "invalid signature",
            reg.setAgentWallet,
            aid,
            wallet_1271,
            deadline,
            sign(key, data),
            sender=sender,
        )

    refused(b.private_key, a)
    reg.setAgentWallet(aid, wallet_1271, deadline, sign(signer.private_key, data), sender=a)
    assert A(reg.getAgentWallet(aid)) == A(wallet_1271)
    r = reg.transferFrom(a, b, aid, sender=a)
    e = one(r, "MetadataSet")
    assert (e.agentId, e.metadataKey, bytes(e.metadataValue)) == (aid, "agentWallet", b"")
    assert A(reg.getAgentWallet(aid)) == ZERO
    assert bytes(reg.getMetadata(aid, "agentWallet")) == b""
    # the old owner's signature names the old owner: useless to the new one
    refused(signer.private_key, b)
    reverts("not authorized", reg.unsetAgentWallet, aid, sender=a)


def test_eip712_domain_is_readable_and_the_one_signed(reg, chain):
    """ERC-5267: a generic client (viem's getEip712Domain, the reference SDKs) reads the domain
    it signs AgentWalletSet under; it is the one the contract checks."""
    fields, name, version, chain_id, contract, salt, extensions = reg.eip712Domain()
    assert (bytes(fields), name, version, chain_id) == (
        b"\x0f",
        "ERC8004IdentityRegistry",
        "1",
        chain.chain_id,
    )
    assert (A(contract), bytes(salt), list(extensions)) == (A(reg), bytes(32), [])
    domain_typehash = keccak(
        b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
    )
    separator = keccak(
        domain_typehash
        + keccak(name.encode())
        + keccak(version.encode())
        + chain_id.to_bytes(32, "big")
        + bytes(12)
        + bytes.fromhex(A(contract)[2:])
    )
    assert bytes(reg.DOMAIN_SEPARATOR()) == separator
    # the typehash of the reference registry's AgentWalletSet
    wallet_set = keccak(b"AgentWalletSet(uint256 agentId,address newWallet,address owner,uint256 deadline)")
    struct = keccak(
        wallet_set + (5).to_bytes(32, "big") + bytes(12) + bytes(20) + bytes(12) + bytes(20) + bytes(32)
    )
    assert bytes(reg.agentWalletDigest(5, ZERO, ZERO, 0)) == keccak(b"\x19\x01" + separator + struct)


def test_setting_a_uri_emits_erc4906_metadata_update(reg, accounts):
    a = accounts[1]
    r = reg.register("ipfs://agent", sender=a)
    aid = one(r, "Registered").agentId
    assert [e.event_name for e in r.events] == ["Transfer", "MetadataUpdate", "Registered", "MetadataSet"]
    assert one(r, "MetadataUpdate")._tokenId == aid
    assert evs(reg.register(sender=a), "MetadataUpdate") == []  # no URI set
    assert one(reg.setAgentURI(aid, "ipfs://agent-2", sender=a), "MetadataUpdate")._tokenId == aid


def test_agent_wallet_with_code_may_sign_with_its_key(reg, chain, accounts):
    """An account with code that still holds its key (an EIP-7702 delegated EOA) proves itself by
    ECDSA, as the reference registry accepts; without it, ERC-1271 is asked (and here refused:
    the code answers nothing)."""
    a, w, other = accounts[1], accounts[8], accounts[7]
    aid = one(reg.register("u", sender=a), "Registered").agentId
    chain.provider.set_code(
        w.address, b"\xef\x01\x00" + bytes(19) + b"\x01"
    )  # delegated to ecrecover's address
    assert chain.provider.web3.eth.get_code(w.address) != b""
    deadline = now(chain) + 120
    data = agent_wallet_data(chain.chain_id, reg.address, aid, w.address, a.address, deadline)
    with ape.reverts():
        reg.setAgentWallet(aid, w, deadline, sign(other.private_key, data), sender=a)
    sig = sign(w.private_key, data)
    with ape.reverts():  # a malformed signature falls through to ERC-1271 too
        reg.setAgentWallet(aid, w, deadline, sig[:64], sender=a)
    reg.setAgentWallet(aid, w, deadline, sig, sender=a)
    assert A(reg.getAgentWallet(aid)) == A(w)


def test_a_registration_file_on_chain_as_a_data_uri(reg, chain, accounts):
    """ERC-8004 lets the agentURI carry the whole registration file (a base64 data: URI): one with
    the spec's members and a few services fits (bound 8192 bytes); a longer URI is refused."""
    a = accounts[1]
    services = [
        {
            "name": "A2A",
            "endpoint": f"https://agent.example/{i}/.well-known/agent-card.json",
            "version": "0.3.0",
        }
        for i in range(12)
    ]
    services += [{"name": "MCP", "endpoint": "https://mcp.agent.example/", "version": "2025-06-18"}]
    registration = {
        "type": "https://eips.ethereum.org/EIPS/eip-8004#registration-v1",
        "name": "price-agent",
        "description": "Sells ETH/USD prices over x402; " + "settles on EigenCloud. " * 20,
        "image": "https://agent.example/agent.png",
        "services": services,
        "x402Support": True,
        "active": True,
        "registrations": [{"agentId": 0, "agentRegistry": f"eip155:{chain.chain_id}:{reg.address}"}],
        "supportedTrust": ["reputation", "crypto-economic", "tee-attestation"],
    }
    uri = "data:application/json;base64," + base64.b64encode(json.dumps(registration).encode()).decode()
    assert 2048 < len(uri) <= 8192
    aid = one(reg.register(uri, sender=a), "Registered").agentId
    assert reg.tokenURI(aid) == uri
    body = json.loads(base64.b64decode(reg.tokenURI(aid).split(",", 1)[1]))
    assert body["type"].endswith("#registration-v1") and body["services"][-1]["name"] == "MCP"
    with ape.reverts():
        reg.register("data:," + "x" * 8192, sender=a)
    with ape.reverts():
        reg.setAgentURI(aid, "data:," + "x" * 8192, sender=a)


def test_agent_wallet_with_a_long_erc1271_signature(reg, project, chain, accounts):
    """A contract wallet's signature may be far longer than 65 bytes (a passkey wallet's WebAuthn
    assertion), as the reference registry takes any `bytes`: up to 2048 bytes here."""
    a, signer = accounts[1], accounts[6]
    with ape.reverts("min length below 65"):
        accounts[0].deploy(project.MockLongSignatureWallet, signer, 64)
    wallet = accounts[0].deploy(project.MockLongSignatureWallet, signer, 600)
    aid = one(reg.register("u", sender=a), "Registered").agentId
    deadline = now(chain) + 120
    data = agent_wallet_data(chain.chain_id, reg.address, aid, wallet.address, a.address, deadline)
    sig = sign(signer.private_key, data)
    reverts("invalid signature", reg.setAgentWallet, aid, wallet, deadline, sig, sender=a)  # too short for it
    with ape.reverts():  # over the bound
        reg.setAgentWallet(aid, wallet, deadline, sig + bytes(2048 - 64), sender=a)
    reg.setAgentWallet(aid, wallet, deadline, sig + b"\xa5" * 535, sender=a)
    assert A(reg.getAgentWallet(aid)) == A(wallet)
