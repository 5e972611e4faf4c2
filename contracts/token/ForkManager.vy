# pragma version ~=0.4.3
# @title ForkManager
# @notice On-chain intersubjective fork-and-challenge for bEIGEN.
#         challenge: burn a bond of EIGEN, name accused operators and an evidence hash; this opens a
#           fork of the canonical bEIGEN at the current block in which the bEIGEN staked with the
#           accused operators (their own and their stakers', delegated or queued within the delay)
#           is left out of the bEIGEN strategy's balance and part of it credited to the challenger.
#         resolution: after the challenge window the governance role (the social-consensus step)
#           queues adoption or rejection; after the timelock anyone executes it. Adoption makes the
#           fork canonical: EIGEN's backing and the bEIGEN strategy's token switch to it and the
#           accused operators' shares are burned in the restaking core. Rejection leaves the bond
#           burned. One challenge is open at a time.
#         AVSs record which bEIGEN they recognise; views name the canonical token and each fork's
#         parent, block and slashed parties.

from ethereum.ercs import IERC20


interface IEigen:
    def transferFrom(sender: address, receiver: address, amount: uint256) -> bool: nonpayable
    def burn(amount: uint256): nonpayable
    def setBacking(newBacking: address): nonpayable


interface IDelegation:
    def isOperator(operator: address) -> bool: view
    def operatorShares(operator: address, strategy: address) -> uint256: view
    def getSlashableSharesInQueue(operator: address, strategy: address) -> uint256: view
    def slashOperatorSharesForFork(operator: address, strategy: address, shares: uint256) -> uint256: nonpayable
    def allocationManager() -> address: view
    def strategyWithdrawalDelayBlocks(strategy: address) -> uint32: view
    def minWithdrawalDelayBlocks() -> uint32: view


interface IStrategyView:
    def totalShares() -> uint256: view
    def sharesToUnderlyingView(amountShares: uint256) -> uint256: view


interface IAVSDirectory:
    def avsRegisteredMetadata(avs: address) -> bool: view


interface IFork:
    def settleFork(_debit: uint256, _credit: uint256): nonpayable


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

deployer: immutable(address)
forkBlueprint: public(immutable(address))
genesisToken: public(immutable(address))
bondAmount: public(immutable(uint256))
challengeWindowBlocks: public(immutable(uint256))
timelockBlocks: public(immutable(uint256))
rewardBps: public(immutable(uint256))

governance: public(address)
eigen: public(address)
strategy: public(address)
delegation: public(address)
canonicalToken: public(address)
pendingChallengeId: public(uint256)
challengeCount: public(uint256)
isBEigen: public(HashMap[address, bool])
forkParent: public(HashMap[address, address])
forkBlockOf: public(HashMap[address, uint256])
forkChallengeId: public(HashMap[address, uint256])
recognisedFork: public(HashMap[address, address])
_challenges: HashMap[uint256, Challenge]
_accused: HashMap[uint256, DynArray[address, MAX_ACCUSED]]
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
    """
    assert msg.sender == deployer, "only deployer"
    assert self.eigen == empty(address), "already initialized"
    assert _eigen != empty(address) and _strategy != empty(address) and _delegation != empty(address), "zero address"
    extra: uint256 = convert(staticcall IDelegation(_delegation).strategyWithdrawalDelayBlocks(_strategy), uint256)
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
        assert staticcall IDelegation(dm).isOperator(op), "not an operator"
        for j: uint256 in range(MAX_ACCUSED):
            if j >= i:
                break
            assert operators[j] != op, "duplicate operator"
        s: uint256 = staticcall IDelegation(dm).operatorShares(op, strat) + staticcall IDelegation(dm).getSlashableSharesInQueue(op, strat)
        shares.append(s)
        total_shares += s

    # The bond: EIGEN taken from the challenger and burned with its bEIGEN backing, before the fork
    # block's balances are final.
    assert extcall IEigen(self.eigen).transferFrom(msg.sender, self, bondAmount), "transfer failed"
    extcall IEigen(self.eigen).burn(bondAmount)

    parent: address = self.canonicalToken
    slashed: uint256 = min(
        staticcall IStrategyView(strat).sharesToUnderlyingView(total_shares),
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
    """@notice Withdraw a queued resolution before it executes (governance only)."""
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
    total: uint256 = staticcall IStrategyView(strat).totalShares()
    balance: uint256 = staticcall IERC20(c.parent).balanceOf(strat)
    burned: uint256 = 0
    ops: DynArray[address, MAX_ACCUSED] = self._accused[challengeId]
    shares: DynArray[uint256, MAX_ACCUSED] = self._accusedShares[challengeId]
    for i: uint256 in range(MAX_ACCUSED):
        if i >= len(ops):
            break
        burned += extcall IDelegation(dm).slashOperatorSharesForFork(ops[i], strat, shares[i])
    slashed: uint256 = min(c.slashedStake, (balance + BALANCE_OFFSET) * burned // (total + SHARES_OFFSET))
    reward: uint256 = min(slashed, c.bond + slashed * rewardBps // BPS)
    extcall IFork(c.fork).settleFork(slashed, reward)
    self._challenges[challengeId].status = STATUS_ADOPTED
    self._challenges[challengeId].slashedStake = slashed
    self._challenges[challengeId].reward = reward
    self.canonicalToken = c.fork
    extcall IEigen(self.eigen).setBacking(c.fork)
    log ForkAdopted(challengeId=challengeId, fork=c.fork, slashedStake=slashed, reward=reward, sharesBurned=burned)


# ---------------------------------------------------------------- AVS recognition, governance

@external
def recogniseFork(token: address):
    """@notice Record which bEIGEN (genesis or a fork) the calling AVS recognises (registered AVSs only)."""
    am: address = staticcall IDelegation(self.delegation).allocationManager()
    assert staticcall IAVSDirectory(am).avsRegisteredMetadata(msg.sender), "not an avs"
    assert self.isBEigen[token], "unknown token"
    self.recognisedFork[msg.sender] = token
    log ForkRecognised(avs=msg.sender, token=token)


@external
def setGovernance(newGovernance: address):
    """@notice Hand the governance (social-consensus) role to `newGovernance` (governance only)."""
    self._only_governance()
    assert newGovernance != empty(address), "zero address"
    log GovernanceTransferred(previousGovernance=self.governance, newGovernance=newGovernance)
    self.governance = newGovernance


# ---------------------------------------------------------------- views

@external
@view
def challengePending() -> bool:
    """@notice Whether a challenge is open or queued (wraps, stakes and unstakes of bEIGEN pause)."""
    return self.pendingChallengeId != 0


@external
@view
def getChallenge(challengeId: uint256) -> Challenge:
    """@notice The challenge record (status 1 open, 2 queued, 3 adopted, 4 rejected)."""
    return self._challenges[challengeId]


@external
@view
def getAccused(challengeId: uint256) -> (DynArray[address, MAX_ACCUSED], DynArray[uint256, MAX_ACCUSED]):
    """@notice The accused operators and the strategy shares each had slashable at the fork block."""
    return self._accused[challengeId], self._accusedShares[challengeId]


@external
@view
def getFork(token: address) -> (address, uint256, uint256):
    """@notice (parent, fork block, challenge id) of a fork; zeros for the genesis token."""
    return self.forkParent[token], self.forkBlockOf[token], self.forkChallengeId[token]
