"""Signed A2A agent cards (offchain/agent/a2a_card.py): RFC 8785 canonical JSON, the card's
canonical form (defaults without presence left out, required fields and unknown ones kept,
``signatures`` excluded), JWS signatures (ES256, ES256K by the agent's Ethereum key) made by the
server and verified by the client, with a typed refusal for a tampered card, an untrusted or wrong
key, an unsupported algorithm and a malformed signature."""

from __future__ import annotations

import base64
import json
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from eth_account import Account

from offchain.agent import errors as E
from offchain.agent.a2a import GRPC, JSONRPC, A2AClient, AgentSkill, agent_card
from offchain.agent.a2a_card import card_key, card_payload, jcs, sign_card, verify_card
from offchain.agent.a2a_server import Skill
from offchain.agent.facilitator import LocalFacilitator
from offchain.httpservice import ServiceServer
from tests.offchain.agent.support import a2a_agent, build_world

AGENT_KEY = "0x" + "7e" * 32
OTHER_KEY = "0x" + "5a" * 32


def test_jcs_numbers_are_ecmascripts():
    # RFC 8785 appendix B: IEEE 754 doubles and their canonical text
    for bits, text in [
        ("0000000000000000", "0"),
        ("8000000000000000", "0"),
        ("0000000000000001", "5e-324"),
        ("7fefffffffffffff", "1.7976931348623157e+308"),
        ("4340000000000000", "9007199254740992"),
        ("444b1ae4d6e2ef50", "1e+21"),
        ("444b1ae4d6e2ef4f", "999999999999999900000"),
        ("3eb0c6f7a0b5ed8d", "0.000001"),
        ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
        ("41b3de4355555555", "333333333.3333333"),
        ("c3e0000000000000", "-9223372036854776000"),
    ]:
        assert jcs(struct.unpack(">d", bytes.fromhex(bits))[0]) == text.encode()
    assert jcs([2.0, -0.5, 100, 1e-7, 123456789012345680000.0]) == b"[2,-0.5,100,1e-7,123456789012345680000]"
    for bad in (float("nan"), float("inf"), 2**60, "\ud800", {1: 2}, b"x"):
        with pytest.raises(ValueError):
            jcs(bad)


def test_jcs_orders_keys_by_utf16_and_escapes_minimally():
    keys = ["\u20ac", "\r", "\ufb33", "1", "\U0001f600", "\u0080", "\u00f6"]
    out = jcs({k: i for i, k in enumerate(keys)}).decode()
    assert [json.loads("{" + kv + "}") for kv in out[1:-1].split(",")] == [
        {"\r": 1},
        {"1": 3},
        {"\u0080": 5},
        {"\u00f6": 6},
        {"\u20ac": 0},
        {"\U0001f600": 4},  # a surrogate pair, D83D, sorts before FB33
        {"\ufb33": 2},
    ]
    assert jcs({"s": 'a"b\\c\n\t\x01\u2028é'}) == '{"s":"a\\"b\\\\c\\n\\t\\u0001\u2028é"}'.encode()
    assert jcs({"b": [True, None], "a": {}}) == b'{"a":{},"b":[true,null]}'


def test_the_cards_canonical_form():
    card = {
        "name": "N",
        "description": "",  # required: kept though empty
        "version": "1",
        "supportedInterfaces": [
            {"url": "h:1", "protocolBinding": GRPC, "protocolVersion": "1.0", "tenant": ""}
        ],
        "capabilities": {"streaming": False, "extensions": [], "pushNotifications": True},
        "defaultInputModes": [],
        "defaultOutputModes": ["text/plain"],
        "skills": [{"id": "s", "name": "S", "description": "d", "tags": [], "examples": []}],
        "securitySchemes": {},
        "iconUrl": "",  # optional: present, so kept
        "futureField": {"x": 1},  # unknown here: kept as signed
        "signatures": [{"protected": "x", "signature": "y"}],
    }
    got = json.loads(card_payload(card))
    assert "signatures" not in got and got["description"] == "" and got["iconUrl"] == ""
    assert got["capabilities"] == {"streaming": False, "pushNotifications": True}
    assert got["supportedInterfaces"] == [{"url": "h:1", "protocolBinding": GRPC, "protocolVersion": "1.0"}]
    assert got["skills"] == [{"id": "s", "name": "S", "description": "d", "tags": []}]
    assert got["defaultInputModes"] == [] and "securitySchemes" not in got and got["futureField"] == {"x": 1}
    # what is left out does not change the payload; what is kept does
    assert card_payload(card) == card_payload({k: v for k, v in card.items() if k != "securitySchemes"})
    assert card_payload(card) != card_payload(card | {"iconUrl": "https://i"})
    # a required field protobuf dropped (an empty list) is written back with its default
    bare = card | {"skills": [{"id": "s", "name": "S", "description": "d"}], "defaultInputModes": None}
    del bare["defaultInputModes"]
    assert card_payload(bare) == card_payload(card)


def _card():
    return agent_card(
        "agent", "sells data", "http://a/a2a", [AgentSkill("s", "S", "d", ("t",))], grpc_url="a:1"
    )


def _b64(d):
    return base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")


def test_signatures_verify_and_every_refusal_is_typed():
    agent = card_key(AGENT_KEY)
    p256 = ec.generate_private_key(ec.SECP256R1())
    keys = {"agent": agent.public_key(), "p256": p256.public_key()}
    signed = sign_card(_card(), AGENT_KEY, "agent")
    (sig,) = signed["signatures"]
    assert json.loads(base64.urlsafe_b64decode(sig["protected"] + "==")) == {
        "alg": "ES256K",
        "typ": "JOSE",
        "kid": "agent",
    }
    assert verify_card(signed, keys) == "agent"
    assert verify_card(sign_card(_card(), p256, "p256"), keys) == "p256"
    # a card signed twice (key rotation): either trusted key establishes it
    both = sign_card(sign_card(_card(), OTHER_KEY, "old"), p256, "p256")
    assert verify_card(both, keys) == "p256"
    # tampered: a field changed, a field added, the signature changed
    with pytest.raises(E.A2ACardTamperedError, match="does not verify"):
        verify_card(signed | {"name": "mallory"}, keys)
    with pytest.raises(E.A2ACardTamperedError):
        verify_card(signed | {"iconUrl": "https://evil"}, keys)
    flipped = sig["signature"][:-2] + ("AA" if sig["signature"][-2:] != "AA" else "AB")
    with pytest.raises(E.A2ACardTamperedError):
        verify_card(signed | {"signatures": [sig | {"signature": flipped}]}, keys)
    # a default that has no presence may be dropped or added: the same canonical card
    assert verify_card(signed | {"securitySchemes": {}}, keys) == "agent"
    # the wrong key: another key under the trusted id, or a key nobody trusts
    with pytest.raises(E.A2ACardTamperedError, match="does not verify"):
        verify_card(sign_card(_card(), OTHER_KEY, "agent"), keys)
    with pytest.raises(E.A2ACardUntrustedKeyError, match="not trusted"):
        verify_card(sign_card(_card(), OTHER_KEY, "other"), keys)
    with pytest.raises(E.A2ACardUntrustedKeyError, match="not signed"):
        verify_card(_card(), keys)
    with pytest.raises(E.A2ACardTamperedError, match="is no ES256K key"):
        verify_card(sign_card(_card(), AGENT_KEY, "p256"), keys)
    # unsupported algorithms (none, HMAC, RSA) and critical parameters
    for header in (
        {"alg": "none", "kid": "agent"},
        {"alg": "HS256", "kid": "agent"},
        {"alg": "RS256", "kid": "agent"},
        {"alg": "ES256K", "kid": "agent", "crit": ["exp"], "exp": 1},
    ):
        forged = signed | {"signatures": [{"protected": _b64(header), "signature": sig["signature"]}]}
        with pytest.raises(E.A2ACardAlgorithmError):
            verify_card(forged, keys)
    # malformed signatures
    for bad in ("x", {"protected": "@@", "signature": "AA"}, {"protected": _b64([1]), "signature": "AA"}):
        with pytest.raises(E.A2ACardTamperedError, match="malformed"):
            verify_card(signed | {"signatures": [bad]}, keys)
    with pytest.raises(E.A2ACardTamperedError, match="64 bytes"):
        verify_card(signed | {"signatures": [sig | {"signature": "AAAA"}]}, keys)
    with pytest.raises(E.A2ACardUntrustedKeyError):
        verify_card(signed | {"signatures": "x"}, keys)
    with pytest.raises(E.A2ACardTamperedError):
        verify_card([signed], keys)


@pytest.fixture(scope="module")
def a2a_world(project, accounts, chain):
    return build_world(project, accounts, chain)


async def _vip(msg, pay):
    return {"vip": True}


def test_a_served_card_is_signed_by_the_agents_key_and_checked_by_the_client(a2a_world):
    address = Account.from_key(AGENT_KEY).address
    server = a2a_agent(
        a2a_world,
        LocalFacilitator(a2a_world.fresh_facilitator()),
        card_key=AGENT_KEY,
        grpc_listen="127.0.0.1:0",
        bearer_tokens={"tok": "alice"},
        extended_skills=[Skill(AgentSkill("vip", "V", "d"), _vip)],
    )
    trusted = {address: card_key(AGENT_KEY).public_key()}
    with ServiceServer(server.app(), log_level="warning") as s:
        for binding in (JSONRPC, GRPC):
            c = A2AClient(
                s.url, a2a_world.client("payer", 10**6), binding=binding, card_keys=trusted, token="tok"
            )
            assert (
                c.card().raw["signatures"] and c.ask(skill="free").task.status.state == "TASK_STATE_COMPLETED"
            )
            # the extended card is signed too, and checked (over gRPC: after a protobuf round trip)
            assert "vip" in c.extended_card().skills
            c.close()
        with pytest.raises(E.A2ACardTamperedError):
            A2AClient(s.url, card_keys={address: card_key(OTHER_KEY).public_key()}).card()
        with pytest.raises(E.A2ACardUntrustedKeyError):
            A2AClient(s.url, card_keys={"someone": card_key(OTHER_KEY).public_key()}).card()
