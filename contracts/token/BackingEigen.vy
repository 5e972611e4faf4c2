# pragma version ~=0.4.3
"""
@title BackingEigen (bEIGEN)
@notice ERC-20 with balance and supply checkpoints by block, governance-set minters and holder
        burn. The same code is the genesis token and every fork of it: a fork names its parent and
        fork block, and an account's fork balance is its parent balance at the fork block,
        materialised lazily on the account's first use ("claim"). Two accounts are adjusted in a
        fork: the staking strategy is debited the accused operators' stake and the challenger is
        credited a reward out of it; both are settled by the fork manager when the fork is adopted.
@dev Checkpoints are packed (block << 224) | value, one list per account and two for supply
     (cumulative minted and burned since creation).
"""

from ethereum.ercs import IERC20
from ..lib import erc20
from ..lib import ownable
from ..interfaces import IBackingEigen

implements: IERC20
implements: IBackingEigen

initializes: erc20
initializes: ownable

exports: (
    erc20.allowance,
    erc20.approve,
    ownable.owner,
    ownable.transferOwnership,
)


VALUE_MASK: constant(uint256) = (1 << 224) - 1

event MinterSet:
    minter: indexed(address)
    allowed: bool

event ForkBalanceClaimed:
    account: indexed(address)
    amount: uint256

event ForkSettled:
    debitAccount: indexed(address)
    debit: uint256
    creditAccount: indexed(address)
    credit: uint256

# Token name.
name: public(String[32])
# Token symbol.
symbol: public(String[16])
decimals: public(constant(uint8)) = 18
# account -> may mint (set by the owner).
isMinter: public(HashMap[address, bool])

# The token this one forks (zero for the genesis token).
parent: public(immutable(address))
# The block whose parent balances this fork starts from (0 for the genesis token).
forkBlock: public(immutable(uint256))
# The ForkManager that created this token (settles the fork).
forkManager: public(immutable(address))
# The account debited in the fork (the bEIGEN strategy).
debitAccount: public(immutable(address))
# The account credited in the fork (the challenger).
creditAccount: public(immutable(address))
# The debit of debitAccount (provisional until settled).
debit: public(uint256)
# The credit of creditAccount (provisional until settled).
credit: public(uint256)
# The debit and credit are final (always for the genesis token).
settled: public(bool)

# account -> index -> (block << 224) | balance.
_balanceCheckpoints: HashMap[address, HashMap[uint256, uint256]]
# account -> number of balance checkpoints (0: not yet claimed).
_balanceCheckpointCount: HashMap[address, uint256]
# supply histories: key 0 = cumulative minted, key 1 = cumulative burned
_supplyCheckpoints: HashMap[uint256, HashMap[uint256, uint256]]
# kind -> number of supply checkpoints.
_supplyCheckpointCount: HashMap[uint256, uint256]


@deploy
def __init__(
    _name: String[32],
    _symbol: String[16],
    _owner: address,
    _parent: address,
    _forkBlock: uint256,
    _debitAccount: address,
    _debit: uint256,
    _creditAccount: address,
    _credit: uint256,
    _initialHolder: address,
    _initialSupply: uint256,
):
    """
    @notice Genesis: `_parent` empty, `_initialSupply` minted to `_initialHolder`. Fork: the parent
            token and fork block, the provisional debit/credit (settled later by the creator).
    @param _name The token name.
    @param _symbol The token symbol.
    @param _owner The owner (governance); sets minters.
    @param _parent The parent token (zero for the genesis token).
    @param _forkBlock The fork block (fork only).
    @param _debitAccount The account debited in the fork (the bEIGEN strategy).
    @param _debit Its provisional debit.
    @param _creditAccount The account credited in the fork (the challenger).
    @param _credit Its provisional credit.
    @param _initialHolder Receives the initial supply (genesis only).
    @param _initialSupply The initial supply (genesis only).
    """
    ownable.__init__(_owner)
    self.name = _name
    self.symbol = _symbol
    parent = _parent
    forkBlock = _forkBlock
    forkManager = msg.sender
    debitAccount = _debitAccount
    creditAccount = _creditAccount
    self.debit = _debit
    self.credit = _credit
    if _parent == empty(address):
        self.settled = True
        if _initialSupply != 0:
            assert _initialHolder != empty(address), "zero holder"
            self._claim(_initialHolder)
            self._set(_initialHolder, _initialSupply)
            self._sup_add(0, _initialSupply)
            log erc20.Transfer(sender=empty(address), receiver=_initialHolder, value=_initialSupply)
    else:
        assert _forkBlock <= block.number, "future fork block"
        assert _initialSupply == 0, "fork cannot mint at creation"
        if _debitAccount != empty(address):
            assert _creditAccount != _debitAccount, "same adjusted account"


# ---------------------------------------------------------------- checkpoints

@internal
@view
def _search(n: uint256, blk: uint256, account: address, kind: uint256, is_sup: bool) -> (bool, uint256):
    # (found, value) of the last checkpoint at or before `blk`.
    if n == 0:
        return False, 0
    last: uint256 = 0
    if is_sup:
        last = self._supplyCheckpoints[kind][n - 1]
    else:
        last = self._balanceCheckpoints[account][n - 1]
    if (last >> 224) <= blk:
        return True, last & VALUE_MASK
    lo: uint256 = 0
    hi: uint256 = n - 1
    for _: uint256 in range(64):
        if lo >= hi:
            break
        mid: uint256 = (lo + hi) // 2
        e: uint256 = 0
        if is_sup:
            e = self._supplyCheckpoints[kind][mid]
        else:
            e = self._balanceCheckpoints[account][mid]
        if (e >> 224) > blk:
            hi = mid
        else:
            lo = mid + 1
    if lo == 0:
        return False, 0
    e: uint256 = 0
    if is_sup:
        e = self._supplyCheckpoints[kind][lo - 1]
    else:
        e = self._balanceCheckpoints[account][lo - 1]
    return True, e & VALUE_MASK


@internal
@view
def _virtual(account: address) -> uint256:
    # The account's balance in this fork before its first use: the parent's at the fork block,
    # less the debit (staking strategy) or plus the credit (challenger).
    if parent == empty(address):
        return 0
    v: uint256 = staticcall IBackingEigen(parent).balanceOfAt(account, forkBlock)
    if account == debitAccount:
        v -= min(self.debit, v)
    elif account == creditAccount:
        v += self.credit
    return v


@internal
@view
def _balance_at(account: address, blk: uint256) -> uint256:
    assert blk <= block.number, "future lookup"
    if parent != empty(address) and blk < forkBlock:
        return staticcall IBackingEigen(parent).balanceOfAt(account, blk)
    found: bool = False
    v: uint256 = 0
    found, v = self._search(self._balanceCheckpointCount[account], blk, account, 0, False)
    if found:
        return v
    return self._virtual(account)  # before the first checkpoint (0 for the genesis token)


@internal
@view
def _base_supply() -> uint256:
    if parent == empty(address):
        return 0
    return staticcall IBackingEigen(parent).totalSupplyAt(forkBlock) - self.debit + self.credit


@internal
@view
def _supply_at(blk: uint256) -> uint256:
    assert blk <= block.number, "future lookup"
    if parent != empty(address) and blk < forkBlock:
        return staticcall IBackingEigen(parent).totalSupplyAt(blk)
    minted: uint256 = 0
    burned: uint256 = 0
    found: bool = False
    found, minted = self._search(self._supplyCheckpointCount[0], blk, empty(address), 0, True)
    found, burned = self._search(self._supplyCheckpointCount[1], blk, empty(address), 1, True)
    return self._base_supply() + minted - burned


@internal
def _set(account: address, val: uint256):
    assert val <= VALUE_MASK, "balance overflow"
    n: uint256 = self._balanceCheckpointCount[account]
    entry: uint256 = (block.number << 224) | val
    if n != 0 and (self._balanceCheckpoints[account][n - 1] >> 224) == block.number:
        self._balanceCheckpoints[account][n - 1] = entry
    else:
        self._balanceCheckpoints[account][n] = entry
        self._balanceCheckpointCount[account] = n + 1


@internal
def _sup_add(kind: uint256, amount: uint256):
    n: uint256 = self._supplyCheckpointCount[kind]
    cur: uint256 = 0
    if n != 0:
        cur = self._supplyCheckpoints[kind][n - 1] & VALUE_MASK
    val: uint256 = cur + amount
    assert val <= VALUE_MASK, "supply overflow"
    entry: uint256 = (block.number << 224) | val
    if n != 0 and (self._supplyCheckpoints[kind][n - 1] >> 224) == block.number:
        self._supplyCheckpoints[kind][n - 1] = entry
    else:
        self._supplyCheckpoints[kind][n] = entry
        self._supplyCheckpointCount[kind] = n + 1


@internal
def _claim(account: address) -> uint256:
    # Materialise the account's balance on first use; afterwards it is the latest checkpoint.
    n: uint256 = self._balanceCheckpointCount[account]
    if n != 0:
        return self._balanceCheckpoints[account][n - 1] & VALUE_MASK
    v: uint256 = 0
    if parent != empty(address):
        assert block.number > forkBlock, "fork block not final"
        if account == debitAccount or account == creditAccount:
            assert self.settled, "fork not settled"
        v = self._virtual(account)
        log ForkBalanceClaimed(account=account, amount=v)
    self._set(account, v)
    return v


# ---------------------------------------------------------------- ERC-20

@internal
def _transfer(sender: address, receiver: address, amount: uint256):
    assert receiver != empty(address), "zero receiver"
    bal: uint256 = self._claim(sender)
    assert bal >= amount, "insufficient balance"
    self._set(sender, bal - amount)
    rb: uint256 = self._claim(receiver)
    self._set(receiver, rb + amount)
    log erc20.Transfer(sender=sender, receiver=receiver, value=amount)


@external
@view
def balanceOf(account: address) -> uint256:
    """
    @notice Current balance (the lazily claimed fork balance included).
    @param account The account.
    @return The balance.
    """
    return self._balance_at(account, block.number)


@external
@view
def totalSupply() -> uint256:
    """
    @notice Current total supply.
    @return The total supply.
    """
    return self._supply_at(block.number)


@external
@view
def balanceOfAt(account: address, blockNumber: uint256) -> uint256:
    """
    @notice Balance of `account` at the end of block `blockNumber` (not after the current block).
    @param account The account.
    @param blockNumber The block number (not after the current block).
    @return The balance.
    """
    return self._balance_at(account, blockNumber)


@external
@view
def totalSupplyAt(blockNumber: uint256) -> uint256:
    """
    @notice Total supply at the end of block `blockNumber` (not after the current block).
    @param blockNumber The block number (not after the current block).
    @return The total supply.
    """
    return self._supply_at(blockNumber)


@external
@view
def isClaimed(account: address) -> bool:
    """
    @notice Whether the account's balance has been materialised in this token.
    @param account The account.
    @return True if claimed.
    """
    return self._balanceCheckpointCount[account] != 0


@external
@view
def numCheckpoints(account: address) -> uint256:
    """
    @notice Number of balance checkpoints of `account`.
    @param account The account.
    @return The number of checkpoints.
    """
    return self._balanceCheckpointCount[account]


@external
def transfer(receiver: address, amount: uint256) -> bool:
    """
    @notice Move `amount` from the caller to `receiver`.
    @param receiver The account credited; not the zero address.
    @param amount The token amount.
    @return True (a failure reverts).
    """
    self._transfer(msg.sender, receiver, amount)
    return True


@external
def transferFrom(sender: address, receiver: address, amount: uint256) -> bool:
    """
    @notice Move `amount` from `sender` to `receiver` using the caller's allowance.
    @param sender The account debited.
    @param receiver The account credited; not the zero address.
    @param amount The token amount.
    @return True (a failure reverts).
    """
    erc20._spend_allowance(sender, msg.sender, amount)
    self._transfer(sender, receiver, amount)
    return True


@external
def claim(account: address) -> uint256:
    """
    @notice Materialise `account`'s fork balance now (any later use does it too). Each account is
            claimed at most once.
    @param account The account.
    @return the claimed balance
    """
    assert parent != empty(address), "not a fork"
    assert self._balanceCheckpointCount[account] == 0, "already claimed"
    return self._claim(account)


# ---------------------------------------------------------------- mint, burn, governance

@external
def mint(receiver: address, amount: uint256):
    """
    @notice Create `amount` new tokens for `receiver` (minters only).
    @param receiver The account credited.
    @param amount The token amount.
    """
    assert self.isMinter[msg.sender], "only minter"
    assert receiver != empty(address), "zero receiver"
    assert amount != 0, "zero amount"
    bal: uint256 = self._claim(receiver)
    self._set(receiver, bal + amount)
    self._sup_add(0, amount)
    log erc20.Transfer(sender=empty(address), receiver=receiver, value=amount)


@external
def burn(amount: uint256):
    """
    @notice Destroy `amount` of the caller's tokens.
    @param amount The token amount.
    """
    assert amount != 0, "zero amount"
    bal: uint256 = self._claim(msg.sender)
    assert bal >= amount, "insufficient balance"
    self._set(msg.sender, bal - amount)
    self._sup_add(1, amount)
    log erc20.Transfer(sender=msg.sender, receiver=empty(address), value=amount)


@external
def setIsMinter(minter: address, allowed: bool):
    """
    @notice Allow or disallow `minter` to mint (owner, i.e. governance, only).
    @param minter The minter.
    @param allowed True to allow, False to disallow.
    """
    ownable._check_owner()
    assert minter != empty(address), "zero address"
    self.isMinter[minter] = allowed
    log MinterSet(minter=minter, allowed=allowed)


@external
def settleFork(_debit: uint256, _credit: uint256):
    """
    @notice Fix the final debit of the staking strategy and credit of the challenger when the fork
            is adopted (fork manager only, once). The debit cannot exceed the provisional one.
    @param _debit The final debit of the staking strategy.
    @param _credit The final credit of the challenger (at most the debit).
    """
    assert parent != empty(address), "not a fork"
    assert msg.sender == forkManager, "only fork manager"
    assert not self.settled, "already settled"
    assert _debit <= self.debit, "debit too high"
    assert _credit <= _debit, "credit exceeds debit"
    self.debit = _debit
    self.credit = _credit
    self.settled = True
    log ForkSettled(debitAccount=debitAccount, debit=_debit, creditAccount=creditAccount, credit=_credit)
