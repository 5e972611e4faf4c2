# pragma version ~=0.4.3
# pragma optimize codesize
"""
@title RewardsCoordinator
@notice EigenLayer's RewardsCoordinator (v1.12, src/contracts/core/RewardsCoordinator.sol) with its
        ABI names, struct layouts, validations and leaf encodings, without its shared balance:
        - submissions (`createAVSRewardsSubmission`, the v2.2 `createUniqueStakeRewardsSubmission`
          / `createTotalStakeRewardsSubmission`, the operator-directed forms) escrow tokens for
          day-aligned periods; each credits the escrow of its AVS and token (`avsEscrow`), net of
          the opt-in protocol fee (PROTOCOL_FEE_BIPS, paid into the FeeVault);
        - distribution roots are posted **per AVS** by the rewards updater, bonded in the
          ROOT_CHALLENGER (`submitRoot(avs, root, end)`): a claim against a root pays only from
          the escrow of that root's AVS, and cumulative claims are kept per (AVS, earner, token).
          A wrong root can therefore pay out at most its own AVS's escrow, never another AVS's
          tokens; the AVS (or the updater) may disable it during the activation delay, and
          anyone may prove it wrong there (the RewardsRootChallenger: it voids the root through
          `voidRoot` and slashes the bond); each submission leaves a `submissionRecord` and each
          root its updater and the AVS's submission count (`rootInfo`) for that proof;
        - refunds: what the rule can never pay (days nobody recorded or recorded empty, the
          day split's rounding) goes back to the AVS through `refundEscrow`, called by the
          RewardsChallengeSteps' `refundSubmission` once it has proven the amount;
        - claims: EigenLayer's two-level keccak tree (earner leaf keccak(0x00 | earner |
          earnerTokenRoot), token leaf keccak(0x01 | token | cumulativeEarnings)), cumulative
          earnings, `claimerFor`, a recipient;
        - operator splits with EigenLayer's activation and lookup semantics.
        Callers act for themselves (msg.sender is the AVS, operator or earner), as in the core.
@dev Revert strings are EigenLayer's error names in words ("invalid claim proof", ...). Pause
     flags are EigenLayer's indices (0 AVS submissions, 2 claims, 3 roots, 5 operator-directed
     AVS, 6/7/8 AVS/PI/set splits, 9 operator-directed set, 10 unique stake, 11 total stake).
     Tokens must transfer exactly the amount asked (fee-on-transfer tokens are refused), so each
     escrow is backed one for one.
"""

from ethereum.ercs import IERC20
from ..lib import ownable
from ..permissions import pausable
from ..interfaces import ITypes
from ..interfaces import IRewardsCoordinator as IRC
from ..interfaces import IFeeVault

implements: IRC

initializes: ownable
initializes: pausable
exports: (
    ownable.__interface__,
    pausable.pauserRegistry,
    pausable.paused,
    pausable.setPausedStatus,
)


interface IStrategyWhitelist:
    def strategyIsWhitelistedForDeposit(strategy: address) -> bool: view


interface IRootChallenger:
    def lockBond(updater: address, until: uint32): nonpayable
    def STEP_CHALLENGER() -> address: view


interface IOperatorRegistry:
    def isOperator(operator: address) -> bool: view


interface IOperatorSets:
    def isOperatorSet(operatorSet: ITypes.OperatorSet) -> bool: view
    def getOperatorSetCount(avs: address) -> uint256: view


PAUSED_AVS_REWARDS_SUBMISSION: constant(uint256) = 0
PAUSED_PROCESS_CLAIM: constant(uint256) = 2
PAUSED_SUBMIT_DISABLE_ROOTS: constant(uint256) = 3
PAUSED_OPERATOR_DIRECTED_AVS_REWARDS_SUBMISSION: constant(uint256) = 5
PAUSED_OPERATOR_AVS_SPLIT: constant(uint256) = 6
PAUSED_OPERATOR_PI_SPLIT: constant(uint256) = 7
PAUSED_OPERATOR_SET_SPLIT: constant(uint256) = 8
PAUSED_OPERATOR_DIRECTED_OPERATOR_SET_REWARDS_SUBMISSION: constant(uint256) = 9
PAUSED_UNIQUE_STAKE_REWARDS_SUBMISSION: constant(uint256) = 10
PAUSED_TOTAL_STAKE_REWARDS_SUBMISSION: constant(uint256) = 11

EARNER_LEAF_SALT: constant(bytes1) = 0x00
TOKEN_LEAF_SALT: constant(bytes1) = 0x01
MAX_REWARDS_AMOUNT: constant(uint256) = 10**38 - 1
ONE_HUNDRED_IN_BIPS: constant(uint16) = 10000
PROTOCOL_FEE_BIPS: public(constant(uint16)) = 2000
SPLIT_UNSET: constant(uint256) = 65535  # EigenLayer's type(uint16).max flag: first split pending
MASK32: constant(uint256) = 2**32 - 1
MASK160: constant(uint256) = 2**160 - 1

MAX_STRATEGIES: constant(uint256) = 32
MAX_SUBMISSIONS: constant(uint256) = 16
MAX_OPERATOR_REWARDS: constant(uint256) = 256
MAX_EARNER_PROOF: constant(uint256) = 1024  # depth 32
MAX_TOKEN_PROOF: constant(uint256) = 512  # depth 16
MAX_TOKENS: constant(uint256) = 8  # a claim is copied to memory whole: keep it small
MAX_CLAIMS: constant(uint256) = 16

# Submission kinds (which hash map and event).
KIND_AVS: constant(uint8) = 0
KIND_UNIQUE: constant(uint8) = 1
KIND_TOTAL: constant(uint8) = 2
KIND_DIRECTED_AVS: constant(uint8) = 3
KIND_DIRECTED_SET: constant(uint8) = 4


event AVSRewardsSubmissionCreated:
    avs: indexed(address)
    submissionNonce: indexed(uint256)
    rewardsSubmissionHash: indexed(bytes32)
    rewardsSubmission: IRC.RewardsSubmission


event UniqueStakeRewardsSubmissionCreated:
    caller: indexed(address)
    rewardsSubmissionHash: indexed(bytes32)
    operatorSet: ITypes.OperatorSet
    submissionNonce: uint256
    rewardsSubmission: IRC.RewardsSubmission


event TotalStakeRewardsSubmissionCreated:
    caller: indexed(address)
    rewardsSubmissionHash: indexed(bytes32)
    operatorSet: ITypes.OperatorSet
    submissionNonce: uint256
    rewardsSubmission: IRC.RewardsSubmission


event OperatorDirectedAVSRewardsSubmissionCreated:
    caller: indexed(address)
    avs: indexed(address)
    operatorDirectedRewardsSubmissionHash: indexed(bytes32)
    submissionNonce: uint256
    operatorDirectedRewardsSubmission: IRC.OperatorDirectedRewardsSubmission


event OperatorDirectedOperatorSetRewardsSubmissionCreated:
    caller: indexed(address)
    operatorDirectedRewardsSubmissionHash: indexed(bytes32)
    operatorSet: ITypes.OperatorSet
    submissionNonce: uint256
    operatorDirectedRewardsSubmission: IRC.OperatorDirectedRewardsSubmission


event EscrowCredited:
    avs: indexed(address)
    token: indexed(address)
    amount: uint256
    escrow: uint256


event EscrowRefunded:
    avs: indexed(address)
    token: indexed(address)
    amount: uint256
    escrow: uint256


event RewardsUpdaterSet:
    oldRewardsUpdater: indexed(address)
    newRewardsUpdater: indexed(address)


event ActivationDelaySet:
    oldActivationDelay: uint32
    newActivationDelay: uint32


event DefaultOperatorSplitBipsSet:
    oldDefaultOperatorSplitBips: uint16
    newDefaultOperatorSplitBips: uint16


event OperatorAVSSplitBipsSet:
    caller: indexed(address)
    operator: indexed(address)
    avs: indexed(address)
    activatedAt: uint32
    oldOperatorAVSSplitBips: uint16
    newOperatorAVSSplitBips: uint16


event OperatorPISplitBipsSet:
    caller: indexed(address)
    operator: indexed(address)
    activatedAt: uint32
    oldOperatorPISplitBips: uint16
    newOperatorPISplitBips: uint16


event OperatorSetSplitBipsSet:
    caller: indexed(address)
    operator: indexed(address)
    operatorSet: ITypes.OperatorSet
    activatedAt: uint32
    oldOperatorSetSplitBips: uint16
    newOperatorSetSplitBips: uint16


event ClaimerForSet:
    earner: indexed(address)
    oldClaimer: indexed(address)
    claimer: indexed(address)


event DistributionRootSubmitted:
    rootIndex: indexed(uint32)
    root: indexed(bytes32)
    rewardsCalculationEndTimestamp: indexed(uint32)
    activatedAt: uint32


event DistributionRootAVS:
    rootIndex: indexed(uint32)
    avs: indexed(address)
    updater: indexed(address)


event DistributionRootDisabled:
    rootIndex: indexed(uint32)


event RewardsClaimed:
    root: bytes32
    earner: indexed(address)
    claimer: indexed(address)
    recipient: indexed(address)
    token: address
    claimedAmount: uint256


event FeeRecipientSet:
    oldFeeRecipient: indexed(address)
    newFeeRecipient: indexed(address)


event OptInForProtocolFeeSet:
    submitter: indexed(address)
    oldValue: indexed(bool)
    newValue: indexed(bool)


delegationManager: public(immutable(address))
strategyManager: public(immutable(address))
allocationManager: public(immutable(address))
CALCULATION_INTERVAL_SECONDS: public(immutable(uint32))
MAX_REWARDS_DURATION: public(immutable(uint32))
MAX_RETROACTIVE_LENGTH: public(immutable(uint32))
MAX_FUTURE_LENGTH: public(immutable(uint32))
GENESIS_REWARDS_TIMESTAMP: public(immutable(uint32))
# The RewardsRootChallenger: it holds the rewards updater's bond (locked by each root until it
# activates), voids wrong roots and slashes the bond. Deployed right after this contract (its
# address is known in advance; its constructor checks that this contract names it).
ROOT_CHALLENGER: public(immutable(address))

rewardsUpdater: public(address)
activationDelay: public(uint32)
defaultOperatorSplitBips: public(uint16)
feeRecipient: public(address)
isOptedInForProtocolFee: public(HashMap[address, bool])
submissionNonce: public(HashMap[address, uint256])
isAVSRewardsSubmissionHash: public(HashMap[address, HashMap[bytes32, bool]])
isUniqueStakeRewardsSubmissionHash: public(HashMap[address, HashMap[bytes32, bool]])
isTotalStakeRewardsSubmissionHash: public(HashMap[address, HashMap[bytes32, bool]])
isOperatorDirectedAVSRewardsSubmissionHash: public(HashMap[address, HashMap[bytes32, bool]])
isOperatorDirectedOperatorSetRewardsSubmissionHash: public(HashMap[address, HashMap[bytes32, bool]])
claimerFor: public(HashMap[address, address])

# avs -> token -> tokens escrowed for that AVS and not yet claimed or refunded.
avsEscrow: public(HashMap[address, HashMap[address, uint256]])
# avs -> earner -> token -> cumulative earnings claimed against that AVS's roots.
cumulativeClaimedFor: public(HashMap[address, HashMap[address, HashMap[address, uint256]]])
# avs -> the end of the last period a root was posted for.
currRewardsCalculationEndTimestamp: public(HashMap[address, uint32])

# Roots, packed: hash, and meta = avs | end << 160 | activatedAt << 192 | disabled << 224.
_rootHash: HashMap[uint256, bytes32]
_rootMeta: HashMap[uint256, uint256]
_rootCount: uint256
# avs -> number of its roots; avs -> k -> index of its k-th root.
avsRootCount: public(HashMap[address, uint256])
avsRootIndex: public(HashMap[address, HashMap[uint256, uint32]])

# root index -> updater | the AVS's submission count when it was posted << 160.
rootInfo: public(HashMap[uint256, uint256])
# avs -> n -> for the AVS's submission n - 1 (n >= 1; 0 for n = 0): keccak(submission hash, kind,
# set id, token, start, duration) with its low 32 bits replaced by the latest end (start + duration)
# of the AVS's submissions 0..n-1.
submissionRecord: public(HashMap[address, HashMap[uint256, uint256]])

# Splits, packed: oldSplitBips | newSplitBips << 16 | activatedAt << 32.
_avsSplit: HashMap[address, HashMap[address, uint256]]
_piSplit: HashMap[address, uint256]
_setSplit: HashMap[address, HashMap[bytes32, uint256]]


@deploy
def __init__(
    _delegationManager: address,
    _strategyManager: address,
    _allocationManager: address,
    _pauserRegistry: address,
    _calculationIntervalSeconds: uint32,
    _maxRewardsDuration: uint32,
    _maxRetroactiveLength: uint32,
    _maxFutureLength: uint32,
    _genesisRewardsTimestamp: uint32,
    initialOwner: address,
    _rewardsUpdater: address,
    _activationDelay: uint32,
    _defaultSplitBips: uint16,
    _feeRecipient: address,
    _rootChallenger: address,
):
    """
    @notice EigenLayer's constructor and `initialize` in one.
    @param _calculationIntervalSeconds The period grid (EigenLayer mainnet: 1 day).
    @param _feeRecipient The FeeVault the protocol fee is paid into.
    @param _rootChallenger The RewardsRootChallenger (deployed next).
    """
    ownable.__init__(initialOwner)
    pausable.__init__(_pauserRegistry)
    assert _calculationIntervalSeconds != 0, "zero interval"
    assert _genesisRewardsTimestamp % _calculationIntervalSeconds == 0, "invalid genesis rewards timestamp remainder"
    assert _maxRewardsDuration % _calculationIntervalSeconds == 0, "invalid calculation interval seconds remainder"
    delegationManager = _delegationManager
    strategyManager = _strategyManager
    allocationManager = _allocationManager
    CALCULATION_INTERVAL_SECONDS = _calculationIntervalSeconds
    MAX_REWARDS_DURATION = _maxRewardsDuration
    MAX_RETROACTIVE_LENGTH = _maxRetroactiveLength
    MAX_FUTURE_LENGTH = _maxFutureLength
    GENESIS_REWARDS_TIMESTAMP = _genesisRewardsTimestamp
    ROOT_CHALLENGER = _rootChallenger
    self._set_rewards_updater(_rewardsUpdater)
    self._set_activation_delay(_activationDelay)
    self._set_default_split(_defaultSplitBips)
    self._set_fee_recipient(_feeRecipient)


# ------------------------------------------------------------------ submissions


@internal
@view
def _validate_common(sams: DynArray[IRC.StrategyAndMultiplier, MAX_STRATEGIES], start: uint32, duration: uint32):
    assert len(sams) > 0, "input array length zero"
    assert duration <= MAX_REWARDS_DURATION, "duration exceeds max"
    assert duration % CALCULATION_INTERVAL_SECONDS == 0, "invalid duration remainder"
    assert duration > 0, "duration is zero"
    assert start % CALCULATION_INTERVAL_SECONDS == 0, "invalid start timestamp remainder"
    assert (
        convert(start, uint256) + convert(MAX_RETROACTIVE_LENGTH, uint256) >= block.timestamp
        and start >= GENESIS_REWARDS_TIMESTAMP
    ), "start timestamp too far in past"
    last: uint256 = 0
    for sm: IRC.StrategyAndMultiplier in sams:
        assert staticcall IStrategyWhitelist(strategyManager).strategyIsWhitelistedForDeposit(sm.strategy), "strategy not whitelisted"
        assert last < convert(sm.strategy, uint256), "strategies not in ascending order"
        last = convert(sm.strategy, uint256)


@internal
def _pull(token: address, amount: uint256):
    # Take exactly `amount` of `token` from the caller (fee-on-transfer tokens are refused).
    before: uint256 = staticcall IERC20(token).balanceOf(self)
    assert extcall IERC20(token).transferFrom(msg.sender, self, amount, default_return_value=True), "transfer failed"
    assert staticcall IERC20(token).balanceOf(self) == before + amount, "token transfer short"


@internal
def _pay_fee(avs: address, token: address, fee: uint256):
    if fee == 0:
        return
    vault: address = self.feeRecipient
    assert extcall IERC20(token).approve(vault, fee, default_return_value=True), "approve failed"
    extcall IFeeVault(vault).payFee(token, fee, avs)


@internal
def _credit(avs: address, token: address, amount: uint256):
    escrow: uint256 = self.avsEscrow[avs][token] + amount
    self.avsEscrow[avs][token] = escrow
    log EscrowCredited(avs=avs, token=token, amount=amount, escrow=escrow)


@internal
def _record(avs: address, nonce: uint256, h: bytes32, kind: uint8, set_id: uint32, token: address, start: uint32, duration: uint32):
    # What a challenge needs to know that it was given every submission of the AVS.
    end: uint256 = max(convert(start, uint256) + convert(duration, uint256), self.submissionRecord[avs][nonce] & MASK32)
    self.submissionRecord[avs][nonce + 1] = (convert(keccak256(abi_encode(h, kind, set_id, token, start, duration)), uint256) >> 32 << 32) | end


@internal
def _create(avs: address, opset: ITypes.OperatorSet, sub: IRC.RewardsSubmission, kind: uint8):
    # One submission (the caller loops, so only one is copied to memory at a time).
    self._validate_common(sub.strategiesAndMultipliers, sub.startTimestamp, sub.duration)
    assert sub.amount > 0, "amount is zero"
    assert sub.amount <= MAX_REWARDS_AMOUNT, "amount exceeds max"
    assert convert(sub.startTimestamp, uint256) <= block.timestamp + convert(MAX_FUTURE_LENGTH, uint256), "start timestamp too far in future"
    self._pull(sub.token, sub.amount)
    if self.isOptedInForProtocolFee[msg.sender]:
        fee: uint256 = sub.amount * convert(PROTOCOL_FEE_BIPS, uint256) // convert(ONE_HUNDRED_IN_BIPS, uint256)
        self._pay_fee(avs, sub.token, fee)
        sub.amount -= fee
    self._credit(avs, sub.token, sub.amount)
    nonce: uint256 = self.submissionNonce[avs]
    h: bytes32 = keccak256(abi_encode(avs, nonce, sub))
    self.submissionNonce[avs] = nonce + 1
    self._record(avs, nonce, h, kind, opset.id, sub.token, sub.startTimestamp, sub.duration)
    if kind == KIND_AVS:
        self.isAVSRewardsSubmissionHash[avs][h] = True
        log AVSRewardsSubmissionCreated(avs=avs, submissionNonce=nonce, rewardsSubmissionHash=h, rewardsSubmission=sub)
    elif kind == KIND_UNIQUE:
        self.isUniqueStakeRewardsSubmissionHash[avs][h] = True
        log UniqueStakeRewardsSubmissionCreated(caller=msg.sender, rewardsSubmissionHash=h, operatorSet=opset, submissionNonce=nonce, rewardsSubmission=sub)
    else:
        self.isTotalStakeRewardsSubmissionHash[avs][h] = True
        log TotalStakeRewardsSubmissionCreated(caller=msg.sender, rewardsSubmissionHash=h, operatorSet=opset, submissionNonce=nonce, rewardsSubmission=sub)


@external
@nonreentrant
def createAVSRewardsSubmission(rewardsSubmissions: DynArray[IRC.RewardsSubmission, MAX_SUBMISSIONS]):
    """
    @notice Escrow rewards for the caller's (an AVS's) stakers and operators (v1 form).
    @param rewardsSubmissions Strategies (ascending, whitelisted) with multipliers, token, amount,
           day-aligned start and duration.
    """
    pausable._check_not_paused(PAUSED_AVS_REWARDS_SUBMISSION)
    for k: uint256 in range(len(rewardsSubmissions), bound=MAX_SUBMISSIONS):
        self._create(msg.sender, empty(ITypes.OperatorSet), rewardsSubmissions[k], KIND_AVS)


@external
@nonreentrant
def createUniqueStakeRewardsSubmission(operatorSet: ITypes.OperatorSet, rewardsSubmissions: DynArray[IRC.RewardsSubmission, MAX_SUBMISSIONS]):
    """
    @notice Escrow rewards for an operator set, split by allocated (unique) stake (v2.2).
    @param operatorSet The caller's operator set.
    @param rewardsSubmissions As createAVSRewardsSubmission.
    """
    pausable._check_not_paused(PAUSED_UNIQUE_STAKE_REWARDS_SUBMISSION)
    assert msg.sender == operatorSet.avs, "unauthorized caller"
    assert staticcall IOperatorSets(allocationManager).isOperatorSet(operatorSet), "invalid operator set"
    for k: uint256 in range(len(rewardsSubmissions), bound=MAX_SUBMISSIONS):
        self._create(operatorSet.avs, operatorSet, rewardsSubmissions[k], KIND_UNIQUE)


@external
@nonreentrant
def createTotalStakeRewardsSubmission(operatorSet: ITypes.OperatorSet, rewardsSubmissions: DynArray[IRC.RewardsSubmission, MAX_SUBMISSIONS]):
    """
    @notice Escrow rewards for an operator set, split by delegated (total) stake (v2.2).
    @param operatorSet The caller's operator set.
    @param rewardsSubmissions As createAVSRewardsSubmission.
    """
    pausable._check_not_paused(PAUSED_TOTAL_STAKE_REWARDS_SUBMISSION)
    assert msg.sender == operatorSet.avs, "unauthorized caller"
    assert staticcall IOperatorSets(allocationManager).isOperatorSet(operatorSet), "invalid operator set"
    for k: uint256 in range(len(rewardsSubmissions), bound=MAX_SUBMISSIONS):
        self._create(operatorSet.avs, operatorSet, rewardsSubmissions[k], KIND_TOTAL)


@internal
def _create_directed(avs: address, opset: ITypes.OperatorSet, s: IRC.OperatorDirectedRewardsSubmission, for_set: bool):
    # One operator-directed submission (the caller loops).
    assert msg.sender == avs, "unauthorized caller"
    fee_on: bool = self.isOptedInForProtocolFee[msg.sender]
    sub: IRC.OperatorDirectedRewardsSubmission = s
    self._validate_common(sub.strategiesAndMultipliers, sub.startTimestamp, sub.duration)
    assert len(sub.operatorRewards) > 0, "input array length zero"
    assert convert(sub.startTimestamp, uint256) + convert(sub.duration, uint256) < block.timestamp, "submission not retroactive"
    before_fee: uint256 = 0
    after_fee: uint256 = 0
    last: address = empty(address)
    for i: uint256 in range(len(sub.operatorRewards), bound=MAX_OPERATOR_REWARDS):
        r: IRC.OperatorReward = sub.operatorRewards[i]
        assert r.operator != empty(address), "invalid address zero"
        assert convert(last, uint256) < convert(r.operator, uint256), "operators not in ascending order"
        assert r.amount > 0, "amount is zero"
        before_fee += r.amount
        if fee_on:
            sub.operatorRewards[i].amount = r.amount - r.amount * convert(PROTOCOL_FEE_BIPS, uint256) // convert(ONE_HUNDRED_IN_BIPS, uint256)
        after_fee += sub.operatorRewards[i].amount
        last = r.operator
    assert before_fee <= MAX_REWARDS_AMOUNT, "amount exceeds max"
    self._pull(sub.token, before_fee)
    self._pay_fee(avs, sub.token, before_fee - after_fee)
    self._credit(avs, sub.token, after_fee)
    nonce: uint256 = self.submissionNonce[avs]
    h: bytes32 = keccak256(abi_encode(avs, nonce, sub))
    self.submissionNonce[avs] = nonce + 1
    kind: uint8 = KIND_DIRECTED_AVS
    if for_set:
        kind = KIND_DIRECTED_SET
    self._record(avs, nonce, h, kind, opset.id, sub.token, sub.startTimestamp, sub.duration)
    if for_set:
        self.isOperatorDirectedOperatorSetRewardsSubmissionHash[avs][h] = True
        log OperatorDirectedOperatorSetRewardsSubmissionCreated(caller=msg.sender, operatorDirectedRewardsSubmissionHash=h, operatorSet=opset, submissionNonce=nonce, operatorDirectedRewardsSubmission=sub)
    else:
        self.isOperatorDirectedAVSRewardsSubmissionHash[avs][h] = True
        log OperatorDirectedAVSRewardsSubmissionCreated(caller=msg.sender, avs=avs, operatorDirectedRewardsSubmissionHash=h, submissionNonce=nonce, operatorDirectedRewardsSubmission=sub)


@external
@nonreentrant
def createOperatorDirectedAVSRewardsSubmission(avs: address, operatorDirectedRewardsSubmissions: DynArray[IRC.OperatorDirectedRewardsSubmission, MAX_SUBMISSIONS]):
    """
    @notice Escrow per-operator rewards for a past period (v2); the caller must be `avs`.
    @param avs The AVS paying.
    @param operatorDirectedRewardsSubmissions Strategies, token, operators (ascending) with
           amounts, a past day-aligned period, a description.
    """
    pausable._check_not_paused(PAUSED_OPERATOR_DIRECTED_AVS_REWARDS_SUBMISSION)
    for k: uint256 in range(len(operatorDirectedRewardsSubmissions), bound=MAX_SUBMISSIONS):
        self._create_directed(avs, empty(ITypes.OperatorSet), operatorDirectedRewardsSubmissions[k], False)


@external
@nonreentrant
def createOperatorDirectedOperatorSetRewardsSubmission(operatorSet: ITypes.OperatorSet, operatorDirectedRewardsSubmissions: DynArray[IRC.OperatorDirectedRewardsSubmission, MAX_SUBMISSIONS]):
    """
    @notice Per-operator rewards for one of the caller's operator sets (v2.1).
    @param operatorSet The set.
    @param operatorDirectedRewardsSubmissions As createOperatorDirectedAVSRewardsSubmission.
    """
    pausable._check_not_paused(PAUSED_OPERATOR_DIRECTED_OPERATOR_SET_REWARDS_SUBMISSION)
    assert staticcall IOperatorSets(allocationManager).isOperatorSet(operatorSet), "invalid operator set"
    for k: uint256 in range(len(operatorDirectedRewardsSubmissions), bound=MAX_SUBMISSIONS):
        self._create_directed(operatorSet.avs, operatorSet, operatorDirectedRewardsSubmissions[k], True)


@external
@nonreentrant
def refundEscrow(avs: address, token: address, amount: uint256):
    """
    @notice Pay `amount` of `avs`'s escrow in `token` back to the AVS: the RewardsChallengeSteps
            only (its `refundSubmission`, which has proven from the day records that no correct
            root can pay it).
    """
    assert msg.sender == staticcall IRootChallenger(ROOT_CHALLENGER).STEP_CHALLENGER(), "unauthorized caller"
    escrow: uint256 = self.avsEscrow[avs][token]
    assert amount <= escrow, "avs escrow exceeded"
    self.avsEscrow[avs][token] = escrow - amount
    assert extcall IERC20(token).transfer(avs, amount, default_return_value=True), "transfer failed"
    log EscrowRefunded(avs=avs, token=token, amount=amount, escrow=escrow - amount)


# ------------------------------------------------------------------ roots


@external
def submitRoot(avs: address, root: bytes32, rewardsCalculationEndTimestamp: uint32):
    """
    @notice Post a distribution root for `avs`'s escrow (rewards updater, bonded). Claims against
            it pay only from that AVS's escrow, after the activation delay.
    @param avs The AVS whose submissions the root distributes.
    @param root The earner tree's root (EigenLayer's encoding).
    @param rewardsCalculationEndTimestamp The end of the period it covers: after the AVS's last
           root's, in the past.
    """
    pausable._check_not_paused(PAUSED_SUBMIT_DISABLE_ROOTS)
    assert msg.sender == self.rewardsUpdater, "unauthorized caller"
    assert root != empty(bytes32), "invalid root"
    assert rewardsCalculationEndTimestamp > self.currRewardsCalculationEndTimestamp[avs], "new root must be for new calculated period"
    assert convert(rewardsCalculationEndTimestamp, uint256) < block.timestamp, "rewards end timestamp not elapsed"
    index: uint256 = self._rootCount
    activated: uint32 = convert(block.timestamp, uint32) + self.activationDelay
    self._rootHash[index] = root
    self._rootMeta[index] = convert(avs, uint256) | (convert(rewardsCalculationEndTimestamp, uint256) << 160) | (convert(activated, uint256) << 192)
    self._rootCount = index + 1
    k: uint256 = self.avsRootCount[avs]
    self.rootInfo[index] = convert(msg.sender, uint256) | (self.submissionNonce[avs] << 160)
    self.avsRootIndex[avs][k] = convert(index, uint32)
    self.avsRootCount[avs] = k + 1
    self.currRewardsCalculationEndTimestamp[avs] = rewardsCalculationEndTimestamp
    extcall IRootChallenger(ROOT_CHALLENGER).lockBond(msg.sender, activated)
    log DistributionRootSubmitted(rootIndex=convert(index, uint32), root=root, rewardsCalculationEndTimestamp=rewardsCalculationEndTimestamp, activatedAt=activated)
    log DistributionRootAVS(rootIndex=convert(index, uint32), avs=avs, updater=msg.sender)


@external
def disableRoot(rootIndex: uint32):
    """
    @notice Disable a root before it activates: the rewards updater, or the AVS whose escrow it
            would pay from.
    @param rootIndex The root.
    """
    pausable._check_not_paused(PAUSED_SUBMIT_DISABLE_ROOTS)
    i: uint256 = convert(rootIndex, uint256)
    assert i < self._rootCount, "invalid root index"
    meta: uint256 = self._rootMeta[i]
    assert msg.sender == self.rewardsUpdater or msg.sender == convert(meta & MASK160, address), "unauthorized caller"
    assert meta >> 224 == 0, "root disabled"
    assert block.timestamp < (meta >> 192) & MASK32, "root already activated"
    self._rootMeta[i] = meta | (1 << 224)
    log DistributionRootDisabled(rootIndex=rootIndex)


@external
def voidRoot(rootIndex: uint32):
    """
    @notice Void a root proven wrong before it activated: no claim can ever use it. The
            ROOT_CHALLENGER only, which has checked the root pending and undisabled, slashes
            the updater's bond it holds and logs RootChallenged.
    @param rootIndex The root.
    """
    assert msg.sender == ROOT_CHALLENGER, "unauthorized caller"
    self._rootMeta[convert(rootIndex, uint256)] |= 2 << 224


# ------------------------------------------------------------------ claims


@internal
@pure
def _process_proof(proof: Bytes[MAX_EARNER_PROOF], leaf: bytes32, index: uint256) -> bytes32:
    # EigenLayer's Merkle.processInclusionProofKeccak: an empty proof is the leaf itself.
    n: uint256 = len(proof)
    if n == 0:
        return leaf
    assert n % 32 == 0, "invalid proof length"
    h: bytes32 = leaf
    idx: uint256 = index
    for i: uint256 in range(MAX_EARNER_PROOF // 32):
        if i * 32 >= n:
            break
        el: bytes32 = extract32(proof, i * 32)
        if idx % 2 == 0:
            h = keccak256(concat(h, el))
        else:
            h = keccak256(concat(el, h))
        idx //= 2
    assert idx == 0, "invalid index"
    return h


@internal
@view
def _check_earner(rootIndex: uint32, earnerIndex: uint32, proof: Bytes[MAX_EARNER_PROOF], leaf: IRC.EarnerTreeMerkleLeaf) -> (address, bytes32):
    # The root's AVS and hash, once the root is claimable and the earner leaf is in it.
    i: uint256 = convert(rootIndex, uint256)
    assert i < self._rootCount, "invalid root index"
    meta: uint256 = self._rootMeta[i]
    root: bytes32 = self._rootHash[i]
    assert meta >> 224 == 0, "root disabled"
    assert block.timestamp >= (meta >> 192) & MASK32, "root not activated"
    assert convert(earnerIndex, uint256) < 1 << (len(proof) // 32), "invalid earner leaf index"
    h: bytes32 = keccak256(concat(EARNER_LEAF_SALT, convert(leaf.earner, bytes20), leaf.earnerTokenRoot))
    assert self._process_proof(proof, h, convert(earnerIndex, uint256)) == root, "invalid claim proof"
    return convert(meta & MASK160, address), root


@internal
@pure
def _check_token(earnerTokenRoot: bytes32, index: uint32, proof: Bytes[MAX_TOKEN_PROOF], leaf: IRC.TokenTreeMerkleLeaf):
    assert convert(index, uint256) < 1 << (len(proof) // 32), "invalid token leaf index"
    h: bytes32 = keccak256(concat(TOKEN_LEAF_SALT, convert(leaf.token, bytes20), convert(leaf.cumulativeEarnings, bytes32)))
    assert self._process_proof(proof, h, convert(index, uint256)) == earnerTokenRoot, "invalid claim proof"


@internal
def _claim(claim: IRC.RewardsMerkleClaim, recipient: address):
    avs: address = empty(address)
    root: bytes32 = empty(bytes32)
    avs, root = self._check_earner(claim.rootIndex, claim.earnerIndex, claim.earnerTreeProof, claim.earnerLeaf)
    n: uint256 = len(claim.tokenIndices)
    assert n == len(claim.tokenTreeProofs) and n == len(claim.tokenLeaves), "input array length mismatch"
    earner: address = claim.earnerLeaf.earner
    claimer: address = self.claimerFor[earner]
    if claimer == empty(address):
        claimer = earner
    assert msg.sender == claimer, "unauthorized caller"
    for i: uint256 in range(n, bound=MAX_TOKENS):
        leaf: IRC.TokenTreeMerkleLeaf = claim.tokenLeaves[i]
        self._check_token(claim.earnerLeaf.earnerTokenRoot, claim.tokenIndices[i], claim.tokenTreeProofs[i], leaf)
        claimed: uint256 = self.cumulativeClaimedFor[avs][earner][leaf.token]
        assert leaf.cumulativeEarnings > claimed, "earnings not greater than claimed"
        amount: uint256 = leaf.cumulativeEarnings - claimed
        escrow: uint256 = self.avsEscrow[avs][leaf.token]
        assert amount <= escrow, "avs escrow exceeded"
        self.avsEscrow[avs][leaf.token] = escrow - amount
        self.cumulativeClaimedFor[avs][earner][leaf.token] = leaf.cumulativeEarnings
        assert extcall IERC20(leaf.token).transfer(recipient, amount, default_return_value=True), "transfer failed"
        log RewardsClaimed(root=root, earner=earner, claimer=claimer, recipient=recipient, token=leaf.token, claimedAmount=amount)


@external
@nonreentrant
def processClaim(claim: IRC.RewardsMerkleClaim, recipient: address):
    """
    @notice Claim an earner's cumulative earnings proven against a root, paid to `recipient`
            from the root's AVS's escrow (the earner or its claimer only).
    @param claim Root index, earner leaf and proof, token leaves with indices and proofs.
    @param recipient Who receives the tokens.
    """
    pausable._check_not_paused(PAUSED_PROCESS_CLAIM)
    self._claim(claim, recipient)


@external
@nonreentrant
def processClaims(claims: DynArray[IRC.RewardsMerkleClaim, MAX_CLAIMS], recipient: address):
    """
    @notice processClaim for each of `claims` (e.g. several AVSs' roots), all to `recipient`.
    @param claims The claims.
    @param recipient Who receives the tokens.
    """
    pausable._check_not_paused(PAUSED_PROCESS_CLAIM)
    for i: uint256 in range(len(claims), bound=MAX_CLAIMS):
        self._claim(claims[i], recipient)  # one claim copied to memory at a time


@external
def setClaimerFor(earnerOrClaimer: address, claimer: address = empty(address)):
    """
    @notice `setClaimerFor(claimer)`: the caller's claimer. `setClaimerFor(earner, claimer)`: the
            claimer of `earner`, an operator or AVS, called by itself (EigenLayer's two forms).
    @param earnerOrClaimer The claimer (one argument) or the earner (two).
    @param claimer The claimer (two arguments).
    """
    earner: address = msg.sender
    who: address = earnerOrClaimer
    if convert(slice(msg.data, 0, 4), bytes4) == method_id("setClaimerFor(address,address)", output_type=bytes4):
        earner = earnerOrClaimer
        who = claimer
        assert msg.sender == earner, "unauthorized caller"
        assert staticcall IOperatorRegistry(delegationManager).isOperator(earner) or staticcall IOperatorSets(allocationManager).getOperatorSetCount(earner) > 0, "invalid earner"
    log ClaimerForSet(earner=earner, oldClaimer=self.claimerFor[earner], claimer=who)
    self.claimerFor[earner] = who


# ------------------------------------------------------------------ splits


@internal
@view
def _get_split(word: uint256) -> uint16:
    activated: uint256 = word >> 32
    old: uint256 = word & 65535
    if activated == 0 or (old == SPLIT_UNSET and block.timestamp < activated):
        return self.defaultOperatorSplitBips
    if block.timestamp >= activated:
        return convert((word >> 16) & 65535, uint16)
    return convert(old, uint16)


@internal
@view
def _next_split(word: uint256, split: uint16) -> (uint256, uint32):
    assert split <= ONE_HUNDRED_IN_BIPS, "split exceeds max"
    assert block.timestamp > word >> 32, "previous split pending"
    old: uint256 = SPLIT_UNSET
    if word >> 32 != 0:
        old = (word >> 16) & 65535
    activated: uint32 = convert(block.timestamp, uint32) + self.activationDelay
    return old | (convert(split, uint256) << 16) | (convert(activated, uint256) << 32), activated


@external
def setOperatorAVSSplit(operator: address, avs: address, split: uint16):
    """
    @notice The operator's share (bips) of `avs`'s rewards, from now + activationDelay.
    """
    pausable._check_not_paused(PAUSED_OPERATOR_AVS_SPLIT)
    assert msg.sender == operator, "unauthorized caller"
    word: uint256 = self._avsSplit[operator][avs]
    old: uint16 = self._get_split(word)
    activated: uint32 = 0
    word, activated = self._next_split(word, split)
    self._avsSplit[operator][avs] = word
    log OperatorAVSSplitBipsSet(caller=msg.sender, operator=operator, avs=avs, activatedAt=activated, oldOperatorAVSSplitBips=old, newOperatorAVSSplitBips=split)


@external
def setOperatorPISplit(operator: address, split: uint16):
    """
    @notice The operator's share (bips) of programmatic incentives, from now + activationDelay.
    """
    pausable._check_not_paused(PAUSED_OPERATOR_PI_SPLIT)
    assert msg.sender == operator, "unauthorized caller"
    word: uint256 = self._piSplit[operator]
    old: uint16 = self._get_split(word)
    activated: uint32 = 0
    word, activated = self._next_split(word, split)
    self._piSplit[operator] = word
    log OperatorPISplitBipsSet(caller=msg.sender, operator=operator, activatedAt=activated, oldOperatorPISplitBips=old, newOperatorPISplitBips=split)


@external
def setOperatorSetSplit(operator: address, operatorSet: ITypes.OperatorSet, split: uint16):
    """
    @notice The operator's share (bips) of an operator set's rewards, from now + activationDelay.
    """
    pausable._check_not_paused(PAUSED_OPERATOR_SET_SPLIT)
    assert msg.sender == operator, "unauthorized caller"
    assert staticcall IOperatorSets(allocationManager).isOperatorSet(operatorSet), "invalid operator set"
    key: bytes32 = keccak256(abi_encode(operatorSet.avs, operatorSet.id))
    word: uint256 = self._setSplit[operator][key]
    old: uint16 = self._get_split(word)
    activated: uint32 = 0
    word, activated = self._next_split(word, split)
    self._setSplit[operator][key] = word
    log OperatorSetSplitBipsSet(caller=msg.sender, operator=operator, operatorSet=operatorSet, activatedAt=activated, oldOperatorSetSplitBips=old, newOperatorSetSplitBips=split)


@external
@view
def getOperatorAVSSplit(operator: address, avs: address) -> uint16:
    return self._get_split(self._avsSplit[operator][avs])


@external
@view
def getOperatorPISplit(operator: address) -> uint16:
    return self._get_split(self._piSplit[operator])


@external
@view
def getOperatorSetSplit(operator: address, operatorSet: ITypes.OperatorSet) -> uint16:
    return self._get_split(self._setSplit[operator][keccak256(abi_encode(operatorSet.avs, operatorSet.id))])


# ------------------------------------------------------------------ owner and fee settings


@internal
def _set_rewards_updater(updater: address):
    log RewardsUpdaterSet(oldRewardsUpdater=self.rewardsUpdater, newRewardsUpdater=updater)
    self.rewardsUpdater = updater


@internal
def _set_activation_delay(delay: uint32):
    log ActivationDelaySet(oldActivationDelay=self.activationDelay, newActivationDelay=delay)
    self.activationDelay = delay


@internal
def _set_default_split(split: uint16):
    assert split <= ONE_HUNDRED_IN_BIPS, "split exceeds max"
    log DefaultOperatorSplitBipsSet(oldDefaultOperatorSplitBips=self.defaultOperatorSplitBips, newDefaultOperatorSplitBips=split)
    self.defaultOperatorSplitBips = split


@internal
def _set_fee_recipient(recipient: address):
    assert recipient != empty(address), "invalid address zero"
    log FeeRecipientSet(oldFeeRecipient=self.feeRecipient, newFeeRecipient=recipient)
    self.feeRecipient = recipient


@external
def setRewardsUpdater(_rewardsUpdater: address):
    ownable._check_owner()
    self._set_rewards_updater(_rewardsUpdater)


@external
def setActivationDelay(_activationDelay: uint32):
    ownable._check_owner()
    self._set_activation_delay(_activationDelay)


@external
def setDefaultOperatorSplit(split: uint16):
    ownable._check_owner()
    self._set_default_split(split)


@external
def setFeeRecipient(_feeRecipient: address):
    ownable._check_owner()
    self._set_fee_recipient(_feeRecipient)


@external
def setOptInForProtocolFee(submitter: address, optInForProtocolFee: bool):
    """
    @notice Opt `submitter` (the caller itself) in or out of the protocol fee (ELIP-12).
    """
    assert msg.sender == submitter, "unauthorized caller"
    log OptInForProtocolFeeSet(submitter=submitter, oldValue=self.isOptedInForProtocolFee[submitter], newValue=optInForProtocolFee)
    self.isOptedInForProtocolFee[submitter] = optInForProtocolFee


# ------------------------------------------------------------------ views


@internal
@view
def _root(i: uint256) -> IRC.DistributionRoot:
    meta: uint256 = self._rootMeta[i]
    return IRC.DistributionRoot(
        root=self._rootHash[i],
        rewardsCalculationEndTimestamp=convert((meta >> 160) & MASK32, uint32),
        activatedAt=convert((meta >> 192) & MASK32, uint32),
        disabled=meta >> 224 != 0,
    )


@external
@view
def getDistributionRootsLength() -> uint256:
    return self._rootCount


@external
@view
def getDistributionRootAtIndex(index: uint256) -> IRC.DistributionRoot:
    assert index < self._rootCount, "invalid root index"
    return self._root(index)


@external
@view
def rootAVS(index: uint256) -> address:
    """
    @notice The AVS whose escrow root `index` pays from.
    """
    assert index < self._rootCount, "invalid root index"
    return convert(self._rootMeta[index] & MASK160, address)
