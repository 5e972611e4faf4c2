# pragma version ~=0.4.3
"""
@title ReputationRegistry
@notice ERC-8004 reputation registry: clients leave signed-value feedback (int128 value with
        0..18 decimals, two tags, the endpoint, an off-chain file URI and hash) on agents of an
        IdentityRegistry; a client can revoke its feedback, anyone can append a response, and
        `getSummary` averages the unrevoked feedback of a caller-chosen client list.
@dev Feedback indexes count from 1 per (agent, client). The agent's owner and the accounts
     approved for it cannot leave feedback on it. getSummary requires a non-empty client list
     (the caller names whose opinions count, so Sybil clients cannot drown them): the mean is
     taken in 18 decimals and rescaled to the most frequent decimals among the summed feedback
     (the smallest on a tie), rounded toward zero. Bounds: 64 clients and 1024 entries per read.
     Revert strings: "too many decimals", "value too large", "self-feedback not allowed",
     "unknown agent", "index must be > 0", "index out of bounds", "already revoked", "empty URI",
     "clientAddresses required", "too many entries".
"""

from ..interfaces import IIdentityRegistry

MAX_TAG: constant(uint256) = 64
MAX_URI: constant(uint256) = 512
MAX_CLIENTS: constant(uint256) = 64
MAX_READ: constant(uint256) = 1024
MAX_READ_64: constant(uint64) = 1024
MAX_ABS_VALUE: constant(int128) = 10**38
MAX_DECIMALS: constant(uint8) = 18


struct Feedback:
    value: int128
    valueDecimals: uint8
    isRevoked: bool
    tag1: String[MAX_TAG]
    tag2: String[MAX_TAG]


event NewFeedback:
    agentId: indexed(uint256)
    clientAddress: indexed(address)
    feedbackIndex: uint64
    value: int128
    valueDecimals: uint8
    indexedTag1: indexed(String[MAX_TAG])
    tag1: String[MAX_TAG]
    tag2: String[MAX_TAG]
    endpoint: String[MAX_URI]
    feedbackURI: String[MAX_URI]
    feedbackHash: bytes32


event FeedbackRevoked:
    agentId: indexed(uint256)
    clientAddress: indexed(address)
    feedbackIndex: indexed(uint64)


event ResponseAppended:
    agentId: indexed(uint256)
    clientAddress: indexed(address)
    feedbackIndex: uint64
    responder: indexed(address)
    responseURI: String[MAX_URI]
    responseHash: bytes32


_identity: IIdentityRegistry
_feedback: HashMap[uint256, HashMap[address, HashMap[uint64, Feedback]]]
_last_index: HashMap[uint256, HashMap[address, uint64]]
# _responses[agentId][client][index][responder]: responses that responder appended.
_responses: HashMap[uint256, HashMap[address, HashMap[uint64, HashMap[address, uint64]]]]
# Responses to each feedback, from anyone.
_response_total: HashMap[uint256, HashMap[address, HashMap[uint64, uint64]]]
_clients: HashMap[uint256, DynArray[address, 2**30]]
_client_known: HashMap[uint256, HashMap[address, bool]]


@deploy
def __init__(identityRegistry: address):
    """
    @param identityRegistry The ERC-8004 IdentityRegistry whose agents receive feedback.
    """
    assert identityRegistry != empty(address), "bad identity"
    self._identity = IIdentityRegistry(identityRegistry)


@external
@view
def getIdentityRegistry() -> address:
    return self._identity.address


@external
def giveFeedback(
    agentId: uint256,
    _value: int128,
    valueDecimals: uint8,
    tag1: String[MAX_TAG],
    tag2: String[MAX_TAG],
    endpoint: String[MAX_URI],
    feedbackURI: String[MAX_URI],
    feedbackHash: bytes32,
):
    """
    @notice Leave feedback `_value` / 10**valueDecimals on agent `agentId` (not as its owner or an
            account approved for it).
    @param _value The feedback (ERC-8004's `value`; Vyper reserves the name): |_value| <= 1e38.
    @param valueDecimals At most 18.
    """
    assert valueDecimals <= MAX_DECIMALS, "too many decimals"
    assert _value >= -MAX_ABS_VALUE and _value <= MAX_ABS_VALUE, "value too large"
    # isAuthorizedOrOwner reverts "unknown agent" for an agent that does not exist.
    assert not staticcall self._identity.isAuthorizedOrOwner(msg.sender, agentId), "self-feedback not allowed"
    index: uint64 = self._last_index[agentId][msg.sender] + 1
    self._last_index[agentId][msg.sender] = index
    self._feedback[agentId][msg.sender][index] = Feedback(
        value=_value, valueDecimals=valueDecimals, isRevoked=False, tag1=tag1, tag2=tag2
    )
    if not self._client_known[agentId][msg.sender]:
        self._client_known[agentId][msg.sender] = True
        self._clients[agentId].append(msg.sender)
    log NewFeedback(
        agentId=agentId,
        clientAddress=msg.sender,
        feedbackIndex=index,
        value=_value,
        valueDecimals=valueDecimals,
        indexedTag1=tag1,
        tag1=tag1,
        tag2=tag2,
        endpoint=endpoint,
        feedbackURI=feedbackURI,
        feedbackHash=feedbackHash,
    )


@internal
@view
def _check_index(agentId: uint256, client: address, feedbackIndex: uint64):
    assert feedbackIndex > 0, "index must be > 0"
    assert feedbackIndex <= self._last_index[agentId][client], "index out of bounds"


@external
def revokeFeedback(agentId: uint256, feedbackIndex: uint64):
    """
    @notice Revoke the caller's feedback `feedbackIndex` on `agentId` (once).
    """
    self._check_index(agentId, msg.sender, feedbackIndex)
    assert not self._feedback[agentId][msg.sender][feedbackIndex].isRevoked, "already revoked"
    self._feedback[agentId][msg.sender][feedbackIndex].isRevoked = True
    log FeedbackRevoked(agentId=agentId, clientAddress=msg.sender, feedbackIndex=feedbackIndex)


@external
def appendResponse(
    agentId: uint256, clientAddress: address, feedbackIndex: uint64, responseURI: String[MAX_URI], responseHash: bytes32
):
    """
    @notice Append a response (anyone: the agent's refund proof, a spam tag...) to feedback
            `feedbackIndex` of `clientAddress` on `agentId`.
    """
    assert len(responseURI) > 0, "empty URI"
    self._check_index(agentId, clientAddress, feedbackIndex)
    self._responses[agentId][clientAddress][feedbackIndex][msg.sender] += 1
    self._response_total[agentId][clientAddress][feedbackIndex] += 1
    log ResponseAppended(
        agentId=agentId,
        clientAddress=clientAddress,
        feedbackIndex=feedbackIndex,
        responder=msg.sender,
        responseURI=responseURI,
        responseHash=responseHash,
    )


@external
@view
def getLastIndex(agentId: uint256, clientAddress: address) -> uint64:
    return self._last_index[agentId][clientAddress]


@external
@view
def getClients(agentId: uint256) -> DynArray[address, MAX_READ]:
    """
    @notice The clients that left feedback on `agentId`, in first-feedback order.
    """
    out: DynArray[address, MAX_READ] = []
    n: uint256 = len(self._clients[agentId])
    assert n <= MAX_READ, "too many entries"
    for i: uint256 in range(n, bound=MAX_READ):
        out.append(self._clients[agentId][i])
    return out


@external
@view
def readFeedback(agentId: uint256, clientAddress: address, feedbackIndex: uint64) -> (
    int128, uint8, String[MAX_TAG], String[MAX_TAG], bool
):
    """
    @notice (value, valueDecimals, tag1, tag2, isRevoked) of one feedback.
    """
    self._check_index(agentId, clientAddress, feedbackIndex)
    f: Feedback = self._feedback[agentId][clientAddress][feedbackIndex]
    return f.value, f.valueDecimals, f.tag1, f.tag2, f.isRevoked


@internal
@view
def _matches(f: Feedback, tag1_hash: bytes32, tag2_hash: bytes32) -> bool:
    empty_hash: bytes32 = keccak256(b"")
    if tag1_hash != empty_hash and keccak256(f.tag1) != tag1_hash:
        return False
    if tag2_hash != empty_hash and keccak256(f.tag2) != tag2_hash:
        return False
    return True


@external
@view
def getSummary(
    agentId: uint256, clientAddresses: DynArray[address, MAX_CLIENTS], tag1: String[MAX_TAG], tag2: String[MAX_TAG]
) -> (uint64, int128, uint8):
    """
    @notice (count, summaryValue, summaryValueDecimals) over the unrevoked feedback of the named
            clients matching the tags ("" matches any); (0, 0, 0) when none matches.
    """
    assert len(clientAddresses) > 0, "clientAddresses required"
    t1: bytes32 = keccak256(tag1)
    t2: bytes32 = keccak256(tag2)
    total: int256 = 0
    count: uint64 = 0
    seen: uint256 = 0
    decimal_counts: uint64[19] = empty(uint64[19])
    for client: address in clientAddresses:
        last: uint64 = self._last_index[agentId][client]
        seen += convert(last, uint256)
        assert seen <= MAX_READ, "too many entries"
        for j: uint64 in range(1, last + 1, bound=MAX_READ_64):
            f: Feedback = self._feedback[agentId][client][j]
            if f.isRevoked or not self._matches(f, t1, t2):
                continue
            total += convert(f.value, int256) * convert(10 ** convert(MAX_DECIMALS - f.valueDecimals, uint256), int256)
            decimal_counts[f.valueDecimals] += 1
            count += 1
    if count == 0:
        return 0, 0, 0
    mode: uint8 = 0
    best: uint64 = 0
    for d: uint8 in range(19):
        if decimal_counts[d] > best:
            best = decimal_counts[d]
            mode = d
    # Vyper's signed division rounds toward zero, as Solidity's.
    mean_wad: int256 = total // convert(count, int256)
    summary: int256 = mean_wad // convert(10 ** convert(MAX_DECIMALS - mode, uint256), int256)
    return count, convert(summary, int128), mode


@external
@view
def readAllFeedback(
    agentId: uint256,
    clientAddresses: DynArray[address, MAX_CLIENTS],
    tag1: String[MAX_TAG],
    tag2: String[MAX_TAG],
    includeRevoked: bool,
) -> (
    DynArray[address, MAX_READ],
    DynArray[uint64, MAX_READ],
    DynArray[int128, MAX_READ],
    DynArray[uint8, MAX_READ],
    DynArray[String[MAX_TAG], MAX_READ],
    DynArray[String[MAX_TAG], MAX_READ],
    DynArray[bool, MAX_READ],
):
    """
    @notice Every feedback of the named clients (all clients when the list is empty) matching the
            tags, as parallel arrays (clients, indexes, values, decimals, tag1s, tag2s, revoked).
    """
    clients: DynArray[address, MAX_READ] = []
    if len(clientAddresses) > 0:
        for c: address in clientAddresses:
            clients.append(c)
    else:
        n: uint256 = len(self._clients[agentId])
        assert n <= MAX_READ, "too many entries"
        for i: uint256 in range(n, bound=MAX_READ):
            clients.append(self._clients[agentId][i])
    t1: bytes32 = keccak256(tag1)
    t2: bytes32 = keccak256(tag2)
    out_c: DynArray[address, MAX_READ] = []
    out_i: DynArray[uint64, MAX_READ] = []
    out_v: DynArray[int128, MAX_READ] = []
    out_d: DynArray[uint8, MAX_READ] = []
    out_t1: DynArray[String[MAX_TAG], MAX_READ] = []
    out_t2: DynArray[String[MAX_TAG], MAX_READ] = []
    out_r: DynArray[bool, MAX_READ] = []
    for client: address in clients:
        last: uint64 = self._last_index[agentId][client]
        assert last <= MAX_READ_64, "too many entries"
        for j: uint64 in range(1, last + 1, bound=MAX_READ_64):
            f: Feedback = self._feedback[agentId][client][j]
            if (f.isRevoked and not includeRevoked) or not self._matches(f, t1, t2):
                continue
            assert len(out_c) < MAX_READ, "too many entries"
            out_c.append(client)
            out_i.append(j)
            out_v.append(f.value)
            out_d.append(f.valueDecimals)
            out_t1.append(f.tag1)
            out_t2.append(f.tag2)
            out_r.append(f.isRevoked)
    return out_c, out_i, out_v, out_d, out_t1, out_t2, out_r


@internal
@view
def _count(agentId: uint256, client: address, index: uint64, responders: DynArray[address, MAX_CLIENTS]) -> uint64:
    if len(responders) == 0:
        return self._response_total[agentId][client][index]
    n: uint64 = 0
    for r: address in responders:
        n += self._responses[agentId][client][index][r]
    return n


@external
@view
def getResponseCount(
    agentId: uint256, clientAddress: address, feedbackIndex: uint64, responders: DynArray[address, MAX_CLIENTS]
) -> uint64:
    """
    @notice Responses appended by `responders` (anyone when empty) to one feedback, to every
            feedback of `clientAddress` (feedbackIndex 0) or of every client (clientAddress zero).
    """
    if clientAddress != empty(address) and feedbackIndex != 0:
        return self._count(agentId, clientAddress, feedbackIndex, responders)
    clients: DynArray[address, MAX_READ] = []
    if clientAddress != empty(address):
        clients.append(clientAddress)
    else:
        n: uint256 = len(self._clients[agentId])
        assert n <= MAX_READ, "too many entries"
        for i: uint256 in range(n, bound=MAX_READ):
            clients.append(self._clients[agentId][i])
    n: uint64 = 0
    seen: uint256 = 0
    for client: address in clients:
        last: uint64 = self._last_index[agentId][client]
        seen += convert(last, uint256)
        assert seen <= MAX_READ, "too many entries"
        for j: uint64 in range(1, last + 1, bound=MAX_READ_64):
            n += self._count(agentId, client, j, responders)
    return n
