"""Client of contracts/rewards over a deployment (``offchain.chain.sdk.Deployment``, web3): an AVS's
roots, an earner's standing against a distribution, claims (docs/rewards.md).

Roots are posted per AVS (``submitRoot(avs, root, end)``) and pay only from that AVS's escrow, so
every question here names the AVS. A distribution is the off-chain tree
(:class:`offchain.rewards.merkle.DistributionTree`) whose root the updater posted; before a claim is
sent its proofs are checked here against the root on chain, and the claimable amount against the
AVS's escrow and the earner's claimer, so a claim that would be refused is reported, not sent.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from web3 import Web3

from offchain import abi
from offchain.chain import sdk
from offchain.chain.errors import ChainInputError
from offchain.rewards.merkle import DistributionTree

RECORD_KEYS = {
    "rewards_coordinator": "RewardsCoordinator",
    "fee_vault": "FeeVault",
    "buyback_auction": "BuybackAuction",
}


def coordinator(d: sdk.Deployment) -> Any:
    return d.contract("rewards_coordinator", ctype=RECORD_KEYS["rewards_coordinator"])


def _checksum(v: str, what: str) -> str:
    return Web3.to_checksum_address(abi.address(v, ChainInputError) if isinstance(v, str) else v)


@dataclass(frozen=True)
class RootInfo:
    index: int
    avs: str
    root: bytes
    rewards_calculation_end: int
    activated_at: int
    disabled: bool

    def claimable_at(self, now: int) -> bool:
        return not self.disabled and now >= self.activated_at


def root_at(d: sdk.Deployment, index: int) -> RootInfo:
    rc = coordinator(d)
    n = rc.functions.getDistributionRootsLength().call()
    if not 0 <= index < n:
        raise ChainInputError(f"no root {index}: the coordinator holds {n}")
    root, end, activated, disabled = rc.functions.getDistributionRootAtIndex(index).call()
    avs = rc.functions.rootAVS(index).call()
    return RootInfo(index, Web3.to_checksum_address(avs), bytes(root), end, activated, disabled)


def roots_of(d: sdk.Deployment, avs: str) -> list[RootInfo]:
    """Every root posted for `avs`, oldest first."""
    rc, a = coordinator(d), _checksum(avs, "avs")
    n = rc.functions.avsRootCount(a).call()
    return [root_at(d, rc.functions.avsRootIndex(a, k).call()) for k in range(n)]


def find_root(d: sdk.Deployment, avs: str, tree: DistributionTree, index: int | None = None) -> RootInfo:
    """The root of `avs` at `index`, or (by default) the newest root of `avs` equal to the tree's;
    ChainInputError when the tree is not what was posted there."""
    if index is not None:
        r = root_at(d, index)
        if r.avs.lower() != _checksum(avs, "avs").lower():
            raise ChainInputError(f"root {index} pays from {r.avs}'s escrow, not {avs}'s")
        if r.root != tree.root:
            raise ChainInputError(
                f"root {index} is 0x{r.root.hex()}, not this distribution's 0x{tree.root.hex()}"
            )
        return r
    for r in reversed(roots_of(d, avs)):
        if r.root == tree.root:
            return r
    raise ChainInputError(f"no root of {avs} equals this distribution's 0x{tree.root.hex()}")


def _now(d: sdk.Deployment) -> int:
    try:
        return int(d.w3.eth.get_block("latest")["timestamp"])
    except Exception:  # a node without blocks: the clock
        return int(time.time())


def status(
    d: sdk.Deployment, avs: str, tree: DistributionTree, earner: str, root_index: int | None = None
) -> dict[str, Any]:
    """Where `earner` stands against the distribution `tree` posted for `avs`: per token its
    cumulative earnings, what it claimed already, what a claim would pay and the AVS's escrow."""
    rc = coordinator(d)
    a, e = _checksum(avs, "avs"), _checksum(earner, "earner")
    r = find_root(d, avs, tree, root_index)
    if e.lower() not in tree.earnings:
        raise ChainInputError(f"{e} earns nothing in this distribution")
    tokens = []
    for t, cum in sorted(tree.earnings[e.lower()].items(), key=lambda kv: int(kv[0], 16)):
        tk = Web3.to_checksum_address(t)
        claimed = rc.functions.cumulativeClaimedFor(a, e, tk).call()
        escrow = rc.functions.avsEscrow(a, tk).call()
        due = max(cum - claimed, 0)
        tokens.append(
            {
                "token": tk,
                "cumulative": cum,
                "claimed": claimed,
                "claimable": due,
                "escrow": escrow,
                "covered": due <= escrow,
            }
        )
    claimer = rc.functions.claimerFor(e).call()
    now = _now(d)
    return {
        "avs": a,
        "earner": e,
        "claimer": claimer if int(claimer, 16) else e,
        "root_index": r.index,
        "root": "0x" + r.root.hex(),
        "activated_at": r.activated_at,
        "claimable_now": r.claimable_at(now),
        "disabled": r.disabled,
        "tokens": tokens,
    }


def claim(
    d: sdk.Deployment,
    account: Any,
    avs: str,
    tree: DistributionTree,
    earner: str | None = None,
    recipient: str | None = None,
    tokens: list[str] | None = None,
    root_index: int | None = None,
) -> dict[str, Any]:
    """Claim `earner`'s (default: the account's) earnings in `tokens` (default: every token with
    something to claim) from the root of `avs` equal to `tree`, to `recipient` (default: the
    earner). Checked before sending: the root is active, the account is the earner's claimer, the
    proofs hold against the root on chain and the AVS's escrow covers each amount."""
    e = _checksum(earner or account.address, "earner")
    st = status(d, avs, tree, e, root_index)
    if st["disabled"]:
        raise ChainInputError(f"root {st['root_index']} is disabled")
    if not st["claimable_now"]:
        raise ChainInputError(f"root {st['root_index']} activates at {st['activated_at']} (unix time)")
    if account.address.lower() != st["claimer"].lower():
        raise ChainInputError(f"{account.address} may not claim for {e}: its claimer is {st['claimer']}")
    rows = {r["token"].lower(): r for r in st["tokens"]}
    wanted = [t.lower() for t in tokens] if tokens else [t for t, r in rows.items() if r["claimable"] > 0]
    if not wanted:
        raise ChainInputError(f"{e} has nothing left to claim in this distribution")
    for t in wanted:
        r = rows.get(abi.address(t, ChainInputError))
        if r is None:
            raise ChainInputError(f"{e} earns nothing in token {t} here")
        if r["claimable"] == 0:
            raise ChainInputError(f"{e} already claimed all of {r['token']}")
        if not r["covered"]:
            raise ChainInputError(
                f"{avs}'s escrow of {r['token']} ({r['escrow']}) does not cover {r['claimable']}"
            )
    claims = tree.claims(e, wanted, st["root_index"])
    for c in claims:
        c.verify(bytes.fromhex(st["root"][2:]))
    to = _checksum(recipient, "recipient") if recipient else e
    f = coordinator(d).functions
    fn = (
        f.processClaim(claims[0].as_tuple(), to)
        if len(claims) == 1
        else f.processClaims([c.as_tuple() for c in claims], to)
    )
    receipt = sdk.send(d, account, fn, "processClaim")
    paid = {t: rows[t]["claimable"] for t in wanted}
    return {
        "tx": receipt["transactionHash"].hex(),
        "earner": e,
        "recipient": to,
        "root_index": st["root_index"],
        "paid": {Web3.to_checksum_address(t): v for t, v in paid.items()},
        "gas_used": receipt["gasUsed"],
    }
