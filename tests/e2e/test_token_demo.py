"""The main job's token step (scripts/_demo/token.py, run) on the demo's own deployment, and the
figures of its later steps: the verifiable trading agent (scripts/_demo/trading.py), the AI-settled
prediction market (scripts/_demo/prediction.py) and rewards, fees
(the protocol fee, the compute task fee split, the inference fee and the DA step's on-demand payment into the
fee vault) and the buyback (scripts/_demo/rewards.py)."""

from __future__ import annotations

from offchain.abi import WAD
from scripts._demo import da as demo_da
from scripts._demo import prediction as demo_prediction
from scripts._demo import rewards as demo_rewards
from scripts._demo import token as demo_token
from scripts._demo import trading as demo_trading
from scripts._demo.world import STEPS, Demo


def test_demo_token_step(capsys):
    demo = Demo()  # deploys the core and, from the local config, the token system
    assert demo.d.eigen is not None and "fork_manager" in demo.d.addresses()
    demo.run()  # the whole main job, as `make demo` runs it; the token step is part of it
    figures = demo.results[demo_token.__name__]
    out = capsys.readouterr().out
    assert "After adoption" in out and "Checks:" in out
    slashed = 1_500 * WAD  # operator A's own 500 and Carol's 1,000
    assert figures["slashed"] == slashed
    assert figures["reward"] == 10 * WAD + slashed // 10
    assert figures["erin"] == 2_000 * WAD
    # the trading agent: the honest decision upheld from its DA record, the tampered one slashed
    trading = demo.results[demo_trading.__name__]
    assert trading["honest_upheld"] and trading["slash_id"] > 0
    assert trading["recomputed_order"] != trading["tampered_order"]
    assert all(v > 0 for v in trading["compensation"].values())
    # the agent ran from its image: every record's wallet is the key ComputeAVS enrolled for the app's agent image
    assert trading["agent_enclave"] == (trading["agent_app"], trading["agent_image"], False)
    assert trading["agent_image"] != trading["policy_image"]
    assert set(trading["record_wallets"]) == {trading["agent_wallet"]}
    assert "Operator B starts the agent's image in its enclave" in out
    # all answered by the TaskValidator: two receipts from InferenceDisputes, two policy tasks from the TaskMailbox
    assert trading["validations"] == (4, 50)
    assert trading["answers"] == [
        (1, 100, "inference-final"),
        (demo_trading.STEPS, 0, "inference-faulty"),
        (1, 100, "task-certified"),
        (demo_trading.POLICY_STEP, 0, "fault-proven"),
    ]
    records = demo_trading.POLICY_STEP + 1  # every step's, the refused one's too
    assert len(trading["certificates"]) == records
    # every traded step's order was the policy task's certified output, re-executed without a problem
    assert len(set(trading["policy_tasks"])) == demo_trading.STEPS + 1 and trading["policy_problems"] == []
    # the step whose certified policy output A tampered with: refused by the agent (nothing traded),
    # re-executed from its DA record in B's enrolled enclave, proven wrong (proveReceiptFault: kind 2),
    # A alone slashed (it alone certified it), B not, and A's slashed stake redistributed to Dave
    pf = trading["policy_fault"]
    assert pf["refused_order"] == "HOLD" and pf["traded"] is None
    assert pf["certified_order"] != pf["correct_order"]
    assert pf["certifiers"] == pf["slashed"] == [demo.op_a.address] and pf["kinds"] == [2]
    assert pf["faulted"] == {"operator A": True, "operator B": False}
    assert set(pf["redistributed"]) == set(demo.syms) and all(v > 0 for v in pf["redistributed"].values())
    assert "B proves it with its enclave's receipt (TaskSlasher.proveReceiptFault" in out
    # the policy fees: the type charges 0 on the mailbox, each task's fee is a VerifiedEscrow deposit bound to
    # it for its certifiers; released after the window to the operators that certified each task, pro rata to
    # the stake each signed with, as mailbox fees; the proven-wrong step's refunded once its slash is final
    fees, fee, wrong = trading["policy_fees"], demo_trading.POLICY_FEE, demo_trading.POLICY_STEP
    assert fees["states"] == {**{i: "released" for i in range(wrong)}, wrong: "refunded"}
    owed = fees["certifiers_owed"]
    assert fees["refunded"] == fee and sum(owed.values()) == wrong * fee and fees["escrow_left"] == 0
    assert set(owed) == {"operator A", "operator B"} and owed["operator A"] > owed["operator B"] >= 0
    assert fees["mailbox_owed"] == list(owed.values())  # the type's own fee is zero: all from the escrow
    assert f"Step {wrong}'s policy fee stays in escrow while the set's resolver may still cancel" in out
    assert "(refund: 'slash pending')" in out
    assert (
        f"Step {wrong}'s policy fee (0.01 USDC) is refunded to the vault that paid it: its certifier's slash is final"
        in out
    )
    assert "Step 1's policy fee (0.01 USDC) is released to its certifiers after the" in out
    assert "Owed to the certifying operators from the escrowed policy fees" in out
    # the agent trades through Dave's vault: its funds move on the certified orders alone (the refused
    # step moves nothing), and the host's attempts to execute the wrong or an uncertified order revert
    vault = trading["vault"]
    bal = vault["balances"]
    assert bal["start"] == (3_000 * 10**6, 10**18)
    orders = [*trading["steps"], trading["tampered_order"], "HOLD"]  # the refused step: nothing traded
    for i, action in enumerate(orders):  # dETH moves on a trade only (USDC pays the running costs too)
        before, after = bal["start" if i == 0 else f"after step {i - 1}"], bal[f"after step {i}"]
        assert (after[1] != before[1]) == (action != "HOLD"), (i, action, before, after)
    # the vault paid every feed and every policy fee (the refunded one came back to it); the agent's wallet
    # holds no USDC
    spent = vault["budget_spent"]
    # the refunded fee is credited back to the fee budget (creditRefundedFee)
    assert fees["credited"] == fee
    # the feed budget paid every feed and every decision (x402 verified); the refunded decision came back to it
    infer = demo_trading.INFER_PRICE
    assert spent == {
        "feeds": records * demo_trading.FEED_PRICE + (records - 1) * infer,
        "fees": (records - 1) * fee,
    }
    # the decisions, bought from A's inference agent under x402 verified from the vault: step 1's (upheld) and the
    # untouched ones released to A, the tampered one's refunded to the vault and credited back to its feed budget
    ip, bad = trading["inference_payments"], demo_trading.STEPS
    assert ip["states"] == {**{i: "released" for i in range(records)}, bad: "refunded"}
    assert ip["refunded"] == ip["credited"] == infer and ip["seller_earned"] == (records - 1) * infer
    assert "decision was bought from A's inference agent under x402 verified" in out
    assert (
        "Step 1's inference payment (0.01 USDC) is released to A's inference agent (the receipt is upheld"
        in out
    )
    assert f"Step {bad}'s inference payment stays in escrow while the set's resolver may still cancel" in out
    assert (
        f"Step {bad}'s inference payment (0.01 USDC) is refunded to the vault, the receipt proven wrong"
        in out
    )
    assert "credited back to its feed budget (creditRefundedPayment)" in out
    assert (
        "Step 0's inference payment (0.01 USDC) is released to A's inference agent (its receipt unchallenged"
        in out
    )
    assert vault["agent_usdc"] == 0 and "The vault paid the agent's running costs" in out
    assert vault["refusals"] == ["min out under the slippage bound", "result not the task's"]
    assert f"Dave deploys his AgentVault {vault['address'][:10]}" in out
    assert "Had the agent's key been used anyway, the vault refuses both" in out
    assert "reverts 'min out under the slippage bound'" in out and 'reverts "result not the task\'s"' in out
    # every feed bought over A2A (one task each), paid through the x402 extension
    assert len(set(trading["feed_tasks"])) == records
    assert trading["data_agent_earned"] == records * demo_trading.FEED_PRICE
    assert trading["cert_statuses"] == [1] * records  # checkDACert: SUCCESS, on the demo's chain
    # the prediction market: inputs recorded after the close by 2 of 3 feeds (refused before the close and
    # from another signer), the verdict over them disputed and upheld, the whole pool paid to the winners
    pm, pm_bets = demo.results[demo_prediction.__name__], demo_prediction.BETS
    assert pm["refused_before_close"] == "market open" and pm["refused_wrong_signer"] == "invalid signature"
    assert pm["dissent_votes"] == 1 and "it counts 1 of 2, nothing is recorded" in out
    assert (
        pm["cert_status"] == 1 and pm["dispute_upheld"] and pm["outcome"] == pm["truth"] and pm["left"] == 0
    )
    assert sum(pm["paid"].values()) == sum(a for _, _, a in pm_bets) * demo_prediction.USDC
    assert f"Question {pm['question']}: {demo_prediction.QUESTION.text!r}" in out
    assert f"recorded inputs: {demo_prediction.AT_CLOSE!r}" in out and "Carol relays it (recordInputs" in out
    assert (
        f"the verdict is {pm['truth']}" in out
        and "challenges anyway: B and C's re-execution upholds it" in out
    )
    assert f"the market settles: {pm['outcome']}" in out
    for who, yes, amount in pm_bets:
        won = yes == (pm["truth"] == "YES")
        assert (pm["paid"][who] > amount * demo_prediction.USDC) == won and pm["balances"][who] == pm["paid"][
            who
        ]
        side, paid, bal = (
            "YES" if yes else "NO",
            demo_prediction.fmt_usdc(pm["paid"][who]),
            demo_prediction.fmt_usdc(pm["balances"][who]),
        )
        assert f"{who.capitalize()} bets {amount} USDC on {side}." in out
        assert (
            f"{who.capitalize()} (bet {amount} USDC on {side}) collects {paid} USDC; balance {amount:,}.000000 -> {bal} USDC."
            in out
        )
    # one DA devnet for the demo: the DA step certified its records on the verifier the trading records passed
    assert demo.results[demo_da.__name__]["cert_verifier"] == trading["cert_verifier"] and demo.da_net is None
    # the DA step: every record certified (checkDACert SUCCESS) and retrieved from the validators left after one
    # was killed (test_da_demo.py checks how records are cut and packed)
    da = demo.results[demo_da.__name__]
    assert da["records"] >= 1 + STEPS.index(demo_da) and da["blobs"] >= 1  # the deployment, each earlier step
    assert da["statuses"] == [1] * da["blobs"] and da["served_by"] == ["validators"] * da["blobs"]
    assert "checkDACert: 1 (success)" in out and f"{da['killed']} (25% of the stake) killed" in out
    assert "MISMATCH: the receipt's output is not what the model computes" in out
    # rewards: the set's operators and their stakers paid on-chain; the protocol fee, the compute task's
    # fee split and the inference fee (ELIP-12) in the fee vault, bought back and burned
    rw = demo.results[demo_rewards.__name__]
    assert rw["protocol_fee"] == demo_rewards.AMOUNT * 2000 // 10_000
    assert set(rw["paid"]) == {"operator A", "operator B", "Carol", "Dave", "Erin"}
    assert all(v > 0 for v in rw["paid"].values())
    assert demo_rewards.AMOUNT - rw["protocol_fee"] - sum(rw["paid"].values()) < 10**15  # rounding only
    # searched from above: never more than one discovery step (the local network's -10 %) under the market
    assert demo_rewards.MARKET_PRICE * 9 // 10 <= rw["clearing_price"] <= demo_rewards.MARKET_PRICE
    assert rw["task_fee"] == demo_rewards.TASK_FEE * 2000 // 10_000  # config/deploy.yaml: 2,000 bips
    assert set(rw["task_paid"]) == {"operator A", "operator B"} and all(
        v > 0 for v in rw["task_paid"].values()
    )
    assert rw["task_fee"] + sum(rw["task_paid"].values()) == demo_rewards.TASK_FEE
    charge = demo_rewards.TOKEN_PRICE * demo_rewards.GENERATED
    assert (
        rw["inference_fee"] == charge * 2000 // 10_000
        and rw["inference_paid"] == charge - rw["inference_fee"]
    )
    assert rw["lot"] == rw["protocol_fee"] + rw["task_fee"] + rw["inference_fee"]
    assert rw["eigen_burned"] == rw["eigen_paid"] == -(-rw["lot"] * rw["clearing_price"] // WAD)
    # DA fees: the DA step's last blob paid on demand, claimed by the disperser in the PaymentVault, swept into
    # the fee vault as WETH (no operator share configured) and sold in its own auction, the EIGEN burned
    od = da["on_demand"]
    assert od["paid"] > 0 and od["consumed"] == od["paid"] and "claimed it in the PaymentVault" in out
    assert rw["da_fee"] == od["consumed"] == rw["weth_lot"]
    assert demo_rewards.WETH_MARKET_PRICE * 9 // 10 <= rw["weth_price"] <= demo_rewards.WETH_MARKET_PRICE
    assert (
        rw["weth_eigen_burned"] == rw["weth_eigen_paid"] == -(-rw["weth_lot"] * rw["weth_price"] // WAD) > 0
    )
