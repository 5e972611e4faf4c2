# pragma version ~=0.4.3
# pragma optimize gas
"""
@title RewardsChallengeSteps
@notice The RewardsRootChallenger's challenge over several transactions, for a leaf whose window
        does not fit one (docs/rewards.md, "A challenge in steps"): the same rule, folded chunk
        by chunk into a stored partial sum.
        - `beginChallenge`: binds the root (pending), its position and base, the earner, the
          token, the two amounts proven by their leaves (or neighbours) and the first
          submission; the challenge is the caller's own (keyed by caller, root, earner, token).
        - `continueChallenge`: folds the next chunk, which must start at the stored cursor
          (the next submission nonce, and the day within it when the last chunk stopped inside
          a submission): its submissions are checked against the coordinator's records, its
          snapshots against the recorded days, its directed submissions against their hashes;
          the contract itself walks every day, so no chunk can be repeated, skipped, reordered
          or altered; it stops where its day inputs run out and stores where.
        - `finishChallenge`: once every submission up to the root's count is folded, checks the
          root and base again and has the challenger void the root and slash its updater when
          `base + recomputed` differs from the root's amount (RootChallenged, as challengeRoot).
        Each day is the challenger's own `earnedOnDay`, the function its one-transaction
        `challengeRoot` uses: one rule, one copy.
@dev The root is not held: a challenge must finish before the root activates (the coordinator's
     activation delay, 7 days in config/deploy.yaml). A challenge belongs to its starter, so
     nobody can stall or corrupt another's; several may run at once, the first to finish wins.
"""

from ..interfaces import ITypes
from ..interfaces import IRewardsCoordinator as IRC
from . import RewardsRootChallenger as RRC

MAX_STRATEGIES: constant(uint256) = 32
MAX_ENTRIES: constant(uint256) = 32
MAX_DAYS: constant(uint256) = 32
MAX_SNAPSHOTS: constant(uint256) = 8
MAX_DIRECTED: constant(uint256) = 4
MAX_OPERATOR_REWARDS: constant(uint256) = 256
MAX_SUBMISSION_DAYS: constant(uint256) = 2048
MASK32: constant(uint256) = 2**32 - 1

KIND_AVS: constant(uint8) = 0
KIND_DIRECTED_AVS: constant(uint8) = 3
KIND_DIRECTED_SET: constant(uint8) = 4


interface ICoordinator:
    def getDistributionRootAtIndex(index: uint256) -> IRC.DistributionRoot: view
    def submissionRecord(avs: address, nonce: uint256) -> uint256: view


# A running challenge: what beginChallenge bound, the partial sum and the cursor.
struct Challenge:
    active: bool
    position: uint256
    basePosition: uint256
    firstNonce: uint256
    avs: address
    posted: uint256  # the root's amount
    expected: uint256  # the base's amount plus every day folded so far
    baseCount: uint256
    baseEnd: uint256
    end: uint256
    count: uint256  # the AVS's submissions the root covers
    nonce: uint256  # the next submission to fold
    day: uint256  # the day of `nonce` to resume at (0: its first)
    steps: uint256


event ChallengeBegun:
    id: indexed(bytes32)
    rootIndex: indexed(uint32)
    challenger: indexed(address)
    earner: address
    token: address
    posted: uint256
    base: uint256
    submissions: uint256


event ChallengeContinued:
    id: indexed(bytes32)
    nonce: uint256
    day: uint256
    expected: uint256


rewardsCoordinator: public(immutable(address))
rootChallenger: public(immutable(address))
CALCULATION_INTERVAL_SECONDS: public(immutable(uint256))
challenges: public(HashMap[bytes32, Challenge])


@deploy
def __init__(_rootChallenger: address):
    """
    @notice Deploy right after the RewardsRootChallenger, which names this address.
    """
    assert staticcall RRC.__interface__(_rootChallenger).STEP_CHALLENGER() == self, "challenger names another step challenger"
    rootChallenger = _rootChallenger
    rewardsCoordinator = staticcall RRC.__interface__(_rootChallenger).rewardsCoordinator()
    CALCULATION_INTERVAL_SECONDS = staticcall RRC.__interface__(_rootChallenger).CALCULATION_INTERVAL_SECONDS()


@external
@pure
def challengeId(challenger: address, rootIndex: uint32, earner: address, token: address) -> bytes32:
    """
    @notice The key of `challenger`'s challenge of (`earner`, `token`) in root `rootIndex`.
    """
    return keccak256(abi_encode(challenger, rootIndex, earner, token))


@internal
@view
def _pending(rootIndex: uint32):
    dr: IRC.DistributionRoot = staticcall ICoordinator(rewardsCoordinator).getDistributionRootAtIndex(convert(rootIndex, uint256))
    assert not dr.disabled, "root disabled"
    assert block.timestamp < convert(dr.activatedAt, uint256), "root already activated"


@external
def beginChallenge(rootIndex: uint32, position: uint256, basePosition: uint256, earner: address, token: address, posted: RRC.AmountProof, base: RRC.AmountProof, firstNonce: uint256) -> bytes32:
    """
    @notice Begin (or begin again) the caller's challenge of one leaf of a pending root.
    @dev The arguments are challengeRoot's first eight, with its reasons.
    @return The challenge's id (challengeId).
    """
    w: RRC.Window = staticcall RRC.__interface__(rootChallenger).challengeWindow(rootIndex, position, basePosition, firstNonce)
    c: Challenge = empty(Challenge)
    c.active = True
    c.position = position
    c.basePosition = basePosition
    c.firstNonce = firstNonce
    c.avs = w.avs
    c.posted = staticcall RRC.__interface__(rootChallenger).amountIn(w.root, earner, token, posted)
    if w.hasBase:
        c.expected = staticcall RRC.__interface__(rootChallenger).amountIn(w.baseRoot, earner, token, base)
    c.baseCount = w.baseCount
    c.baseEnd = w.baseEnd
    c.end = w.end
    c.count = (w.info >> 160) & MASK32
    c.nonce = firstNonce
    id: bytes32 = keccak256(abi_encode(msg.sender, rootIndex, earner, token))
    self.challenges[id] = c
    log ChallengeBegun(id=id, rootIndex=rootIndex, challenger=msg.sender, earner=earner, token=token, posted=c.posted, base=c.expected, submissions=c.count - firstNonce)
    return id


@external
def continueChallenge(rootIndex: uint32, earner: address, token: address, fromNonce: uint256, fromDay: uint256, entries: DynArray[RRC.Entry, MAX_ENTRIES], snapshots: DynArray[RRC.Snapshot, MAX_SNAPSHOTS], days: DynArray[RRC.DayInput, MAX_DAYS], directed: DynArray[IRC.OperatorDirectedRewardsSubmission, MAX_DIRECTED]):
    """
    @notice Fold the next chunk of the caller's challenge: the submissions `fromNonce..` given,
            each day of theirs in the leaf's token and window in order, until the day inputs run
            out (the chunk then stops at that day: it must be the last entry's).
    @param fromNonce The cursor's submission (the stored one: "chunk out of order").
    @param fromDay The cursor's day in it (0: its first; the stored one).
    @param entries The submissions fromNonce.. (challengeRoot's entries).
    @param snapshots The snapshots this chunk's days use.
    @param days Per recorded set-day folded, its snapshot and the earner's operator (a hint).
    @param directed The operator-directed submissions this chunk counts (one it resumes inside
           is given again).
    """
    id: bytes32 = keccak256(abi_encode(msg.sender, rootIndex, earner, token))
    c: Challenge = self.challenges[id]
    assert c.active, "no such challenge"
    self._pending(rootIndex)
    assert fromNonce == c.nonce and fromDay == c.day, "chunk out of order"
    assert len(entries) != 0 and fromNonce + len(entries) <= c.count, "invalid chunk length"
    iv: uint256 = CALCULATION_INTERVAL_SECONDS
    used: uint256 = 0
    nd: uint256 = 0
    stopped: bool = False
    for k: uint256 in range(len(entries), bound=MAX_ENTRIES):
        e: RRC.Entry = entries[k]
        nonce: uint256 = fromNonce + k
        rec: uint256 = staticcall ICoordinator(rewardsCoordinator).submissionRecord(c.avs, nonce + 1)
        assert convert(keccak256(abi_encode(e.submissionHash, e.kind, e.operatorSetId, e.token, e.startTimestamp, e.duration)), uint256) >> 32 == rec >> 32, "submission record mismatch"
        if e.token != token:
            continue
        first: uint256 = convert(e.startTimestamp, uint256)
        if nonce < c.baseCount and c.baseEnd > first:
            first += (c.baseEnd - first) // iv * iv
        if k == 0 and fromDay != 0:
            first = fromDay
        last: uint256 = min(convert(e.startTimestamp, uint256) + convert(e.duration, uint256), c.end)
        if first >= last:
            continue
        sams: DynArray[IRC.StrategyAndMultiplier, MAX_STRATEGIES] = e.submission.strategiesAndMultipliers
        rewards: DynArray[IRC.OperatorReward, MAX_OPERATOR_REWARDS] = []
        if e.kind == KIND_DIRECTED_SET or e.kind == KIND_DIRECTED_AVS:
            assert nd < len(directed), "directed submission missing"
            assert keccak256(abi_encode(c.avs, nonce, directed[nd])) == e.submissionHash, "submission mismatch"
            sams = directed[nd].strategiesAndMultipliers
            rewards = directed[nd].operatorRewards
            nd += 1
        else:
            assert keccak256(abi_encode(c.avs, nonce, e.submission)) == e.submissionHash, "submission mismatch"
        key: bytes32 = keccak256(abi_encode(c.avs, e.operatorSetId))
        if e.kind == KIND_AVS or e.kind == KIND_DIRECTED_AVS:
            key = keccak256(abi_encode(c.avs))  # the AVS's day records (recordAVSDay)
        for n: uint256 in range(MAX_SUBMISSION_DAYS):
            d: uint256 = first + n * iv
            if d >= last:
                break
            record: uint256 = staticcall RRC.__interface__(rootChallenger).dayRecord(key, d)
            if record == 0:
                continue  # a day never recorded pays nothing
            if used == len(days):
                stopped = True  # the chunk ends here: the next one resumes at this day
                c.nonce = nonce
                c.day = d
                break
            di: RRC.DayInput = days[used]
            used += 1
            assert convert(di.snapshot, uint256) < len(snapshots), "invalid snapshot index"
            c.expected += staticcall RRC.__interface__(rootChallenger).earnedOnDay(e.kind, ITypes.OperatorSet(avs=c.avs, id=e.operatorSetId), sams, e.submission.amount, convert(e.duration, uint256), record, snapshots[convert(di.snapshot, uint256)], earner, di.operator, rewards)
        if stopped:
            assert k + 1 == len(entries), "entries beyond the chunk"
            break
    if not stopped:
        c.nonce = fromNonce + len(entries)
        c.day = 0
    assert c.nonce != fromNonce or c.day != fromDay, "empty chunk"
    assert used == len(days), "too many day inputs"
    assert nd == len(directed), "too many directed submissions"
    c.steps += 1
    self.challenges[id] = c
    log ChallengeContinued(id=id, nonce=c.nonce, day=c.day, expected=c.expected)


@external
def finishChallenge(rootIndex: uint32, earner: address, token: address):
    """
    @notice End the caller's challenge once every submission is folded: the challenger voids
            the root and slashes its updater (the caller rewarded) when the root's amount is
            not `base + recomputed`; reverts "root correct for this leaf" when it is.
    """
    id: bytes32 = keccak256(abi_encode(msg.sender, rootIndex, earner, token))
    c: Challenge = self.challenges[id]
    assert c.active, "no such challenge"
    assert c.nonce == c.count, "challenge not folded"
    # the root still pending and its base still the newest active one (a root between that
    # activated since is the base now: begin again)
    w: RRC.Window = staticcall RRC.__interface__(rootChallenger).challengeWindow(rootIndex, c.position, c.basePosition, c.firstNonce)
    self.challenges[id] = empty(Challenge)
    extcall RRC.__interface__(rootChallenger).slashFor(rootIndex, msg.sender, earner, token, c.posted, c.expected)
