"""The main job's world: the devnet deployment, named accounts and the restaking walk-through.

``Demo()`` deploys the restaking core from config/deploy.yaml on the connected (local) network and
names the test accounts; ``Demo.run()`` walks through the restaking flow, printing a before/after
account at each step, then runs each later step of ``STEPS`` (``scripts/_demo/{token,compute,ai,trading,prediction,da,rewards}.py``:
a module with ``run(demo)``) on the same world, keeping what each returned in ``demo.results``.
"""

from ape import accounts, chain, networks, project

from offchain.abi import BURN_ADDRESS, WAD, ZERO_ADDRESS
from offchain.chain.deploy import deploy_core, load_config
from scripts._demo import ai, compute, da, prediction, rewards, token, trading
from scripts._demo.common import fmt

# The later components' steps, run in this order after the restaking walk-through.
STEPS = (token, compute, ai, trading, prediction, da, rewards)


class Demo:
    def __init__(self):
        a = accounts.test_accounts
        self.deployer, self.avs, self.op_a, self.op_b = a[0], a[1], a[2], a[3]
        self.carol, self.dave, self.erin, self.victim, self.arbiter = a[4], a[5], a[6], a[7], a[8]
        self.names = {
            self.op_a.address: "operator A",
            self.op_b.address: "operator B",
            self.carol.address: "Carol",
            self.dave.address: "Dave",
            self.erin.address: "Erin",
            self.victim.address: "victim (recipient)",
        }
        config = load_config("local")
        self.d = deploy_core(project, self.deployer, config)
        self.sm, self.dm = self.d.strategy_manager, self.d.delegation_manager
        self.am, self.esc = self.d.allocation_manager, self.d.slash_escrow
        self.syms = ["stETH", "rETH"]
        self.config = config
        self.results = {}  # what each later step returned, by module name
        self.da_net = None  # the DA devnet on this chain, once a step starts it (scripts/_demo/da.py)

    def strat(self, sym):
        return self.d.strategies[sym]

    def deposit(self, who, sym, amount):
        token = self.d.tokens[sym]
        token.mint(who, amount, sender=who)
        token.approve(self.sm, amount, sender=who)
        self.sm.depositIntoStrategy(self.strat(sym), token, amount, sender=who)

    def sorted_strats(self):
        return sorted((self.strat(s) for s in self.syms), key=lambda c: int(c.address, 16))

    def report(self, title):
        print(f"\n=== {title}  (block {chain.blocks.head.number})")
        print(f"{'':24}" + "".join(f"{s:>16}" for s in self.syms))
        for op in (self.op_a, self.op_b):
            row = [self.dm.operatorShares(op, self.strat(s)) for s in self.syms]
            print(f"{self.names[op.address] + ' delegated':24}" + "".join(f"{fmt(x):>16}" for x in row))
            for set_id, label in ((1, "set 1 (redistr.)"), (2, "set 2 (burning)")):
                stake = self.am.getAllocatedStake(
                    (self.avs, set_id), [op], [self.strat(s) for s in self.syms]
                )[0]
                print(f"{'  ' + label:24}" + "".join(f"{fmt(x):>16}" for x in stake))
        for st in (self.carol, self.dave, self.erin):
            wd = self.dm.getWithdrawableShares(st, [self.strat(s) for s in self.syms])[0]
            print(f"{self.names[st.address] + ' withdrawable':24}" + "".join(f"{fmt(x):>16}" for x in wd))
        for label, addr in (
            ("victim balance", self.victim.address),
            ("slash escrow", self.esc.address),
            ("burn address", BURN_ADDRESS),
        ):
            bal = [self.d.tokens[s].balanceOf(addr) for s in self.syms]
            print(f"{label:24}" + "".join(f"{fmt(x):>16}" for x in bal))

    def run(self):
        c = self.config
        print(f"Deployed on {networks.provider.network.name} (chain id {chain.chain_id}):")
        for k, v in self.d.addresses().items():
            print(f"  {k:20} {v}")
        print(
            f"Delays (blocks): withdrawal {c.withdrawal_delay_blocks}, deallocation {c.deallocation_delay_blocks}, "
            f"allocation configuration {c.allocation_configuration_delay_blocks}, "
            f"slash resolution {c.slash_resolution_delay_blocks}"
        )

        # An AVS with a redistributing set (victims are compensated; an arbiter may cancel) and a burning set.
        strategies = [self.strat(s) for s in self.syms]
        self.am.updateAVSMetadataURI(self.avs, "https://avs.example/metadata.json", sender=self.avs)
        self.am.createRedistributingOperatorSets(
            self.avs, [(1, strategies, ZERO_ADDRESS)], [self.victim], [self.arbiter], sender=self.avs
        )
        self.am.createOperatorSets(self.avs, [(2, strategies, ZERO_ADDRESS)], sender=self.avs)
        print("\nAVS created set 1 (redistributing to the victim, arbiter may cancel) and set 2 (burning).")

        for op in (self.op_a, self.op_b):
            self.dm.registerAsOperator(ZERO_ADDRESS, 2, "https://operator.example/metadata.json", sender=op)
            self.am.setRedistributionConsent(op, (self.avs, 1), True, sender=op)
            self.am.registerForOperatorSets(op, (self.avs, [1, 2], b""), sender=op)
        print(
            "Operators A and B registered (allocation delay 2 blocks), consented to redistribution, joined both sets."
        )

        self.deposit(self.carol, "stETH", 100 * WAD)
        self.deposit(self.carol, "rETH", 50 * WAD)
        self.deposit(self.dave, "stETH", 200 * WAD)
        self.deposit(self.erin, "rETH", 300 * WAD)
        for st, op in ((self.carol, self.op_a), (self.dave, self.op_a), (self.erin, self.op_b)):
            self.dm.delegateTo(op, (b"", 0), b"\x00" * 32, sender=st)
        print("Carol (100 stETH, 50 rETH) and Dave (200 stETH) delegated to A; Erin (300 rETH) to B.")

        def alloc(op, set_id, mag):
            cur = [self.am.getAllocation(op, (self.avs, set_id), s).currentMagnitude for s in strategies]
            self.am.modifyAllocations(op, [((self.avs, set_id), strategies, [mag] * 2, cur)], sender=op)

        alloc(self.op_a, 1, WAD // 2)
        alloc(self.op_a, 2, WAD // 5)
        alloc(self.op_b, 1, WAD * 3 // 10)
        chain.mine(2)
        print(
            "A allocated 50% to set 1 and 20% to set 2; B allocated 30% to set 1 (effective after 2 blocks)."
        )
        self.report("Before slashing")

        ordered = self.sorted_strats()
        r = self.am.slashOperator(
            self.avs,
            (self.op_a, 1, ordered, [WAD * 2 // 5] * 2, "signed two conflicting DA certificates"),
            sender=self.avs,
        )
        slash_id = [e for e in r.events if e.event_name == "OperatorSlashed"][0].slashId
        print(
            f"\nSet 1's slasher slashed operator A by 40% of its set-1 allocation (slash {slash_id}): "
            "20% of A's stake; set 2's stake from A is unchanged (unique stake)."
        )
        self.report("After the slash: funds in escrow for the resolution window")

        chain.mine(c.slash_resolution_delay_blocks + 1)
        self.esc.releaseSlash(self.avs, 1, slash_id, sender=self.erin)
        self.report("After the resolution window: anyone released the escrow to the victim")

        r = self.am.slashOperator(
            self.avs, (self.op_b, 1, ordered, [WAD // 10] * 2, "mistaken report"), sender=self.avs
        )
        slash_b = [e for e in r.events if e.event_name == "OperatorSlashed"][0].slashId
        erin_slashed = self.dm.getWithdrawableShares(self.erin, [self.strat("rETH")])[0][0]
        self.esc.cancelSlash(self.avs, 1, slash_b, sender=self.arbiter)
        erin_restored = self.dm.getWithdrawableShares(self.erin, [self.strat("rETH")])[0][0]
        print(
            f"\nA mistaken slash of B (10% of its set-1 allocation) took Erin to {fmt(erin_slashed)} rETH; "
            f"the arbiter cancelled it within the window and Erin is back to {fmt(erin_restored)} rETH."
        )
        self.report("Restaking: final state")
        try:
            for step in STEPS:
                if step is ai:  # the DA devnet the trading and DA steps share comes up while the model loads
                    da.start(self)
                self.results[step.__name__] = step.run(self)
        finally:
            da.stop(self)  # the DA devnet the trading and DA steps share, if a step failed before the DA step
        print("\nDemo complete.")
