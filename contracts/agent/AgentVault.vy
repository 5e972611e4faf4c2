# pragma version ~=0.4.3
# pragma nonreentrancy on
"""
@title AgentVault
@notice The trading agent's guarded wallet (docs/agent.md, "The agent's vault"): it holds the
        user's two pool tokens and swaps them on the ConstantProductAMM only on an order the
        TaskMailbox certified as the trading policy's output for an input this vault posted and
        checked. The owner (the user) deposits, withdraws, names the agent (the operator key that
        posts policy tasks and executes their orders) and budgets the task fees the vault pays; the
        agent can do nothing else.
@dev Why a tampered agent host cannot move funds otherwise:
     - Only this contract creates the tasks it executes (creator == self), and it creates them in
       postPolicyTask after checking the input against its immutable terms in the same transaction:
       the "TPI1" header, the strategy hash, both limits, the slippage, the pool's tokens and fee,
       and the reserves equal to the pool's now (so minOut, derived from them, is a real bound).
       That check is not repeated at execution: no other path makes a task of this vault.
     - execute needs the task of the declared type, VERIFIED (a threshold of the executor set
       signed keccak(result)), not older than maxTaskAge blocks, the input and result whose hashes
       the task records, a result that binds that input (its first word), and a task not executed
       before. The order is then bounded by the vault itself, not only by the certifiers: amountIn
       at most the side's limit, minOut at least the quote at the posted reserves less the slippage
       (and positive), one trade per minTradeInterval blocks. The AMM enforces minOut against the
       pool at execution: an adverse move beyond the slippage since posting reverts there.
     Running costs (docs/agent.md, "The vault pays its running costs"): within limits the owner
     sets, the vault pays its own policy fees and market-data feeds, so the agent host needs no
     funds and cannot spend more than those limits.
     - postPolicyTaskEscrowed posts the task (its type charging nothing on the mailbox) and pays
       its fee into the owner-named VerifiedEscrow in the same transaction: at most maxEscrowFee,
       out of feeBudget, in the type's fee token, bound to the task's hash (KIND_TASK, no expected
       result), for the owner-named payee, refundable after escrowDeadline seconds; the vault is
       the escrow's payer, so a refund returns to it. The vault signs the escrow's EIP-3009
       ReceiveWithAuthorization as an ERC-1271 signer: the digest it computed itself is valid
       only during that call (transient storage).
     - authorizeFeedPayment records one EIP-3009 TransferWithAuthorization from the vault (token
       feedToken, to an owner-allowed payee, at most maxFeedPayment, out of feedBudget, a nonce
       never authorized before, valid for at most MAX_FEED_VALIDITY seconds) and debits the
       budget; isValidSignature answers the ERC-1271 magic value only for digests so recorded
       (and the escrow deposit's, during it), so an x402 facilitator settles exactly the payments
       the agent recorded. isValidSignature is a view: it could not debit a budget on use, which
       is why the spend is recorded first (the signature bytes are not read). A recorded payment
       that expired unsettled returns to the budget by reclaimFeedPayment.
     - authorizeUptoFeedPayment records one x402 `upto` payment the same way: the EIP-3009
       ReceiveWithAuthorization of a maximum to an owner-allowed UptoSettler, its nonce computed
       by the settler from the allowed payee, the facilitator and a salt; the maximum is debited.
       reconcileUptoPayment (anyone, once) credits back what the payment did not spend: the
       maximum less the settler's settledAmount once the token used the nonce, the whole maximum
       once it expired unused.
     - authorizeVerifiedPayment records one x402 `verified` payment the same way: the EIP-3009
       ReceiveWithAuthorization of `value` to an owner-allowed VerifiedEscrow, its nonce computed
       by the vault from the terms (escrowNonce(payTo, kind, ref, expectedResult, deadline,
       salt)), payTo an allowed payee, the value debited; the escrow id is recorded with its
       escrow. creditRefundedPayment (anyone, once) credits the value back once that escrow says
       REFUNDED; reclaimFeedPayment takes one that expired unused.
     - creditRefundedFee (anyone, once) returns a fee postPolicyTaskEscrowed deposited (its escrow
       recorded at deposit) to feeBudget once that escrow says REFUNDED; a released fee stays
       spent.
     What the agent still chooses: the answer text in the input (BUY, SELL or HOLD and the size
     within the limits); the vault bounds the damage of a bad choice to one limited,
     slippage-bounded trade per interval. The tokens stay in the vault; the swap pays the vault.
     Revert strings: "not the owner", "not the agent", "zero receiver", "zero agent", "zero
     address", "zero limit", "limit too large", "slippage too high", "zero task age",
     "zero strategy", "unknown task type", "not a policy input", "another strategy", "another buy
     limit", "another sell limit", "another slippage", "another token", "another pool fee",
     "reserves too large", "reserves not the pool's", "fee over budget", "fee transfer failed",
     "fee transfer shortfall", "no fee escrow", "zero fee", "fee over the cap", "type charges a
     mailbox fee", "escrow of another mailbox", "zero payee", "zero deadline", "feeds not enabled",
     "another token", "payee not allowed", "zero amount", "payment over the cap", "feed over
     budget", "authorization expired", "authorization too long", "nonce already used", "not the owner
     or agent", "payment not authorized", "not the payment's token", "authorization still valid",
     "payment settled", "zero settler", "settler not allowed", "unknown payment", "payment already
     reconciled", "not the recorded payment", "payment still open", "zero escrow", "escrow not
     allowed", "unknown kind", "deadline too far", "payment already credited", "a policy fee's
     escrow", "payment not deposited", "payment still held", "payment released", "unknown fee
     escrow", "fee already credited", "fee released", "fee still held", "task already executed", "task not the
     vault's", "task not certified", "task too old", "input not the task's", "result not the
     task's", "result for another input", "unknown action", "trade too soon", "amount over the
     limit", "min out under the slippage bound", "insufficient balance", "transfer failed".
"""

from ethereum.ercs import IERC20
from ..interfaces import IERC1271
from ..interfaces import ITaskMailbox

implements: IERC1271

HEADER: constant(uint256) = 276  # the policy input's fixed part (offchain/compute/trading_policy.py)
MAX_INPUT: constant(uint256) = 1300  # header + the longest answer text (1,024 bytes)
MAX_OUTPUT: constant(uint256) = 256
MAX_PAYLOAD: constant(uint256) = 4096  # TaskMailbox's
BIPS: constant(uint256) = 10_000
MAX_LIMIT: constant(uint256) = 2**96  # limits and reserves small enough that no quote overflows
MAX_RESERVE: constant(uint256) = 2**128
STATUS_VERIFIED: constant(uint8) = 2
HOLD: constant(uint8) = 0
BUY: constant(uint8) = 1
SELL: constant(uint8) = 2
KIND_TASK: constant(uint8) = 1  # VerifiedEscrow's kinds: a task, an inference request
KIND_INFERENCE: constant(uint8) = 2
ESCROW_HELD: constant(uint8) = 1  # VerifiedEscrow's escrow states
ESCROW_REFUNDED: constant(uint8) = 3
# uptoDigest's value once the payment is reconciled (no EIP-712 digest is this)
RECONCILED: public(constant(bytes32)) = 0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff
ERC1271_MAGIC: constant(bytes4) = 0x1626ba7e
ERC1271_INVALID: constant(bytes4) = 0xffffffff
MAX_FEED_VALIDITY: public(constant(uint256)) = 86_400  # seconds a feed authorization may stay valid
MAX_ESCROW_DEADLINE: public(constant(uint256)) = 604_800  # seconds ahead a verified payment's refund deadline may be
TRANSFER_WITH_AUTHORIZATION_TYPEHASH: constant(bytes32) = keccak256(
    "TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
)
RECEIVE_WITH_AUTHORIZATION_TYPEHASH: constant(bytes32) = keccak256(
    "ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
)


struct TaskParams:
    refundCollector: address
    taskType: uint32
    fee: uint256
    payload: Bytes[MAX_PAYLOAD]


interface IMailbox:
    def createTask(params: TaskParams) -> bytes32: nonpayable


struct EscrowRecord:  # VerifiedEscrow's Escrow
    token: address
    payer: address
    payee: address
    amount: uint256
    kind: uint8
    ref: bytes32
    expectedResult: bytes32
    deadline: uint256
    state: uint8
    receipt: bytes32
    windowEnd: uint256


interface IFeeEscrow:
    def mailbox() -> address: view
    def escrows(id: bytes32) -> EscrowRecord: view
    def deposit(token: address, payer: address, amount: uint256, validAfter: uint256, validBefore: uint256, payee: address, kind: uint8, ref: bytes32, expectedResult: bytes32, deadline: uint256, salt: bytes32, signature: Bytes[256]) -> bytes32: nonpayable


interface IEIP712:
    def DOMAIN_SEPARATOR() -> bytes32: view
    def authorizationState(authorizer: address, nonce: bytes32) -> bool: view


interface IUptoSettler:
    def uptoNonce(payTo: address, facilitator: address, salt: bytes32) -> bytes32: view
    def settledAmount(token: address, payer: address, nonce: bytes32) -> uint256: view


interface IPool:
    def token0() -> address: view
    def token1() -> address: view
    def feeBips() -> uint256: view
    def getReserves() -> (uint256, uint256): view
    def swapExactIn(tokenIn: address, amountIn: uint256, minOut: uint256, to: address, deadline: uint256) -> uint256: nonpayable


event Deposited:
    token: indexed(address)
    amount: uint256


event Withdrawn:
    token: indexed(address)
    to: indexed(address)
    amount: uint256


event AgentSet:
    previous: indexed(address)
    agent: indexed(address)


event FeeBudgetSet:
    budget: uint256


event PolicyTaskPosted:
    taskHash: indexed(bytes32)
    payer: indexed(address)
    fee: uint256
    reserve0: uint256
    reserve1: uint256


event FeeEscrowSet:
    escrow: indexed(address)
    payee: indexed(address)
    maxFee: uint256
    deadline: uint256


event FeeEscrowed:
    taskHash: indexed(bytes32)
    escrowId: indexed(bytes32)
    payee: indexed(address)
    token: address
    amount: uint256
    deadline: uint256


event FeedTermsSet:
    token: indexed(address)
    maxPayment: uint256


event FeedPayeeSet:
    payee: indexed(address)
    allowed: bool


event FeedBudgetSet:
    budget: uint256


event FeedPaymentAuthorized:
    digest: indexed(bytes32)
    payee: indexed(address)
    nonce: indexed(bytes32)
    value: uint256
    validAfter: uint256
    validBefore: uint256


event FeedPaymentReclaimed:
    digest: indexed(bytes32)
    value: uint256


event UptoSettlerSet:
    settler: indexed(address)
    allowed: bool


event UptoFeedPaymentAuthorized:
    digest: indexed(bytes32)
    payee: indexed(address)
    nonce: indexed(bytes32)
    settler: address
    maxValue: uint256
    validAfter: uint256
    validBefore: uint256


event UptoPaymentReconciled:
    nonce: indexed(bytes32)
    settled: bool
    charged: uint256
    credited: uint256


event FeeRefundCredited:
    escrowId: indexed(bytes32)
    amount: uint256


event VerifiedEscrowSet:
    escrow: indexed(address)
    allowed: bool


event VerifiedPaymentAuthorized:
    digest: indexed(bytes32)
    payee: indexed(address)
    escrowId: indexed(bytes32)
    escrow: address
    nonce: bytes32
    value: uint256
    validAfter: uint256
    validBefore: uint256


event PaymentRefundCredited:
    escrowId: indexed(bytes32)
    amount: uint256


event Traded:
    taskHash: indexed(bytes32)
    tokenIn: indexed(address)
    amountIn: uint256
    minOut: uint256
    amountOut: uint256


event Held:
    taskHash: indexed(bytes32)


owner: public(immutable(address))
mailbox: public(immutable(address))
taskType: public(immutable(uint32))
pool: public(immutable(address))
token0: public(immutable(address))
token1: public(immutable(address))
poolFeeBips: public(immutable(uint256))
strategyHash: public(immutable(bytes32))
maxBuy: public(immutable(uint256))
maxSell: public(immutable(uint256))
slippageBips: public(immutable(uint256))
maxTaskAge: public(immutable(uint256))
minTradeInterval: public(immutable(uint256))

agent: public(address)
feeBudget: public(uint256)  # what postPolicyTask may still pay from the vault's fee tokens
nextTradeBlock: public(uint256)  # the first block in which the next trade may execute
executed: public(HashMap[bytes32, bool])
# the policy fee paid into escrow (owner's terms)
feeEscrow: public(address)  # the VerifiedEscrow (zero: postPolicyTaskEscrowed refused)
escrowPayee: public(address)  # the executor set's payee
maxEscrowFee: public(uint256)  # the most one task's fee may be
escrowDeadline: public(uint256)  # seconds after posting when an uncertified task's fee is refundable
# market-data feeds paid over x402 `exact` (owner's terms)
feedToken: public(address)  # the EIP-3009 token feeds are paid in (zero: feeds not enabled)
maxFeedPayment: public(uint256)  # the most one feed payment may be
feedBudget: public(uint256)  # what authorizeFeedPayment may still authorize
feedPayee: public(HashMap[address, bool])  # the data agents a feed payment may pay
feedNonceToken: public(HashMap[bytes32, address])  # the token of each EIP-3009 nonce the vault authorized
feedAuthorized: public(HashMap[bytes32, bool])  # the EIP-3009 digests the vault signs (exact and upto)
# market-data feeds paid over x402 `upto` (owner's settlers; the feed terms above)
uptoSettler: public(HashMap[address, bool])  # the UptoSettlers an upto payment may name
uptoDigest: public(HashMap[bytes32, bytes32])  # nonce -> its upto payment's digest (RECONCILED after)
# escrowed policy fees: the escrow each was deposited into (zero: none, or credited back)
feeEscrowOf: public(HashMap[bytes32, address])
feeRefundCredited: public(HashMap[bytes32, bool])  # escrow ids whose refund returned to feeBudget
# x402 `verified` payments (the feed terms above; the owner's escrows)
verifiedEscrow: public(HashMap[address, bool])  # the VerifiedEscrows a verified payment may name
verifiedEscrowOf: public(HashMap[bytes32, address])  # escrow id -> the escrow of a verified payment recorded
paymentRefundCredited: public(HashMap[bytes32, bool])  # verified payments' escrow ids credited back
_escrowDigest: transient(bytes32)  # the escrow deposit's digest, during postPolicyTaskEscrowed


@deploy
def __init__(
    _mailbox: address,
    _taskType: uint32,
    _pool: address,
    _strategyHash: bytes32,
    _maxBuy: uint256,
    _maxSell: uint256,
    _slippageBips: uint256,
    _maxTaskAge: uint256,
    _minTradeInterval: uint256,
    _agent: address,
):
    """
    @notice A vault owned by the deployer (the user).
    @param _mailbox The TaskMailbox that certifies the policy.
    @param _taskType The task type running the policy image (it fixes the image and executor set).
    @param _pool The ConstantProductAMM traded on; the vault's tokens are its token0 and token1.
    @param _strategyHash The declared strategy's hash (every input must carry it).
    @param _maxBuy The per-step limit of token0 paid (BUY), as the strategy's.
    @param _maxSell The per-step limit of token1 paid (SELL), as the strategy's.
    @param _slippageBips The strategy's slippage in bips (every input must carry it).
    @param _maxTaskAge The most blocks between a task's creation and its execution.
    @param _minTradeInterval The fewest blocks between two trades (0: any number per block).
    @param _agent The operator key that posts tasks and executes orders.
    """
    assert _mailbox != empty(address) and _pool != empty(address), "zero address"
    assert _agent != empty(address), "zero agent"
    assert _strategyHash != empty(bytes32), "zero strategy"
    assert _maxBuy != 0 and _maxSell != 0, "zero limit"
    assert _maxBuy <= MAX_LIMIT and _maxSell <= MAX_LIMIT, "limit too large"
    assert _slippageBips < BIPS, "slippage too high"
    assert _maxTaskAge != 0, "zero task age"
    t: ITaskMailbox.TaskType = staticcall ITaskMailbox(_mailbox).taskTypes(_taskType)
    assert t.appId != empty(bytes32), "unknown task type"
    owner = msg.sender
    mailbox = _mailbox
    taskType = _taskType
    pool = _pool
    token0 = staticcall IPool(_pool).token0()
    token1 = staticcall IPool(_pool).token1()
    poolFeeBips = staticcall IPool(_pool).feeBips()
    strategyHash = _strategyHash
    maxBuy = _maxBuy
    maxSell = _maxSell
    slippageBips = _slippageBips
    maxTaskAge = _maxTaskAge
    minTradeInterval = _minTradeInterval
    self.agent = _agent
    log AgentSet(previous=empty(address), agent=_agent)


# ---------------------------------------------------------------- the owner


@external
def deposit(token: address, amount: uint256):
    """
    @notice Pull `amount` of `token` from the owner into the vault.
    """
    assert msg.sender == owner, "not the owner"
    assert extcall IERC20(token).transferFrom(msg.sender, self, amount, default_return_value=True), "transfer failed"
    log Deposited(token=token, amount=amount)


@external
def withdraw(token: address, amount: uint256, to: address):
    """
    @notice Send `amount` of `token` (any token the vault holds) to `to`; the owner's, at any time.
    """
    assert msg.sender == owner, "not the owner"
    assert to != empty(address), "zero receiver"
    assert extcall IERC20(token).transfer(to, amount, default_return_value=True), "transfer failed"
    log Withdrawn(token=token, to=to, amount=amount)


@external
def setAgent(_agent: address):
    """
    @notice Name the agent (zero: nobody may post or execute until the owner names one).
    """
    assert msg.sender == owner, "not the owner"
    log AgentSet(previous=self.agent, agent=_agent)
    self.agent = _agent


@external
def setFeeBudget(budget: uint256):
    """
    @notice How much of the task type's fee token postPolicyTask may still spend from the vault.
    """
    assert msg.sender == owner, "not the owner"
    self.feeBudget = budget
    log FeeBudgetSet(budget=budget)


@external
def setFeeEscrow(_escrow: address, _payee: address, _maxFee: uint256, _deadline: uint256):
    """
    @notice The terms of postPolicyTaskEscrowed: the VerifiedEscrow (serving the vault's mailbox)
            the policy fee is paid into, the executor set's payee, the most a task's fee may be
            and the seconds after posting when an uncertified task's fee is refundable. A zero
            escrow turns the escrowed fee off.
    """
    assert msg.sender == owner, "not the owner"
    if _escrow != empty(address):
        assert staticcall IFeeEscrow(_escrow).mailbox() == mailbox, "escrow of another mailbox"
        assert _payee != empty(address), "zero payee"
        assert _deadline != 0, "zero deadline"
    self.feeEscrow = _escrow
    self.escrowPayee = _payee
    self.maxEscrowFee = _maxFee
    self.escrowDeadline = _deadline
    log FeeEscrowSet(escrow=_escrow, payee=_payee, maxFee=_maxFee, deadline=_deadline)


@external
def setFeedTerms(_token: address, _maxPayment: uint256):
    """
    @notice The EIP-3009 token feeds are paid in (zero: feeds off) and the most one payment may be.
    """
    assert msg.sender == owner, "not the owner"
    self.feedToken = _token
    self.maxFeedPayment = _maxPayment
    log FeedTermsSet(token=_token, maxPayment=_maxPayment)


@external
def setFeedPayee(payee: address, allowed: bool):
    """
    @notice Allow (or stop allowing) feed payments to `payee` (a data agent).
    """
    assert msg.sender == owner, "not the owner"
    assert payee != empty(address), "zero payee"
    self.feedPayee[payee] = allowed
    log FeedPayeeSet(payee=payee, allowed=allowed)


@external
def setUptoSettler(settler: address, allowed: bool):
    """
    @notice Allow (or stop allowing) upto feed payments through `settler` (an UptoSettler).
    """
    assert msg.sender == owner, "not the owner"
    assert settler != empty(address), "zero settler"
    self.uptoSettler[settler] = allowed
    log UptoSettlerSet(settler=settler, allowed=allowed)


@external
def setVerifiedEscrow(escrow: address, allowed: bool):
    """
    @notice Allow (or stop allowing) verified payments into `escrow` (a VerifiedEscrow).
    """
    assert msg.sender == owner, "not the owner"
    assert escrow != empty(address), "zero escrow"
    self.verifiedEscrow[escrow] = allowed
    log VerifiedEscrowSet(escrow=escrow, allowed=allowed)


@external
def setFeedBudget(budget: uint256):
    """
    @notice How much of the feed token authorizeFeedPayment may still authorize.
    """
    assert msg.sender == owner, "not the owner"
    self.feedBudget = budget
    log FeedBudgetSet(budget=budget)


# ---------------------------------------------------------------- the agent


@internal
@pure
def _low(data: Bytes[MAX_INPUT], end: uint256, bits: uint256) -> uint256:
    # the big-endian field of `bits` bits ending at byte `end` (end >= 32)
    return extract32(data, end - 32, output_type=uint256) & ((1 << bits) - 1)


@internal
@view
def _check_input(data: Bytes[MAX_INPUT]) -> (uint256, uint256):
    # The input's terms are the vault's; returns its reserves. Layout: "TPI1" | strategyHash |
    # feedDigest | receiptDigest | maxBuy | maxSell | slippageBips (u16) | token0 (20) | token1 (20)
    # | feeBips (u16) | reserve0 | reserve1 | textLength (u32) | text.
    assert len(data) >= HEADER and slice(data, 0, 4) == b"TPI1", "not a policy input"
    assert extract32(data, 4) == strategyHash, "another strategy"
    assert extract32(data, 100, output_type=uint256) == maxBuy, "another buy limit"
    assert extract32(data, 132, output_type=uint256) == maxSell, "another sell limit"
    assert self._low(data, 166, 16) == slippageBips, "another slippage"
    t0: address = convert(convert(self._low(data, 186, 160), uint160), address)
    t1: address = convert(convert(self._low(data, 206, 160), uint160), address)
    assert t0 == token0 and t1 == token1, "another token"
    assert self._low(data, 208, 16) == poolFeeBips, "another pool fee"
    r0: uint256 = extract32(data, 208, output_type=uint256)
    r1: uint256 = extract32(data, 240, output_type=uint256)
    assert r0 <= MAX_RESERVE and r1 <= MAX_RESERVE, "reserves too large"
    return r0, r1


@external
def postPolicyTask(payload: Bytes[MAX_INPUT], fee: uint256, fromVault: bool) -> bytes32:
    """
    @notice Post a policy input as a task of the vault's type, after checking that its terms are
            the vault's and its reserves the pool's now. The fee (the type's, else the mailbox
            refuses "wrong fee") comes from the vault within the owner's fee budget (`fromVault`;
            a refund returns to the vault) or from the agent (pulled; a refund returns to it).
    @return The task hash.
    """
    assert msg.sender == self.agent, "not the agent"
    refund: address = msg.sender
    if fee != 0:
        token: address = (staticcall ITaskMailbox(mailbox).taskTypes(taskType)).feeToken
        if fromVault:
            assert fee <= self.feeBudget, "fee over budget"
            self.feeBudget -= fee
            refund = self
        else:
            before: uint256 = staticcall IERC20(token).balanceOf(self)
            assert extcall IERC20(token).transferFrom(msg.sender, self, fee, default_return_value=True), "fee transfer failed"
            assert staticcall IERC20(token).balanceOf(self) - before == fee, "fee transfer shortfall"
        assert extcall IERC20(token).approve(mailbox, fee, default_return_value=True), "transfer failed"
    return self._post(payload, fee, refund)


@internal
def _post(payload: Bytes[MAX_INPUT], fee: uint256, refund: address) -> bytes32:
    # check the input's terms and reserves, then create the task (the fee approved already)
    r0: uint256 = 0
    r1: uint256 = 0
    r0, r1 = self._check_input(payload)
    p0: uint256 = 0
    p1: uint256 = 0
    p0, p1 = staticcall IPool(pool).getReserves()
    assert r0 == p0 and r1 == p1, "reserves not the pool's"
    h: bytes32 = extcall IMailbox(mailbox).createTask(
        TaskParams(refundCollector=refund, taskType=taskType, fee=fee, payload=payload)
    )
    log PolicyTaskPosted(taskHash=h, payer=refund, fee=fee, reserve0=r0, reserve1=r1)
    return h


@internal
@view
def _authorization_digest(
    token: address, typehash: bytes32, to: address, _value: uint256, validAfter: uint256, validBefore: uint256, nonce: bytes32
) -> bytes32:
    # the EIP-712 digest of an EIP-3009 authorization from this vault on `token` (its domain's)
    separator: bytes32 = staticcall IEIP712(token).DOMAIN_SEPARATOR()
    return keccak256(
        concat(b"\x19\x01", separator, keccak256(abi_encode(typehash, self, to, _value, validAfter, validBefore, nonce)))
    )


@external
def postPolicyTaskEscrowed(payload: Bytes[MAX_INPUT], fee: uint256) -> bytes32:
    """
    @notice Post a policy input as postPolicyTask does (its type charging nothing on the
            mailbox), then pay its fee into the owner's VerifiedEscrow from the vault: `fee`
            (at most maxEscrowFee, out of feeBudget) of the type's fee token, bound to the
            task's hash with no expected result, for escrowPayee, refundable to the vault after
            escrowDeadline seconds if the task is still uncertified (or expired, or faulted).
    @return The task hash (the FeeEscrowed event names the escrow id).
    """
    assert msg.sender == self.agent, "not the agent"
    escrow: address = self.feeEscrow
    assert escrow != empty(address), "no fee escrow"
    assert fee != 0, "zero fee"
    assert fee <= self.maxEscrowFee, "fee over the cap"
    assert fee <= self.feeBudget, "fee over budget"
    t: ITaskMailbox.TaskType = staticcall ITaskMailbox(mailbox).taskTypes(taskType)
    assert t.fee == 0, "type charges a mailbox fee"
    self.feeBudget -= fee
    h: bytes32 = self._post(payload, 0, self)
    payee: address = self.escrowPayee
    deadline: uint256 = block.timestamp + self.escrowDeadline
    # VerifiedEscrow's nonce for these terms (escrowNonce), the task hash as the salt
    nonce: bytes32 = keccak256(abi_encode(payee, KIND_TASK, h, empty(bytes32), deadline, h))
    after: uint256 = block.timestamp - 1
    before: uint256 = block.timestamp + 1
    self._escrowDigest = self._authorization_digest(
        t.feeToken, RECEIVE_WITH_AUTHORIZATION_TYPEHASH, escrow, fee, after, before, nonce
    )
    id: bytes32 = extcall IFeeEscrow(escrow).deposit(
        t.feeToken, self, fee, after, before, payee, KIND_TASK, h, empty(bytes32), deadline, h, b""
    )
    self._escrowDigest = empty(bytes32)
    self.feeEscrowOf[id] = escrow
    log FeeEscrowed(taskHash=h, escrowId=id, payee=payee, token=t.feeToken, amount=fee, deadline=deadline)
    return h


@internal
@view
def _check_feed(token: address, payee: address, _value: uint256, validBefore: uint256):
    # the agent's feed payment of `_value` to `payee` within the owner's feed terms
    assert msg.sender == self.agent, "not the agent"
    assert self.feedToken != empty(address), "feeds not enabled"
    assert token == self.feedToken, "another token"
    assert self.feedPayee[payee], "payee not allowed"
    assert _value != 0, "zero amount"
    assert _value <= self.maxFeedPayment, "payment over the cap"
    assert _value <= self.feedBudget, "feed over budget"
    assert validBefore > block.timestamp, "authorization expired"
    assert validBefore <= block.timestamp + MAX_FEED_VALIDITY, "authorization too long"


@internal
def _record_feed(
    token: address, typehash: bytes32, to: address, _value: uint256, validAfter: uint256, validBefore: uint256, nonce: bytes32
) -> bytes32:
    # record the authorization the vault then signs (ERC-1271) and debit the feed budget
    assert self.feedNonceToken[nonce] == empty(address), "nonce already used"
    digest: bytes32 = self._authorization_digest(token, typehash, to, _value, validAfter, validBefore, nonce)
    self.feedNonceToken[nonce] = token
    self.feedAuthorized[digest] = True
    self.feedBudget -= _value
    return digest


@external
@view
def feedNonceUsed(nonce: bytes32) -> bool:
    """
    @notice Whether the vault authorized a feed payment (exact or upto) with this EIP-3009 nonce.
    """
    return self.feedNonceToken[nonce] != empty(address)


@external
def authorizeFeedPayment(
    token: address, to: address, _value: uint256, validAfter: uint256, validBefore: uint256, nonce: bytes32
) -> bytes32:
    """
    @notice Authorize one x402 `exact` payment from the vault: the EIP-3009
            TransferWithAuthorization(from = this vault, to, value, validAfter, validBefore,
            nonce) on `token`, which the vault then answers as valid (ERC-1271) when the
            facilitator submits it. `token` is feedToken, `to` an allowed payee, `value` at most
            maxFeedPayment and debited from feedBudget now, `nonce` never authorized before,
            valid no longer than MAX_FEED_VALIDITY seconds from now.
    @return The authorization's EIP-712 digest.
    """
    self._check_feed(token, to, _value, validBefore)
    digest: bytes32 = self._record_feed(token, TRANSFER_WITH_AUTHORIZATION_TYPEHASH, to, _value, validAfter, validBefore, nonce)
    log FeedPaymentAuthorized(
        digest=digest, payee=to, nonce=nonce, value=_value, validAfter=validAfter, validBefore=validBefore
    )
    return digest


@external
def reclaimFeedPayment(
    token: address, to: address, _value: uint256, validAfter: uint256, validBefore: uint256, nonce: bytes32
) -> uint256:
    """
    @notice Return a recorded feed payment (exact, or verified: `to` its escrow) that expired
            unsettled to the feed budget (the owner or the agent): past its validBefore the token
            can no longer accept it, and its nonce is not used there. Its digest is no longer
            answered; its nonce stays spent for the vault.
    @return The feed budget after it.
    """
    assert msg.sender == owner or msg.sender == self.agent, "not the owner or agent"
    typehash: bytes32 = TRANSFER_WITH_AUTHORIZATION_TYPEHASH
    if self.verifiedEscrowOf[keccak256(abi_encode(token, self, nonce))] == to:
        typehash = RECEIVE_WITH_AUTHORIZATION_TYPEHASH  # a verified payment's, to its escrow
    digest: bytes32 = self._authorization_digest(token, typehash, to, _value, validAfter, validBefore, nonce)
    # (the digest alone does not bind the token: another contract may answer its DOMAIN_SEPARATOR)
    recorded: address = self.feedNonceToken[nonce]
    assert recorded == token or recorded == empty(address), "not the payment's token"
    assert self.feedAuthorized[digest], "payment not authorized"
    assert block.timestamp >= validBefore, "authorization still valid"
    assert not staticcall IEIP712(token).authorizationState(self, nonce), "payment settled"
    self.feedAuthorized[digest] = False
    self.feedBudget += _value
    log FeedPaymentReclaimed(digest=digest, value=_value)
    return self.feedBudget


@external
def authorizeUptoFeedPayment(
    token: address,
    settler: address,
    payTo: address,
    facilitator: address,
    salt: bytes32,
    maxValue: uint256,
    validAfter: uint256,
    validBefore: uint256,
) -> bytes32:
    """
    @notice Authorize one x402 `upto` payment from the vault: the EIP-3009
            ReceiveWithAuthorization(from = this vault, to = settler, maxValue, validAfter,
            validBefore, nonce = settler.uptoNonce(payTo, facilitator, salt)) on `token`, which
            the vault then answers as valid (ERC-1271) when `facilitator` settles it through the
            settler. The settler is one the owner allowed, the feed terms are authorizeFeedPayment's
            (payTo allowed, maxValue within the cap, debited from feedBudget now); what the
            settlement does not charge returns by reconcileUptoPayment.
    @return The authorization's EIP-712 digest.
    """
    self._check_feed(token, payTo, maxValue, validBefore)
    assert self.uptoSettler[settler], "settler not allowed"
    nonce: bytes32 = staticcall IUptoSettler(settler).uptoNonce(payTo, facilitator, salt)
    digest: bytes32 = self._record_feed(token, RECEIVE_WITH_AUTHORIZATION_TYPEHASH, settler, maxValue, validAfter, validBefore, nonce)
    self.uptoDigest[nonce] = digest
    log UptoFeedPaymentAuthorized(
        digest=digest, payee=payTo, nonce=nonce, settler=settler, maxValue=maxValue, validAfter=validAfter,
        validBefore=validBefore,
    )
    return digest


@external
def reconcileUptoPayment(
    token: address, settler: address, maxValue: uint256, validAfter: uint256, validBefore: uint256, nonce: bytes32
) -> uint256:
    """
    @notice Return what a recorded upto payment did not spend to the feed budget, once (anyone
            may send it: the credit follows from the chain alone). Settled (the token used the
            nonce): the maximum less the settler's settledAmount; expired unused: the whole
            maximum (the token accepts it no more). The digest is no longer answered.
    @return The amount credited to feedBudget.
    """
    recorded: bytes32 = self.uptoDigest[nonce]
    assert recorded != empty(bytes32), "unknown payment"
    assert recorded != RECONCILED, "payment already reconciled"
    assert self.feedNonceToken[nonce] == token, "not the payment's token"
    digest: bytes32 = self._authorization_digest(
        token, RECEIVE_WITH_AUTHORIZATION_TYPEHASH, settler, maxValue, validAfter, validBefore, nonce
    )
    assert digest == recorded, "not the recorded payment"
    settled: bool = staticcall IEIP712(token).authorizationState(self, nonce)
    charged: uint256 = 0
    if settled:
        # only the settler could use it (ReceiveWithAuthorization to the settler), which records it
        charged = staticcall IUptoSettler(settler).settledAmount(token, self, nonce)
    else:
        assert block.timestamp >= validBefore, "payment still open"
    credit: uint256 = maxValue - charged
    self.uptoDigest[nonce] = RECONCILED
    self.feedAuthorized[digest] = False
    self.feedBudget += credit
    log UptoPaymentReconciled(nonce=nonce, settled=settled, charged=charged, credited=credit)
    return credit


@external
def authorizeVerifiedPayment(
    token: address,
    escrow: address,
    payTo: address,
    kind: uint8,
    ref: bytes32,
    expectedResult: bytes32,
    deadline: uint256,
    salt: bytes32,
    _value: uint256,
    validAfter: uint256,
    validBefore: uint256,
) -> bytes32:
    """
    @notice Authorize one x402 `verified` payment from the vault: the EIP-3009
            ReceiveWithAuthorization(from = this vault, to = escrow, value, validAfter,
            validBefore, nonce = escrowNonce(payTo, kind, ref, expectedResult, deadline, salt)) on
            `token`, which the vault then answers as valid (ERC-1271) when the facilitator
            deposits it into `escrow` (held there for payTo until the work `ref` verifies). The
            escrow is one the owner allowed, the kind a task or an inference request, the refund
            deadline at most MAX_ESCROW_DEADLINE seconds away, the feed terms authorizeFeedPayment's
            (payTo allowed, value within the cap, debited from feedBudget now); a refund returns
            by creditRefundedPayment, an unused authorization by reclaimFeedPayment.
    @return The authorization's EIP-712 digest.
    """
    self._check_feed(token, payTo, _value, validBefore)
    assert self.verifiedEscrow[escrow], "escrow not allowed"
    assert kind == KIND_TASK or kind == KIND_INFERENCE, "unknown kind"
    assert deadline <= block.timestamp + MAX_ESCROW_DEADLINE, "deadline too far"
    # VerifiedEscrow's nonce (escrowNonce) and escrow id (escrowId) of these terms
    nonce: bytes32 = keccak256(abi_encode(payTo, kind, ref, expectedResult, deadline, salt))
    id: bytes32 = keccak256(abi_encode(token, self, nonce))
    digest: bytes32 = self._record_feed(token, RECEIVE_WITH_AUTHORIZATION_TYPEHASH, escrow, _value, validAfter, validBefore, nonce)
    self.verifiedEscrowOf[id] = escrow
    log VerifiedPaymentAuthorized(
        digest=digest, payee=payTo, escrowId=id, escrow=escrow, nonce=nonce, value=_value, validAfter=validAfter,
        validBefore=validBefore,
    )
    return digest


@external
def creditRefundedPayment(escrowId: bytes32) -> uint256:
    """
    @notice Return a verified payment the vault recorded and its escrow refunded to the vault to
            feedBudget, once (anyone may send it: the credit follows from the escrow's state
            alone). A released payment stays spent.
    @return The amount credited to feedBudget.
    """
    escrow: address = self.verifiedEscrowOf[escrowId]
    assert escrow != empty(address), "unknown payment"
    assert not self.paymentRefundCredited[escrowId], "payment already credited"
    # a policy fee's deposit under the same escrow nonce: creditRefundedFee's alone
    assert self.feeEscrowOf[escrowId] == empty(address) and not self.feeRefundCredited[escrowId], "a policy fee's escrow"
    e: EscrowRecord = staticcall IFeeEscrow(escrow).escrows(escrowId)
    assert e.state != 0, "payment not deposited"
    assert e.state != ESCROW_HELD, "payment still held"
    assert e.state == ESCROW_REFUNDED, "payment released"
    self.paymentRefundCredited[escrowId] = True
    self.feedBudget += e.amount
    log PaymentRefundCredited(escrowId=escrowId, amount=e.amount)
    return e.amount


@external
def creditRefundedFee(escrowId: bytes32) -> uint256:
    """
    @notice Return a policy fee that postPolicyTaskEscrowed deposited and its escrow refunded to
            the vault to feeBudget, once (anyone may send it: the credit follows from the escrow's
            state alone). A released fee stays spent.
    @return The amount credited to feeBudget.
    """
    escrow: address = self.feeEscrowOf[escrowId]
    assert not self.feeRefundCredited[escrowId], "fee already credited"
    assert escrow != empty(address), "unknown fee escrow"
    e: EscrowRecord = staticcall IFeeEscrow(escrow).escrows(escrowId)
    assert e.state != ESCROW_HELD, "fee still held"
    assert e.state == ESCROW_REFUNDED, "fee released"
    self.feeEscrowOf[escrowId] = empty(address)
    self.feeRefundCredited[escrowId] = True
    self.feeBudget += e.amount
    log FeeRefundCredited(escrowId=escrowId, amount=e.amount)
    return e.amount


@external
@view
@reentrant
def isValidSignature(_hash: bytes32, _signature: Bytes[256]) -> bytes4:
    """
    @notice ERC-1271: the magic value for a feed payment authorizeFeedPayment,
            authorizeUptoFeedPayment or authorizeVerifiedPayment recorded (until reclaimed or
            reconciled), or the escrow deposit postPolicyTaskEscrowed is making (only during that
            call); 0xffffffff for anything else. The signature bytes are not read: the record is the authorization.
    """
    if _hash != empty(bytes32) and (_hash == self._escrowDigest or self.feedAuthorized[_hash]):
        return ERC1271_MAGIC
    return ERC1271_INVALID


@internal
@view
def _quote(amount_in: uint256, r_in: uint256, r_out: uint256) -> uint256:
    # the AMM's formula (and the policy's), rounded down
    if r_in == 0 or r_out == 0:
        return 0
    with_fee: uint256 = amount_in * (BIPS - poolFeeBips)
    return with_fee * r_out // (r_in * BIPS + with_fee)


@external
def execute(taskHash: bytes32, input: Bytes[MAX_INPUT], result: Bytes[MAX_OUTPUT]) -> uint256:
    """
    @notice Execute a certified policy order of a task this vault posted: swap on the pool (BUY
            pays token0, SELL token1, the output to the vault) or, for HOLD, nothing; either way
            the task is spent.
    @param taskHash The task.
    @param input The task's input (its hash is the task's inputHash).
    @param result The certified output (its hash is the task's resultHash).
    @return The amount received (0 for HOLD).
    """
    assert msg.sender == self.agent, "not the agent"
    assert not self.executed[taskHash], "task already executed"
    info: ITaskMailbox.TaskInfo = staticcall ITaskMailbox(mailbox).getTaskInfo(taskHash)
    assert info.creator == self, "task not the vault's"
    # (a task this vault created is of its type: postPolicyTask names no other)
    assert info.status == STATUS_VERIFIED, "task not certified"
    assert block.number <= info.createdBlock + maxTaskAge, "task too old"
    assert keccak256(input) == info.inputHash, "input not the task's"
    assert keccak256(result) == info.resultHash, "result not the task's"
    bound: bytes32 = empty(bytes32)
    action: uint8 = 0
    amount_in: uint256 = 0
    min_out: uint256 = 0
    reason: String[64] = ""
    bound, action, amount_in, min_out, reason = abi_decode(result, (bytes32, uint8, uint256, uint256, String[64]))
    assert bound == info.inputHash, "result for another input"
    assert action <= SELL, "unknown action"
    self.executed[taskHash] = True
    if action == HOLD:
        log Held(taskHash=taskHash)
        return 0
    assert block.number >= self.nextTradeBlock, "trade too soon"
    # the input was checked when it was posted (the only way a task of this vault is made)
    r0: uint256 = extract32(input, 208, output_type=uint256)
    r1: uint256 = extract32(input, 240, output_type=uint256)
    token_in: address = token0
    limit: uint256 = maxBuy
    r_in: uint256 = r0
    r_out: uint256 = r1
    if action == SELL:
        token_in = token1
        limit = maxSell
        r_in = r1
        r_out = r0
    assert amount_in != 0 and amount_in <= limit, "amount over the limit"
    least: uint256 = self._quote(amount_in, r_in, r_out) * (BIPS - slippageBips) // BIPS
    assert min_out != 0 and min_out >= least, "min out under the slippage bound"
    assert staticcall IERC20(token_in).balanceOf(self) >= amount_in, "insufficient balance"
    self.nextTradeBlock = block.number + minTradeInterval
    assert extcall IERC20(token_in).approve(pool, amount_in, default_return_value=True), "transfer failed"
    out: uint256 = extcall IPool(pool).swapExactIn(token_in, amount_in, min_out, self, block.timestamp)
    log Traded(taskHash=taskHash, tokenIn=token_in, amountIn=amount_in, minOut=min_out, amountOut=out)
    return out
