"""State proofs (offchain/chain/stateproof.py) against anvil: an account and its slots proven at a block
from that block's hash alone, and every way a proof can fail to hold."""

from dataclasses import replace

import pytest
import rlp
from eth_utils import keccak

from offchain.chain.stateproof import (
    StateProof,
    StateProofError,
    fetch_state_proof,
    header_rlp,
    verify_state_proof,
)

# MockERC20 (contracts/mocks/MockERC20.vy, ``vyper -f layout``): totalSupply in slot 0, balanceOf in slot 1
SUPPLY_SLOT, BALANCES_SLOT = 0, 1


def _balance_slot(holder: str) -> int:
    """Where Vyper keeps ``balanceOf[holder]``: keccak(slot . key), the mapping's slot first."""
    return int.from_bytes(
        keccak(BALANCES_SLOT.to_bytes(32, "big") + bytes(12) + bytes.fromhex(holder[2:])), "big"
    )


@pytest.fixture(scope="module")
def proven_token(project, accounts, chain, networks):
    """A token with a balance, minted at block `before`, then more at block `after`."""
    w3 = networks.provider.web3
    owner, holder = accounts[0], accounts[1]
    token = owner.deploy(project.MockERC20, "Proof Token", "PT")
    token.mint(holder, 5, sender=owner)
    before = chain.blocks.head.number
    token.mint(holder, 7, sender=owner)
    after = chain.blocks.head.number
    return w3, token.address, holder.address, before, after


def _block_hash(w3, n):
    return bytes(w3.eth.get_block(n)["hash"])


def test_an_account_and_its_slots_are_proven_at_each_block(proven_token):
    w3, token, holder, before, after = proven_token
    slots = [SUPPLY_SLOT, _balance_slot(holder), 12345]  # 12345: never written, proven zero
    for block, supply in ((before, 5), (after, 12)):
        proof = fetch_state_proof(w3, token, slots, block)
        account = verify_state_proof(proof, _block_hash(w3, block))
        assert account.number == block and account.address == token
        assert account.storage == {SUPPLY_SLOT: supply, _balance_slot(holder): supply, 12345: 0}
        assert all(
            account.storage[s] == int.from_bytes(w3.eth.get_storage_at(token, s, block), "big") for s in slots
        )
        assert account.code_hash == keccak(bytes(w3.eth.get_code(token)))
        assert account.nonce == w3.eth.get_transaction_count(token, block)
        # the JSON form parses back to the same proof
        assert StateProof.from_json(proof.to_json()) == proof
    # an externally owned account: its balance, the empty code's hash
    eoa = verify_state_proof(fetch_state_proof(w3, holder, [7], after), _block_hash(w3, after))
    assert eoa.balance == w3.eth.get_balance(holder, after) and eoa.code_hash == keccak(b"")
    assert eoa.storage == {7: 0}  # an empty storage trie: every slot proven zero


def test_a_proof_holds_only_for_its_own_block(proven_token):
    w3, token, holder, before, after = proven_token
    old = fetch_state_proof(w3, token, [SUPPLY_SLOT], before)
    with pytest.raises(StateProofError, match="does not hash to the block hash"):
        verify_state_proof(old, _block_hash(w3, after))
    # the later header with the earlier state's nodes: the state root differs, the walk fails
    new = fetch_state_proof(w3, token, [SUPPLY_SLOT], after)
    with pytest.raises(StateProofError, match="the account: the trie proof does not hold"):
        verify_state_proof(replace(new, account_proof=old.account_proof), _block_hash(w3, after))
    with pytest.raises(StateProofError, match="slot 0: the trie proof does not hold"):
        verify_state_proof(replace(new, storage_proofs=old.storage_proofs), _block_hash(w3, after))


def test_every_altered_proof_is_refused(proven_token):
    w3, token, holder, _, after = proven_token
    proof = fetch_state_proof(w3, token, [SUPPLY_SLOT, _balance_slot(holder)], after)
    good = _block_hash(w3, after)
    flipped_header = bytearray(proof.header)
    flipped_header[-1] ^= 1
    with pytest.raises(StateProofError, match="does not hash"):
        verify_state_proof(replace(proof, header=bytes(flipped_header)), good)
    # a bit flipped in any node of the account's path, a node dropped, the path cut short
    for i in range(len(proof.account_proof)):
        node = bytearray(proof.account_proof[i])
        node[len(node) // 2] ^= 0x10
        nodes = list(proof.account_proof)
        nodes[i] = bytes(node)
        with pytest.raises(StateProofError, match="the account"):
            verify_state_proof(replace(proof, account_proof=tuple(nodes)), good)
    with pytest.raises(StateProofError, match="the account"):
        verify_state_proof(replace(proof, account_proof=proof.account_proof[:-1]), good)
    # a slot's proof under another slot's number proves nothing
    (s0, p0), (s1, p1) = proof.storage_proofs
    with pytest.raises(StateProofError, match="trie proof does not hold"):
        verify_state_proof(replace(proof, storage_proofs=((s0, p1), (s1, p0))), good)
    # another account's proof under this address
    other = fetch_state_proof(w3, holder, [], after)
    with pytest.raises(StateProofError, match="the account"):
        verify_state_proof(replace(proof, account_proof=other.account_proof), good)
    # an address with no account at all: proven absent, refused as such
    nobody = fetch_state_proof(w3, "0x" + "ab" * 20, [], after)
    with pytest.raises(StateProofError, match="no account"):
        verify_state_proof(nobody, good)
    # a header that hashes right but is not a header
    junk = rlp.encode([b"x"] * 3)
    with pytest.raises(StateProofError, match="not a block header"):
        verify_state_proof(replace(proof, header=junk), keccak(junk))


@pytest.mark.parametrize(
    "bent, why",
    [
        (lambda j: {k: v for k, v in j.items() if k != "header"}, "a state proof is"),
        (lambda j: {**j, "extra": 1}, "a state proof is"),
        (lambda j: {**j, "address": "0x1234"}, "not an address"),
        (lambda j: {**j, "header": "abcd"}, "0x-prefixed"),
        (lambda j: {**j, "header": "0xzz"}, "not hex"),
        (lambda j: {**j, "header": "0x" + "00" * 5000}, "over 4096 bytes"),
        (lambda j: {**j, "accountProof": []}, "1 to 64 nodes"),
        (lambda j: {**j, "accountProof": ["0x00"] * 65}, "1 to 64 nodes"),
        (lambda j: {**j, "accountProof": "0x00"}, "1 to 64 nodes"),
        (lambda j: {**j, "storageProof": [{"slot": "0x0"}]}, "is {slot, proof}"),
        (lambda j: {**j, "storageProof": [{"slot": "0x" + "11" * 33, "proof": ["0x80"]}]}, "over 32 bytes"),
        (lambda j: {**j, "storageProof": [{"slot": "0x0", "proof": ["0x80"]}] * 17}, "at most 16"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_malformed_proofs_are_refused_by_the_parser(proven_token, bent, why):
    w3, token, _, _, after = proven_token
    j = fetch_state_proof(w3, token, [SUPPLY_SLOT], after).to_json()
    with pytest.raises(StateProofError, match=why):
        StateProof.from_json(bent(j))


def test_the_header_is_re_encoded_only_when_it_hashes_to_the_block(proven_token):
    w3, _, _, _, after = proven_token
    raw = w3.provider.make_request("eth_getBlockByNumber", [hex(after), False])["result"]
    assert keccak(header_rlp(raw)) == _block_hash(w3, after)
    with pytest.raises(StateProofError, match="does not hash to its block hash"):
        header_rlp({**raw, "gasUsed": hex(int(raw["gasUsed"], 16) + 1)})
    with pytest.raises(StateProofError, match="malformed"):
        header_rlp({k: v for k, v in raw.items() if k != "stateRoot"})
    with pytest.raises(StateProofError, match="no block"):
        fetch_state_proof(w3, "0x" + "ab" * 20, [], after + 10_000)


def test_random_damage_to_a_proof_is_refused_and_only_as_a_state_proof_error(proven_token):
    """Bytes flipped, cut, inserted or nodes shuffled anywhere in a proof (fixed seed): never another
    exception, never a value other than the node's."""
    import random

    w3, token, holder, _, after = proven_token
    proof = fetch_state_proof(w3, token, [SUPPLY_SLOT, _balance_slot(holder)], after)
    good = _block_hash(w3, after)
    honest = verify_state_proof(proof, good)
    rnd = random.Random(8004)
    for _ in range(400):
        account, storage = list(proof.account_proof), [list(p) for _, p in proof.storage_proofs]
        target = rnd.choice([account, *storage])
        i = rnd.randrange(len(target))
        node = bytearray(target[i])
        how = rnd.randrange(4)
        if how == 0:
            node[rnd.randrange(len(node))] ^= 1 << rnd.randrange(8)
        elif how == 1:
            del node[rnd.randrange(len(node)) :]
        elif how == 2:
            node.insert(rnd.randrange(len(node)), rnd.randrange(256))
        else:
            rnd.shuffle(target)
        target[i] = bytes(node)
        bent = replace(
            proof,
            account_proof=tuple(account),
            storage_proofs=tuple(
                (s, tuple(p)) for (s, _), p in zip(proof.storage_proofs, storage, strict=True)
            ),
        )
        try:
            got = verify_state_proof(bent, good)
        except StateProofError:
            continue
        assert got == honest  # only a change that left every node as it was (a shuffle of one node)
