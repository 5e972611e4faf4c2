# pragma version ~=0.4.3
# pragma optimize gas
"""
@title RewardsDistributor
@notice Rewards distributed fully on-chain to an operator set of up to 64 operators, with no
        root and no updater: the AVS escrows an amount for a snapshot block, the split over the
        operators by delegated stake at that block is computed on-chain at once, and every
        staker claims its part, computed on-chain from the DelegationManager's share histories.
        The rules are the sidecar's for operator sets (offchain/rewards/calc.py,
        `operator_set_day`): weight = sum of multiplier * shares; proportions truncated to 15
        decimals; the operator's commission floor(share * split / 10000), its split being the
        RewardsCoordinator's `getOperatorSetSplit` (activation delay and default included); the
        rest to its stakers by weight. The stakers' denominator is the operator's own weight at
        the block (the sidecar sums its snapshot's stakers: they differ by the per-staker
        rounding, at most one share per staker), so each staker's amount follows from on-chain
        state alone. Both weights are read at claim time: a slash cancelled after the split
        rewrites the histories at the snapshot, and the claims through one operator never exceed
        its pool (`poolClaimed`).
@dev Each distribution is its own escrow: claims are bounded by what it brought (its operators'
     shares; the split's rounding is `undistributed`, refundDistribution pays it back to the AVS), so nothing
     can pay out another distribution's (or another AVS's) tokens. Earners choose their
     claimer in the RewardsCoordinator (`setClaimerFor`); the claimer names the recipient.
"""

from ethereum.ercs import IERC20
from ..interfaces import ITypes
from ..interfaces import IRewardsCoordinator as IRC
from ..interfaces import IDelegationManager
from ..interfaces import IFeeVault

MAX_OPERATORS: constant(uint256) = 64
MAX_STRATEGIES: constant(uint256) = 32
MAX_CLAIMS: constant(uint256) = 64
PRECISION: constant(uint256) = 10**15
ONE_HUNDRED_IN_BIPS: constant(uint256) = 10000
PROTOCOL_FEE_BIPS: constant(uint256) = 2000
MAX_REWARDS_AMOUNT: constant(uint256) = 10**38 - 1
U128: constant(uint256) = (1 << 128) - 1


# The AllocationManager's views, with the array bounds this contract uses (the ABI has none):
# getMembers is asked for at most 64, getAllocatedStakeAt for one operator at a time, so the
# return buffers stay small (memory is paid for by the size a type could reach).
interface IMembers:
    def getMemberCount(operatorSet: ITypes.OperatorSet) -> uint256: view
    def getMembers(operatorSet: ITypes.OperatorSet, start: uint256, length: uint256) -> DynArray[address, 64]: view
    def getStrategiesInOperatorSet(operatorSet: ITypes.OperatorSet) -> DynArray[address, 32]: view
    def getMemberCountAt(operatorSet: ITypes.OperatorSet, blockNumber: uint32) -> uint256: view
    def isMemberOfOperatorSetAt(operator: address, operatorSet: ITypes.OperatorSet, blockNumber: uint32) -> bool: view
    def getAllocatedStakeAt(operatorSet: ITypes.OperatorSet, operators: DynArray[address, 1], strategies: DynArray[address, 32], blockNumber: uint32) -> DynArray[DynArray[uint256, 32], 1]: view


interface ICoordinator:
    def getOperatorSetSplit(operator: address, operatorSet: ITypes.OperatorSet) -> uint16: view
    def claimerFor(earner: address) -> address: view
    def isOptedInForProtocolFee(submitter: address) -> bool: view
    def feeRecipient() -> address: view


# One on-chain distribution.
struct Distribution:
    avs: address
    operatorSetId: uint32
    snapshotBlock: uint32
    token: address
    amount: uint256  # escrowed (net of the protocol fee)
    claimed: uint256
    strategiesAndMultipliers: DynArray[IRC.StrategyAndMultiplier, MAX_STRATEGIES]


# One item of a claim: the distribution and the operator the earner was delegated to at its
# snapshot (an operator claiming its commission names itself).
struct DistributionClaim:
    distributionId: uint256
    operator: address


event OperatorSetDistributionCreated:
    avs: indexed(address)
    distributionId: indexed(uint256)
    operatorSetId: uint32
    snapshotBlock: uint32
    token: address
    amount: uint256
    strategiesAndMultipliers: DynArray[IRC.StrategyAndMultiplier, MAX_STRATEGIES]

event OperatorShareDistributed:
    distributionId: indexed(uint256)
    operator: indexed(address)
    weight: uint256
    commission: uint256
    stakersPool: uint256

event DistributionRefunded:
    distributionId: indexed(uint256)
    avs: indexed(address)
    token: address
    amount: uint256

event DistributionClaimed:
    distributionId: indexed(uint256)
    earner: indexed(address)
    operator: address
    recipient: address
    token: address
    amount: uint256


rewardsCoordinator: public(immutable(address))
delegationManager: public(immutable(address))
allocationManager: public(immutable(address))

# id -> distribution (ids count from 0).
_distributions: HashMap[uint256, Distribution]
distributionCount: public(uint256)
# id -> operator -> its delegated weight at the snapshot when the split was made (in both modes;
# claims read it again from the histories, which a cancelled slash rewrites).
operatorWeight: public(HashMap[uint256, HashMap[address, uint256]])
# id -> operator -> what its stakers have claimed of its pool (never above it).
poolClaimed: public(HashMap[uint256, HashMap[address, uint256]])
# id -> the distribution split the operators' shares by allocated (unique) stake.
isUniqueStake: public(HashMap[uint256, bool])
# id -> operator -> its commission << 128 | what its stakers share (both below 2**127).
_shares: HashMap[uint256, HashMap[address, uint256]]
# id -> what the split left to no operator (the rounding of the operators' shares): no claim can
# ever pay it; refundDistribution pays it back to the AVS.
undistributed: public(HashMap[uint256, uint256])
# id -> what refundDistribution paid back (0: not yet).
refunded: public(HashMap[uint256, uint256])
# earner -> operator -> id >> 8 -> bit (id & 255) set once claimed (an earner has weight with one
# operator at a block); one slot holds 256 distributions, so claims of later ones write warm words.
_claimed: HashMap[address, HashMap[address, HashMap[uint256, uint256]]]


@deploy
def __init__(_rewardsCoordinator: address, _delegationManager: address, _allocationManager: address):
    """
    @notice Deploy beside the RewardsCoordinator (splits, claimers, protocol fee) and the core.
    @param _rewardsCoordinator The RewardsCoordinator.
    @param _delegationManager The DelegationManager (share histories).
    @param _allocationManager The AllocationManager (set members and strategies).
    """
    assert _rewardsCoordinator != empty(address) and _delegationManager != empty(address) and _allocationManager != empty(address), "zero address"
    rewardsCoordinator = _rewardsCoordinator
    delegationManager = _delegationManager
    allocationManager = _allocationManager


@internal
@view
def _weight(sams: DynArray[IRC.StrategyAndMultiplier, MAX_STRATEGIES], staker: address, operator: address, blk: uint256) -> uint256:
    # sum of multiplier * shares at `blk`: the operator's (staker empty) or a staker's with it.
    w: uint256 = 0
    for sm: IRC.StrategyAndMultiplier in sams:
        shares: uint256 = 0
        if staker == empty(address):
            shares = staticcall IDelegationManager(delegationManager).operatorSharesAt(operator, sm.strategy, blk)
        else:
            shares = staticcall IDelegationManager(delegationManager).stakerSharesAt(staker, operator, sm.strategy, blk)
        w += convert(sm.multiplier, uint256) * shares
    return w


@external
@nonreentrant
def createOperatorSetDistribution(operatorSet: ITypes.OperatorSet, token: address, amount: uint256, snapshotBlock: uint32, strategiesAndMultipliers: DynArray[IRC.StrategyAndMultiplier, MAX_STRATEGIES]) -> uint256:
    """
    @notice Escrow `amount` of `token` for the set's members by their delegated (total) stake
            at the end of `snapshotBlock`, and split it over them now (the set's AVS only).
            Stakers then claim with `claim`.
    @dev The set's current members are paid (at most 64; "too many operators"); strategies
         strictly ascending, each in the set, multipliers non-zero. Reverts "no stake" when no
         member had weight at the block. A submitter opted in to the protocol fee pays it into
         the FeeVault first, as in the RewardsCoordinator.
    @param operatorSet The operator set; msg.sender must be its AVS.
    @param token The reward token (must move exactly the amount asked).
    @param amount The amount, at most 1e38 - 1.
    @param snapshotBlock A block before the current one.
    @param strategiesAndMultipliers The rewarded strategies and their multipliers.
    @return The distribution id.
    """
    return self._create(operatorSet, token, amount, snapshotBlock, strategiesAndMultipliers, [], False)


@external
@nonreentrant
def createUniqueStakeDistribution(operatorSet: ITypes.OperatorSet, token: address, amount: uint256, snapshotBlock: uint32, strategiesAndMultipliers: DynArray[IRC.StrategyAndMultiplier, MAX_STRATEGIES], operators: DynArray[address, MAX_OPERATORS] = []) -> uint256:
    """
    @notice Escrow `amount` of `token` for the operators that were members of the set at the end
            of `snapshotBlock`, split by the stake they had allocated to it then (EigenLayer
            v2.2's unique-stake rewards): operator weight = sum of multiplier *
            AllocationManager.getAllocatedStakeAt(set, operator, strategy, block). Each operator's
            stakers share what is left after its commission by their delegated shares of it at
            the block, as in createOperatorSetDistribution (the set's AVS only).
    @dev `operators` are the set's members at the block, strictly ascending; empty means the
         set's current members, which must then be the same operators. Reverts "not a member at
         snapshot" for an operator that was not, "members at snapshot missing" when the list is
         not all of them (getMemberCountAt), "too many operators" above 64, "no stake" when none
         had allocated weight; otherwise as createOperatorSetDistribution.
    @param operatorSet The operator set; msg.sender must be its AVS.
    @param token The reward token (must move exactly the amount asked).
    @param amount The amount, at most 1e38 - 1.
    @param snapshotBlock A block before the current one.
    @param strategiesAndMultipliers The rewarded strategies and their multipliers.
    @param operators The members at the snapshot block, ascending (empty: the current members).
    @return The distribution id.
    """
    return self._create(operatorSet, token, amount, snapshotBlock, strategiesAndMultipliers, operators, True)


@internal
def _create(operatorSet: ITypes.OperatorSet, token: address, amount: uint256, snapshotBlock: uint32, strategiesAndMultipliers: DynArray[IRC.StrategyAndMultiplier, MAX_STRATEGIES], operators: DynArray[address, MAX_OPERATORS], unique: bool) -> uint256:
    assert msg.sender == operatorSet.avs, "only avs"
    assert amount != 0, "amount is zero"
    assert amount <= MAX_REWARDS_AMOUNT, "amount exceeds max"
    assert convert(snapshotBlock, uint256) < block.number, "snapshot not final"
    assert len(strategiesAndMultipliers) != 0, "input array length zero"
    in_set: DynArray[address, 32] = staticcall IMembers(allocationManager).getStrategiesInOperatorSet(operatorSet)
    strategies: DynArray[address, MAX_STRATEGIES] = []
    last: uint256 = 0
    for sm: IRC.StrategyAndMultiplier in strategiesAndMultipliers:
        assert last < convert(sm.strategy, uint256), "strategies not in ascending order"
        assert sm.strategy in in_set, "strategy not in operator set"
        assert sm.multiplier != 0, "zero multiplier"
        last = convert(sm.strategy, uint256)
        strategies.append(sm.strategy)
    members: DynArray[address, MAX_OPERATORS] = operators
    if len(operators) == 0:
        n: uint256 = staticcall IMembers(allocationManager).getMemberCount(operatorSet)
        assert n <= MAX_OPERATORS, "too many operators"
        members = staticcall IMembers(allocationManager).getMembers(operatorSet, 0, MAX_OPERATORS)
    blk: uint256 = convert(snapshotBlock, uint256)
    # the weights that split the amount over the operators
    weights: DynArray[uint256, MAX_OPERATORS] = []
    total: uint256 = 0
    if unique:
        n_at: uint256 = staticcall IMembers(allocationManager).getMemberCountAt(operatorSet, snapshotBlock)
        assert n_at <= MAX_OPERATORS, "too many operators"
        prev: uint256 = 0
        for op: address in members:
            if len(operators) != 0:
                assert prev < convert(op, uint256), "operators not in ascending order"
                prev = convert(op, uint256)
            assert staticcall IMembers(allocationManager).isMemberOfOperatorSetAt(op, operatorSet, snapshotBlock), "not a member at snapshot"
            row: DynArray[uint256, 32] = (staticcall IMembers(allocationManager).getAllocatedStakeAt(operatorSet, [op], strategies, snapshotBlock))[0]
            w: uint256 = 0
            for j: uint256 in range(MAX_STRATEGIES):
                if j >= len(row):
                    break
                w += convert(strategiesAndMultipliers[j].multiplier, uint256) * row[j]
            weights.append(w)
            total += w
        assert len(members) == n_at, "members at snapshot missing"
    else:
        for op: address in members:
            w: uint256 = self._weight(strategiesAndMultipliers, empty(address), op, blk)
            weights.append(w)
            total += w
    assert total != 0, "no stake"

    before: uint256 = staticcall IERC20(token).balanceOf(self)
    assert extcall IERC20(token).transferFrom(msg.sender, self, amount, default_return_value=True), "transfer failed"
    assert staticcall IERC20(token).balanceOf(self) == before + amount, "token transfer short"
    net: uint256 = amount
    if staticcall ICoordinator(rewardsCoordinator).isOptedInForProtocolFee(msg.sender):
        fee: uint256 = amount * PROTOCOL_FEE_BIPS // ONE_HUNDRED_IN_BIPS
        vault: address = staticcall ICoordinator(rewardsCoordinator).feeRecipient()
        assert extcall IERC20(token).approve(vault, fee, default_return_value=True), "approve failed"
        extcall IFeeVault(vault).payFee(token, fee, msg.sender)
        net -= fee

    did: uint256 = self.distributionCount
    self.distributionCount = did + 1
    self._distributions[did] = Distribution(avs=operatorSet.avs, operatorSetId=operatorSet.id, snapshotBlock=snapshotBlock, token=token, amount=net, claimed=0, strategiesAndMultipliers=strategiesAndMultipliers)
    if unique:
        self.isUniqueStake[did] = True
    log OperatorSetDistributionCreated(avs=operatorSet.avs, distributionId=did, operatorSetId=operatorSet.id, snapshotBlock=snapshotBlock, token=token, amount=net, strategiesAndMultipliers=strategiesAndMultipliers)
    dealt: uint256 = 0
    for i: uint256 in range(MAX_OPERATORS):
        if i >= len(weights):
            break
        w: uint256 = weights[i]
        if w == 0:
            continue
        op: address = members[i]
        share: uint256 = (w * PRECISION // total) * net // PRECISION
        dealt += share
        split: uint256 = convert(staticcall ICoordinator(rewardsCoordinator).getOperatorSetSplit(op, operatorSet), uint256)
        cut: uint256 = share * split // ONE_HUNDRED_IN_BIPS
        # the stakers' denominator: the operator's delegated weight (its split weight when the
        # split is by delegated stake)
        dw: uint256 = w
        if unique:
            dw = self._weight(strategiesAndMultipliers, empty(address), op, blk)
        self.operatorWeight[did][op] = dw
        self._shares[did][op] = cut << 128 | (share - cut)
        log OperatorShareDistributed(distributionId=did, operator=op, weight=w, commission=cut, stakersPool=share - cut)
    if dealt != net:
        self.undistributed[did] = net - dealt
    return did


@external
@nonreentrant
def refundDistribution(distributionId: uint256) -> uint256:
    """
    @notice Pay back to the distribution's AVS what its split left to no operator (the
            rounding of the operators' shares, `undistributed`): claims are bounded by the
            operators' shares, so no claim can ever pay it. Anyone may call, once per
            distribution, at any time.
    @param distributionId The distribution id.
    @return The amount paid back.
    """
    assert distributionId < self.distributionCount, "unknown distribution"
    assert self.refunded[distributionId] == 0, "already refunded"
    amount: uint256 = self.undistributed[distributionId]
    assert amount != 0, "nothing to refund"
    self.refunded[distributionId] = amount
    avs: address = self._distributions[distributionId].avs
    token: address = self._distributions[distributionId].token
    assert extcall IERC20(token).transfer(avs, amount, default_return_value=True), "transfer failed"
    log DistributionRefunded(distributionId=distributionId, avs=avs, token=token, amount=amount)
    return amount


@internal
@view
def _parts(did: uint256, d: Distribution, earner: address, operator: address) -> (uint256, uint256):
    # What `earner` gets from distribution `did` through `operator`: its commission if it is the
    # operator, and its stakers' part by its weight over the operator's, both read now at the
    # snapshot (a cancelled slash rewrites both histories alike, so the parts still sum to at most
    # the pool), never more than what is left of the operator's pool.
    word: uint256 = self._shares[did][operator]
    cut: uint256 = 0
    if earner == operator:
        cut = word >> 128
    pool: uint256 = word & U128
    part: uint256 = 0
    if pool != 0:
        blk: uint256 = convert(d.snapshotBlock, uint256)
        w_o: uint256 = self._weight(d.strategiesAndMultipliers, empty(address), operator, blk)
        if w_o != 0:
            w: uint256 = self._weight(d.strategiesAndMultipliers, earner, operator, blk)
            part = min((w * PRECISION // w_o) * pool // PRECISION, pool - self.poolClaimed[did][operator])
    return cut, part


@external
@view
def operatorCommission(distributionId: uint256, operator: address) -> uint256:
    """
    @notice The operator's commission from the distribution.
    @param distributionId The distribution id.
    @param operator The operator.
    @return The commission.
    """
    return self._shares[distributionId][operator] >> 128


@external
@view
def stakersPool(distributionId: uint256, operator: address) -> uint256:
    """
    @notice What the operator's stakers (the operator included, for its own stake) share.
    @param distributionId The distribution id.
    @param operator The operator.
    @return The stakers' pool.
    """
    return self._shares[distributionId][operator] & U128


@external
@view
def getDistribution(distributionId: uint256) -> Distribution:
    """
    @notice One distribution (empty for an unknown id).
    @param distributionId The distribution id.
    @return The distribution.
    """
    return self._distributions[distributionId]


@internal
@view
def _is_claimed(did: uint256, earner: address, operator: address) -> bool:
    return self._claimed[earner][operator][did >> 8] & (1 << (did & 255)) != 0


@external
@view
def isClaimed(distributionId: uint256, earner: address, operator: address) -> bool:
    """
    @notice Whether `earner` has claimed its part of the distribution through `operator`.
    @param distributionId The distribution id.
    @param earner The earner.
    @param operator The operator named in the claim.
    @return True once claimed.
    """
    return self._is_claimed(distributionId, earner, operator)


@external
@view
def claimable(distributionId: uint256, earner: address, operator: address) -> uint256:
    """
    @notice What `earner` can claim from the distribution through `operator` (0 once claimed).
    @param distributionId The distribution id.
    @param earner The staker (or the operator, for its commission and its own stake).
    @param operator The operator the earner was delegated to at the snapshot.
    @return The amount.
    """
    if self._is_claimed(distributionId, earner, operator) or distributionId >= self.distributionCount:
        return 0
    cut: uint256 = 0
    part: uint256 = 0
    cut, part = self._parts(distributionId, self._distributions[distributionId], earner, operator)
    return cut + part


@external
@nonreentrant
def claim(earner: address, claims: DynArray[DistributionClaim, MAX_CLAIMS], recipient: address):
    """
    @notice Claim the earner's part of each distribution named, paid to `recipient`; each
            distribution once per earner. Consecutive claims of the same token are paid in one
            transfer. Reverts "nothing to claim" for an item worth nothing.
    @param earner The earner; msg.sender must be it or its claimer (RewardsCoordinator.setClaimerFor).
    @param claims (distribution id, operator the earner was delegated to at its snapshot) each.
    @param recipient Who receives the tokens.
    """
    assert msg.sender == earner or msg.sender == staticcall ICoordinator(rewardsCoordinator).claimerFor(earner), "unauthorized caller"
    assert recipient != empty(address), "zero address"
    token: address = empty(address)
    owed: uint256 = 0
    for c: DistributionClaim in claims:
        did: uint256 = c.distributionId
        assert did < self.distributionCount, "unknown distribution"
        word: uint256 = self._claimed[earner][c.operator][did >> 8]
        bit: uint256 = 1 << (did & 255)
        assert word & bit == 0, "already claimed"
        d: Distribution = self._distributions[did]
        cut: uint256 = 0
        part: uint256 = 0
        cut, part = self._parts(did, d, earner, c.operator)
        amount: uint256 = cut + part
        assert amount != 0, "nothing to claim"
        self._claimed[earner][c.operator][did >> 8] = word | bit
        if part != 0:
            self.poolClaimed[did][c.operator] += part
        claimed: uint256 = d.claimed + amount
        assert claimed <= d.amount, "distribution escrow exceeded"
        self._distributions[did].claimed = claimed
        log DistributionClaimed(distributionId=did, earner=earner, operator=c.operator, recipient=recipient, token=d.token, amount=amount)
        if d.token != token and owed != 0:
            assert extcall IERC20(token).transfer(recipient, owed, default_return_value=True), "transfer failed"
            owed = 0
        token = d.token
        owed += amount
    if owed != 0:
        assert extcall IERC20(token).transfer(recipient, owed, default_return_value=True), "transfer failed"
