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
        - `recordMembers` / `foldMembers`: a set of more than 64 members has its day's member
          list recorded in chunks here (the challenger's record completed through its
          `completeMembers`), and a challenge folds such a day's members in chunks (the running
          hash, total weight and the earner's operator kept with the challenge) before the
          day's payout (the challenger's `memberPay`).
        - `recordAVSMembers`: the same for an AVS of more than 64 operators (its v1 and
          operator-directed AVS-wide days): the union of its sets' members recorded in
          ascending chunks, each operator's memberships counted against the sets' member
          counts; `foldMembers` folds such a day as a set's.
        - `refundSubmission`: once a submission's period is over, the part of it no correct
          root can ever pay (its days nobody recorded, or recorded with no member, and the
          rounding of its per-day amounts) goes back to the AVS (anyone calls; the coordinator's
          `refundEscrow` pays), once per submission.
        Each day is the challenger's own `earnedOnDay` (or `memberWeights` and `memberPay` for a
        day folded in chunks), the rule its one-transaction `challengeRoot` uses: one copy.
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
MASK64: constant(uint256) = 2**64 - 1
MASK160: constant(uint256) = 2**160 - 1
MAX_MEMBERS: constant(uint256) = 64  # members a foldMembers step takes
MAX_AVS_SETS: constant(uint256) = 32  # operator sets of an AVS (the challenger's recordAVSDay bound)
LARGE: constant(uint256) = 1 << 64  # a day whose members were recorded in chunks (recordMembers)
# The hash part of a day recorded with no member (the challenger's _snapshot_hash([], [])): no
# member, no payout (test_rewards_refund.py checks it against a recorded empty day).
EMPTY_DAY: constant(uint256) = 89952128039022490694352875657840231885025237009660883800008940364828833218560

KIND_AVS: constant(uint8) = 0
KIND_TOTAL: constant(uint8) = 2
KIND_DIRECTED_AVS: constant(uint8) = 3
KIND_DIRECTED_SET: constant(uint8) = 4


interface ICoordinator:
    def getDistributionRootAtIndex(index: uint256) -> IRC.DistributionRoot: view
    def submissionRecord(avs: address, nonce: uint256) -> uint256: view
    def getOperatorSetSplit(operator: address, operatorSet: ITypes.OperatorSet) -> uint16: view
    def getOperatorAVSSplit(operator: address, avs: address) -> uint16: view
    def refundEscrow(avs: address, token: address, amount: uint256): nonpayable


interface IMembersAt:
    def isMemberOfOperatorSetAt(operator: address, operatorSet: ITypes.OperatorSet, blockNumber: uint32) -> bool: view
    def getMemberCountAt(operatorSet: ITypes.OperatorSet, blockNumber: uint32) -> uint256: view
    def getOperatorSetCount(avs: address) -> uint256: view
    def isOperatorSet(operatorSet: ITypes.OperatorSet) -> bool: view


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


# The day at a challenge's cursor whose member list was recorded in chunks, folded so far.
struct LargeDay:
    hash: bytes32  # the members' chained hash (as recordMembers builds it)
    total: uint256  # their weights by the day's rule
    found: bool  # the earner's operator (the member it has delegated stake with) is among them
    op: address
    w: uint256
    split: uint16
    ws: uint256
    member: bool  # the earner is one of them
    we: uint256
    splitE: uint16


event MembersFolded:
    id: indexed(bytes32)
    day: uint256
    hash: bytes32
    complete: bool


event MembersRecorded:
    avs: indexed(address)
    operatorSetId: indexed(uint32)
    day: indexed(uint256)
    recorder: address
    members: DynArray[address, MAX_MEMBERS]
    splits: DynArray[uint16, MAX_MEMBERS]
    folded: uint256
    count: uint256


event AVSMembersRecorded:
    avs: indexed(address)
    day: indexed(uint256)
    recorder: indexed(address)
    operators: DynArray[address, MAX_MEMBERS]
    splits: DynArray[uint16, MAX_MEMBERS]
    covered: uint256
    total: uint256


event SubmissionRefunded:
    avs: indexed(address)
    submissionNonce: indexed(uint256)
    token: indexed(address)
    amount: uint256
    unpaidDays: uint256
    days: uint256


event ChallengeContinued:
    id: indexed(bytes32)
    nonce: uint256
    day: uint256
    expected: uint256


rewardsCoordinator: public(immutable(address))
rootChallenger: public(immutable(address))
CALCULATION_INTERVAL_SECONDS: public(immutable(uint256))
challenges: public(HashMap[bytes32, Challenge])
largeDays: public(HashMap[bytes32, LargeDay])
allocationManager: public(immutable(address))
# keccak(set key, day, recorder) -> a large set-day's member list recorded so far by `recorder`:
# count << 192 | folded << 160 | last member, and the chained hash of the members folded.
largeProgress: public(HashMap[bytes32, uint256])
largeHash: public(HashMap[bytes32, bytes32])
# avs -> submission nonce -> what refundSubmission paid back (0: not refunded).
refunded: public(HashMap[address, HashMap[uint256, uint256]])


@deploy
def __init__(_rootChallenger: address):
    """
    @notice Deploy right after the RewardsRootChallenger, which names this address.
    """
    assert staticcall RRC.__interface__(_rootChallenger).STEP_CHALLENGER() == self, "challenger names another step challenger"
    rootChallenger = _rootChallenger
    rewardsCoordinator = staticcall RRC.__interface__(_rootChallenger).rewardsCoordinator()
    CALCULATION_INTERVAL_SECONDS = staticcall RRC.__interface__(_rootChallenger).CALCULATION_INTERVAL_SECONDS()
    allocationManager = staticcall RRC.__interface__(_rootChallenger).allocationManager()


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
    self.largeDays[id] = empty(LargeDay)
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
            if used == len(days) or (record & LARGE != 0 and record >> 65 != 0):  # (or foldMembers's)
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
def recordMembers(operatorSet: ITypes.OperatorSet, day: uint256, members: DynArray[address, MAX_MEMBERS], last: bool):
    """
    @notice Record the next members of a set-day too large for recordDay (more than 64 members):
            each a member at the day's recorded block, strictly ascending across the caller's
            chunks, with its split now (the same day); when the caller's list reaches the set's
            member count at that block, the day's record holds the chained hash of it
            (keccak(previous, member, split) per member) with the LARGE flag (the challenger's
            completeMembers). Anyone; each caller
            builds its own list (a list skipping a member can never complete, and blocks no one).
    @param last The caller's last chunk: its list must then be complete ("missing member").
    """
    iv: uint256 = CALCULATION_INTERVAL_SECONDS
    assert block.timestamp < day + iv, "day over"
    key: bytes32 = keccak256(abi_encode(operatorSet.avs, operatorSet.id))
    word: uint256 = staticcall RRC.__interface__(rootChallenger).dayRecord(key, day)
    assert word >> 64 == 1, "no member list pending"
    blk: uint32 = convert(word & MASK64, uint32)
    pid: bytes32 = keccak256(abi_encode(key, day, msg.sender))
    p: uint256 = self.largeProgress[pid]
    count: uint256 = p >> 192
    if count == 0:
        count = staticcall IMembersAt(allocationManager).getMemberCountAt(operatorSet, blk)
    folded: uint256 = (p >> 160) & MASK32
    prev: uint256 = p & MASK160
    h: bytes32 = self.largeHash[pid]
    splits: DynArray[uint16, MAX_MEMBERS] = []
    for op: address in members:
        assert folded == 0 or convert(op, uint256) != prev, "duplicate member"
        assert convert(op, uint256) > prev, "members not ascending"
        assert staticcall IMembersAt(allocationManager).isMemberOfOperatorSetAt(op, operatorSet, blk), "not a member"
        split: uint16 = staticcall ICoordinator(rewardsCoordinator).getOperatorSetSplit(op, operatorSet)
        splits.append(split)
        h = keccak256(abi_encode(h, op, split))
        folded += 1
        prev = convert(op, uint256)
    assert not last or folded == count, "missing member"
    if folded == count:
        extcall RRC.__interface__(rootChallenger).completeMembers(key, day, (convert(h, uint256) >> 65 << 65) | LARGE | convert(blk, uint256))
    self.largeProgress[pid] = count << 192 | folded << 160 | prev
    self.largeHash[pid] = h
    log MembersRecorded(avs=operatorSet.avs, operatorSetId=operatorSet.id, day=day, recorder=msg.sender, members=members, splits=splits, folded=folded, count=count)


@external
def recordAVSMembers(avs: address, day: uint256, operatorSetIds: DynArray[uint32, MAX_AVS_SETS], operators: DynArray[address, MAX_MEMBERS], last: bool):
    """
    @notice Record the next operators of an AVS-day too large for recordAVSDay (more than 64
            operators): the union of its sets' members at the day's recorded block, strictly
            ascending across the caller's chunks, each a member of at least one set then, with
            its operator-AVS split now (the same day); each operator's memberships count against
            the sets' member counts at that block, and when the caller's list covers them all the
            AVS's day record holds the chained hash of it (keccak(previous, operator, split) per
            operator) with the LARGE flag (the challenger's completeMembers). Anyone; each caller
            builds its own list, as recordMembers.
    @param operatorSetIds Every operator set id of the AVS, ascending (as recordAVSDay's).
    @param last The caller's last chunk: its list must then be complete ("missing operator").
    """
    iv: uint256 = CALCULATION_INTERVAL_SECONDS
    assert block.timestamp < day + iv, "day over"
    key: bytes32 = keccak256(abi_encode(avs))
    word: uint256 = staticcall RRC.__interface__(rootChallenger).dayRecord(key, day)
    assert word >> 64 == 1, "no operator list pending"
    blk: uint32 = convert(word & MASK64, uint32)
    am: address = allocationManager
    assert len(operatorSetIds) == staticcall IMembersAt(am).getOperatorSetCount(avs), "missing operator set"
    pid: bytes32 = keccak256(abi_encode(key, day, msg.sender))
    p: uint256 = self.largeProgress[pid]
    total: uint256 = p >> 192
    for k: uint256 in range(len(operatorSetIds), bound=MAX_AVS_SETS):
        assert k == 0 or operatorSetIds[k] > operatorSetIds[k - 1], "operator sets not ascending"
        opset: ITypes.OperatorSet = ITypes.OperatorSet(avs=avs, id=operatorSetIds[k])
        assert staticcall IMembersAt(am).isOperatorSet(opset), "not an operator set"
        if p == 0:
            total += staticcall IMembersAt(am).getMemberCountAt(opset, blk)
    covered: uint256 = (p >> 160) & MASK32
    prev: uint256 = p & MASK160
    h: bytes32 = self.largeHash[pid]
    splits: DynArray[uint16, MAX_MEMBERS] = []
    for op: address in operators:
        assert covered == 0 or convert(op, uint256) != prev, "duplicate operator"
        assert convert(op, uint256) > prev, "operators not ascending"
        c: uint256 = 0
        for id: uint32 in operatorSetIds:
            if staticcall IMembersAt(am).isMemberOfOperatorSetAt(op, ITypes.OperatorSet(avs=avs, id=id), blk):
                c += 1
        assert c != 0, "not an operator of the avs"
        covered += c
        split: uint16 = staticcall ICoordinator(rewardsCoordinator).getOperatorAVSSplit(op, avs)
        splits.append(split)
        h = keccak256(abi_encode(h, op, split))
        prev = convert(op, uint256)
    assert not last or covered == total, "missing operator"
    if covered == total:
        extcall RRC.__interface__(rootChallenger).completeMembers(key, day, (convert(h, uint256) >> 65 << 65) | LARGE | convert(blk, uint256))
    self.largeProgress[pid] = total << 192 | covered << 160 | prev
    self.largeHash[pid] = h
    log AVSMembersRecorded(avs=avs, day=day, recorder=msg.sender, operators=operators, splits=splits, covered=covered, total=total)


@external
def foldMembers(rootIndex: uint32, earner: address, token: address, entry: RRC.Entry, directed: DynArray[IRC.OperatorDirectedRewardsSubmission, 1], members: DynArray[address, MAX_MEMBERS], splits: DynArray[uint16, MAX_MEMBERS]):
    """
    @notice Fold the next members of the day at the caller's cursor, a set-day whose member list
            was recorded in chunks (recordMembers; continueChallenge stops at such a day): each
            member's weight by the day's rule, the earner's operator and the earner among them.
            When the members' chained hash reaches the record's, the day's payout to the earner
            (the rule of earnedOnDay) joins the partial sum and the cursor moves past the day.
    @param entry The submission at the cursor (checked against its record).
    @param directed Its operator-directed submission, when it is one.
    @param members The next members, as recorded (ascending), with their recorded splits.
    """
    id: bytes32 = keccak256(abi_encode(msg.sender, rootIndex, earner, token))
    c: Challenge = self.challenges[id]
    assert c.active, "no such challenge"
    self._pending(rootIndex)
    assert c.day != 0 and c.nonce < c.count, "no large day at the cursor"
    rec: uint256 = staticcall ICoordinator(rewardsCoordinator).submissionRecord(c.avs, c.nonce + 1)
    assert convert(keccak256(abi_encode(entry.submissionHash, entry.kind, entry.operatorSetId, entry.token, entry.startTimestamp, entry.duration)), uint256) >> 32 == rec >> 32, "submission record mismatch"
    key: bytes32 = keccak256(abi_encode(c.avs, entry.operatorSetId))
    rule: uint8 = entry.kind  # an AVS-wide day weighs its recorded operators as a set's day its members
    if entry.kind == KIND_AVS or entry.kind == KIND_DIRECTED_AVS:
        key = keccak256(abi_encode(c.avs))  # the AVS's day records (recordAVSDay, recordAVSMembers)
        rule = KIND_TOTAL
        if entry.kind == KIND_DIRECTED_AVS:
            rule = KIND_DIRECTED_SET
    record: uint256 = staticcall RRC.__interface__(rootChallenger).dayRecord(key, c.day)
    assert record & LARGE != 0 and record >> 65 != 0, "no large day at the cursor"
    sams: DynArray[IRC.StrategyAndMultiplier, MAX_STRATEGIES] = entry.submission.strategiesAndMultipliers
    if rule == KIND_DIRECTED_SET:
        assert len(directed) == 1, "directed submission missing"
        assert keccak256(abi_encode(c.avs, c.nonce, directed[0])) == entry.submissionHash, "submission mismatch"
        sams = directed[0].strategiesAndMultipliers
    else:
        assert len(directed) == 0, "too many directed submissions"
        assert keccak256(abi_encode(c.avs, c.nonce, entry.submission)) == entry.submissionHash, "submission mismatch"
    assert len(members) != 0 and len(members) == len(splits), "invalid member chunk"
    blk: uint256 = record & MASK64
    opset: ITypes.OperatorSet = ITypes.OperatorSet(avs=c.avs, id=entry.operatorSetId)
    L: LargeDay = self.largeDays[id]
    for i: uint256 in range(len(members), bound=MAX_MEMBERS):
        op: address = members[i]
        L.hash = keccak256(abi_encode(L.hash, op, splits[i]))
        w: uint256 = 0
        ws: uint256 = 0
        w, ws = staticcall RRC.__interface__(rootChallenger).memberWeights(rule, opset, sams, earner, op, blk, not L.found)
        L.total += w
        if ws != 0 and not L.found:
            L.found = True
            L.op = op
            L.w = w
            L.split = splits[i]
            L.ws = ws
        if op == earner:
            L.member = True
            L.we = w
            L.splitE = splits[i]
    complete: bool = convert(L.hash, uint256) >> 65 == record >> 65
    if complete:
        dj: uint256 = 0
        de: uint256 = 0
        if rule == KIND_DIRECTED_SET:
            for r: IRC.OperatorReward in directed[0].operatorRewards:
                if L.found and r.operator == L.op:
                    dj = r.amount
                if r.operator == earner:
                    de = r.amount
        elif L.total == 0:
            L.found = False
            L.member = False
        d: uint256 = convert(entry.duration, uint256)
        if L.found:
            c.expected += staticcall RRC.__interface__(rootChallenger).memberPay(rule, sams, entry.submission.amount, d, blk, L.total, L.w, L.split, dj, L.op, earner, True, L.ws)
        if L.member and not (L.found and L.op == earner):
            c.expected += staticcall RRC.__interface__(rootChallenger).memberPay(rule, sams, entry.submission.amount, d, blk, L.total, L.we, L.splitE, de, earner, earner, False, 0)
        log MembersFolded(id=id, day=c.day, hash=L.hash, complete=True)
        nxt: uint256 = c.day + CALCULATION_INTERVAL_SECONDS
        if nxt < min(convert(entry.startTimestamp, uint256) + convert(entry.duration, uint256), c.end):
            c.day = nxt
        else:
            c.nonce += 1
            c.day = 0
        self.largeDays[id] = empty(LargeDay)
    else:
        log MembersFolded(id=id, day=c.day, hash=L.hash, complete=False)
        self.largeDays[id] = L
    c.steps += 1
    self.challenges[id] = c


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


@internal
@view
def _refundable(avs: address, nonce: uint256, e: RRC.Entry, directed: DynArray[IRC.OperatorDirectedRewardsSubmission, 1]) -> (uint256, uint256, uint256):
    # (what no correct root can pay of the submission, its days that pay nothing, its days).
    rec: uint256 = staticcall ICoordinator(rewardsCoordinator).submissionRecord(avs, nonce + 1)
    assert rec != 0, "unknown submission"
    assert convert(keccak256(abi_encode(e.submissionHash, e.kind, e.operatorSetId, e.token, e.startTimestamp, e.duration)), uint256) >> 32 == rec >> 32, "submission record mismatch"
    is_directed: bool = e.kind == KIND_DIRECTED_SET or e.kind == KIND_DIRECTED_AVS
    amounts: DynArray[uint256, MAX_OPERATOR_REWARDS] = []
    if is_directed:
        assert len(directed) == 1, "directed submission missing"
        assert keccak256(abi_encode(avs, nonce, directed[0])) == e.submissionHash, "submission mismatch"
        for r: IRC.OperatorReward in directed[0].operatorRewards:
            amounts.append(r.amount)
    else:
        assert len(directed) == 0, "too many directed submissions"
        assert keccak256(abi_encode(avs, nonce, e.submission)) == e.submissionHash, "submission mismatch"
        amounts.append(e.submission.amount)
    start: uint256 = convert(e.startTimestamp, uint256)
    assert start + convert(e.duration, uint256) <= block.timestamp, "submission period not over"
    iv: uint256 = CALCULATION_INTERVAL_SECONDS
    days: uint256 = convert(e.duration, uint256) // iv
    key: bytes32 = keccak256(abi_encode(avs, e.operatorSetId))
    if e.kind == KIND_AVS or e.kind == KIND_DIRECTED_AVS:
        key = keccak256(abi_encode(avs))
    unpaid: uint256 = 0
    for n: uint256 in range(MAX_SUBMISSION_DAYS):
        if n >= days:
            break
        record: uint256 = staticcall RRC.__interface__(rootChallenger).dayRecord(key, start + n * iv)
        # never recorded (and never recordable: the day is over), or recorded with no member
        if record == 0 or record >> 64 << 64 == EMPTY_DAY:
            unpaid += 1
    # A paid day gives each amount's unit at most floor(amount / days) (the rule's floors), so
    # what is left beyond the paid days' floors is beyond any correct root.
    out: uint256 = 0
    for a: uint256 in amounts:
        out += a - (days - unpaid) * (a // days)
    return out, unpaid, days


@external
def refundSubmission(avs: address, nonce: uint256, entry: RRC.Entry, directed: DynArray[IRC.OperatorDirectedRewardsSubmission, 1]) -> uint256:
    """
    @notice Pay back to `avs` the part of its submission `nonce` that no correct root can ever
            pay: once the submission's period is over, each of its days nobody recorded (the
            record is only possible during the day) or recorded with no member pays nothing, and
            each other day pays each amount (the submission's, or each operator's of an
            operator-directed one) at most floor(amount / days). Anyone may call; the tokens go
            to the AVS, once per submission. (A call, eth_call, shows the amount without paying.)
    @param avs The AVS that made the submission.
    @param nonce Its nonce.
    @param entry The submission's record fields and, for a weighted kind, the submission.
    @param directed An operator-directed submission itself (empty for the weighted kinds).
    @return The amount paid back.
    """
    assert self.refunded[avs][nonce] == 0, "already refunded"
    out: uint256 = 0
    unpaid: uint256 = 0
    days: uint256 = 0
    out, unpaid, days = self._refundable(avs, nonce, entry, directed)
    assert out != 0, "nothing to refund"
    self.refunded[avs][nonce] = out
    extcall ICoordinator(rewardsCoordinator).refundEscrow(avs, entry.token, out)
    log SubmissionRefunded(avs=avs, submissionNonce=nonce, token=entry.token, amount=out, unpaidDays=unpaid, days=days)
    return out
