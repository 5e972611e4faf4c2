"""Unit tests for DelegationManager: operators, delegation (incl. EIP-712 / ERC-1271 approver
signatures), undelegate/redelegate, the withdrawal queue, the share hooks and the views.

Expected values are recomputed in Python from the documented formulas (see the header of
DelegationManager.vy and Strategy.vy), never read back from the contract under test.
"""

import ape
import pytest
from eth_abi import encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from tests.contracts.support import NO_SIG, SALT0, WAD, ZERO, A, Batch, evs, one, typed_data

DELAY = 20  # TEST_CONFIG.withdrawal_delay_blocks
OFF = 10**3  # Strategy SHARES_OFFSET == BALANCE_OFFSET
SECP_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
GAS = 3_000_000  # explicit gas: the tx is mined (in a known block) even when it reverts
URI = "https://op.example/meta.json"
WITHDRAWAL_T = "(address,address,address,uint256,uint32,address[],uint256[])"
SIGNER2_KEY = "0x" + "42" * 32  # a key that is no test account


# ------------------------------------------------------------------ helpers


def wtuple(raw):
    """Normalise a decoded Withdrawal (list/tuple/struct) into the ABI tuple."""
    if isinstance(raw, dict):
        raw = [
            raw[k]
            for k in (
                "staker",
                "delegatedTo",
                "withdrawer",
                "nonce",
                "startBlock",
                "strategies",
                "scaledShares",
            )
        ]
    elif not isinstance(raw, (list, tuple)):
        raw = [
            getattr(raw, k)
            for k in (
                "staker",
                "delegatedTo",
                "withdrawer",
                "nonce",
                "startBlock",
                "strategies",
                "scaledShares",
            )
        ]
    s, d, wd, n, b, strats, shares = raw
    return (A(s), A(d), A(wd), int(n), int(b), [A(x) for x in strats], [int(x) for x in shares])


def queued(receipt):
    """[(withdrawal tuple, root, sharesToWithdraw)] from SlashingWithdrawalQueued events."""
    return [
        (wtuple(e.withdrawal), bytes(e.withdrawalRoot), list(e.sharesToWithdraw))
        for e in evs(receipt, "SlashingWithdrawalQueued")
    ]


def root_of(wt):
    return keccak(encode([WITHDRAWAL_T], [wt]))


def domain_separator(chain_id, dm):
    return keccak(
        encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [
                keccak(
                    text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
                ),
                keccak(text="EigenCloud DelegationManager"),
                keccak(text="1"),
                chain_id,
                A(dm),
            ],
        )
    )


def approval_digest(chain_id, dm, staker, operator, approver, salt, expiry):
    th = keccak(
        text="DelegationApproval(address delegationApprover,address staker,address operator,bytes32 salt,uint256 expiry)"
    )
    sh = keccak(
        encode(
            ["bytes32", "address", "address", "address", "bytes32", "uint256"],
            [th, A(approver), A(staker), A(operator), salt, expiry],
        )
    )
    return keccak(b"\x19\x01" + domain_separator(chain_id, dm) + sh)


def rsv(key, digest):
    sm = Account.from_key(key).unsafe_sign_hash(digest)
    return sm.r, sm.s, sm.v


def pack(r, s, v):
    return r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v])


def sign(key, digest):
    return pack(*rsv(key, digest))


def imp(accounts, contract):
    """Impersonate a contract (to call hooks as their legitimate caller)."""
    a = accounts[A(contract)]
    a.balance = 10**21
    return a


def shares_for(amount, total, bal_before):
    return amount * (total + OFF) // (bal_before + OFF)


def tokens_for(shares, total, bal):
    return (bal + OFF) * shares // (total + OFF)


def mine_to(chain, target_height):
    """Mine so that the chain head is `target_height` (the next tx lands in target_height + 1)."""
    n = target_height - chain.blocks.height
    assert n >= 0
    if n:
        chain.mine(n)


# ------------------------------------------------------------------ fixtures


@pytest.fixture
def key(accounts):
    """Private key of w.other (accounts[8]), used as the delegation approver."""
    return accounts[8].private_key


@pytest.fixture
def cid(chain):
    return chain.chain_id


@pytest.fixture
def am_imp(accounts, w):
    return imp(accounts, w.am)


@pytest.fixture
def esc_imp(accounts, w):
    return imp(accounts, w.esc)


@pytest.fixture
def dw(w):
    """op registered (no approver); staker holds 1000 WAD + 7 TKA shares, delegated to op."""
    w.register_operator(w.op)
    w.deposit(w.staker, "TKA", 1000 * WAD + 7)
    w.dm.delegateTo(w.op, NO_SIG, SALT0, sender=w.staker)
    return w


@pytest.fixture
def gated(w):
    """op registered with w.other as delegation approver; staker has 5 WAD TKA."""
    w.register_operator(w.op, approver=w.other)
    w.deposit(w.staker, "TKA", 5 * WAD)
    return w


def slash(w, am_imp, op, sym, prev_mag, new_mag, slash_id=1):
    """Call the DelegationManager's slash hook as the AllocationManager would."""
    return w.dm.slashOperatorShares(op, w.avs, 1, slash_id, w.strats[sym], prev_mag, new_mag, sender=am_imp)


# ------------------------------------------------------------------ wiring


def test_wiring_constants_and_domain(w, cid):
    assert A(w.dm.strategyManager()) == A(w.sm)
    assert A(w.dm.allocationManager()) == A(w.am)
    assert A(w.dm.slashEscrow()) == A(w.esc)
    assert w.dm.minWithdrawalDelayBlocks() == DELAY
    assert bytes(w.dm.domainSeparator()) == domain_separator(cid, w.dm)
    assert not w.dm.isOperator(ZERO)
    assert not w.dm.isDelegated(ZERO)


def test_initialize_only_once_by_deployer_with_nonzero_addresses(w, project):
    pc = w.dm.permissionController()
    ext = w.owner.deploy(project.DelegationManagerExtension, w.sm.address, 5, pc)
    dm = w.owner.deploy(project.DelegationManager, w.sm.address, 5, pc, ext)
    assert dm.minWithdrawalDelayBlocks() == 5 and A(dm.strategyManager()) == A(w.sm)
    with ape.reverts("only deployer"):
        dm.initialize(w.am, w.esc, sender=w.other)
    with ape.reverts("zero address"):
        dm.initialize(ZERO, w.esc, sender=w.owner)
    with ape.reverts("zero address"):
        dm.initialize(w.am, ZERO, sender=w.owner)
    dm.initialize(w.am, w.esc, sender=w.owner)
    assert A(dm.allocationManager()) == A(w.am) and A(dm.slashEscrow()) == A(w.esc)
    with ape.reverts("already initialized"):
        dm.initialize(w.am, w.esc, sender=w.owner)
    with ape.reverts("already initialized"):
        w.dm.initialize(w.am, w.esc, sender=w.owner)


def test_extension_runs_only_by_delegatecall_and_must_match(w, project):
    pc = w.dm.permissionController()
    ext = project.DelegationManagerExtension.at(w.dm.extension())
    assert A(ext.strategyManager()) == A(w.sm) and ext.minWithdrawalDelayBlocks() == DELAY
    assert A(ext.permissionController()) == A(pc)
    w.register_operator(w.op)
    with ape.reverts("only delegatecall"):
        ext.updateOperatorMetadataURI(w.op, "x", sender=w.op)
    with ape.reverts("only delegatecall"):
        ext.undoSlash(w.op, w.strats["TKA"], 1, 2, 1, sender=w.other)
    args = (w.sm.address, DELAY, pc)
    for i, bad in ((0, w.am.address), (1, DELAY + 1), (2, w.other.address)):
        wrong = list(args)
        wrong[i] = bad
        with ape.reverts("extension mismatch"):
            w.owner.deploy(project.DelegationManager, *wrong, ext)
    with ape.reverts("zero address"):
        zero_ext = w.owner.deploy(project.DelegationManagerExtension, w.sm.address, DELAY, ZERO)
        w.owner.deploy(project.DelegationManager, w.sm.address, DELAY, ZERO, zero_ext)


# ------------------------------------------------------------------ operators


def test_register_as_operator_events_state_and_allocation_delay(w):
    r = w.dm.registerAsOperator(w.other, 7, URI, sender=w.op)
    names = [e.event_name for e in r.events if A(e.contract_address) == A(w.dm)]
    assert names == [
        "OperatorRegistered",
        "DelegationApproverUpdated",
        "OperatorMetadataURIUpdated",
        "StakerDelegated",
    ]
    e = one(r, "OperatorRegistered")
    assert A(e.operator) == A(w.op) and A(e.delegationApprover) == A(w.other)
    e = one(r, "DelegationApproverUpdated")
    assert A(e.operator) == A(w.op) and A(e.newDelegationApprover) == A(w.other)
    e = one(r, "OperatorMetadataURIUpdated")
    assert A(e.operator) == A(w.op) and e.metadataURI == URI
    e = one(r, "StakerDelegated")
    assert A(e.staker) == A(w.op) and A(e.operator) == A(w.op)
    assert w.dm.isOperator(w.op) and w.dm.isDelegated(w.op)
    assert A(w.dm.delegatedTo(w.op)) == A(w.op)
    assert A(w.dm.delegationApprover(w.op)) == A(w.other)
    # the allocation delay is set at once for a new operator
    e = one(r, "AllocationDelaySet", w.am)
    assert A(e.operator) == A(w.op) and e.delay == 7 and e.effectBlock == r.block_number
    assert tuple(w.am.getAllocationDelay(w.op)) == (True, 7)


def test_register_twice_or_while_delegated_reverts(w):
    w.register_operator(w.op)
    with ape.reverts("already delegated"):
        w.dm.registerAsOperator(ZERO, 0, URI, sender=w.op)
    w.dm.delegateTo(w.op, NO_SIG, SALT0, sender=w.staker)
    with ape.reverts("already delegated"):
        w.dm.registerAsOperator(ZERO, 0, URI, sender=w.staker)


def test_register_with_existing_deposits_delegates_them_to_self(w):
    w.deposit(w.op, "TKA", 3 * WAD + 1)
    w.deposit(w.op, "TKB", 11)
    r = w.register_operator(w.op)
    inc = {A(e.strategy): e.shares for e in evs(r, "OperatorSharesIncreased")}
    assert inc == {A(w.strats["TKA"]): 3 * WAD + 1, A(w.strats["TKB"]): 11}
    assert all(A(e.operator) == A(w.op) and A(e.staker) == A(w.op) for e in evs(r, "OperatorSharesIncreased"))
    assert [e.newDepositScalingFactor for e in evs(r, "DepositScalingFactorUpdated")] == [WAD, WAD]
    assert w.op_shares(w.op, "TKA") == 3 * WAD + 1 and w.op_shares(w.op, "TKB") == 11
    assert list(w.dm.getOperatorShares(w.op, [w.strats["TKB"], w.strats["TKA"], w.strats["TKC"]])) == [
        11,
        3 * WAD + 1,
        0,
    ]


def test_modify_operator_details(w):
    w.register_operator(w.op)
    with ape.reverts("only operator"):
        w.dm.modifyOperatorDetails(w.op, w.other, sender=w.other)
    with ape.reverts("not an operator"):
        w.dm.modifyOperatorDetails(w.staker, w.other, sender=w.staker)
    r = w.dm.modifyOperatorDetails(w.op, w.other, sender=w.op)
    e = one(r, "DelegationApproverUpdated")
    assert A(e.operator) == A(w.op) and A(e.newDelegationApprover) == A(w.other)
    assert A(w.dm.delegationApprover(w.op)) == A(w.other)
    # the new approver is enforced at once
    w.deposit(w.staker, "TKA", 10)
    with ape.reverts("invalid signature length"):
        w.dm.delegateTo(w.op, (b"", 2**255), SALT0, sender=w.staker)


def test_update_operator_metadata_uri(w):
    w.register_operator(w.op)
    with ape.reverts("only operator"):
        w.dm.updateOperatorMetadataURI(w.op, "x", sender=w.staker)
    with ape.reverts("not an operator"):
        w.dm.updateOperatorMetadataURI(w.staker, "x", sender=w.staker)
    r = w.dm.updateOperatorMetadataURI(w.op, "ipfs://new", sender=w.op)
    e = one(r, "OperatorMetadataURIUpdated")
    assert A(e.operator) == A(w.op) and e.metadataURI == "ipfs://new"


# ------------------------------------------------------------------ delegation


def test_delegate_moves_every_strategy(w):
    w.register_operator(w.op)
    w.deposit(w.staker, "TKA", 1000 * WAD + 3)
    w.deposit(w.staker, "TKB", 7)
    r = w.dm.delegateTo(w.op, NO_SIG, SALT0, sender=w.staker)
    e = one(r, "StakerDelegated")
    assert A(e.staker) == A(w.staker) and A(e.operator) == A(w.op)
    inc = {A(e.strategy): (A(e.operator), A(e.staker), e.shares) for e in evs(r, "OperatorSharesIncreased")}
    assert inc == {
        A(w.strats["TKA"]): (A(w.op), A(w.staker), 1000 * WAD + 3),
        A(w.strats["TKB"]): (A(w.op), A(w.staker), 7),
    }
    assert [(A(e.staker), e.newDepositScalingFactor) for e in evs(r, "DepositScalingFactorUpdated")] == [
        (A(w.staker), WAD)
    ] * 2
    assert A(w.dm.delegatedTo(w.staker)) == A(w.op) and w.dm.isDelegated(w.staker)
    assert not w.dm.isOperator(w.staker)
    assert w.op_shares(w.op, "TKA") == 1000 * WAD + 3 and w.op_shares(w.op, "TKB") == 7
    assert w.dm.operatorScaledShares(w.op, w.strats["TKA"]) == 1000 * WAD + 3
    wd, dep = w.dm.getWithdrawableShares(w.staker, [w.strats["TKA"], w.strats["TKB"], w.strats["TKC"]])
    assert list(wd) == [1000 * WAD + 3, 7, 0] and list(dep) == [1000 * WAD + 3, 7, 0]


def test_delegate_rejections(w):
    w.register_operator(w.op)
    w.register_operator(w.op2)
    with ape.reverts("not an operator"):
        w.dm.delegateTo(w.staker2, NO_SIG, SALT0, sender=w.staker)
    w.dm.delegateTo(w.op, NO_SIG, SALT0, sender=w.staker)
    with ape.reverts("already delegated"):
        w.dm.delegateTo(w.op, NO_SIG, SALT0, sender=w.staker)
    with ape.reverts("already delegated"):
        w.dm.delegateTo(w.op2, NO_SIG, SALT0, sender=w.op)
    # a delegated staker is not an operator
    with ape.reverts("not an operator"):
        w.dm.delegateTo(w.staker, NO_SIG, SALT0, sender=w.staker2)


def test_delegate_to_zero_address_reverts(w):
    """delegatedTo[0] == 0, so without an explicit check the zero address passed as an operator:
    the staker stayed undelegated, StakerDelegated(staker, 0) was emitted and operatorShares(0, s)
    grew on every call."""
    w.deposit(w.staker, "TKA", 100)
    with ape.reverts("not an operator"):
        w.dm.delegateTo(ZERO, NO_SIG, SALT0, sender=w.staker)
    assert w.dm.operatorShares(ZERO, w.strats["TKA"]) == 0
    w.register_operator(w.op)
    w.dm.delegateTo(w.op, NO_SIG, SALT0, sender=w.staker)
    with ape.reverts("not an operator"):
        w.dm.redelegate(ZERO, NO_SIG, SALT0, sender=w.staker)


def test_deposit_after_delegation_increases_operator_shares(w):
    w.register_operator(w.op)
    r = w.dm.delegateTo(w.op, NO_SIG, SALT0, sender=w.staker)
    assert evs(r, "OperatorSharesIncreased") == []  # nothing to move
    r = w.deposit(w.staker, "TKA", 123)
    e = one(r, "OperatorSharesIncreased")
    assert (A(e.operator), A(e.staker), A(e.strategy), e.shares) == (
        A(w.op),
        A(w.staker),
        A(w.strats["TKA"]),
        123,
    )
    assert one(r, "DepositScalingFactorUpdated").newDepositScalingFactor == WAD
    r = w.deposit(w.staker, "TKA", 77)
    assert one(r, "OperatorSharesIncreased").shares == 77
    assert w.op_shares(w.op, "TKA") == 200 and w.withdrawable(w.staker, "TKA") == 200


def test_increase_delegated_shares_only_strategy_manager(w, am_imp):
    w.register_operator(w.op)
    for who in (w.staker, w.op, am_imp):
        with ape.reverts("only strategy manager"):
            w.dm.increaseDelegatedShares(w.staker, w.strats["TKA"], 0, 10, sender=who)


# ------------------------------------------------------------------ approver signatures


def test_digest_matches_eip712_typed_data(w, cid):
    salt = b"\x01" * 32
    expiry = 2**40
    ours = approval_digest(cid, w.dm, w.staker, w.op, w.other, salt, expiry)
    assert bytes(w.dm.calculateDelegationApprovalDigestHash(w.staker, w.op, w.other, salt, expiry)) == ours
    # cross-check with eth_account's independent EIP-712 encoder
    fields = [("delegationApprover", "address"), ("staker", "address"), ("operator", "address")]
    fields += [("salt", "bytes32"), ("expiry", "uint256")]
    message = {"delegationApprover": A(w.other), "staker": A(w.staker), "operator": A(w.op)}
    message |= {"salt": salt, "expiry": expiry}
    msg = encode_typed_data(
        full_message=typed_data(
            "EigenCloud DelegationManager", cid, w.dm, "DelegationApproval", fields, message
        )
    )
    assert keccak(b"\x19" + msg.version + msg.header + msg.body) == ours


def test_delegate_with_eoa_approver_signature_and_salt_replay(gated, key, cid):
    w = gated
    salt = b"\x07" * 32
    expiry = 2**40
    sig = sign(key, approval_digest(cid, w.dm, w.staker, w.op, w.other, salt, expiry))
    assert not w.dm.delegationApproverSaltIsSpent(w.other, salt)
    r = w.dm.delegateTo(w.op, (sig, expiry), salt, sender=w.staker)
    assert A(one(r, "StakerDelegated").operator) == A(w.op)
    assert w.dm.delegationApproverSaltIsSpent(w.other, salt)
    assert w.op_shares(w.op, "TKA") == 5 * WAD
    # a valid signature for another staker, but with the spent salt
    sig2 = sign(key, approval_digest(cid, w.dm, w.staker2, w.op, w.other, salt, expiry))
    with ape.reverts("salt spent"):
        w.dm.delegateTo(w.op, (sig2, expiry), salt, sender=w.staker2)
    # the same signature with a fresh salt does not verify (the salt is signed)
    with ape.reverts("invalid signature"):
        w.dm.delegateTo(w.op, (sig2, expiry), b"\x08" * 32, sender=w.staker2)


def test_salt_is_tracked_per_approver(gated, key, cid):
    w = gated
    salt = b"\x09" * 32
    w.dm.delegateTo(
        w.op,
        (sign(key, approval_digest(cid, w.dm, w.staker, w.op, w.other, salt, 2**40)), 2**40),
        salt,
        sender=w.staker,
    )
    signer2 = Account.from_key(SIGNER2_KEY).address
    w.dm.modifyOperatorDetails(w.op, signer2, sender=w.op)
    sig = sign(SIGNER2_KEY, approval_digest(cid, w.dm, w.staker2, w.op, signer2, salt, 2**40))
    w.dm.delegateTo(w.op, (sig, 2**40), salt, sender=w.staker2)
    assert w.dm.delegationApproverSaltIsSpent(signer2, salt) and w.dm.delegationApproverSaltIsSpent(
        w.other, salt
    )
    assert A(w.dm.delegatedTo(w.staker2)) == A(w.op)


def test_signature_expiry_boundary(gated, key, cid, chain):
    w = gated
    t = chain.blocks.head.timestamp + 1000
    s1, s2 = b"\x01" * 32, b"\x02" * 32
    # expiry one second before the block's timestamp: expired (checked before the signature)
    chain.pending_timestamp = t
    sig = sign(key, approval_digest(cid, w.dm, w.staker, w.op, w.other, s1, t - 1))
    with ape.reverts("signature expired"):
        w.dm.delegateTo(w.op, (sig, t - 1), s1, sender=w.staker, gas=GAS)
    # expiry equal to the block's timestamp: still valid
    chain.pending_timestamp = t + 5
    sig = sign(key, approval_digest(cid, w.dm, w.staker, w.op, w.other, s2, t + 5))
    r = w.dm.delegateTo(w.op, (sig, t + 5), s2, sender=w.staker, gas=GAS)
    assert r.timestamp == t + 5
    assert A(w.dm.delegatedTo(w.staker)) == A(w.op)
    assert not w.dm.delegationApproverSaltIsSpent(w.other, s1)


def test_signature_by_wrong_key_or_for_other_parties_rejected(gated, key, cid):
    w = gated
    w.register_operator(w.op2, approver=w.other)
    salt, exp = b"\x03" * 32, 2**40
    bad = [
        sign(SIGNER2_KEY, approval_digest(cid, w.dm, w.staker, w.op, w.other, salt, exp)),  # wrong signer
        sign(key, approval_digest(cid, w.dm, w.staker2, w.op, w.other, salt, exp)),  # other staker
        sign(key, approval_digest(cid, w.dm, w.staker, w.op2, w.other, salt, exp)),  # other operator
        sign(key, approval_digest(cid, w.dm, w.staker, w.op, w.other, salt, exp + 1)),  # other expiry
        sign(key, approval_digest(cid + 1, w.dm, w.staker, w.op, w.other, salt, exp)),  # other chain
        sign(key, approval_digest(cid, w.sm, w.staker, w.op, w.other, salt, exp)),  # other contract
    ]
    for sig in bad:
        with ape.reverts("invalid signature"):
            w.dm.delegateTo(w.op, (sig, exp), salt, sender=w.staker)
    assert not w.dm.isDelegated(w.staker)


def test_malformed_signatures_rejected(gated, key, cid):
    w = gated
    salt, exp = b"\x04" * 32, 2**40
    digest = approval_digest(cid, w.dm, w.staker, w.op, w.other, salt, exp)
    r, s, v = rsv(key, digest)
    assert s <= SECP_N // 2 and v in (27, 28)
    good = pack(r, s, v)
    for sig in (b"", good[:64], good + b"\x00", good * 2):
        with ape.reverts("invalid signature length"):
            w.dm.delegateTo(w.op, (sig, exp), salt, sender=w.staker)
    for bad_v in (0, 1, 29, 255):
        with ape.reverts("invalid signature v"):
            w.dm.delegateTo(w.op, (pack(r, s, bad_v), exp), salt, sender=w.staker)
    # the malleable twin (n - s, flipped v) recovers the same signer but must be refused
    high = pack(r, SECP_N - s, 55 - v)
    assert Account._recover_hash(digest, signature=high) == A(w.other)
    with ape.reverts("invalid signature s"):
        w.dm.delegateTo(w.op, (high, exp), salt, sender=w.staker)
    with ape.reverts("invalid signature s"):
        w.dm.delegateTo(w.op, (pack(r, SECP_N // 2 + 1, v), exp), salt, sender=w.staker)
    # garbage r/s: ecrecover yields 0
    with ape.reverts("invalid signature"):
        w.dm.delegateTo(w.op, (pack(0, 0, 27), exp), salt, sender=w.staker)
    w.dm.delegateTo(w.op, (good, exp), salt, sender=w.staker)
    assert w.dm.isDelegated(w.staker)


def test_approver_itself_needs_no_signature(gated):
    w = gated
    w.deposit(w.other, "TKB", 9)
    w.dm.delegateTo(w.op, NO_SIG, SALT0, sender=w.other)
    assert A(w.dm.delegatedTo(w.other)) == A(w.op) and w.op_shares(w.op, "TKB") == 9
    assert not w.dm.delegationApproverSaltIsSpent(w.other, SALT0)


def test_erc1271_wallet_approver(w, project, key, cid):
    wallet = w.owner.deploy(project.MockERC1271Wallet, w.other.address)
    w.register_operator(w.op, approver=wallet)
    salt, exp = b"\x05" * 32, 2**40
    digest = approval_digest(cid, w.dm, w.staker, w.op, wallet, salt, exp)
    with ape.reverts("invalid signature"):  # signed by someone else than the wallet's owner
        w.dm.delegateTo(w.op, (sign(SIGNER2_KEY, digest), exp), salt, sender=w.staker)
    with ape.reverts("invalid signature"):  # the wallet rejects a malformed signature (no length check here)
        w.dm.delegateTo(w.op, (sign(key, digest)[:64], exp), salt, sender=w.staker)
    with ape.reverts("invalid signature"):  # an EOA-style signature over the digest for the EOA approver
        w.dm.delegateTo(
            w.op,
            (sign(key, approval_digest(cid, w.dm, w.staker, w.op, w.other, salt, exp)), exp),
            salt,
            sender=w.staker,
        )
    w.dm.delegateTo(w.op, (sign(key, digest), exp), salt, sender=w.staker)
    assert A(w.dm.delegatedTo(w.staker)) == A(w.op)
    assert w.dm.delegationApproverSaltIsSpent(wallet, salt)
    sig2 = sign(key, approval_digest(cid, w.dm, w.staker2, w.op, wallet, salt, exp))
    with ape.reverts("salt spent"):
        w.dm.delegateTo(w.op, (sig2, exp), salt, sender=w.staker2)


def test_contract_approver_without_erc1271_reverts(w):
    w.register_operator(w.op, approver=w.tokens["TKA"])  # a contract with no isValidSignature
    with ape.reverts():
        w.dm.delegateTo(w.op, (b"\x00" * 65, 2**40), SALT0, sender=w.staker)
    assert not w.dm.isDelegated(w.staker)


# ------------------------------------------------------------------ undelegate


def test_undelegate_by_staker_queues_everything(w):
    w.register_operator(w.op)
    w.deposit(w.staker, "TKA", 1000 * WAD + 7)
    w.deposit(w.staker, "TKB", 5)
    w.dm.delegateTo(w.op, NO_SIG, SALT0, sender=w.staker)
    sa, sb = A(w.strats["TKA"]), A(w.strats["TKB"])
    r = w.dm.undelegate(w.staker, sender=w.staker)
    assert evs(r, "StakerForceUndelegated") == []
    e = one(r, "StakerUndelegated")
    assert (A(e.staker), A(e.operator)) == (A(w.staker), A(w.op))
    [(wt, root, to_withdraw)] = queued(r)
    assert wt == (A(w.staker), A(w.op), A(w.staker), 0, r.block_number, [sa, sb], [1000 * WAD + 7, 5])
    assert root == root_of(wt) == bytes(w.dm.calculateWithdrawalRoot(wt))
    assert to_withdraw == [1000 * WAD + 7, 5]
    assert [bytes(x) for x in r.return_value] == [root]
    dec = {A(e.strategy): e.shares for e in evs(r, "OperatorSharesDecreased")}
    assert dec == {sa: 1000 * WAD + 7, sb: 5}
    assert w.dm.pendingWithdrawals(root) and w.dm.cumulativeWithdrawalsQueued(w.staker) == 1
    assert not w.dm.isDelegated(w.staker) and A(w.dm.delegatedTo(w.staker)) == ZERO
    assert w.op_shares(w.op, "TKA") == 0 and w.op_shares(w.op, "TKB") == 0
    assert w.dm.operatorScaledShares(w.op, sa) == 0
    assert w.sm.stakerStrategyListLength(w.staker) == 0 and w.sm.stakerDepositShares(w.staker, sa) == 0
    assert w.dm.getSlashableSharesInQueue(w.op, sa) == 1000 * WAD + 7


@pytest.mark.parametrize("by", ["operator", "approver"])
def test_force_undelegate(w, by):
    w.register_operator(w.op)
    w.deposit(w.staker, "TKA", 50)
    w.dm.delegateTo(w.op, NO_SIG, SALT0, sender=w.staker)
    w.dm.modifyOperatorDetails(w.op, w.other, sender=w.op)  # approver set after the delegation
    caller = w.op if by == "operator" else w.other
    r = w.dm.undelegate(w.staker, sender=caller)
    assert [e.event_name for e in r.events if e.event_name.startswith("Staker")] == [
        "StakerForceUndelegated",
        "StakerUndelegated",
    ]
    e = one(r, "StakerForceUndelegated")
    assert (A(e.staker), A(e.operator)) == (A(w.staker), A(w.op))
    [(wt, root, _)] = queued(r)
    assert wt[0] == wt[2] == A(w.staker)  # the withdrawer is always the staker
    assert not w.dm.isDelegated(w.staker) and w.dm.pendingWithdrawals(root)


def test_undelegate_rejections(w):
    w.register_operator(w.op, approver=w.other)
    w.register_operator(w.op2)
    w.dm.delegateTo(w.op2, NO_SIG, SALT0, sender=w.staker)
    with ape.reverts("not delegated"):
        w.dm.undelegate(w.staker2, sender=w.staker2)
    with ape.reverts("operators cannot undelegate"):
        w.dm.undelegate(w.op, sender=w.op)
    with ape.reverts("operators cannot undelegate"):
        w.dm.undelegate(w.op, sender=w.other)  # not even by its approver
    for who in (w.other, w.op, w.staker2):  # the approver/operator of *another* operator, a stranger
        with ape.reverts("unauthorized"):
            w.dm.undelegate(w.staker, sender=who)


def test_undelegate_without_stake_queues_nothing(w):
    w.register_operator(w.op)
    w.dm.delegateTo(w.op, NO_SIG, SALT0, sender=w.staker)
    r = w.dm.undelegate(w.staker, sender=w.staker)
    assert list(r.return_value) == [] and queued(r) == []
    assert one(r, "StakerUndelegated")
    assert w.dm.cumulativeWithdrawalsQueued(w.staker) == 0 and not w.dm.isDelegated(w.staker)


# ------------------------------------------------------------------ slashing factor and scaling math


def test_slash_hook_only_allocation_manager(dw, esc_imp):
    w = dw
    for who in (w.avs, w.op, esc_imp):
        with ape.reverts("only allocation manager"):
            w.dm.slashOperatorShares(w.op, w.avs, 1, 1, w.strats["TKA"], WAD, WAD // 2, sender=who)


def test_slash_hook_math_with_queued_shares(dw, am_imp):
    w = dw
    sa = w.strats["TKA"]
    s0 = 1000 * WAD + 7
    # queue 300 WAD + 1 (stays slashable), then slash max magnitude 0.8 -> 0.3
    rq = w.dm.queueWithdrawals([([sa], [300 * WAD + 1], w.staker)], sender=w.staker)
    op_scaled, q_scaled = s0 - (300 * WAD + 1), 300 * WAD + 1
    prev_mag, new_mag = 8 * 10**17, 3 * 10**17
    sf = WAD * new_mag // prev_mag
    slashed = (op_scaled + q_scaled) - (op_scaled * sf // WAD + q_scaled * sf // WAD)
    r = slash(w, am_imp, w.op, "TKA", prev_mag, new_mag)
    assert r.return_value == slashed
    e = one(r, "OperatorSharesSlashed")
    assert (A(e.operator), A(e.strategy), e.totalSlashedShares) == (A(w.op), A(sa), slashed)
    # the strategy shares went out as tokens to the escrow (1:1 so far: nothing else moved the rate)
    amount = tokens_for(slashed, s0, s0)
    e = one(r, "SlashedSharesRemoved", w.sm)
    assert (A(e.operator), e.shares, e.amount) == (A(w.op), slashed, amount)
    assert w.tokens["TKA"].balanceOf(w.esc) == amount
    assert sa.totalShares() == s0 - slashed
    assert w.dm.slashingFactor(w.op, sa) == sf == w.dm.slashingFactorAtBlock(w.op, sa, r.block_number)
    assert w.dm.slashingFactorAtBlock(w.op, sa, r.block_number - 1) == WAD
    assert w.op_shares(w.op, "TKA") == op_scaled * sf // WAD
    assert w.withdrawable(w.staker, "TKA") == op_scaled * sf // WAD
    assert w.dm.getSlashableSharesInQueue(w.op, sa) == q_scaled * sf // WAD
    # the queued withdrawal is worth scaled * sf once completable
    [(wt, _, _)] = queued(rq)
    mine_to(w.chain, rq.block_number + DELAY)
    bal = w.tokens["TKA"].balanceOf(w.staker)
    w.dm.completeQueuedWithdrawal(wt, [w.tokens["TKA"]], True, sender=w.staker)
    total, held = s0 - slashed, s0 - amount
    assert w.tokens["TKA"].balanceOf(w.staker) - bal == tokens_for(q_scaled * sf // WAD, total, held)


def test_fully_slashed_operator(dw, am_imp):
    w = dw
    slash(w, am_imp, w.op, "TKA", WAD, 0)
    assert w.dm.slashingFactor(w.op, w.strats["TKA"]) == 0
    assert w.op_shares(w.op, "TKA") == 0 and w.withdrawable(w.staker, "TKA") == 0
    assert w.tokens["TKA"].balanceOf(w.esc) == 1000 * WAD + 7
    # deposits of delegated stakers and delegations carrying that strategy revert
    w.fund(w.staker, "TKA", 10)
    with ape.reverts("operator fully slashed"):
        w.sm.depositIntoStrategy(w.strats["TKA"], w.tokens["TKA"], 10, sender=w.staker)
    w.deposit(w.staker2, "TKA", 10)
    with ape.reverts("operator fully slashed"):
        w.dm.delegateTo(w.op, NO_SIG, SALT0, sender=w.staker2)
    # other strategies are unaffected; a staker without that strategy may still delegate
    w.deposit(w.recipient, "TKB", 4)
    w.dm.delegateTo(w.op, NO_SIG, SALT0, sender=w.recipient)
    assert w.op_shares(w.op, "TKB") == 4


def test_deposit_scaling_factor_after_slash(dw, am_imp):
    """k' = ((a + d) / (s + d)) / sf for a top-up; a new delegator gets k = WAD / sf."""
    w = dw
    sa = w.strats["TKA"]
    s0 = 1000 * WAD + 7
    prev_mag, new_mag = WAD, 666_666_666_666_666_667
    sf = WAD * new_mag // prev_mag
    r = slash(w, am_imp, w.op, "TKA", prev_mag, new_mag)
    slashed = s0 - s0 * sf // WAD
    amount = tokens_for(slashed, s0, s0)
    total, bal = s0 - slashed, s0 - amount
    # top-up of d tokens
    d_tok = 333 * WAD + 5
    d = shares_for(d_tok, total, bal)
    a = (s0 * WAD // WAD) * sf // WAD
    k = ((a + d) * WAD // (s0 + d)) * WAD // sf
    r = w.deposit(w.staker, "TKA", d_tok)
    assert one(r, "Deposit", w.sm).shares == d
    e = one(r, "DepositScalingFactorUpdated")
    assert (A(e.staker), A(e.strategy), e.newDepositScalingFactor) == (A(w.staker), A(sa), k)
    assert one(r, "OperatorSharesIncreased").shares == d
    assert w.dm.depositScalingFactor(w.staker, sa) == k
    scaled = (s0 + d) * k // WAD
    assert w.dm.operatorScaledShares(w.op, sa) == scaled
    assert w.withdrawable(w.staker, "TKA") == scaled * sf // WAD
    # the deposit adds d withdrawable shares, less rounding of k (relative 1e-18 per step)
    assert a + d - 3 * (s0 + d) // WAD - 2 <= scaled * sf // WAD <= a + d
    # a fresh delegator to the slashed operator: k = WAD * WAD / sf, withdrawable unchanged
    total, bal = total + d, bal + d_tok
    x_tok = 10 * WAD + 3
    x = shares_for(x_tok, total, bal)
    w.deposit(w.staker2, "TKA", x_tok)
    assert w.dm.depositScalingFactor(w.staker2, sa) == WAD
    r = w.dm.delegateTo(w.op, NO_SIG, SALT0, sender=w.staker2)
    k2 = WAD * WAD // sf
    assert one(r, "DepositScalingFactorUpdated").newDepositScalingFactor == k2
    assert one(r, "OperatorSharesIncreased").shares == x
    assert w.dm.depositScalingFactor(w.staker2, sa) == k2
    assert w.withdrawable(w.staker2, "TKA") == (x * k2 // WAD) * sf // WAD
    assert x - 2 * x // WAD - 2 <= w.withdrawable(w.staker2, "TKA") <= x
    assert w.dm.operatorScaledShares(w.op, sa) == scaled + x * k2 // WAD
    assert w.op_shares(w.op, "TKA") == (scaled + x * k2 // WAD) * sf // WAD
    # operator shares cover the sum of what stakers can withdraw
    assert w.op_shares(w.op, "TKA") >= w.withdrawable(w.staker, "TKA") + w.withdrawable(w.staker2, "TKA")


def test_slashing_factor_history_lookup(dw, am_imp):
    w = dw
    sa = w.strats["TKA"]
    mags = [WAD, 9 * 10**17, 6 * 10**17, 5 * 10**17, 10**17]
    sf, hist = WAD, []
    for i in range(1, len(mags)):
        r = slash(w, am_imp, w.op, "TKA", mags[i - 1], mags[i], slash_id=i)
        sf = sf * mags[i] // mags[i - 1]
        hist.append((r.block_number, sf))
        w.chain.mine(2)
    first = hist[0][0]

    def expected(b):
        v = WAD
        for blk, val in hist:
            if blk <= b:
                v = val
        return v

    for b in range(first - 2, w.chain.blocks.height + 3):
        assert w.dm.slashingFactorAtBlock(w.op, sa, b) == expected(b), b
    assert w.dm.slashingFactor(w.op, sa) == sf == hist[-1][1]
    assert w.dm.slashingFactorAtBlock(w.op, w.strats["TKB"], hist[-1][0]) == WAD
    assert w.dm.slashingFactor(w.op, w.strats["TKB"]) == WAD
    assert w.dm.slashingFactor(ZERO, sa) == WAD


def test_slash_through_allocation_manager(dw):
    """End to end: a 25% slash of a 50% allocation lowers max magnitude to 0.875."""
    w = dw
    sa = w.strats["TKA"]
    s0 = 1000 * WAD + 7
    w.create_sets(ids=(1,), syms=("TKA",))
    w.register_for_sets(w.op, (1,))
    w.allocate(w.op, 1, {"TKA": WAD // 2})
    r = w.slash(w.op, 1, {"TKA": WAD // 4})
    new_mag = WAD - (WAD // 2 * (WAD // 4) + WAD - 1) // WAD
    assert new_mag == 875 * 10**15
    sf = WAD * new_mag // WAD
    assert w.dm.slashingFactor(w.op, sa) == sf
    e = one(r, "OperatorSharesSlashed")
    assert e.totalSlashedShares == s0 - s0 * sf // WAD
    assert w.withdrawable(w.staker, "TKA") == s0 * sf // WAD


# ------------------------------------------------------------------ restore hook


def test_undo_slash_hook_access_and_math(dw, am_imp, esc_imp):
    """undoSlash scales every checkpoint from the slash's block on by prevMax / newMax (capped at
    WAD), so the current factor and the factor a queued withdrawal is valued at are both undone."""
    w = dw
    sa = w.strats["TKA"]
    for who in (w.op, am_imp, w.resolver):
        with ape.reverts("only slash escrow"):
            w.dm.undoSlash(w.op, sa, 1, WAD, WAD // 2, sender=who)
    s0 = 1000 * WAD + 7
    rq = w.dm.queueWithdrawals([([sa], [100 * WAD], w.staker)], sender=w.staker)
    r1 = slash(w, am_imp, w.op, "TKA", WAD, 3 * WAD // 5)  # sf 0.6
    mine_to(w.chain, r1.block_number + 3)
    r2 = slash(w, am_imp, w.op, "TKA", 3 * WAD // 5, 3 * WAD // 10, slash_id=2)  # sf 0.3
    assert w.dm.slashingFactor(w.op, sa) == 3 * WAD // 10
    # undo the first slash (the escrow mints its shares back first): both checkpoints scale by 1 / 0.6
    e1 = one(r1, "SlashedSharesRemoved")
    w.tokens["TKA"].transfer(sa, e1.amount, sender=esc_imp)
    w.sm.restoreShares(sa, e1.amount, e1.shares, sender=esc_imp)
    r = w.dm.undoSlash(w.op, sa, r1.block_number, WAD, 3 * WAD // 5, sender=esc_imp)
    e = one(r, "OperatorSharesRestored")
    assert (A(e.operator), A(e.strategy), e.slashBlock, e.newSlashingFactor) == (
        A(w.op),
        A(sa),
        r1.block_number,
        WAD // 2,
    )
    assert w.dm.slashingFactorAtBlock(w.op, sa, r1.block_number) == WAD
    assert w.dm.slashingFactorAtBlock(w.op, sa, r2.block_number) == WAD // 2
    assert w.dm.slashingFactorAtBlock(w.op, sa, r1.block_number - 1) == WAD
    assert w.op_shares(w.op, "TKA") == (s0 - 100 * WAD) // 2
    assert w.dm.getSlashableSharesInQueue(w.op, sa) == 50 * WAD
    # a full slash: the factor it replaced comes back on undo
    r3 = slash(w, am_imp, w.op, "TKA", 3 * WAD // 10, 0, slash_id=3)
    assert w.dm.slashingFactor(w.op, sa) == 0
    with ape.reverts("unknown full slash"):
        w.dm.undoSlash(w.op, sa, r3.block_number - 1, 3 * WAD // 10, 0, sender=esc_imp)
    # undoing the second slash (before the full one) also raises what the full slash replaced
    w.dm.undoSlash(w.op, sa, r2.block_number, 3 * WAD // 5, 3 * WAD // 10, sender=esc_imp)
    assert w.dm.slashingFactor(w.op, sa) == 0
    w.dm.undoSlash(w.op, sa, r3.block_number, 3 * WAD // 10, 0, sender=esc_imp)
    assert w.dm.slashingFactor(w.op, sa) == WAD
    assert w.withdrawable(w.staker, "TKA") == s0 - 100 * WAD
    mine_to(w.chain, rq.block_number + DELAY + 1)
    assert w.dm.slashingFactorAtBlock(w.op, sa, rq.block_number + DELAY) == WAD


# ------------------------------------------------------------------ queue withdrawals


def test_queue_partial_withdrawal_after_slash(dw, am_imp):
    w = dw
    sa = w.strats["TKA"]
    s0 = 1000 * WAD + 7
    slash(w, am_imp, w.op, "TKA", WAD, 7 * 10**17)
    sf = 7 * 10**17
    # a second staker delegates to the slashed operator: k != WAD
    x_tok = 40 * WAD + 1
    slashed = s0 - s0 * sf // WAD
    total, bal = s0 - slashed, s0 - tokens_for(slashed, s0, s0)
    s2 = shares_for(x_tok, total, bal)
    w.deposit(w.staker2, "TKA", x_tok)
    w.dm.delegateTo(w.op, NO_SIG, SALT0, sender=w.staker2)
    k = WAD * WAD // sf
    op_scaled_before = s0 + s2 * k // WAD
    assert w.dm.operatorScaledShares(w.op, sa) == op_scaled_before
    x = s2 // 3
    r = w.dm.queueWithdrawals([([sa], [x], w.staker2)], sender=w.staker2)
    scaled = x * k // WAD
    [(wt, root, to_withdraw)] = queued(r)
    assert wt == (A(w.staker2), A(w.op), A(w.staker2), 0, r.block_number, [A(sa)], [scaled])
    assert to_withdraw == [scaled * sf // WAD]
    e = one(r, "OperatorSharesDecreased")
    assert (A(e.operator), A(e.staker), A(e.strategy), e.shares) == (
        A(w.op),
        A(w.staker2),
        A(sa),
        scaled * sf // WAD,
    )
    assert [bytes(x) for x in r.return_value] == [root]
    dec = s2 * k // WAD - (s2 - x) * k // WAD
    assert w.dm.operatorScaledShares(w.op, sa) == op_scaled_before - dec
    assert w.sm.stakerDepositShares(w.staker2, sa) == s2 - x
    assert w.dm.depositScalingFactor(w.staker2, sa) == k  # not reset on a partial withdrawal
    assert w.sm.stakerStrategyListLength(w.staker2) == 1
    assert w.dm.getSlashableSharesInQueue(w.op, sa) == scaled * sf // WAD
    # withdrawing the rest resets the scaling factor and the strategy list
    w.dm.queueWithdrawals([([sa], [s2 - x], w.staker2)], sender=w.staker2)
    assert w.dm.depositScalingFactor(w.staker2, sa) == WAD
    assert w.sm.stakerStrategyListLength(w.staker2) == 0
    assert w.dm.cumulativeWithdrawalsQueued(w.staker2) == 2


def test_queue_several_withdrawals_in_one_call(dw):
    w = dw
    sa = w.strats["TKA"]
    w.deposit(w.staker, "TKB", 30)
    sb = w.strats["TKB"]
    params = [([sa], [10], w.staker), ([sb, sa], [30, 20], w.staker), ([sa], [5], w.staker)]
    r = w.dm.queueWithdrawals(params, sender=w.staker)
    q = queued(r)
    assert [wt[3] for wt, _, _ in q] == [0, 1, 2]
    assert [bytes(x) for x in r.return_value] == [root for _, root, _ in q] == [root_of(wt) for wt, _, _ in q]
    assert len(set(root for _, root, _ in q)) == 3
    assert q[1][0][5:] == ([A(sb), A(sa)], [30, 20])
    assert w.dm.cumulativeWithdrawalsQueued(w.staker) == 3
    # three checkpoints of the queue history in one block collapse into one; all are counted
    assert w.dm.getSlashableSharesInQueue(w.op, sa) == 35
    assert w.dm.getSlashableSharesInQueue(w.op, sb) == 30
    assert w.sm.stakerDepositShares(w.staker, sa) == 1000 * WAD + 7 - 35
    assert w.op_shares(w.op, "TKB") == 0 and w.op_shares(w.op, "TKA") == 1000 * WAD + 7 - 35
    assert list(w.dm.queueWithdrawals([], sender=w.staker).return_value) == []


def test_queue_rejections(dw):
    w = dw
    sa, sb = w.strats["TKA"], w.strats["TKB"]
    s0 = 1000 * WAD + 7
    with ape.reverts("withdrawer must be staker"):
        w.dm.queueWithdrawals([([sa], [1], w.other)], sender=w.staker)
    with ape.reverts("withdrawer must be staker"):  # any entry
        w.dm.queueWithdrawals([([sa], [1], w.staker), ([sa], [1], w.op)], sender=w.staker)
    with ape.reverts("input length mismatch"):
        w.dm.queueWithdrawals([([sa], [1, 2], w.staker)], sender=w.staker)
    with ape.reverts("no strategies"):
        w.dm.queueWithdrawals([([], [], w.staker)], sender=w.staker)
    with ape.reverts("zero shares"):
        w.dm.queueWithdrawals([([sa], [0], w.staker)], sender=w.staker)
    with ape.reverts("shares too high"):
        w.dm.queueWithdrawals([([sa], [s0 + 1], w.staker)], sender=w.staker)
    with ape.reverts("shares too high"):
        w.dm.queueWithdrawals([([sb], [1], w.staker)], sender=w.staker)
    with ape.reverts("shares too high"):  # the same strategy twice, together over the balance
        w.dm.queueWithdrawals([([sa, sa], [s0, 1], w.staker)], sender=w.staker)
    r = w.dm.queueWithdrawals([([sa], [s0], w.staker)], sender=w.staker)  # exactly everything
    assert w.sm.stakerDepositShares(w.staker, sa) == 0 and queued(r)[0][2] == [s0]


def test_queue_while_undelegated(w):
    w.deposit(w.staker, "TKA", 77)
    r = w.dm.queueWithdrawals([([w.strats["TKA"]], [70], w.staker)], sender=w.staker)
    [(wt, root, to_withdraw)] = queued(r)
    assert wt[1] == ZERO and wt[6] == [70] and to_withdraw == [70]
    assert evs(r, "OperatorSharesDecreased") == []
    mine_to(w.chain, r.block_number + DELAY)
    w.dm.completeQueuedWithdrawal(wt, [w.tokens["TKA"]], True, sender=w.staker)
    assert w.tokens["TKA"].balanceOf(w.staker) == 70  # 1:1: tokens_for(70, 77, 77)
    assert tokens_for(70, 77, 77) == 70


def test_queue_slashability_window_boundary(dw):
    """A withdrawal queued at block B is slashable in blocks B..B+DELAY (inclusive)."""
    w = dw
    sa = w.strats["TKA"]
    r = w.dm.queueWithdrawals([([sa], [100 * WAD], w.staker)], sender=w.staker)
    b = r.block_number
    mine_to(w.chain, b + DELAY + 1)
    assert w.dm.getSlashableSharesInQueue(w.op, sa, block_id=b - 1) == 0
    for blk in (b, b + 1, b + DELAY):
        assert w.dm.getSlashableSharesInQueue(w.op, sa, block_id=blk) == 100 * WAD
    assert w.dm.getSlashableSharesInQueue(w.op, sa, block_id=b + DELAY + 1) == 0
    assert w.dm.getSlashableSharesInQueue(w.op, sa) == 0


def test_slash_at_last_slashable_block_hits_withdrawal(dw, am_imp):
    w = dw
    sa = w.strats["TKA"]
    s0 = 1000 * WAD + 7
    r = w.dm.queueWithdrawals([([sa], [100 * WAD], w.staker)], sender=w.staker)
    [(wt, root, _)] = queued(r)
    b = r.block_number
    mine_to(w.chain, b + DELAY - 1)
    rs = slash(w, am_imp, w.op, "TKA", WAD, WAD // 2)  # in block b + DELAY: still slashable
    assert rs.block_number == b + DELAY
    op_scaled = s0 - 100 * WAD
    slashed1 = (op_scaled + 100 * WAD) - (op_scaled // 2 + 100 * WAD // 2)
    assert rs.return_value == slashed1
    rs2 = slash(w, am_imp, w.op, "TKA", WAD // 2, WAD // 4, slash_id=2)  # block b + DELAY + 1: not any more
    assert rs2.block_number == b + DELAY + 1
    assert rs2.return_value == op_scaled // 2 - op_scaled // 4
    r = w.dm.completeQueuedWithdrawal(wt, [], False, sender=w.staker)
    # valued at the slashing factor of block b + DELAY (1/2), not the later 1/4
    assert one(r, "Deposit", w.sm).shares == 100 * WAD // 2


# ------------------------------------------------------------------ complete withdrawals


def test_complete_as_tokens_at_exact_delay_boundary(dw):
    w = dw
    sa, tka = w.strats["TKA"], w.tokens["TKA"]
    s0 = 1000 * WAD + 7
    r = w.dm.undelegate(w.staker, sender=w.staker)
    [(wt, root, _)] = queued(r)
    b = r.block_number
    mine_to(w.chain, b + DELAY - 1)
    with ape.reverts("withdrawal delay not passed"):  # mined in block b + DELAY
        w.dm.completeQueuedWithdrawal(wt, [tka], True, sender=w.staker, gas=GAS)
    assert w.chain.blocks.height == b + DELAY
    rc = w.dm.completeQueuedWithdrawal(wt, [tka], True, sender=w.staker, gas=GAS)
    assert rc.block_number == b + DELAY + 1
    assert bytes(one(rc, "SlashingWithdrawalCompleted").withdrawalRoot) == root
    assert tka.balanceOf(w.staker) == tokens_for(s0, s0, s0) == s0
    assert not w.dm.pendingWithdrawals(root)
    assert sa.totalShares() == 0 and tka.balanceOf(sa) == 0
    assert w.sm.stakerDepositShares(w.staker, sa) == 0
    with ape.reverts("withdrawal not queued"):
        w.dm.completeQueuedWithdrawal(wt, [tka], True, sender=w.staker)


def test_complete_rejections(dw):
    w = dw
    sa, tka = w.strats["TKA"], w.tokens["TKA"]
    w.deposit(w.staker, "TKB", 10)
    r = w.dm.queueWithdrawals([([sa, w.strats["TKB"]], [5, 10], w.staker)], sender=w.staker)
    [(wt, root, _)] = queued(r)
    mine_to(w.chain, r.block_number + DELAY)
    with ape.reverts("only withdrawer"):
        w.dm.completeQueuedWithdrawal(wt, [tka, w.tokens["TKB"]], True, sender=w.other)
    for tampered in (
        wt[:3] + (1,) + wt[4:],  # nonce
        wt[:4] + (wt[4] - 1,) + wt[5:],  # start block
        wt[:6] + ([6, 10],),  # shares
        wt[:1] + (ZERO,) + wt[2:],  # operator
    ):
        with ape.reverts("withdrawal not queued"):
            w.dm.completeQueuedWithdrawal(tampered, [tka, w.tokens["TKB"]], True, sender=w.staker)
    with ape.reverts("input length mismatch"):
        w.dm.completeQueuedWithdrawal(wt, [tka], True, sender=w.staker)
    with ape.reverts("wrong token"):
        w.dm.completeQueuedWithdrawal(wt, [w.tokens["TKB"], tka], True, sender=w.staker)
    w.dm.completeQueuedWithdrawal(wt, [tka, w.tokens["TKB"]], True, sender=w.staker)
    assert w.tokens["TKB"].balanceOf(w.staker) == 10 and tka.balanceOf(w.staker) == 5


def test_complete_as_shares_returns_stake_to_current_operator(dw):
    w = dw
    sa = w.strats["TKA"]
    s0 = 1000 * WAD + 7
    w.register_operator(w.op2)
    r = w.dm.undelegate(w.staker, sender=w.op)
    [(wt, root, _)] = queued(r)
    w.dm.delegateTo(w.op2, NO_SIG, SALT0, sender=w.staker)
    mine_to(w.chain, r.block_number + DELAY)
    rc = w.dm.completeQueuedWithdrawal(wt, [], False, sender=w.staker)  # tokens ignored as shares
    e = one(rc, "Deposit", w.sm)
    assert (A(e.staker), A(e.strategy), e.shares) == (A(w.staker), A(sa), s0)
    e = one(rc, "OperatorSharesIncreased")
    assert (A(e.operator), A(e.staker), e.shares) == (A(w.op2), A(w.staker), s0)
    assert w.op_shares(w.op2, "TKA") == s0 and w.op_shares(w.op, "TKA") == 0
    assert w.sm.stakerDepositShares(w.staker, sa) == s0
    assert w.tokens["TKA"].balanceOf(w.staker) == 0 and sa.totalShares() == s0
    assert not w.dm.pendingWithdrawals(root)


def test_complete_as_shares_into_fully_slashed_operator_reverts(dw, am_imp):
    w = dw
    w.register_operator(w.op2)
    r = w.dm.redelegate(w.op2, NO_SIG, SALT0, sender=w.staker)
    [(wt, _, _)] = queued(r)
    slash(w, am_imp, w.op2, "TKA", WAD, 0)
    mine_to(w.chain, r.block_number + DELAY)
    with ape.reverts("operator fully slashed"):
        w.dm.completeQueuedWithdrawal(wt, [], False, sender=w.staker)
    # tokens still work
    w.dm.completeQueuedWithdrawal(wt, [w.tokens["TKA"]], True, sender=w.staker)
    assert w.tokens["TKA"].balanceOf(w.staker) == 1000 * WAD + 7


def test_complete_fully_slashed_withdrawal_pays_nothing(dw, am_imp):
    w = dw
    r = w.dm.undelegate(w.staker, sender=w.staker)
    [(wt, root, _)] = queued(r)
    rs = slash(w, am_imp, w.op, "TKA", WAD, 0)
    assert rs.return_value == 1000 * WAD + 7  # the whole queued stake
    mine_to(w.chain, r.block_number + DELAY)
    rc = w.dm.completeQueuedWithdrawal(wt, [w.tokens["TKA"]], True, sender=w.staker)
    assert w.tokens["TKA"].balanceOf(w.staker) == 0
    assert evs(rc, "Transfer") == []
    assert bytes(one(rc, "SlashingWithdrawalCompleted").withdrawalRoot) == root
    assert not w.dm.pendingWithdrawals(root)


def test_batch_completion(dw):
    w = dw
    sa, tka = w.strats["TKA"], w.tokens["TKA"]
    r1 = w.dm.queueWithdrawals([([sa], [100], w.staker), ([sa], [200], w.staker)], sender=w.staker)
    (wt1, root1, _), (wt2, root2, _) = queued(r1)
    r3 = w.dm.queueWithdrawals([([sa], [300], w.staker)], sender=w.staker)
    [(wt3, root3, _)] = queued(r3)
    for args in (
        ([wt1, wt2], [[tka]], [True, False]),
        ([wt1, wt2], [[tka], []], [True]),
        ([wt1], [[tka], []], [True, False]),
    ):
        with ape.reverts("input length mismatch"):
            w.dm.completeQueuedWithdrawals(*args, sender=w.staker)
    mine_to(w.chain, r1.block_number + DELAY)
    # wt3 is one block younger: the whole batch reverts
    with ape.reverts("withdrawal delay not passed"):
        w.dm.completeQueuedWithdrawals([wt1, wt3], [[tka], [tka]], [True, True], sender=w.staker)
    assert w.dm.pendingWithdrawals(root1)
    s_before = w.sm.stakerDepositShares(w.staker, sa)
    rc = w.dm.completeQueuedWithdrawals([wt1, wt2], [[tka], []], [True, False], sender=w.staker)
    assert [bytes(e.withdrawalRoot) for e in evs(rc, "SlashingWithdrawalCompleted")] == [root1, root2]
    assert tka.balanceOf(w.staker) == 100
    assert w.sm.stakerDepositShares(w.staker, sa) == s_before + 200
    assert (
        not w.dm.pendingWithdrawals(root1)
        and not w.dm.pendingWithdrawals(root2)
        and w.dm.pendingWithdrawals(root3)
    )
    with ape.reverts("withdrawal not queued"):  # the same withdrawal twice in one batch
        w.dm.completeQueuedWithdrawals([wt3, wt3], [[tka], [tka]], [True, True], sender=w.staker)
    w.dm.completeQueuedWithdrawals([], [], [], sender=w.staker)


# ------------------------------------------------------------------ redelegate


def test_redelegate(dw, key, cid):
    w = dw
    s0 = 1000 * WAD + 7
    w.register_operator(w.op2, approver=w.other)
    with ape.reverts("invalid signature length"):  # the new operator's approver must sign
        w.dm.redelegate(w.op2, (b"", 2**40), SALT0, sender=w.staker)
    salt, exp = b"\x0a" * 32, 2**40
    sig = sign(key, approval_digest(cid, w.dm, w.staker, w.op2, w.other, salt, exp))
    r = w.dm.redelegate(w.op2, (sig, exp), salt, sender=w.staker)
    names = [e.event_name for e in r.events if A(e.contract_address) == A(w.dm)]
    assert (
        names.index("StakerUndelegated")
        < names.index("SlashingWithdrawalQueued")
        < names.index("StakerDelegated")
    )
    assert A(one(r, "StakerDelegated").operator) == A(w.op2)
    [(wt, root, _)] = queued(r)
    assert [bytes(x) for x in r.return_value] == [root]
    assert wt[1] == A(w.op)
    assert A(w.dm.delegatedTo(w.staker)) == A(w.op2)
    assert w.op_shares(w.op, "TKA") == 0 and w.op_shares(w.op2, "TKA") == 0
    assert w.dm.delegationApproverSaltIsSpent(w.other, salt)
    # the stake joins the new operator only when completed as shares after the delay
    mine_to(w.chain, r.block_number + DELAY)
    w.dm.completeQueuedWithdrawal(wt, [], False, sender=w.staker)
    assert w.op_shares(w.op2, "TKA") == s0 and w.withdrawable(w.staker, "TKA") == s0


def test_share_histories_follow_every_change(dw, am_imp):
    """operatorSharesAt / stakerSharesAt give, for every past block, what operatorShares and the
    staker's withdrawable shares were at its end: deposit, delegation, queue, slash, redelegation
    and completion as shares each write them; earlier blocks keep their values."""
    w = dw
    sa, tkb = w.strats["TKA"], w.strats["TKB"]
    s0 = 1000 * WAD + 7
    seen = []  # (block, staker shares with op, with op2, op shares, op2 shares)

    def now():
        b = w.chain.blocks.head.number
        row = (
            b,
            w.withdrawable(w.staker, "TKA") if A(w.dm.delegatedTo(w.staker)) == A(w.op) else 0,
            w.withdrawable(w.staker, "TKA") if A(w.dm.delegatedTo(w.staker)) == A(w.op2) else 0,
            w.op_shares(w.op, "TKA"),
            w.op_shares(w.op2, "TKA"),
        )
        seen.append(row)
        return row

    d = now()
    assert d[1:] == (s0, 0, s0, 0)
    # before the delegation: the deposit existed but was delegated to nobody
    assert w.dm.stakerSharesAt(w.staker, w.op, sa, d[0] - 1) == 0
    assert w.dm.operatorSharesAt(w.op, sa, d[0] - 1) == 0
    w.register_operator(w.op2)
    w.deposit(w.staker, "TKA", 500 * WAD)
    w.deposit(w.op, "TKA", 40 * WAD)  # the operator is its own staker
    assert now()[1:] == (s0 + 500 * WAD, 0, s0 + 540 * WAD, 0)
    w.dm.queueWithdrawals([([sa], [300 * WAD], w.staker)], sender=w.staker)
    assert now()[1:] == (s0 + 200 * WAD, 0, s0 + 240 * WAD, 0)
    slash(w, am_imp, w.op, "TKA", WAD, 3 * WAD // 4)
    sf = 3 * WAD // 4
    assert now()[1:] == ((s0 + 200 * WAD) * sf // WAD, 0, (s0 + 240 * WAD) * sf // WAD, 0)
    r = w.dm.redelegate(w.op2, NO_SIG, SALT0, sender=w.staker)
    assert now()[1:] == (0, 0, 40 * WAD * sf // WAD, 0)
    [(wt, _, _)] = queued(r)
    mine_to(w.chain, r.block_number + DELAY)
    w.dm.completeQueuedWithdrawal(wt, [], False, sender=w.staker)
    back = (s0 + 200 * WAD) * sf // WAD
    assert now()[1:] == (0, back, 40 * WAD * sf // WAD, back)
    w.chain.mine(3)
    assert w.chain.blocks.head.number > seen[-1][0]
    for b, st_op, st_op2, op_sh, op2_sh in seen:
        assert w.dm.stakerSharesAt(w.staker, w.op, sa, b) == st_op, b
        assert w.dm.stakerSharesAt(w.staker, w.op2, sa, b) == st_op2, b
        assert w.dm.operatorSharesAt(w.op, sa, b) == op_sh, b
        assert w.dm.operatorSharesAt(w.op2, sa, b) == op2_sh, b
        own = w.dm.stakerSharesAt(w.op, w.op, sa, b)
        assert own + st_op <= op_sh, "stakers above their operator"
        assert w.dm.operatorSharesAt(w.op, tkb, b) == 0
    # a block between two changes has the earlier one's values; a later block the last ones
    assert w.dm.operatorSharesAt(w.op2, sa, w.chain.blocks.head.number + 100) == seen[-1][4]
    assert w.dm.operatorSharesAt(w.op, sa, 0) == 0
    assert w.dm.operatorScaledShares(w.op, sa) == 40 * WAD


def test_share_histories_keep_the_last_value_of_a_block(dw):
    """Two changes in one block leave one checkpoint: the block's final value."""
    w = dw
    sa = w.strats["TKA"]
    s0 = 1000 * WAD + 7
    w.fund(w.staker, "TKA", 30 * WAD)
    b = Batch(w.chain)
    b.add(w.staker, w.sm.depositIntoStrategy, sa, w.tokens["TKA"], 10 * WAD)
    b.add(w.staker, w.sm.depositIntoStrategy, sa, w.tokens["TKA"], 20 * WAD)
    assert b.send() == 1
    blk = w.chain.blocks.head.number
    assert w.dm.stakerSharesAt(w.staker, w.op, sa, blk) == s0 + 30 * WAD
    assert w.dm.operatorSharesAt(w.op, sa, blk) == s0 + 30 * WAD
    assert w.dm.operatorSharesAt(w.op, sa, blk - 1) == s0


def test_redelegate_rejections(dw):
    w = dw
    w.register_operator(w.op2)
    with ape.reverts("not delegated"):
        w.dm.redelegate(w.op2, NO_SIG, SALT0, sender=w.staker2)
    with ape.reverts("operators cannot undelegate"):
        w.dm.redelegate(w.op2, NO_SIG, SALT0, sender=w.op)
    with ape.reverts("not an operator"):
        w.dm.redelegate(w.staker2, NO_SIG, SALT0, sender=w.staker)
    # redelegating to the same operator is allowed: the stake is queued and delegation kept
    r = w.dm.redelegate(w.op, NO_SIG, SALT0, sender=w.staker)
    assert len(queued(r)) == 1 and A(w.dm.delegatedTo(w.staker)) == A(w.op)
    assert w.op_shares(w.op, "TKA") == 0


def test_undelegated_staker_deposits_and_completes_without_operator_events(w):
    r = w.deposit(w.staker, "TKA", 60)
    assert evs(r, "OperatorSharesIncreased") == []
    e = one(r, "DepositScalingFactorUpdated")
    assert (A(e.staker), e.newDepositScalingFactor) == (A(w.staker), WAD)
    rq = w.dm.queueWithdrawals([([w.strats["TKA"]], [60], w.staker)], sender=w.staker)
    [(wt, _, _)] = queued(rq)
    mine_to(w.chain, rq.block_number + DELAY)
    rc = w.dm.completeQueuedWithdrawal(wt, [], False, sender=w.staker)
    assert evs(rc, "OperatorSharesIncreased") == [] and one(rc, "Deposit", w.sm).shares == 60
    assert (
        w.withdrawable(w.staker, "TKA") == 60 and w.dm.depositScalingFactor(w.staker, w.strats["TKA"]) == WAD
    )


def test_operator_withdraws_own_stake(w):
    w.deposit(w.op, "TKA", 90)
    w.register_operator(w.op)
    r = w.dm.queueWithdrawals([([w.strats["TKA"]], [40], w.op)], sender=w.op)
    [(wt, _, to_withdraw)] = queued(r)
    assert wt[:3] == (A(w.op), A(w.op), A(w.op)) and to_withdraw == [40]
    assert w.op_shares(w.op, "TKA") == 50 and w.dm.isOperator(w.op)
    mine_to(w.chain, r.block_number + DELAY)
    w.dm.completeQueuedWithdrawal(wt, [], False, sender=w.op)
    assert w.op_shares(w.op, "TKA") == 90


def test_redelegate_without_stake(w):
    w.register_operator(w.op)
    w.register_operator(w.op2)
    w.dm.delegateTo(w.op, NO_SIG, SALT0, sender=w.staker)
    r = w.dm.redelegate(w.op2, NO_SIG, SALT0, sender=w.staker)
    assert list(r.return_value) == [] and queued(r) == []
    assert A(w.dm.delegatedTo(w.staker)) == A(w.op2)


# ------------------------------------------------------------------ views


def test_views_for_unknown_accounts(w):
    sa = w.strats["TKA"]
    assert w.dm.depositScalingFactor(w.staker, sa) == WAD
    assert w.dm.operatorShares(w.op, sa) == 0 and w.dm.getSlashableSharesInQueue(w.op, sa) == 0
    wd, dep = w.dm.getWithdrawableShares(w.staker, [sa, w.other])
    assert list(wd) == [0, 0] and list(dep) == [0, 0]
    assert list(w.dm.getOperatorShares(w.op, [])) == []
    assert not w.dm.pendingWithdrawals(b"\x00" * 32)
    wt = (
        A(w.staker),
        ZERO,
        A(w.staker),
        5,
        9,
        [A(sa)],
        [
            1,
        ],
    )
    assert bytes(w.dm.calculateWithdrawalRoot(wt)) == root_of(wt)
    wt2 = (A(w.staker), A(w.op), A(w.staker), 2**200, 2**32 - 1, [A(sa), A(w.strats["TKB"])], [2**256 - 1, 0])
    assert bytes(w.dm.calculateWithdrawalRoot(wt2)) == root_of(wt2)


# ------------------------------------------------------------------ queued-withdrawal views


def qviews(w, staker):
    """(roots, [(withdrawal tuple, shares)]) of the staker's queued withdrawals, by both views."""
    roots = [bytes(x) for x in w.dm.getQueuedWithdrawalRoots(staker)]
    ws, shares = w.dm.getQueuedWithdrawals(staker)
    listed = [(wtuple(x), [int(v) for v in s]) for x, s in zip(ws, shares, strict=True)]
    assert len(listed) == len(roots)
    for root, item in zip(roots, listed, strict=True):  # one by one, the same; roots are the hashes
        one_w, one_s = w.dm.getQueuedWithdrawal(root)
        assert (wtuple(one_w), [int(v) for v in one_s]) == item
        assert root == root_of(item[0]) == bytes(w.dm.calculateWithdrawalRoot(item[0]))
    return roots, listed


def test_queued_withdrawal_views_follow_queue_slash_and_completion(dw, am_imp):
    w = dw
    sa, sb = w.strats["TKA"], w.strats["TKB"]
    w.deposit(w.staker, "TKB", 300)
    assert qviews(w, w.staker) == ([], [])
    r = w.dm.queueWithdrawals(
        [([sa], [100 * WAD], w.staker), ([sb, sa], [90, 10 * WAD + 1], w.staker), ([sa], [7], w.staker)],
        sender=w.staker,
    )
    q = queued(r)
    roots, listed = qviews(w, w.staker)
    assert roots == [root for _, root, _ in q]
    assert listed == [(wt, shares) for wt, _, shares in q]  # unslashed: shares = scaled
    assert listed[1] == (
        (A(w.staker), A(w.op), A(w.staker), 1, r.block_number, [A(sb), A(sa)], [90, 10 * WAD + 1]),
        [90, 10 * WAD + 1],
    )
    # a partial slash inside the window scales the shares of every queued withdrawal of TKA
    slash(w, am_imp, w.op, "TKA", WAD, 6 * 10**17)
    sf = 6 * 10**17
    _, listed = qviews(w, w.staker)
    assert [s for _, s in listed] == [
        [100 * WAD * sf // WAD],
        [90, (10 * WAD + 1) * sf // WAD],
        [7 * sf // WAD],
    ]
    # once the window has passed, a later slash no longer changes them
    mine_to(w.chain, r.block_number + DELAY)
    slash(w, am_imp, w.op, "TKA", 6 * 10**17, 3 * 10**17, slash_id=2)
    assert w.dm.slashingFactor(w.op, sa) == sf // 2
    _, after = qviews(w, w.staker)
    assert after == listed
    # completing the first removes it: the last takes its place, the others are unchanged
    rc = w.dm.completeQueuedWithdrawal(q[0][0], [w.tokens["TKA"]], True, sender=w.staker)
    assert one(rc, "SlashingWithdrawalCompleted")
    roots, listed2 = qviews(w, w.staker)
    assert roots == [q[2][1], q[1][1]] and listed2 == [after[2], after[1]]
    assert not w.dm.pendingWithdrawals(q[0][1])
    gone_w, gone_s = w.dm.getQueuedWithdrawal(q[0][1])
    assert wtuple(gone_w) == (ZERO, ZERO, ZERO, 0, 0, [], []) and list(gone_s) == []
    # the shares the view showed are what completion pays, as shares back to the operator
    rc = w.dm.completeQueuedWithdrawals([q[1][0], q[2][0]], [[], []], [False, False], sender=w.staker)
    assert [e.shares for e in evs(rc, "Deposit", w.sm)] == after[1][1] + after[2][1]
    assert qviews(w, w.staker) == ([], [])


def test_queued_withdrawal_views_after_forced_undelegation(dw):
    w = dw
    sa = w.strats["TKA"]
    w.deposit(w.staker, "TKB", 5)
    r = w.dm.undelegate(w.staker, sender=w.op)  # by force
    [(wt, root, shares)] = queued(r)
    assert qviews(w, w.staker) == ([root], [(wt, shares)])
    assert wt == (
        A(w.staker),
        A(w.op),
        A(w.staker),
        0,
        r.block_number,
        [A(sa), A(w.strats["TKB"])],
        [1000 * WAD + 7, 5],
    )
    assert qviews(w, w.op) == ([], [])  # listed under the staker only


def test_queued_withdrawal_views_page(w):
    """Undelegated stakers' withdrawals pay their scaled shares; the list is paged, unbounded."""
    sa = w.strats["TKA"]
    w.deposit(w.staker, "TKA", 3000)
    n = 66  # more than one page of 64
    for i in range(0, n, 8):
        w.dm.queueWithdrawals([([sa], [1 + j], w.staker) for j in range(i, min(i + 8, n))], sender=w.staker)
    roots = [bytes(x) for x in w.dm.getQueuedWithdrawalRoots(w.staker)]
    assert len(roots) == 64  # EigenLayer's selector: the first page
    rest = [bytes(x) for x in w.dm.getQueuedWithdrawalRoots(w.staker, 64, 64)]
    assert len(rest) == 2 and len(set(roots + rest)) == n
    ws, shares = w.dm.getQueuedWithdrawals(w.staker, 63, 3)
    assert [bytes(w.dm.calculateWithdrawalRoot(x)) for x in ws] == roots[63:] + rest
    assert [wtuple(x)[3] for x in ws] == [63, 64, 65] and [list(s) for s in shares] == [[64], [65], [66]]
    assert wtuple(ws[0])[1] == ZERO
    assert list(w.dm.getQueuedWithdrawalRoots(w.staker, n, 64)) == []
    assert list(w.dm.getQueuedWithdrawals(w.staker, 2**255, 1)[0]) == []
    with ape.reverts("page too long"):
        w.dm.getQueuedWithdrawalRoots(w.staker, 0, 65)
    with ape.reverts("page too long"):
        w.dm.getQueuedWithdrawals(w.staker, 0, 65)


# ------------------------------------------------------------------ cancellable slashes freeze inflows


def test_cancelled_slash_is_not_captured_by_late_delegators(dw):
    """While a cancellable slash is pending, no stake can join the operator in that strategy (a
    late delegator would otherwise capture most of the restoration); a cancel then makes the
    slashed staker whole, and inflows reopen once the slash is resolved."""
    w = dw
    s0 = 1000 * WAD + 7
    w.create_sets(ids=(1,), syms=("TKA",), resolver=w.resolver)
    w.register_for_sets(w.op, (1,))
    w.allocate(w.op, 1, {"TKA": WAD})
    r = w.slash(w.op, 1, {"TKA": WAD // 2})
    assert w.withdrawable(w.staker, "TKA") == s0 * (WAD // 2) // WAD
    assert w.dm.pendingSlashes(w.op, w.strats["TKA"]) == 1
    assert [e for e in r.events if e.event_name == "SlashPendingUpdated"][0].pendingSlashes == 1
    # a whale cannot delegate, and the existing delegator cannot add stake, while it is pending
    w.deposit(w.staker2, "TKA", 100_000 * WAD)
    with ape.reverts("pending slash"):
        w.dm.delegateTo(w.op, NO_SIG, SALT0, sender=w.staker2)
    w.fund(w.staker, "TKA", WAD)
    with ape.reverts("pending slash"):
        w.sm.depositIntoStrategy(w.strats["TKA"], w.tokens["TKA"], WAD, sender=w.staker)
    w.esc.cancelSlash(w.avs, 1, 1, sender=w.resolver)
    assert w.dm.pendingSlashes(w.op, w.strats["TKA"]) == 0
    assert w.withdrawable(w.staker, "TKA") >= s0 - s0 // 10**6
    # resolved: stake may join again
    w.dm.delegateTo(w.op, NO_SIG, SALT0, sender=w.staker2)
    assert w.withdrawable(w.staker2, "TKA") == 100_000 * WAD


def test_slash_without_resolver_does_not_freeze(dw):
    w = dw
    w.create_sets(ids=(1,), syms=("TKA",))  # burning, no resolver: nothing to cancel
    w.register_for_sets(w.op, (1,))
    w.allocate(w.op, 1, {"TKA": WAD})
    w.slash(w.op, 1, {"TKA": WAD // 2})
    assert w.dm.pendingSlashes(w.op, w.strats["TKA"]) == 0
    w.deposit(w.staker2, "TKA", WAD)
    w.dm.delegateTo(w.op, NO_SIG, SALT0, sender=w.staker2)


def test_release_unfreezes(dw):
    w = dw
    w.create_sets(ids=(1,), syms=("TKA",), resolver=w.resolver)
    w.register_for_sets(w.op, (1,))
    w.allocate(w.op, 1, {"TKA": WAD})
    w.slash(w.op, 1, {"TKA": WAD // 4})
    w.slash(w.op, 1, {"TKA": WAD // 4})
    assert w.dm.pendingSlashes(w.op, w.strats["TKA"]) == 2
    w.mine(w.esc.SLASH_RESOLUTION_DELAY_BLOCKS() + 1)
    w.esc.releaseSlash(w.avs, 1, 1, sender=w.other)
    assert w.dm.pendingSlashes(w.op, w.strats["TKA"]) == 1
    w.esc.releaseSlash(w.avs, 1, 2, sender=w.other)
    assert w.dm.pendingSlashes(w.op, w.strats["TKA"]) == 0


def test_set_slash_pending_only_escrow(dw):
    w = dw
    with ape.reverts("only slash escrow"):
        w.dm.setSlashPending(w.op, w.strats["TKA"], True, False, WAD, WAD // 2, sender=w.op)


# ------------------------------------------------------------------ model-checked random walk


class _Model:
    """Independent Python model of one operator / one strategy (docs: DelegationManager header)."""

    def __init__(self):
        self.s, self.k = {}, {}
        self.sf_hist = [(0, WAD)]  # (block, sf)
        self.op_scaled = 0
        self.queue_hist = []  # (block, scaled) of withdrawals queued from the operator
        self.total = self.bal = 0

    def sf(self, at=None):
        v = WAD
        for b, x in self.sf_hist:
            if at is None or b <= at:
                v = x
        return v

    def kk(self, i):
        return self.k.get(i) or WAD

    def vault_deposit(self, amount):
        sh = amount * (self.total + OFF) // (self.bal + OFF)
        self.total, self.bal = self.total + sh, self.bal + amount
        return sh

    def vault_withdraw(self, sh):
        out = (self.bal + OFF) * sh // (self.total + OFF)
        self.total, self.bal = self.total - sh, self.bal - out
        return out

    def increase(self, i, d):
        prev, k, sf = self.s.get(i, 0), self.kk(i), self.sf()
        if prev == 0:
            k_new = k * WAD // sf
        else:
            wd = (prev * k // WAD) * sf // WAD
            k_new = ((wd + d) * WAD // (prev + d)) * WAD // sf
        self.op_scaled += (prev + d) * k_new // WAD - prev * k // WAD
        self.s[i], self.k[i] = prev + d, k_new

    def queue(self, i, x, block):
        s, k = self.s[i], self.kk(i)
        scaled = x * k // WAD
        self.op_scaled -= s * k // WAD - (s - x) * k // WAD
        self.s[i] = s - x
        if s == x:
            self.k[i] = 0
        self.queue_hist.append((block, scaled))
        return scaled

    def slash(self, prev_mag, new_mag, block):
        sf = self.sf()
        new_sf = sf * new_mag // prev_mag
        q = sum(sc for b, sc in self.queue_hist if b >= block - DELAY)
        slashed = (self.op_scaled * sf // WAD + q * sf // WAD) - (
            self.op_scaled * new_sf // WAD + q * new_sf // WAD
        )
        self.sf_hist.append((block, new_sf))
        self.vault_withdraw(slashed)
        return slashed

    def withdrawable(self, i):
        return (self.s.get(i, 0) * self.kk(i) // WAD) * self.sf() // WAD


@pytest.mark.parametrize("seed", [2, 4])  # seeds with a good mix of all five operations
def test_random_walk_matches_model(w, am_imp, seed):
    import random

    rnd = random.Random(seed)
    sa = w.strats["TKA"]
    w.register_operator(w.op)
    stakers = [w.staker, w.staker2, w.recipient]
    for st in stakers:
        w.fund(st, "TKA", 10**30)
        w.dm.delegateTo(w.op, NO_SIG, SALT0, sender=st)
    m = _Model()
    pending = []  # (withdrawal tuple, staker index, scaled)
    mag = WAD
    for step in range(30):
        op = rnd.choice(["deposit", "deposit", "queue", "queue", "slash", "complete", "complete", "mine"])
        i = rnd.randrange(len(stakers))
        if op == "deposit":
            amount = rnd.choice([1, 999, 10**18 + rnd.randrange(10**6), rnd.randrange(1, 10**24)])
            if amount * (m.total + OFF) // (m.bal + OFF) == 0:
                continue
            d = m.vault_deposit(amount)
            r = w.sm.depositIntoStrategy(sa, w.tokens["TKA"], amount, sender=stakers[i])
            assert r.return_value == d
            m.increase(i, d)
        elif op == "queue" and m.s.get(i, 0):
            x = rnd.choice([m.s[i], max(1, m.s[i] // rnd.randrange(2, 9))])
            r = w.dm.queueWithdrawals([([sa], [x], stakers[i])], sender=stakers[i])
            scaled = m.queue(i, x, r.block_number)
            [(wt, _, _)] = queued(r)
            assert wt[6] == [scaled]
            pending.append((wt, i, scaled))
        elif op == "slash" and mag > 10**15:
            new = mag * rnd.randrange(50, 99) // 100
            r = slash(w, am_imp, w.op, "TKA", mag, new, slash_id=step + 1)
            assert r.return_value == m.slash(mag, new, r.block_number)
            mag = new
        elif op == "complete" and pending and w.chain.blocks.height >= pending[0][0][4] + DELAY:
            wt, j, scaled = pending.pop(0)
            shares = scaled * m.sf(at=wt[4] + DELAY) // WAD
            if shares:
                m.increase(j, shares)
            w.dm.completeQueuedWithdrawal(wt, [], False, sender=stakers[j])
        else:
            op = "mine"
            w.chain.mine(rnd.choice([1, 5, DELAY]))
        # compare every tracked quantity
        assert w.dm.slashingFactor(w.op, sa) == m.sf()
        assert w.dm.operatorScaledShares(w.op, sa) == m.op_scaled
        assert w.op_shares(w.op, "TKA") == m.op_scaled * m.sf() // WAD
        wd, dep = w.dm.getWithdrawableShares(stakers[i], [sa])
        assert (wd[0], dep[0]) == (m.withdrawable(i), m.s.get(i, 0))
        assert w.dm.depositScalingFactor(stakers[i], sa) == m.kk(i)
        assert sa.totalShares() == m.total and w.tokens["TKA"].balanceOf(sa) == m.bal
    assert w.op_shares(w.op, "TKA") >= sum(m.withdrawable(j) for j in range(len(stakers)))
