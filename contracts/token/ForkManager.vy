# pragma version ~=0.4.3
"""
@title ForkManager
@notice On-chain intersubjective fork-and-challenge for bEIGEN.
        challenge: burn a bond of EIGEN, name accused operators and an evidence hash; this opens a
          fork of the canonical bEIGEN at the current block in which the bEIGEN staked with the
          accused operators (their own and their stakers', delegated or queued within the delay)
          is left out of the bEIGEN strategy's balance and part of it credited to the challenger.
        resolution: after the challenge window the governance role (the social-consensus step)
          queues adoption or rejection; after the timelock anyone executes it. Adoption makes the
          fork canonical: EIGEN's backing and the bEIGEN strategy's token switch to it and the
          accused operators' shares are burned in the restaking core. Rejection leaves the bond
          burned. One challenge is open at a time.
        AVSs record which bEIGEN they recognise; views name the canonical token and each fork's
        parent, block and slashed parties.
@dev Forks are BackingEigen instances made from an ERC-5202 blueprint; see docs/token.md.
"""

from ethereum.ercs import IERC20
from ..interfaces import IAllocationManager
from ..interfaces import IBackingEigen
from ..interfaces import IDelegationManager
from ..interfaces import IEigen
from ..interfaces import IForkManager
from ..interfaces import IStrategy

implements: IForkManager


MAX_ACCUSED: constant(uint256) = 16
BPS: constant(uint256) = 10_000
SHARES_OFFSET: constant(uint256) = 10**3
BALANCE_OFFSET: constant(uint256) = 10**3

STATUS_OPEN: constant(uint8) = 1
STATUS_QUEUED: constant(uint8) = 2
STATUS_ADOPTED: constant(uint8) = 3
STATUS_REJECTED: constant(uint8) = 4

struct Challenge:
    challenger: address
    fork: address
    parent: address
    forkBlock: uint256
    evidenceHash: bytes32
    bond: uint256
    slashedStake: uint256
    reward: uint256
    status: uint8
    adopt: bool
    eta: uint256

event ChallengeOpened:
    challengeId: indexed(uint256)
    challenger: indexed(address)
    evidenceHash: bytes32
    accused: DynArray[address, MAX_ACCUSED]
    bondBurned: uint256

event ForkCreated:
    challengeId: indexed(uint256)
    fork: indexed(address)
    parent: indexed(address)
    forkBlock: uint256
    slashedStake: uint256
    reward: uint256

event ResolutionQueued:
    challengeId: indexed(uint256)
    adopt: bool
    eta: uint256

event ResolutionCancelled:
    challengeId: indexed(uint256)

event ForkAdopted:
    challengeId: indexed(uint256)
    fork: indexed(address)
    slashedStake: uint256
    reward: uint256
    sharesBurned: uint256

event ChallengeRejected:
    challengeId: indexed(uint256)
    fork: indexed(address)
    bondBurned: uint256

event ForkRecognised:
    avs: indexed(address)
    token: indexed(address)

event GovernanceTransferred:
    previousGovernance: indexed(address)
    newGovernance: indexed(address)

# The deployer, the only caller of initialize.
deployer: immutable(address)
# The ERC-5202 blueprint of BackingEigen.vy that forks are made from.
forkBlueprint: public(immutable(address))
# The genesis bEIGEN.
genesisToken: public(immutable(address))
# EIGEN a challenger burns as bond.
bondAmount: public(immutable(uint256))
# Blocks after the fork block before a resolution may be queued.
challengeWindowBlocks: public(immutable(uint256))
# Blocks a queued resolution waits before it can execute.
timelockBlocks: public(immutable(uint256))
# The challenger's reward in basis points of the slashed stake.
rewardBps: public(immutable(uint256))

# The social-consensus role that queues resolutions.
governance: public(address)
# EIGEN (set by initialize).
eigen: public(address)
# The bEIGEN strategy (set by initialize).
strategy: public(address)
# The DelegationManager (set by initialize).
delegation: public(address)
# The canonical bEIGEN: the genesis token or the last adopted fork.
canonicalToken: public(address)
# The open or queued challenge (0: none).
pendingChallengeId: public(uint256)
# Number of challenges so far (the last challenge id).
challengeCount: public(uint256)
# token -> the genesis token or a fork this manager created.
isBEigen: public(HashMap[address, bool])
# fork -> its parent token.
forkParent: public(HashMap[address, address])
# fork -> its fork block.
forkBlockOf: public(HashMap[address, uint256])
# fork -> the challenge that created it.
forkChallengeId: public(HashMap[address, uint256])
# AVS -> the bEIGEN it recognises (recogniseFork).
recognisedFork: public(HashMap[address, address])
# challenge id -> Challenge.
_challenges: HashMap[uint256, Challenge]
# challenge id -> accused operators.
_accused: HashMap[uint256, DynArray[address, MAX_ACCUSED]]
# challenge id -> slashable shares of each accused operator at the fork block.
_accusedShares: HashMap[uint256, DynArray[uint256, MAX_ACCUSED]]


@deploy
def __init__(
    _genesisToken: address,
    _forkBlueprint: address,
    _governance: address,
    _bondAmount: uint256,
    _challengeWindowBlocks: uint256,
    _timelockBlocks: uint256,
    _rewardBps: uint256,
):
    """
    @notice Deploy the fork manager; the deployer wires EIGEN, the strategy and the DelegationManager with initialize.
    @param _genesisToken The genesis bEIGEN.
    @param _forkBlueprint The ERC-5202 blueprint of BackingEigen.vy forks are made from.
    @param _governance The governance (social-consensus) address.
    @param _bondAmount EIGEN a challenger burns as bond.
    @param _challengeWindowBlocks Blocks after the fork block before a resolution may be queued.
    @param _timelockBlocks Blocks a queued resolution waits before it executes.
    @param _rewardBps The challenger's reward in basis points of the slashed stake.
    """
    assert _genesisToken != empty(address) and _forkBlueprint != empty(address), "zero address"
    assert _governance != empty(address), "zero address"
    assert _bondAmount != 0, "zero bond"
    assert _rewardBps <= BPS, "reward too high"
    deployer = msg.sender
    genesisToken = _genesisToken
    forkBlueprint = _forkBlueprint
    bondAmount = _bondAmount
    challengeWindowBlocks = _challengeWindowBlocks
    timelockBlocks = _timelockBlocks
    rewardBps = _rewardBps
    self.governance = _governance
    self.canonicalToken = _genesisToken
    self.isBEigen[_genesisToken] = True


@external
def initialize(_eigen: address, _strategy: address, _delegation: address):
    """
    @notice One-time wiring to EIGEN, the bEIGEN strategy and the DelegationManager (deployer only).
            The strategy's extra withdrawal delay must cover the challenge window and the timelock,
            so stake queued at the fork block is still slashable when a fork is adopted.
    @param _eigen EIGEN.
    @param _strategy The bEIGEN strategy.
    @param _delegation The DelegationManager.
    """
    assert msg.sender == deployer, "only deployer"
    assert self.eigen == empty(address), "already initialized"
    assert _eigen != empty(address) and _strategy != empty(address) and _delegation != empty(address), "zero address"
    extra: uint256 = convert(staticcall IDelegationManager(_delegation).strategyWithdrawalDelayBlocks(_strategy), uint256)
    assert extra >= challengeWindowBlocks + timelockBlocks, "strategy delay too short"
    self.eigen = _eigen
    self.strategy = _strategy
    self.delegation = _delegation


@internal
@view
def _only_governance():
    assert msg.sender == self.governance, "only governance"


# ---------------------------------------------------------------- challenge and fork

@external
def challenge(operators: DynArray[address, MAX_ACCUSED], evidenceHash: bytes32) -> uint256:
    """
    @notice Challenge an intersubjective fault of `operators`: burn the bond (EIGEN approved to
            this contract) and open a fork of the canonical bEIGEN at this block in which their
            staked bEIGEN is slashed and a reward is credited to the caller.
    @param operators The accused operators.
    @param evidenceHash Hash of the evidence (published off-chain).
    @return challengeId
    """
    assert self.eigen != empty(address), "not initialized"
    assert self.pendingChallengeId == 0, "challenge pending"
    assert len(operators) != 0, "no operators"
    assert evidenceHash != empty(bytes32), "empty evidence"
    dm: address = self.delegation
    strat: address = self.strategy
    shares: DynArray[uint256, MAX_ACCUSED] = []
    total_shares: uint256 = 0
    for i: uint256 in range(MAX_ACCUSED):
        if i >= len(operators):
            break
        op: address = operators[i]
        assert staticcall IDelegationManager(dm).isOperator(op), "not an operator"
        for j: uint256 in range(MAX_ACCUSED):
            if j >= i:
                break
            assert operators[j] != op, "duplicate operator"
        s: uint256 = staticcall IDelegationManager(dm).operatorShares(op, strat) + staticcall IDelegationManager(dm).getSlashableSharesInQueue(op, strat)
        shares.append(s)
        total_shares += s

    # The bond: EIGEN taken from the challenger and burned with its bEIGEN backing, before the fork
    # block's balances are final.
    assert extcall IERC20(self.eigen).transferFrom(msg.sender, self, bondAmount), "transfer failed"
    extcall IEigen(self.eigen).burn(bondAmount)

    parent: address = self.canonicalToken
    slashed: uint256 = min(
        staticcall IStrategy(strat).sharesToUnderlyingView(total_shares),
        staticcall IERC20(parent).balanceOf(strat),
    )
    reward: uint256 = min(slashed, bondAmount + slashed * rewardBps // BPS)
    fork: address = create_from_blueprint(
        forkBlueprint,
        "Backing Eigen",
        "bEIGEN",
        self.governance,
        parent,
        block.number,
        strat,
        slashed,
        msg.sender,
        reward,
        empty(address),
        empty(uint256),
        code_offset=3,
    )
    cid: uint256 = self.challengeCount + 1
    self.challengeCount = cid
    self.pendingChallengeId = cid
    self._challenges[cid] = Challenge(
        challenger=msg.sender,
        fork=fork,
        parent=parent,
        forkBlock=block.number,
        evidenceHash=evidenceHash,
        bond=bondAmount,
        slashedStake=slashed,
        reward=reward,
        status=STATUS_OPEN,
        adopt=False,
        eta=0,
    )
    self._accused[cid] = operators
    self._accusedShares[cid] = shares
    self.isBEigen[fork] = True
    self.forkParent[fork] = parent
    self.forkBlockOf[fork] = block.number
    self.forkChallengeId[fork] = cid
    log ChallengeOpened(challengeId=cid, challenger=msg.sender, evidenceHash=evidenceHash, accused=operators, bondBurned=bondAmount)
    log ForkCreated(challengeId=cid, fork=fork, parent=parent, forkBlock=block.number, slashedStake=slashed, reward=reward)
    return cid


# ---------------------------------------------------------------- resolution through the timelock

@external
def queueResolution(challengeId: uint256, adopt: bool):
    """
    @notice Social-consensus step (governance only): after the challenge window, queue adoption of
            the fork (`adopt`) or rejection of the challenge; it executes after the timelock.
    @param challengeId The challenge id (1, 2, ...).
    @param adopt True to adopt the fork, False to reject the challenge.
    """
    self._only_governance()
    c: Challenge = self._challenges[challengeId]
    assert c.status == STATUS_OPEN, "challenge not open"
    assert block.number >= c.forkBlock + challengeWindowBlocks, "challenge window open"
    eta: uint256 = block.number + timelockBlocks
    self._challenges[challengeId].status = STATUS_QUEUED
    self._challenges[challengeId].adopt = adopt
    self._challenges[challengeId].eta = eta
    log ResolutionQueued(challengeId=challengeId, adopt=adopt, eta=eta)


@external
def cancelResolution(challengeId: uint256):
    """
    @notice Withdraw a queued resolution before it executes (governance only).
    @param challengeId The challenge id (1, 2, ...).
    """
    self._only_governance()
    assert self._challenges[challengeId].status == STATUS_QUEUED, "resolution not queued"
    self._challenges[challengeId].status = STATUS_OPEN
    self._challenges[challengeId].eta = 0
    log ResolutionCancelled(challengeId=challengeId)


@external
def executeResolution(challengeId: uint256):
    """
    @notice Execute a queued resolution once its timelock has passed (anyone). Adoption: the fork
            becomes canonical, EIGEN's backing switches to it, and the accused operators' shares
            are burned in the restaking core. Rejection: the fork is abandoned, the bond stays burned.
    @param challengeId The challenge id (1, 2, ...).
    """
    c: Challenge = self._challenges[challengeId]
    assert c.status == STATUS_QUEUED, "resolution not queued"
    assert block.number >= c.eta, "timelock not passed"
    self.pendingChallengeId = 0
    if not c.adopt:
        self._challenges[challengeId].status = STATUS_REJECTED
        log ChallengeRejected(challengeId=challengeId, fork=c.fork, bondBurned=c.bond)
        return
    assert c.parent == self.canonicalToken, "parent not canonical"
    strat: address = self.strategy
    dm: address = self.delegation
    total: uint256 = staticcall IStrategy(strat).totalShares()
    balance: uint256 = staticcall IERC20(c.parent).balanceOf(strat)
    burned: uint256 = 0
    ops: DynArray[address, MAX_ACCUSED] = self._accused[challengeId]
    shares: DynArray[uint256, MAX_ACCUSED] = self._accusedShares[challengeId]
    for i: uint256 in range(MAX_ACCUSED):
        if i >= len(ops):
            break
        burned += extcall IDelegationManager(dm).slashOperatorSharesForFork(ops[i], strat, shares[i])
    slashed: uint256 = min(c.slashedStake, (balance + BALANCE_OFFSET) * burned // (total + SHARES_OFFSET))
    reward: uint256 = min(slashed, c.bond + slashed * rewardBps // BPS)
    extcall IBackingEigen(c.fork).settleFork(slashed, reward)
    self._challenges[challengeId].status = STATUS_ADOPTED
    self._challenges[challengeId].slashedStake = slashed
    self._challenges[challengeId].reward = reward
    self.canonicalToken = c.fork
    extcall IEigen(self.eigen).setBacking(c.fork)
    log ForkAdopted(challengeId=challengeId, fork=c.fork, slashedStake=slashed, reward=reward, sharesBurned=burned)


# ---------------------------------------------------------------- AVS recognition, governance

@external
def recogniseFork(token: address):
    """
    @notice Record which bEIGEN (genesis or a fork) the calling AVS recognises (registered AVSs only).
    @param token The genesis bEIGEN or a fork of it.
    """
    am: address = staticcall IDelegationManager(self.delegation).allocationManager()
    assert staticcall IAllocationManager(am).avsRegisteredMetadata(msg.sender), "not an avs"
    assert self.isBEigen[token], "unknown token"
    self.recognisedFork[msg.sender] = token
    log ForkRecognised(avs=msg.sender, token=token)


@external
def setGovernance(newGovernance: address):
    """
    @notice Hand the governance (social-consensus) role to `newGovernance` (governance only).
    @param newGovernance The new governance address.
    """
    self._only_governance()
    assert newGovernance != empty(address), "zero address"
    log GovernanceTransferred(previousGovernance=self.governance, newGovernance=newGovernance)
    self.governance = newGovernance


# ---------------------------------------------------------------- views

@external
@view
def challengePending() -> bool:
    """
    @notice Whether a challenge is open or queued (wraps, stakes and unstakes of bEIGEN pause).
    @return True while a challenge is open or queued.
    """
    return self.pendingChallengeId != 0


@external
@view
def getChallenge(challengeId: uint256) -> Challenge:
    """
    @notice The challenge record (status 1 open, 2 queued, 3 adopted, 4 rejected).
    @param challengeId The challenge id (1, 2, ...).
    @return The Challenge record.
    """
    return self._challenges[challengeId]


@external
@view
def getAccused(challengeId: uint256) -> (DynArray[address, MAX_ACCUSED], DynArray[uint256, MAX_ACCUSED]):
    """
    @notice The accused operators and the strategy shares each had slashable at the fork block.
    @param challengeId The challenge id (1, 2, ...).
    @return (accused operators, their slashable shares).
    """
    return self._accused[challengeId], self._accusedShares[challengeId]


@external
@view
def getFork(token: address) -> (address, uint256, uint256):
    """
    @notice (parent, fork block, challenge id) of a fork; zeros for the genesis token.
    @param token A bEIGEN token.
    @return (parent, fork block, challenge id).
    """
    return self.forkParent[token], self.forkBlockOf[token], self.forkChallengeId[token]
