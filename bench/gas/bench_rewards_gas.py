"""Gas of the rewards contracts (contracts/rewards; docs/rewards.md): a rewards submission (first
and later for the same AVS and token, with and without the protocol fee), ``processClaim`` (one
token at earner-tree depths 0 to 10; EigenLayer's published Root1 vector: six tokens), and
``processClaims`` batches of 2, 4 and 8 claims (one token each, each against another AVS's root),
the on-chain distribution (RewardsDistributor: ``createOperatorSetDistribution`` and
``createUniqueStakeDistribution`` over sets of 1, 8, 32 and 64 operators, one and two strategies;
``claim`` of one distribution and of 2, 4 and 8 in one call), disputable roots
(RewardsRootChallenger: ``recordDay`` and ``challengeRoot`` over sets of 1 to 64 operators, one
day, and 8 operators over four days, for total-stake, unique-stake and operator-directed submissions;
and the same leaf in steps (RewardsChallengeSteps: ``beginChallenge``, ``continueChallenge`` one
day a step, ``finishChallenge``; ``--challenge steps steps-unique``; a v1 AVS submission over the
AVS's operators recorded by ``recordAVSDay``: ``--challenge avs steps-avs``);
``--challenge`` runs only those rows, after the operators' setup, into
bench/results/rewards_challenge_gas.json, ``--challenge unique directed`` those kinds' only; ``--refund``
the refunds and the record of an AVS of more than 64 operators only, into
bench/results/rewards_refund_gas.json: ``refundSubmission`` of v1 submissions over 1, 7 and 28
days nobody recorded and over 3 days recorded in chunks, ``refundDistribution``, ``recordAVSDay`` of
65 operators and ``recordAVSMembers`` of 64 then 1), the x402 upto settlement with and without the inference fee
into the FeeVault, beside Symbiotic's ``claim`` (median 13,185) and ``claimBatch`` (median 34,434) from its forge gas
snapshot (shared/research/eigenlayer-contracts.md section 7). EigenLayer publishes no gas figures
for ``processClaim`` and no Solidity toolchain is installed here to measure its source, so its
column is the structural difference only: per token our claim also debits the AVS's escrow (one
more warm-slot write, about 2,900 gas after the cold read of 2,100).

Forge reports execution gas; our ``execution`` column is a receipt's ``gasUsed`` less the 21,000
intrinsic gas and the calldata gas, so the two compare. Medians over REPEAT runs (fresh earners).

Run: `.venv/bin/python bench/gas/bench_rewards_gas.py` with anvil on PATH (a few minutes on a loaded
machine). Writes bench/results/rewards_gas.json. Robust under load: the distribution ids come from the
logs, never from ``return_value`` (which makes ape trace the call), anvil runs without ape-foundry's
``--steps-tracing`` (recording every opcode of a 7.5M-gas distribution, anvil reset the connection
while the receipt was awaited), and ape waits up to RECEIPT_WAIT_S for a receipt (a local network's
20 s was missed by the largest calls). Gas depends on neither the load nor the tracing.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.bls.bench_bls import write_results  # noqa: E402
from offchain import settings  # noqa: E402
from offchain.rewards.merkle import Claim, DistributionTree  # noqa: E402

REPEAT = 5
DAY = 86_400
SET_SIZES = (1, 8, 32, 64)
DIST_BATCHES = (2, 4, 8)
DEPTHS = (0, 4, 10)  # earner tree depth: 1, 16, 1024 earners
BATCHES = (2, 4, 8)
CHALLENGE_CASES = ((1, 1), (8, 1), (32, 1), (64, 1), (8, 4))
RECEIPT_WAIT_S = 600
PEERS = {"symbiotic_claim_median": 13_185, "symbiotic_claimBatch_median": 34_434}


def calldata_gas(data: bytes) -> int:
    return sum(16 if b else 4 for b in data)


def execution(receipt) -> int:
    return receipt.gas_used - 21_000 - calldata_gas(bytes(receipt.transaction.data))


def main() -> int:
    from ape import accounts, chain, networks, project
    from eth_account import Account

    from offchain.chain.deploy import DeployConfig, RewardsConfig, deploy_core, deploy_rewards, deploy_token

    only_challenge = "--challenge" in sys.argv[1:]
    cfg = DeployConfig(20, 20, 25, 10, mock_tokens=(("A", "A"), ("B", "B")), eigen_enabled=True)
    rows: dict[str, dict] = {}

    def record(name: str, receipts: list) -> None:
        gas = [r.gas_used for r in receipts]
        ex = [execution(r) for r in receipts]
        rows[name] = {
            "gas_median": int(statistics.median(gas)),
            "execution_median": int(statistics.median(ex)),
            "runs": len(gas),
        }
        print(
            f"{name:<48} gas {rows[name]['gas_median']:>9,}  execution {rows[name]['execution_median']:>9,}"
        )

    networks.ethereum.config.local.transaction_acceptance_timeout = RECEIPT_WAIT_S
    untraced_anvil()
    with networks.ethereum.local.use_provider("foundry"):
        a = accounts.test_accounts
        d = deploy_core(project, a[0], cfg)
        if d.eigen is None:
            deploy_token(project, a[0], d, cfg)
        r = deploy_rewards(project, a[0], d, RewardsConfig(activation_delay_s=10, updater_bond_wei=1))
        rc = r.coordinator
        r.challenger.depositBond(value=1, sender=a[0])

        def fresh_earner():
            acct = Account.create()
            chain.set_balance(acct.address, 10**20)
            return accounts[acct.address]

        if "--refund" in sys.argv[1:]:
            ops, staker = bench_distribution(project, chain, accounts, d, r, a[4], None, fresh_earner)
            bench_refund(chain, d, r, a[4], ops, staker, record, fresh_earner)
            write_results(
                "rewards_refund_gas.json", {"provider": "anvil 1.7.1 via ape-foundry", "results": rows}
            )
            return 0
        if only_challenge:
            ops, staker = bench_distribution(project, chain, accounts, d, r, a[4], None, fresh_earner)
            bench_challenge(project, chain, accounts, d, ops, staker, record, fresh_earner)
            write_results(
                "rewards_challenge_gas.json", {"provider": "anvil 1.7.1 via ape-foundry", "results": rows}
            )
            return 0
        strats = sorted(d.strategies.values(), key=lambda s: int(s.address, 16))[:2]
        tok, tok2 = d.tokens["A"], d.tokens["B"]
        avss = [a[i] for i in range(1, 10)]
        start = (chain.pending_timestamp // DAY - 1) * DAY

        def sub(t, amount):
            return ([(s.address, 10**18) for s in strats], t.address, amount, start, DAY)

        for avs in avss:
            for t in (tok, tok2):
                t.mint(avs, 10**30, sender=avs)
                t.approve(rc, 2**256 - 1, sender=avs)
        # submissions: the first for an (AVS, token) writes a fresh escrow slot
        record(
            "createAVSRewardsSubmission (first for AVS, token)",
            [rc.createAVSRewardsSubmission([sub(tok, 10**24)], sender=avs) for avs in avss[:REPEAT]],
        )
        record(
            "createAVSRewardsSubmission (later)",
            [rc.createAVSRewardsSubmission([sub(tok, 10**24)], sender=avss[0]) for _ in range(REPEAT)],
        )
        rc.setOptInForProtocolFee(avss[1], True, sender=avss[1])
        record(
            "createAVSRewardsSubmission (later, 20 % fee)",
            [rc.createAVSRewardsSubmission([sub(tok, 10**24)], sender=avss[1]) for _ in range(REPEAT)],
        )
        for avs in avss:
            rc.createAVSRewardsSubmission([sub(tok2, 10**24)], sender=avs)

        def post(avs, tree):
            end = rc.currRewardsCalculationEndTimestamp(avs) + 1
            return rc.submitRoot(avs, tree.root, end, sender=a[0]).events[0].rootIndex

        def activate():
            chain.pending_timestamp = chain.pending_timestamp + 11
            chain.mine()

        # processClaim: one token, earner trees of depth 0, 4, 10 (the claimer is a fresh earner)
        for depth in DEPTHS:
            receipts = []
            for _ in range(REPEAT):
                e = fresh_earner()
                filler = {f"0x{i + 1:040x}": {tok.address: 1} for i in range((1 << depth) - 1)}
                tree = DistributionTree({e.address: {tok.address: 1_000}, **filler})
                i = post(avss[2], tree)
                activate()
                receipts.append(rc.processClaim(tree.claim(e.address, root_index=i).as_tuple(), e, sender=e))
            record(f"processClaim (1 token, earner depth {depth})", receipts)
        # EigenLayer's Root1 vector: six tokens, depth 3 / 3 (MockERC20 code at its token addresses)
        vec = settings.shared_dir() / "vectors" / "rewards" / "processClaimProofs_Root1.json"
        if vec.exists():
            claim, root = Claim.from_json(json.loads(vec.read_text()))
            code = chain.provider.web3.eth.get_code(tok.address)
            for t in claim.token_leaves:
                chain.provider.set_code(t.token, code)
                m = project.MockERC20.at(t.token)
                m.mint(avss[3], t.cumulative_earnings, sender=avss[3])
                m.approve(rc, 2**256 - 1, sender=avss[3])
                rc.createAVSRewardsSubmission([sub(m, t.cumulative_earnings)], sender=avss[3])
            i = (
                rc.submitRoot(avss[3], root, rc.currRewardsCalculationEndTimestamp(avss[3]) + 1, sender=a[0])
                .events[0]
                .rootIndex
            )
            activate()
            e = accounts[claim.earner]
            chain.set_balance(claim.earner, 10**20)
            c = Claim(i, *[getattr(claim, f) for f in list(claim.__dataclass_fields__)[1:]])
            record(
                "processClaim (EigenLayer Root1 vector, 6 tokens)",
                [rc.processClaim(c.as_tuple(), e, sender=e)],
            )
        # processClaims: n claims against n AVSs' roots (one token each)
        for n in BATCHES:
            receipts = []
            for _ in range(3):
                e = fresh_earner()
                claims = []
                for avs in avss[:n]:
                    tree = DistributionTree(
                        {e.address: {tok2.address: 1_000}, f"0x{1:040x}": {tok2.address: 1}}
                    )
                    claims.append(tree.claim(e.address, root_index=post(avs, tree)).as_tuple())
                activate()
                receipts.append(rc.processClaims(claims, e, sender=e))
            record(f"processClaims ({n} claims, 1 token each)", receipts)

        ops, staker = bench_distribution(project, chain, accounts, d, r, avss[4], record, fresh_earner)
        bench_inference_fee(project, chain, a, r, record)
        bench_challenge(project, chain, accounts, d, ops, staker, record, fresh_earner)

    one = rows["processClaim (1 token, earner depth 0)"]["execution_median"]
    write_results(
        "rewards_gas.json",
        {
            "provider": "anvil 1.7.1 via ape-foundry",
            "results": rows,
            "peers": PEERS,
            "claim_vs_symbiotic": round(one / PEERS["symbiotic_claim_median"], 3),
            "eigenlayer_processClaim": "not published; not measurable here (no Solidity toolchain): see the docstring",
        },
    )
    return 0


def untraced_anvil() -> None:
    """ape-foundry starts anvil with ``--steps-tracing`` (for ape's call traces, which this bench does not
    use); without it the largest distributions mine in a fraction of the time and memory."""
    from ape_foundry.provider import FoundryProvider

    build = FoundryProvider.build_command
    FoundryProvider.build_command = lambda self: [a for a in build(self) if a != "--steps-tracing"]


def bench_inference_fee(project, chain, a, r, record) -> None:
    """UptoSettler.settle (x402 upto) without a fee vault and with the vault named at 2,000 bips:
    the fee's approve and FeeVault.payFee beside the two transfers (fresh payers each run)."""
    from eth_account import Account

    from offchain.chain.agent import (
        RECEIVE_WITH_AUTHORIZATION,
        Authorization,
        authorization_data,
        sign,
        upto_nonce,
    )

    owner, pay_to, facilitator = a[0], a[7], a[5]
    usdc = owner.deploy(project.StableToken, "USD Coin", "USDC", owner)
    settler = owner.deploy(project.UptoSettler)

    def settle(i: int) -> object:
        key = ((0xFEE << 32) + i).to_bytes(32, "big")
        payer = Account.from_key(key).address
        usdc.mint(payer, 10**9, sender=owner)
        salt = i.to_bytes(32, "big")
        t = chain.pending_timestamp
        auth = Authorization(
            payer, settler.address, 10**6, 0, t + 3600, upto_nonce(pay_to.address, facilitator.address, salt)
        )
        data = authorization_data(RECEIVE_WITH_AUTHORIZATION, "USD Coin", chain.chain_id, usdc.address, auth)
        sig = sign(key, data)
        return settler.settle(usdc, payer, pay_to, 10**6, 0, t + 3600, salt, sig, 640_000, sender=facilitator)

    record("UptoSettler.settle (no fee vault)", [settle(i) for i in range(REPEAT)])
    settler.setFeeVault(r.fee_vault, sender=owner)
    record("UptoSettler.settle (inference fee to the vault)", [settle(100 + i) for i in range(REPEAT)])


def distribution_id(receipt) -> int:
    """The id a create*Distribution call logged (its return value without a trace)."""
    (ev,) = [e for e in receipt.events if e.event_name == "OperatorSetDistributionCreated"]
    return int(ev.distributionId)


def bench_distribution(project, chain, accounts, d, r, avs, record, fresh_earner) -> None:
    """RewardsDistributor: sets of SET_SIZES operators (operator i is in every set larger than
    i; each operator holds stake in both strategies, a staker delegates to operator 0). With
    `record` None only the operators and the staker are set up (returned)."""
    zero = "0x" + "00" * 20
    rd, dm, am, sm = r.distributor, d.delegation_manager, d.allocation_manager, d.strategy_manager
    strats = sorted(d.strategies.values(), key=lambda s: int(s.address, 16))[:2]
    syms = {s.address: sym for sym, s in d.strategies.items()}
    am.updateAVSMetadataURI(avs, "bench", sender=avs)
    am.createOperatorSets(
        avs, [(k + 1, strats, zero) for k in range(len(SET_SIZES))], [zero] * len(SET_SIZES), sender=avs
    )

    def stake(who, amount):
        for s in strats:
            t = d.tokens[syms[s.address]]
            t.mint(who, amount, sender=who)
            t.approve(sm, amount, sender=who)
            sm.depositIntoStrategy(s, t, amount, sender=who)

    ops = []
    for i in range(max(SET_SIZES)):
        op = fresh_earner()
        dm.registerAsOperator(zero, 0, "", sender=op)
        stake(op, 10**18 * (i + 1))
        ids = [k + 1 for k, n in enumerate(SET_SIZES) if i < n]
        am.registerForOperatorSets(op, (avs, ids, b""), sender=op)
        # an eighth of each strategy to each of its sets (allocation delay 0: effective at once)
        am.modifyAllocations(op, [((avs, k), strats, [10**18 // 8] * 2, [0, 0]) for k in ids], sender=op)
        ops.append(op)
    staker = fresh_earner()
    dm.delegateTo(ops[0], (b"", 0), b"\x00" * 32, sender=staker)
    stake(staker, 5 * 10**18)
    if record is None:
        return ops, staker
    token = d.tokens["A"]
    token.mint(avs, 10**30, sender=avs)
    token.approve(rd, 2**256 - 1, sender=avs)
    chain.mine()
    ids = []
    for k, n in enumerate(SET_SIZES):
        for m in (1, 2):
            sams = [(s.address, 10**18) for s in strats[:m]]
            receipts = []
            for _ in range(3):
                snap = chain.blocks.head.number
                receipts.append(
                    rd.createOperatorSetDistribution((avs, k + 1), token, 10**24, snap, sams, sender=avs)
                )
                ids.append(distribution_id(receipts[-1]))
            record(
                f"createOperatorSetDistribution ({n} operators, {m} strateg{'y' if m == 1 else 'ies'})",
                receipts,
            )
            unique = []
            for _ in range(3):
                snap = chain.blocks.head.number
                unique.append(
                    rd.createUniqueStakeDistribution((avs, k + 1), token, 10**24, snap, sams, [], sender=avs)
                )
                ids.append(distribution_id(unique[-1]))
            record(
                f"createUniqueStakeDistribution ({n} operators, {m} strateg{'y' if m == 1 else 'ies'})",
                unique,
            )
    # claims: each distribution above pays the staker through operator 0 (it is in every set)
    record(
        "RewardsDistributor.claim (1 distribution, 1 strategy)",
        [rd.claim(staker, [(ids[0], ops[0])], staker, sender=staker)],
    )
    record(
        "RewardsDistributor.claim (1 distribution, 2 strategies)",
        [rd.claim(staker, [(ids[6], ops[0])], staker, sender=staker)],
    )
    record(
        "RewardsDistributor.claim (1 unique-stake distribution, 1 strategy)",
        [rd.claim(staker, [(ids[3], ops[0])], staker, sender=staker)],
    )
    left = [i for i in ids if i not in (ids[0], ids[3], ids[6])]
    for n in DIST_BATCHES:
        batch, left = left[:n], left[n:]
        if len(batch) < n:
            break
        record(
            f"RewardsDistributor.claim ({n} distributions, 1-2 strategies)",
            [rd.claim(staker, [(i, ops[0]) for i in batch], staker, sender=staker)],
        )
    return ops, staker


REFUND_DAYS = (1, 7, 28)  # refundSubmission rows: v1 submissions over that many unrecorded days


def bench_refund(chain, d, r, avs, ops, staker, record, fresh_earner) -> None:
    """Refunds and the chunked record of a large AVS: a fresh AVS with set 1 of the 64 operators
    above and one more, set 2 of the first alone; REPEAT v1 submissions over each of REFUND_DAYS
    days in the past (nobody recorded them: all refunded) and over the next 3 days, recorded for
    the AVS each day (``recordAVSDay`` finds 65 operators: too large; ``recordAVSMembers`` 64 then
    1), then refunded once over (only the day split's rounding: 1e24 + 1 over 3 days: 2 wei); and
    ``refundDistribution`` of REPEAT distributions over set 2 of ``avs`` (8 operators: the split's
    15-decimal rounding)."""
    zero = "0x" + "00" * 20
    rc, ch, steps, rd, am = (
        r.coordinator,
        r.challenger,
        r.challenge_steps,
        r.distributor,
        d.allocation_manager,
    )
    strats = sorted(d.strategies.values(), key=lambda s: int(s.address, 16))[:2]
    sams = [(s.address, 10**18) for s in strats]
    token = d.tokens["B"]
    extra = fresh_earner()
    d.delegation_manager.registerAsOperator(zero, 0, "", sender=extra)
    big = fresh_earner()
    am.updateAVSMetadataURI(big, "bench", sender=big)
    am.createOperatorSets(big, [(1, strats, zero), (2, strats, zero)], [zero, zero], sender=big)
    members = sorted([*ops, extra], key=lambda o: int(o.address, 16))
    for op in members:
        am.registerForOperatorSets(op, (big, [1, 2] if op == members[0] else [1], b""), sender=op)
    token.mint(big, 10**30, sender=big)
    token.approve(rc, 2**256 - 1, sender=big)
    today = chain.pending_timestamp // DAY * DAY

    def submit(amount, start, days):
        """A v1 submission of `big`'s; returns refundSubmission's (nonce, entry)."""
        nonce, sub = rc.submissionNonce(big), (sams, token.address, amount, start, days * DAY)
        tx = rc.createAVSRewardsSubmission([sub], sender=big)
        h = tx.events.filter(rc.AVSRewardsSubmissionCreated)[0].rewardsSubmissionHash
        return nonce, (0, 0, token.address, start, days * DAY, h, sub)

    unrecorded = {
        days: [submit(10**24, today - days * DAY, days) for _ in range(REPEAT)] for days in REFUND_DAYS
    }
    recorded = [submit(10**24 + 1, today + DAY, 3) for _ in range(REPEAT)]
    day_recs, first, last = [], [], []
    addrs = [o.address for o in members]
    for k in range(3):
        day = today + (k + 1) * DAY
        chain.pending_timestamp = max(day + 60, chain.pending_timestamp + 1)
        chain.mine()
        day_recs.append(ch.recordAVSDay(big, day, [1, 2], addrs, sender=staker))
        first.append(steps.recordAVSMembers(big, day, [1, 2], addrs[:64], False, sender=staker))
        last.append(steps.recordAVSMembers(big, day, [1, 2], addrs[64:], True, sender=staker))
    record("recordAVSDay (65 operators, 2 sets: too large)", day_recs)
    record("recordAVSMembers (64 operators, 2 sets)", first)
    record("recordAVSMembers (the last 1 operator: the record written)", last)
    chain.pending_timestamp = max(today + 4 * DAY + 60, chain.pending_timestamp + 1)
    chain.mine()
    for days, items in unrecorded.items():
        record(
            f"refundSubmission (v1, {days} unrecorded day{'s' if days > 1 else ''}: all of it)",
            [steps.refundSubmission(big, n, e, [], sender=staker) for n, e in items],
        )
    record(
        "refundSubmission (v1, 3 recorded days: the rounding)",
        [steps.refundSubmission(big, n, e, [], sender=staker) for n, e in recorded],
    )
    t = d.tokens["A"]
    t.mint(avs, 10**30, sender=avs)
    t.approve(rd, 2**256 - 1, sender=avs)
    chain.mine()
    ids = [
        distribution_id(
            rd.createOperatorSetDistribution(
                (avs, 2), t, 10**24 + 7, chain.blocks.head.number - 1, sams, sender=avs
            )
        )
        for _ in range(REPEAT)
    ]
    assert all(rd.undistributed(i) > 0 for i in ids)
    record(
        "refundDistribution (8 operators' rounding)", [rd.refundDistribution(i, sender=staker) for i in ids]
    )


# (operators, days) of each challengeRoot row, by the kind of the submission challenged
CHALLENGE_KINDS = {
    "total": CHALLENGE_CASES,
    "unique": ((1, 1), (8, 1), (32, 1), (64, 1)),
    "directed": ((8, 1), (64, 1), (8, 4)),
    # the same leaf in steps (RewardsChallengeSteps, one recorded day a step)
    "steps": ((8, 4), (64, 2)),
    "steps-unique": ((64, 2),),
    # v1 submissions (createAVSRewardsSubmission) over the AVS's recorded operators (recordAVSDay),
    # in one transaction and in steps
    "avs": ((8, 1), (64, 1), (8, 4)),
    "steps-avs": ((64, 2),),
}


def bench_challenge(project, chain, accounts, d, ops, staker, record, fresh_earner) -> None:
    """RewardsRootChallenger: ``recordDay`` and ``challengeRoot`` of one staker's leaf (delegated to
    operator 0, the right operator hint) over CHALLENGE_CASES (operators, days, kind): per case a
    fresh AVS with one set of that many of the operators above (each allocating a sixteenth of both
    strategies to it for the unique-stake form), a submission of that kind over that many days
    (operator-directed: 1e21 to each member, made after the days), every day recorded, a root with
    the staker's amount inflated by one, challenged and voided.
    Its own coordinator (activation delay an hour: the challenge comes after the off-chain work)."""
    from offchain.chain import rewards, sdk
    from offchain.chain.deploy import RewardsConfig, deploy_rewards

    zero = "0x" + "00" * 20
    a = accounts.test_accounts
    r = deploy_rewards(project, a[0], d, RewardsConfig(activation_delay_s=3_600, updater_bond_wei=10**18))
    rc, ch, am = r.coordinator, r.challenger, d.allocation_manager
    strats = sorted(d.strategies.values(), key=lambda s: int(s.address, 16))[:2]
    sams = [(s.address, 10**18) for s in strats]
    token = d.tokens["B"]
    dep = sdk.Deployment(
        chain_id=chain.chain_id,
        rpc_url=chain.provider.uri,
        addresses={
            "allocation_manager": am.address,
            "delegation_manager": d.delegation_manager.address,
            "rewards_coordinator": rc.address,
            "rewards_root_challenger": ch.address,
            "rewards_challenge_steps": r.challenge_steps.address,
        },
    )

    def advance_to(t):
        chain.pending_timestamp = max(t, chain.pending_timestamp + 1)
        chain.mine()

    kinds = [k for k in CHALLENGE_KINDS if k in sys.argv[1:]] or list(CHALLENGE_KINDS)
    for n, days, kind in ((n, days, k) for k in kinds for n, days in CHALLENGE_KINDS[k]):
        in_steps = kind.startswith("steps")
        kind = {"steps": "total", "steps-unique": "unique", "steps-avs": "avs"}.get(kind, kind)
        avs = fresh_earner()
        am.updateAVSMetadataURI(avs, "bench", sender=avs)
        am.createOperatorSets(avs, [(1, strats, zero)], [zero], sender=avs)
        for op in ops[:n]:
            am.registerForOperatorSets(op, (avs, [1], b""), sender=op)
            if kind == "unique":
                am.modifyAllocations(op, [((avs, 1), strats, [10**18 // 16] * 2, [0, 0])], sender=op)
        token.mint(avs, 10**30, sender=avs)
        token.approve(rc, 2**256 - 1, sender=avs)
        start = (chain.pending_timestamp // DAY + 1) * DAY
        sub = (sams, token.address, 10**24, start, days * DAY)
        if kind == "total":
            rc.createTotalStakeRewardsSubmission((avs, 1), [sub], sender=avs)
        elif kind == "unique":
            rc.createUniqueStakeRewardsSubmission((avs, 1), [sub], sender=avs)
        elif kind == "avs":
            rc.createAVSRewardsSubmission([sub], sender=avs)
        recs = []
        for k in range(days):
            advance_to(start + k * DAY + 60)
            if kind == "avs":
                ids, members = rewards.avs_operators(dep, avs.address)
                recs.append(ch.recordAVSDay(avs, start + k * DAY, ids, members, sender=staker))
            else:
                recs.append(ch.recordDay((avs, 1), sender=staker))
        if kind in ("total", "avs") and not in_steps:
            record(f"{'recordAVSDay' if kind == 'avs' else 'recordDay'} ({n} operators)", recs)
        advance_to(start + days * DAY + 60)
        end = start + days * DAY
        if kind == "directed":
            directed = sorted(((op.address, 10**21) for op in ops[:n]), key=lambda x: int(x[0], 16))
            rc.createOperatorDirectedOperatorSetRewardsSubmission(
                (avs, 1), [(sams, token.address, directed, start, days * DAY, "bench")], sender=avs
            )
        dist = rewards.build_distribution(dep, avs.address, end)
        dist[staker.address.lower()][token.address.lower()] += 1
        tree = DistributionTree(dist)
        ch.depositBond(value=10**18, sender=a[0])
        i = rc.submitRoot(avs, tree.root, end, sender=a[0]).events[0].rootIndex
        check = rewards.check_root(dep, i)
        what = {
            "total": "",
            "unique": ", unique stake",
            "directed": ", operator-directed",
            "avs": ", v1 AVS",
        }[kind]
        if in_steps:
            bench_steps(r.challenge_steps, dep, check, tree, staker, token, n, what, record)
            assert rc.getDistributionRootAtIndex(i).disabled
            continue
        args = rewards.challenge_args(dep, check, tree, None, staker.address, token.address)
        tx = ch.challengeRoot(*args, sender=staker)
        assert rc.getDistributionRootAtIndex(i).disabled
        record(
            f"challengeRoot ({n} operators, {days} day{'s' if days > 1 else ''}, 2 strategies{what})", [tx]
        )


def bench_steps(steps, dep, check, tree, staker, token, n, what, record) -> None:
    """RewardsChallengeSteps: the leaf's challenge one recorded day a step: ``beginChallenge``,
    the first ``continueChallenge`` (the histories cold), the later ones, ``finishChallenge``."""
    from offchain.chain import rewards

    inputs = rewards.challenge_inputs(dep, check, tree, None, staker.address, token.address, 1)
    i, e, t = check.root.index, staker.address, token.address
    record(f"beginChallenge ({n} operators{what})", [steps.beginChallenge(*inputs.head, sender=staker)])
    txs = [steps.continueChallenge(i, e, t, *a, sender=staker) for a in inputs.step_args()]
    record(f"continueChallenge, first day ({n} operators, 2 strategies{what})", txs[:1])
    record(f"continueChallenge, later day ({n} operators, 2 strategies{what})", txs[1:])
    record(f"finishChallenge ({n} operators{what})", [steps.finishChallenge(i, e, t, sender=staker)])


if __name__ == "__main__":
    sys.exit(main())
