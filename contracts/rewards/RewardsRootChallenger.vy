# pragma version ~=0.4.3
# pragma optimize gas
"""
@title RewardsRootChallenger
@notice Makes the RewardsCoordinator's roots disputable (docs/rewards.md, "Challenging a root"):
        - the rewards updater's bond: `depositBond`, `withdrawBond` once every root it posted
          has activated; the coordinator's `submitRoot` locks it (`lockBond`) and refuses an
          updater holding less than UPDATER_BOND.
        - `recordDay(operatorSet)`: anyone, once per set and day: the first call at or after a
          day's boundary fixes the block that stands for that day (`block.number - 1`: the
          shares as of the end of the block before it) and the set's members with their
          operator-set splits then (a hash; the list is in the event). A day never recorded
          pays that set nothing: a root that pays for it is wrong.
        - `challengeRoot(...)`: within a root's activation window, anyone proves what the root
          says one earner has cumulatively earned in one token (the earner and token leaves
          with EigenLayer's encodings and processClaim's proofs, or the neighbouring leaves
          when it is absent), and the same in the AVS's base root (its newest root that had
          activated undisabled before it was posted); this contract recomputes what the
          earner earned from the AVS's submissions since the base (total-stake, unique-stake
          and operator-directed for a set; v1 and operator-directed AVS-wide over the AVS's
          recorded operators), from the DelegationManager's share histories
          and the AllocationManager's allocation histories at the recorded blocks. If
          `base + recomputed` differs from the root's amount the root is voided (no claim
          can ever use it) and its updater's whole bond slashed: CHALLENGER_REWARD_BIPS of
          it to the challenger, the rest to SLASH_RECIPIENT.
        The rule per recorded day (the RewardsDistributor's, offchain/rewards/calc.py
        `total_stake_day`, `unique_stake_day`, `operator_directed_day`): a member's payout is
        floor(floor(S_o * 1e15 / sum S) * amount * interval / (duration * 1e15)) with S_o its
        split weight (sum of multiplier * operatorSharesAt for total stake, * getAllocatedStakeAt
        for unique stake), or floor(amount_o * interval / duration) for the amount the AVS
        directed to it; its commission floor(payout * split / 10000); a staker's part
        floor(floor(W_s * 1e15 / W_o) * (payout - commission) / 1e15), W_o the operator's
        delegated weight (sum of multiplier * operatorSharesAt).
        - `recordAVSDay(avs, day, setIds, operators)`: the same for the AVS as a whole, for its
          v1 and operator-directed AVS-wide submissions: the operators that count that day are
          the members of any of its operator sets (their union, given ascending and proven
          complete against the sets' member counts), with each one's operator-AVS split.
@dev Bounded: MAX_ENTRIES submissions since the first one still running at the base, MAX_DAYS
     recorded set-days in the leaf's token, MAX_DIRECTED operator-directed submissions counted,
     64 members a set (or operators an AVS).
"""

from ..interfaces import ITypes
from ..interfaces import IRewardsCoordinator as IRC
from ..interfaces import IDelegationManager

MAX_OPERATORS: constant(uint256) = 64
MAX_AVS_SETS: constant(uint256) = 32  # operator sets of an AVS an AVS day record reads
MAX_STRATEGIES: constant(uint256) = 32
MAX_ENTRIES: constant(uint256) = 32
MAX_DAYS: constant(uint256) = 32
MAX_SNAPSHOTS: constant(uint256) = 8
MAX_DIRECTED: constant(uint256) = 4  # operator-directed submissions counted in one challenge
MAX_OPERATOR_REWARDS: constant(uint256) = 256
MAX_BETWEEN: constant(uint256) = 64  # roots of the AVS between the base and the challenged one
MAX_PROOF: constant(uint256) = 1024  # depth 32
MAX_SUBMISSION_DAYS: constant(uint256) = 2048
PRECISION: constant(uint256) = 10**15
ONE_HUNDRED_IN_BIPS: constant(uint256) = 10000
MASK32: constant(uint256) = 2**32 - 1
MASK64: constant(uint256) = 2**64 - 1
MASK160: constant(uint256) = 2**160 - 1
TOO_LARGE: constant(uint256) = 1  # the record's hash part for a set of more than 64 members
# (until its member list is recorded in chunks) or an AVS of more than 64 operators
LARGE: constant(uint256) = 1 << 64  # flag of a record whose member list was recorded in chunks

KIND_AVS: constant(uint8) = 0
KIND_UNIQUE: constant(uint8) = 1
KIND_TOTAL: constant(uint8) = 2
KIND_DIRECTED_AVS: constant(uint8) = 3
KIND_DIRECTED_SET: constant(uint8) = 4

EARNER_LEAF_SALT: constant(bytes1) = 0x00
TOKEN_LEAF_SALT: constant(bytes1) = 0x01


interface ICoordinator:
    def CALCULATION_INTERVAL_SECONDS() -> uint32: view
    def MAX_REWARDS_DURATION() -> uint32: view
    def ROOT_CHALLENGER() -> address: view
    def getDistributionRootAtIndex(index: uint256) -> IRC.DistributionRoot: view
    def rootAVS(index: uint256) -> address: view
    def avsRootIndex(avs: address, k: uint256) -> uint32: view
    def rootInfo(index: uint256) -> uint256: view
    def avsRootCount(avs: address) -> uint256: view
    def submissionRecord(avs: address, nonce: uint256) -> uint256: view
    def getOperatorSetSplit(operator: address, operatorSet: ITypes.OperatorSet) -> uint16: view
    def getOperatorAVSSplit(operator: address, avs: address) -> uint16: view
    def voidRoot(rootIndex: uint32): nonpayable


interface IMembers:
    def getMemberCount(operatorSet: ITypes.OperatorSet) -> uint256: view
    def getOperatorSetCount(avs: address) -> uint256: view
    def isOperatorSet(operatorSet: ITypes.OperatorSet) -> bool: view
    def isMemberOfOperatorSet(operator: address, operatorSet: ITypes.OperatorSet) -> bool: view
    def getMembers(operatorSet: ITypes.OperatorSet, start: uint256, length: uint256) -> DynArray[address, 1024]: view
    def getAllocatedStakeAt(operatorSet: ITypes.OperatorSet, operators: DynArray[address, 1], strategies: DynArray[address, MAX_STRATEGIES], blockNumber: uint32) -> DynArray[DynArray[uint256, MAX_STRATEGIES], 1]: view


# A leaf of an earner tree (key the earner, value its token root) or a token tree (key the
# token, value the cumulative earnings), or a padding word; at `index` with its proof.
struct Leaf:
    index: uint32
    proof: Bytes[MAX_PROOF]
    key: address
    value: bytes32
    padding: bool


# A key in one tree: `lo` is its leaf when present; when absent, `lo` and `hi` are the leaves
# beside where it would be (`hasLo` false: it would be first; `hasHi` false: it would be last).
struct Lookup:
    hasLo: bool
    lo: Leaf
    hasHi: bool
    hi: Leaf


# What a root says an earner holds in a token: the earner in the earner tree, then (if present)
# the token in its token tree.
struct AmountProof:
    earner: Lookup
    token: Lookup


# One submission of the AVS, by nonce: its record's fields, and for a total-stake submission in
# the challenged token the submission itself (its hash is checked).
struct Entry:
    kind: uint8
    operatorSetId: uint32
    token: address
    startTimestamp: uint32
    duration: uint32
    submissionHash: bytes32
    submission: IRC.RewardsSubmission


# A pending root and its base, checked (`challengeWindow`): what a challenge recomputes from.
struct Window:
    root: bytes32
    avs: address
    info: uint256  # the coordinator's rootInfo: updater | submission count << 160
    end: uint256  # the root's end, day-aligned
    hasBase: bool
    baseRoot: bytes32
    baseCount: uint256  # the AVS's submission count when the base was posted
    baseEnd: uint256


# A set's members and their splits as recorded for a day.
struct Snapshot:
    members: DynArray[address, MAX_OPERATORS]
    splits: DynArray[uint16, MAX_OPERATORS]


# For each recorded set-day counted, in order: which snapshot it used, and the operator the
# earner was delegated to then (a hint: if it gives no stake every member is tried).
struct DayInput:
    snapshot: uint8
    operator: address


event DayRecorded:
    avs: indexed(address)
    operatorSetId: indexed(uint32)
    day: indexed(uint256)
    blockNumber: uint256
    members: DynArray[address, MAX_OPERATORS]
    splits: DynArray[uint16, MAX_OPERATORS]


event AVSDayRecorded:
    avs: indexed(address)
    day: indexed(uint256)
    blockNumber: uint256
    operatorSetIds: DynArray[uint32, MAX_AVS_SETS]
    operators: DynArray[address, MAX_OPERATORS + 1]
    splits: DynArray[uint16, MAX_OPERATORS]


event BondDeposited:
    updater: indexed(address)
    amount: uint256
    bond: uint256


event BondWithdrawn:
    updater: indexed(address)
    amount: uint256
    bond: uint256


event RootChallenged:
    rootIndex: indexed(uint32)
    challenger: indexed(address)
    earner: indexed(address)
    updater: address
    token: address
    posted: uint256
    recomputed: uint256
    slashed: uint256
    reward: uint256


rewardsCoordinator: public(immutable(address))
delegationManager: public(immutable(address))
allocationManager: public(immutable(address))
CALCULATION_INTERVAL_SECONDS: public(immutable(uint256))
# Wei the rewards updater must hold here to post a root.
UPDATER_BOND: public(immutable(uint256))
CHALLENGER_REWARD_BIPS: public(immutable(uint256))
SLASH_RECIPIENT: public(immutable(address))
# RewardsChallengeSteps: the challenge over several transactions, which folds the same rule
# through `earnedOnDay` and ends in `slashFor`.
STEP_CHALLENGER: public(immutable(address))

# keccak(avs, set id) -> day start -> hash(members, splits) >> 64 << 64 | block (0: not recorded);
# keccak(avs) -> the same for the AVS's operators (recordAVSDay).
dayRecord: public(HashMap[bytes32, HashMap[uint256, uint256]])
bondOf: public(HashMap[address, uint256])
# updater -> the latest activation of the roots it posted (its bond is locked until then).
bondLockedUntil: public(HashMap[address, uint32])


@deploy
def __init__(_rewardsCoordinator: address, _delegationManager: address, _allocationManager: address, _updaterBond: uint256, _challengerRewardBips: uint256, _slashRecipient: address, _stepChallenger: address):
    """
    @notice Deploy right after the RewardsCoordinator, which names this address (ROOT_CHALLENGER).
    @param _updaterBond Wei the updater must have bonded to post a root.
    @param _challengerRewardBips The challenger's part of a slashed bond (bips).
    @param _slashRecipient Where the rest goes (the burn address burns it).
    @param _stepChallenger The RewardsChallengeSteps deployed right after (it checks it is named).
    """
    assert _rewardsCoordinator != empty(address) and _delegationManager != empty(address) and _allocationManager != empty(address) and _slashRecipient != empty(address) and _stepChallenger != empty(address), "zero address"
    assert _challengerRewardBips <= ONE_HUNDRED_IN_BIPS, "reward exceeds max"
    rewardsCoordinator = _rewardsCoordinator
    delegationManager = _delegationManager
    allocationManager = _allocationManager
    CALCULATION_INTERVAL_SECONDS = convert(staticcall ICoordinator(_rewardsCoordinator).CALCULATION_INTERVAL_SECONDS(), uint256)
    assert convert(staticcall ICoordinator(_rewardsCoordinator).MAX_REWARDS_DURATION(), uint256) // CALCULATION_INTERVAL_SECONDS <= MAX_SUBMISSION_DAYS, "interval too short"
    assert staticcall ICoordinator(_rewardsCoordinator).ROOT_CHALLENGER() == self, "coordinator names another challenger"
    UPDATER_BOND = _updaterBond
    CHALLENGER_REWARD_BIPS = _challengerRewardBips
    SLASH_RECIPIENT = _slashRecipient
    STEP_CHALLENGER = _stepChallenger


# ------------------------------------------------------------------ the updater's bond


@external
@payable
def depositBond():
    """
    @notice Add msg.value to the caller's updater bond.
    """
    assert msg.value > 0, "amount is zero"
    bond: uint256 = self.bondOf[msg.sender] + msg.value
    self.bondOf[msg.sender] = bond
    log BondDeposited(updater=msg.sender, amount=msg.value, bond=bond)


@external
@nonreentrant
def withdrawBond(amount: uint256):
    """
    @notice Take back bond once every root the caller posted has activated.
    @param amount Wei to withdraw.
    """
    assert block.timestamp >= convert(self.bondLockedUntil[msg.sender], uint256), "bond locked"
    bond: uint256 = self.bondOf[msg.sender]
    assert amount > 0 and amount <= bond, "invalid amount"
    self.bondOf[msg.sender] = bond - amount
    log BondWithdrawn(updater=msg.sender, amount=amount, bond=bond - amount)
    raw_call(msg.sender, b"", value=amount)


@external
def lockBond(updater: address, until: uint32):
    """
    @notice The coordinator's submitRoot: `updater` must hold UPDATER_BOND, locked until `until`.
    """
    assert msg.sender == rewardsCoordinator, "unauthorized caller"
    assert self.bondOf[updater] >= UPDATER_BOND, "updater bond too small"
    if until > self.bondLockedUntil[updater]:
        self.bondLockedUntil[updater] = until


@internal
@pure
def _set_key(avs: address, set_id: uint32) -> bytes32:
    return keccak256(abi_encode(avs, set_id))


@internal
@pure
def _snapshot_hash(members: DynArray[address, MAX_OPERATORS], splits: DynArray[uint16, MAX_OPERATORS]) -> uint256:
    return convert(keccak256(abi_encode(members, splits)), uint256) >> 65 << 65


@external
def recordDay(operatorSet: ITypes.OperatorSet):
    """
    @notice Fix, for the current day, the block that stands for it (`block.number - 1`) and the
            set's members and splits; anyone, the first call of the day only.
    @param operatorSet The operator set.
    """
    iv: uint256 = CALCULATION_INTERVAL_SECONDS
    day: uint256 = block.timestamp // iv * iv
    key: bytes32 = self._set_key(operatorSet.avs, operatorSet.id)
    assert self.dayRecord[key][day] == 0, "day already recorded"
    n: uint256 = staticcall IMembers(allocationManager).getMemberCount(operatorSet)
    members: DynArray[address, MAX_OPERATORS] = []
    splits: DynArray[uint16, MAX_OPERATORS] = []
    word: uint256 = TOO_LARGE << 64
    if n <= MAX_OPERATORS:
        page: DynArray[address, 1024] = staticcall IMembers(allocationManager).getMembers(operatorSet, 0, MAX_OPERATORS)
        for i: uint256 in range(MAX_OPERATORS):
            if i >= len(page):
                break
            members.append(page[i])
            splits.append(staticcall ICoordinator(rewardsCoordinator).getOperatorSetSplit(page[i], operatorSet))
        word = self._snapshot_hash(members, splits)
    blk: uint256 = block.number - 1
    self.dayRecord[key][day] = word | blk
    log DayRecorded(avs=operatorSet.avs, operatorSetId=operatorSet.id, day=day, blockNumber=blk, members=members, splits=splits)


@external
def completeMembers(key: bytes32, day: uint256, word: uint256):
    """
    @notice RewardsChallengeSteps' recordMembers: the member list of a pending large set-day
            (recordDay found more than 64 members) is complete; `word` is its record (the
            list's chained hash with the LARGE flag, the day's block).
    """
    assert msg.sender == STEP_CHALLENGER, "unauthorized caller"
    old: uint256 = self.dayRecord[key][day]
    assert old >> 64 == TOO_LARGE and word & MASK64 == old & MASK64 and word & LARGE != 0, "no member list pending"
    self.dayRecord[key][day] = word


@internal
@pure
def _avs_key(avs: address) -> bytes32:
    return keccak256(abi_encode(avs))


@external
def recordAVSDay(avs: address, day: uint256, operatorSetIds: DynArray[uint32, MAX_AVS_SETS], operators: DynArray[address, MAX_OPERATORS + 1]):
    """
    @notice Fix, for the current day, the block that stands for it and the operators that count
            for the AVS's v1 and operator-directed AVS-wide submissions: the members of any of
            its operator sets, with their operator-AVS splits; anyone, the first call of the day.
    @dev The caller gives the union; the contract proves it: every set of the AVS given once
         (as many ids as it created, ascending, each a set), the operators strictly ascending,
         each a member of at least one of them, and their memberships summing to the sets'
         member counts (so none is missing). 65 operators so proven record the AVS as too large
         (its days then are not recomputed, as a set of more than 64 members).
    @param day The current day's start (a call landing on another day is refused).
    @param operatorSetIds Every operator set id of the AVS, ascending.
    @param operators The operators of the AVS now (the union), ascending.
    """
    iv: uint256 = CALCULATION_INTERVAL_SECONDS
    assert day == block.timestamp // iv * iv, "wrong day"
    key: bytes32 = self._avs_key(avs)
    assert self.dayRecord[key][day] == 0, "day already recorded"
    assert len(operatorSetIds) == staticcall IMembers(allocationManager).getOperatorSetCount(avs), "missing operator set"
    total: uint256 = 0
    for k: uint256 in range(len(operatorSetIds), bound=MAX_AVS_SETS):
        assert k == 0 or operatorSetIds[k] > operatorSetIds[k - 1], "operator sets not ascending"
        opset: ITypes.OperatorSet = ITypes.OperatorSet(avs=avs, id=operatorSetIds[k])
        assert staticcall IMembers(allocationManager).isOperatorSet(opset), "not an operator set"
        total += staticcall IMembers(allocationManager).getMemberCount(opset)
    covered: uint256 = 0
    members: DynArray[address, MAX_OPERATORS] = []
    splits: DynArray[uint16, MAX_OPERATORS] = []
    for i: uint256 in range(len(operators), bound=MAX_OPERATORS + 1):
        op: address = operators[i]
        if i != 0:
            assert op != operators[i - 1], "duplicate operator"
            assert convert(op, uint256) > convert(operators[i - 1], uint256), "operators not ascending"
        c: uint256 = 0
        for id: uint32 in operatorSetIds:
            if staticcall IMembers(allocationManager).isMemberOfOperatorSet(op, ITypes.OperatorSet(avs=avs, id=id)):
                c += 1
        assert c != 0, "not an operator of the avs"
        covered += c
        if i < MAX_OPERATORS:
            members.append(op)
            splits.append(staticcall ICoordinator(rewardsCoordinator).getOperatorAVSSplit(op, avs))
    word: uint256 = TOO_LARGE << 64
    if len(operators) <= MAX_OPERATORS:
        assert covered == total, "missing operator"
        word = self._snapshot_hash(members, splits)
    blk: uint256 = block.number - 1
    self.dayRecord[key][day] = word | blk
    log AVSDayRecorded(avs=avs, day=day, blockNumber=blk, operatorSetIds=operatorSetIds, operators=operators, splits=splits)


# ------------------------------------------------------------------ proofs


@internal
@pure
def _leaf_hash(salt: bytes1, leaf: Leaf) -> bytes32:
    if leaf.padding:
        return empty(bytes32)
    return keccak256(concat(salt, convert(leaf.key, bytes20), leaf.value))


@internal
@pure
def _check_leaf(root: bytes32, salt: bytes1, leaf: Leaf):
    # EigenLayer's processInclusionProofKeccak from the leaf at its index up to `root`.
    n: uint256 = len(leaf.proof)
    assert n % 32 == 0, "invalid proof length"
    idx: uint256 = convert(leaf.index, uint256)
    assert idx < 1 << (n // 32), "invalid leaf index"
    h: bytes32 = self._leaf_hash(salt, leaf)
    for i: uint256 in range(MAX_PROOF // 32):
        if i * 32 >= n:
            break
        el: bytes32 = extract32(leaf.proof, i * 32)
        if idx % 2 == 0:
            h = keccak256(concat(h, el))
        else:
            h = keccak256(concat(el, h))
        idx //= 2
    assert h == root, "invalid claim proof"


@internal
@pure
def _lookup(root: bytes32, salt: bytes1, key: address, q: Lookup) -> (bool, bytes32):
    # (present, value) of `key` in a tree whose real leaves are sorted by key, then padding.
    if q.hasLo:
        self._check_leaf(root, salt, q.lo)
        assert not q.lo.padding, "invalid neighbour"
        if q.lo.key == key:
            return True, q.lo.value
        assert convert(q.lo.key, uint256) < convert(key, uint256), "invalid neighbour"
    if q.hasHi:
        self._check_leaf(root, salt, q.hi)
        want: uint256 = 0
        if q.hasLo:
            want = convert(q.lo.index, uint256) + 1
        assert convert(q.hi.index, uint256) == want, "neighbours not adjacent"
        assert q.hi.padding or convert(key, uint256) < convert(q.hi.key, uint256), "invalid neighbour"
    else:
        assert q.hasLo, "no neighbours"
        assert convert(q.lo.index, uint256) + 1 == 1 << (len(q.lo.proof) // 32), "neighbours not adjacent"
    return False, empty(bytes32)


@internal
@pure
def _amount_in(root: bytes32, earner: address, token: address, p: AmountProof) -> uint256:
    found: bool = False
    token_root: bytes32 = empty(bytes32)
    found, token_root = self._lookup(root, EARNER_LEAF_SALT, earner, p.earner)
    if not found:
        return 0
    amount: bytes32 = empty(bytes32)
    found, amount = self._lookup(token_root, TOKEN_LEAF_SALT, token, p.token)
    return convert(amount, uint256)


@external
@pure
def amountIn(root: bytes32, earner: address, token: address, proof: AmountProof) -> uint256:
    """
    @notice What `root` says `earner` has cumulatively earned in `token` (0 when absent), from
            the proof a challenge takes; reverts when the proof does not hold.
    """
    return self._amount_in(root, earner, token, proof)


# ------------------------------------------------------------------ recomputation


@internal
@view
def _weight(sams: DynArray[IRC.StrategyAndMultiplier, MAX_STRATEGIES], staker: address, operator: address, blk: uint256) -> uint256:
    w: uint256 = 0
    for sm: IRC.StrategyAndMultiplier in sams:
        shares: uint256 = 0
        if staker == empty(address):
            shares = staticcall IDelegationManager(delegationManager).operatorSharesAt(operator, sm.strategy, blk)
        else:
            shares = staticcall IDelegationManager(delegationManager).stakerSharesAt(staker, operator, sm.strategy, blk)
        w += convert(sm.multiplier, uint256) * shares
    return w


@internal
@view
def _allocated(opset: ITypes.OperatorSet, sams: DynArray[IRC.StrategyAndMultiplier, MAX_STRATEGIES], strategies: DynArray[address, MAX_STRATEGIES], operator: address, blk: uint256) -> uint256:
    # sum of multiplier * getAllocatedStakeAt: the operator's unique stake in the set at `blk`.
    stake: DynArray[uint256, MAX_STRATEGIES] = (staticcall IMembers(allocationManager).getAllocatedStakeAt(opset, [operator], strategies, convert(blk, uint32)))[0]
    w: uint256 = 0
    for k: uint256 in range(len(stake), bound=MAX_STRATEGIES):
        w += convert(sams[k].multiplier, uint256) * stake[k]
    return w


@internal
@view
def _operator_of(sams: DynArray[IRC.StrategyAndMultiplier, MAX_STRATEGIES], members: DynArray[address, MAX_OPERATORS], blk: uint256, earner: address, hint: address) -> (uint256, uint256):
    # The member the earner was delegated to at `blk` and its weight with it: the hint if it
    # gives stake, else the first member that does (max_value when none does).
    for i: uint256 in range(len(members), bound=MAX_OPERATORS):
        if members[i] == hint:
            ws: uint256 = self._weight(sams, earner, hint, blk)
            if ws != 0:
                return i, ws
            break
    for i: uint256 in range(len(members), bound=MAX_OPERATORS):
        if members[i] != hint:
            ws: uint256 = self._weight(sams, earner, members[i], blk)
            if ws != 0:
                return i, ws
    return max_value(uint256), 0


@internal
@view
def _day(kind: uint8, opset: ITypes.OperatorSet, sams: DynArray[IRC.StrategyAndMultiplier, MAX_STRATEGIES], amount: uint256, duration: uint256, snap: Snapshot, blk: uint256, earner: address, j: uint256, ws: uint256, directed_j: uint256, directed_e: uint256) -> uint256:
    # What `earner` earns from one day of a submission: as its operator's staker (member j, weight
    # ws with it) and as a member itself. A member's share of the day: by its delegated
    # (KIND_TOTAL) or allocated (KIND_UNIQUE) weight over the members', or what the AVS directed
    # to it (KIND_DIRECTED_SET: directed_j to member j, directed_e to the earner), times interval
    # / duration; its commission by its recorded split; the rest to its stakers by delegated
    # weight over its delegated weight.
    weights: DynArray[uint256, MAX_OPERATORS] = []
    total: uint256 = 0
    if kind != KIND_DIRECTED_SET:
        strategies: DynArray[address, MAX_STRATEGIES] = []
        for sm: IRC.StrategyAndMultiplier in sams:
            strategies.append(sm.strategy)
        for op: address in snap.members:
            w: uint256 = 0
            if kind == KIND_UNIQUE:
                w = self._allocated(opset, sams, strategies, op, blk)
            else:
                w = self._weight(sams, empty(address), op, blk)
            weights.append(w)
            total += w
        if total == 0:
            return 0
    out: uint256 = 0
    for i: uint256 in range(len(snap.members), bound=MAX_OPERATORS):
        op: address = snap.members[i]
        if i != j and op != earner:
            continue
        w: uint256 = 0
        directed: uint256 = directed_e
        if kind != KIND_DIRECTED_SET:
            w = weights[i]
        elif i == j:
            directed = directed_j
        out += self._member_pay(kind, sams, amount, duration, blk, total, w, snap.splits[i], directed, op, earner, i == j, ws)
    return out


@internal
@view
def _member_pay(kind: uint8, sams: DynArray[IRC.StrategyAndMultiplier, MAX_STRATEGIES], amount: uint256, duration: uint256, blk: uint256, total: uint256, w: uint256, split: uint16, directed: uint256, op: address, earner: address, is_j: bool, ws: uint256) -> uint256:
    # What `earner` gets from member `op`'s share of the day (by weight w of total, or the
    # amount directed to it): its commission when it is the earner, its staker part (weight ws
    # over op's delegated weight) when it is the earner's operator (is_j).
    iv: uint256 = CALCULATION_INTERVAL_SECONDS
    share: uint256 = directed * iv // duration
    if kind != KIND_DIRECTED_SET:
        share = (w * PRECISION // total) * amount * iv // (duration * PRECISION)
    if share == 0:
        return 0
    cut: uint256 = share * convert(split, uint256) // ONE_HUNDRED_IN_BIPS
    out: uint256 = 0
    if op == earner:
        out += cut
    if is_j:
        d: uint256 = w
        if kind != KIND_TOTAL:
            d = self._weight(sams, empty(address), op, blk)
        out += (ws * PRECISION // d) * (share - cut) // PRECISION
    return out


@external
@view
def memberPay(kind: uint8, sams: DynArray[IRC.StrategyAndMultiplier, MAX_STRATEGIES], amount: uint256, duration: uint256, blk: uint256, total: uint256, w: uint256, split: uint16, directed: uint256, op: address, earner: address, is_j: bool, ws: uint256) -> uint256:
    """
    @notice The day rule's payout to `earner` from one member (for the steps' days folded in
            chunks): `kind` KIND_TOTAL, KIND_UNIQUE or KIND_DIRECTED_SET.
    """
    return self._member_pay(kind, sams, amount, duration, blk, total, w, split, directed, op, earner, is_j, ws)


@external
@view
def memberWeights(kind: uint8, opset: ITypes.OperatorSet, sams: DynArray[IRC.StrategyAndMultiplier, MAX_STRATEGIES], earner: address, op: address, blk: uint256, withStaker: bool) -> (uint256, uint256):
    """
    @notice A member's weight by the day rule of `kind` (delegated for KIND_TOTAL, allocated
            for KIND_UNIQUE, 0 for KIND_DIRECTED_SET) at `blk`, and (when asked) `earner`'s
            delegated weight with it.
    """
    w: uint256 = 0
    if kind == KIND_UNIQUE:
        strategies: DynArray[address, MAX_STRATEGIES] = []
        for sm: IRC.StrategyAndMultiplier in sams:
            strategies.append(sm.strategy)
        w = self._allocated(opset, sams, strategies, op, blk)
    elif kind == KIND_TOTAL:
        w = self._weight(sams, empty(address), op, blk)
    ws: uint256 = 0
    if withStaker:
        ws = self._weight(sams, earner, op, blk)
    return w, ws


@internal
@view
def _earned_on_day(kind: uint8, opset: ITypes.OperatorSet, sams: DynArray[IRC.StrategyAndMultiplier, MAX_STRATEGIES], amount: uint256, duration: uint256, record: uint256, snap: Snapshot, earner: address, hint: address, rewards: DynArray[IRC.OperatorReward, MAX_OPERATOR_REWARDS]) -> uint256:
    # One recorded set-day of a submission (`record`: the day's word, nonzero): the snapshot
    # checked against it, the earner's operator found (from the hint), the amounts directed to
    # that operator and to the earner (`rewards`, KIND_DIRECTED_SET only), then _day.
    assert record & LARGE == 0, "operator set too large"  # (a list recorded in chunks: in steps)
    rule: uint8 = kind  # an AVS-wide day weighs its recorded operators as a set's day its members
    if kind == KIND_AVS:
        rule = KIND_TOTAL
    elif kind == KIND_DIRECTED_AVS:
        rule = KIND_DIRECTED_SET
    assert len(snap.members) == len(snap.splits) and self._snapshot_hash(snap.members, snap.splits) == record >> 64 << 64, "snapshot mismatch"
    blk: uint256 = record & MASK64
    j: uint256 = 0
    ws: uint256 = 0
    j, ws = self._operator_of(sams, snap.members, blk, earner, hint)
    directed_j: uint256 = 0
    directed_e: uint256 = 0
    for r: IRC.OperatorReward in rewards:
        if j < len(snap.members) and r.operator == snap.members[j]:
            directed_j = r.amount
        if r.operator == earner:
            directed_e = r.amount
    return self._day(rule, opset, sams, amount, duration, snap, blk, earner, j, ws, directed_j, directed_e)


@external
@view
def earnedOnDay(kind: uint8, opset: ITypes.OperatorSet, sams: DynArray[IRC.StrategyAndMultiplier, MAX_STRATEGIES], amount: uint256, duration: uint256, record: uint256, snap: Snapshot, earner: address, hint: address, rewards: DynArray[IRC.OperatorReward, MAX_OPERATOR_REWARDS]) -> uint256:
    """
    @notice What `earner` earns from one recorded day of an operator-set submission (the rule
            above), for the step challenger; reverts on a snapshot that is not the record's.
    @param kind The submission's kind (KIND_AVS weighs as KIND_TOTAL; KIND_DIRECTED_SET and
           KIND_DIRECTED_AVS take their operator rewards in `rewards`).
    @param record The day's dayRecord word (nonzero).
    @param hint The operator the earner was delegated to that day (tried first).
    """
    return self._earned_on_day(kind, opset, sams, amount, duration, record, snap, earner, hint, rewards)


@internal
@view
def _window(rootIndex: uint32, position: uint256, basePosition: uint256, firstNonce: uint256) -> Window:
    # The pending root, its position, its base (the AVS's newest active root before it) and the
    # first submission a challenge must give (every earlier one ended by the base's end).
    i: uint256 = convert(rootIndex, uint256)
    dr: IRC.DistributionRoot = staticcall ICoordinator(rewardsCoordinator).getDistributionRootAtIndex(i)
    assert not dr.disabled, "root disabled"
    assert block.timestamp < convert(dr.activatedAt, uint256), "root already activated"
    w: Window = empty(Window)
    w.root = dr.root
    w.avs = staticcall ICoordinator(rewardsCoordinator).rootAVS(i)
    w.info = staticcall ICoordinator(rewardsCoordinator).rootInfo(i)
    w.end = convert(dr.rewardsCalculationEndTimestamp, uint256) // CALCULATION_INTERVAL_SECONDS * CALCULATION_INTERVAL_SECONDS
    assert convert(staticcall ICoordinator(rewardsCoordinator).avsRootIndex(w.avs, position), uint256) == i and position < staticcall ICoordinator(rewardsCoordinator).avsRootCount(w.avs), "invalid root position"
    assert basePosition <= position and position - basePosition <= MAX_BETWEEN, "invalid base position"
    for p: uint256 in range(MAX_BETWEEN):
        if basePosition + p >= position:
            break
        r: IRC.DistributionRoot = staticcall ICoordinator(rewardsCoordinator).getDistributionRootAtIndex(convert(staticcall ICoordinator(rewardsCoordinator).avsRootIndex(w.avs, basePosition + p), uint256))
        assert r.disabled or block.timestamp < convert(r.activatedAt, uint256), "not the newest active base"
    if basePosition != 0:
        b: uint256 = convert(staticcall ICoordinator(rewardsCoordinator).avsRootIndex(w.avs, basePosition - 1), uint256)
        br: IRC.DistributionRoot = staticcall ICoordinator(rewardsCoordinator).getDistributionRootAtIndex(b)
        assert not br.disabled and block.timestamp >= convert(br.activatedAt, uint256), "base not active"
        w.hasBase = True
        w.baseRoot = br.root
        w.baseCount = (staticcall ICoordinator(rewardsCoordinator).rootInfo(b) >> 160) & MASK32
        w.baseEnd = convert(br.rewardsCalculationEndTimestamp, uint256)
    assert firstNonce <= w.baseCount, "incomplete submissions"
    assert staticcall ICoordinator(rewardsCoordinator).submissionRecord(w.avs, firstNonce) & MASK32 <= w.baseEnd, "incomplete submissions"
    return w


@external
@view
def challengeWindow(rootIndex: uint32, position: uint256, basePosition: uint256, firstNonce: uint256) -> Window:
    """
    @notice The pending root `rootIndex` and its base as a challenge checks them (reverts with
            challengeRoot's reasons when a position or `firstNonce` is wrong).
    """
    return self._window(rootIndex, position, basePosition, firstNonce)


@internal
def _void_and_slash(rootIndex: uint32, challenger: address, earner: address, token: address, posted: uint256, recomputed: uint256, info: uint256):
    assert posted != recomputed, "root correct for this leaf"
    extcall ICoordinator(rewardsCoordinator).voidRoot(rootIndex)
    updater: address = convert(info & MASK160, address)
    slashed: uint256 = self.bondOf[updater]
    self.bondOf[updater] = 0
    reward: uint256 = slashed * CHALLENGER_REWARD_BIPS // ONE_HUNDRED_IN_BIPS
    log RootChallenged(rootIndex=rootIndex, challenger=challenger, earner=earner, updater=updater, token=token, posted=posted, recomputed=recomputed, slashed=slashed, reward=reward)
    if reward != 0:
        raw_call(challenger, b"", value=reward)
    if slashed != reward:
        raw_call(SLASH_RECIPIENT, b"", value=slashed - reward)


@external
@nonreentrant
def slashFor(rootIndex: uint32, challenger: address, earner: address, token: address, posted: uint256, recomputed: uint256):
    """
    @notice The step challenger's verdict: void the pending root and slash its updater's bond,
            `challenger`'s part to it (as challengeRoot does).
    """
    assert msg.sender == STEP_CHALLENGER, "unauthorized caller"
    i: uint256 = convert(rootIndex, uint256)
    dr: IRC.DistributionRoot = staticcall ICoordinator(rewardsCoordinator).getDistributionRootAtIndex(i)
    assert not dr.disabled, "root disabled"
    assert block.timestamp < convert(dr.activatedAt, uint256), "root already activated"
    self._void_and_slash(rootIndex, challenger, earner, token, posted, recomputed, staticcall ICoordinator(rewardsCoordinator).rootInfo(i))


@external
@nonreentrant
def challengeRoot(rootIndex: uint32, position: uint256, basePosition: uint256, earner: address, token: address, posted: AmountProof, base: AmountProof, firstNonce: uint256, entries: DynArray[Entry, MAX_ENTRIES], snapshots: DynArray[Snapshot, MAX_SNAPSHOTS], days: DynArray[DayInput, MAX_DAYS], directed: DynArray[IRC.OperatorDirectedRewardsSubmission, MAX_DIRECTED]):
    """
    @notice Prove a pending root wrong for one earner and token: void it and slash its updater.
    @dev Reverts "root correct for this leaf" when the root's amount is the recomputed one.
         A leaf beyond this transaction's bounds: RewardsChallengeSteps (the same rule in steps).
    @param rootIndex The challenged root (not yet activated, not disabled).
    @param position Its position among its AVS's roots (`avsRootIndex(avs, position)`).
    @param basePosition 1 + the position of the base root: the AVS's newest root before it that
           has activated and is not disabled; 0 when there is none.
    @param earner The earner.
    @param token The token.
    @param posted The earner's amount in the challenged root (present or absent).
    @param base The same in the base root (ignored when there is none).
    @param firstNonce The first submission given: every later one up to the root's submission
           count must be given, every earlier one must have ended by the base root's end.
    @param entries The AVS's submissions firstNonce.. in order.
    @param snapshots The set snapshots the days use (members and splits as recorded).
    @param days Per recorded set-day counted, its snapshot and the earner's operator (a hint).
    @param directed The operator-directed operator-set submissions counted (in the leaf's token
           and window), in nonce order: their entries carry an empty `submission`.
    """
    w: Window = self._window(rootIndex, position, basePosition, firstNonce)
    avs: address = w.avs
    claimed: uint256 = self._amount_in(w.root, earner, token, posted)
    expected: uint256 = 0
    if w.hasBase:
        expected = self._amount_in(w.baseRoot, earner, token, base)
    # What `earner` earned in `token` from submissions firstNonce..count-1 (inline: the inputs are
    # large, and an internal call would copy them): a submission's days that end by the root's
    # end, and (for those the base root already saw, nonce < baseCount) after `baseEnd`.
    assert len(entries) == ((w.info >> 160) & MASK32) - firstNonce, "incomplete submissions"
    iv: uint256 = CALCULATION_INTERVAL_SECONDS
    used: uint256 = 0
    nd: uint256 = 0
    for k: uint256 in range(len(entries), bound=MAX_ENTRIES):
        e: Entry = entries[k]
        nonce: uint256 = firstNonce + k
        rec: uint256 = staticcall ICoordinator(rewardsCoordinator).submissionRecord(avs, nonce + 1)
        assert convert(keccak256(abi_encode(e.submissionHash, e.kind, e.operatorSetId, e.token, e.startTimestamp, e.duration)), uint256) >> 32 == rec >> 32, "submission record mismatch"
        if e.token != token:
            continue
        first: uint256 = convert(e.startTimestamp, uint256)
        if nonce < w.baseCount and w.baseEnd > first:
            first += (w.baseEnd - first) // iv * iv  # days ending by baseEnd were in the base
        last: uint256 = min(convert(e.startTimestamp, uint256) + convert(e.duration, uint256), w.end)
        if first >= last:
            continue
        sams: DynArray[IRC.StrategyAndMultiplier, MAX_STRATEGIES] = e.submission.strategiesAndMultipliers
        is_directed: bool = e.kind == KIND_DIRECTED_SET or e.kind == KIND_DIRECTED_AVS
        if is_directed:
            assert nd < len(directed), "directed submission missing"
            assert keccak256(abi_encode(avs, nonce, directed[nd])) == e.submissionHash, "submission mismatch"
            sams = directed[nd].strategiesAndMultipliers
            nd += 1
        else:
            assert keccak256(abi_encode(avs, nonce, e.submission)) == e.submissionHash, "submission mismatch"
        key: bytes32 = self._set_key(avs, e.operatorSetId)
        if e.kind == KIND_AVS or e.kind == KIND_DIRECTED_AVS:
            key = self._avs_key(avs)  # the AVS's day records: its operators (recordAVSDay)
        for n: uint256 in range(MAX_SUBMISSION_DAYS):
            d: uint256 = first + n * iv
            if d >= last:
                break
            record: uint256 = self.dayRecord[key][d]
            if record == 0:
                continue  # a day never recorded pays nothing
            assert used < len(days), "day inputs missing"
            di: DayInput = days[used]
            used += 1
            assert convert(di.snapshot, uint256) < len(snapshots), "invalid snapshot index"
            opset: ITypes.OperatorSet = ITypes.OperatorSet(avs=avs, id=e.operatorSetId)
            snap: uint256 = convert(di.snapshot, uint256)
            if is_directed:  # (no local copy of the operator rewards: memory)
                expected += self._earned_on_day(e.kind, opset, sams, 0, convert(e.duration, uint256), record, snapshots[snap], earner, di.operator, directed[nd - 1].operatorRewards)
            else:
                expected += self._earned_on_day(e.kind, opset, sams, e.submission.amount, convert(e.duration, uint256), record, snapshots[snap], earner, di.operator, [])
    assert used == len(days), "too many day inputs"
    assert nd == len(directed), "too many directed submissions"
    self._void_and_slash(rootIndex, msg.sender, earner, token, claimed, expected, w.info)
