# pragma version ~=0.4.3
"""
@title ValidationRegistry
@notice ERC-8004 validation registry: an agent's owner (or an account approved for the agent)
        asks a named validator to check some work (`validationRequest`, keyed by the request
        hash); only that validator answers, with a score 0..100, as many times as it likes
        (`validationResponse`: a soft then a hard finality, say). Reads: the status of a request,
        the average over an agent's answered requests, an agent's and a validator's requests.
@dev In this project the validators are its own services (a compute task certificate or an
     inference verdict answers a request), which gives a score the slashable stake the standard
     leaves out. Bounds: 1024 requests per agent or validator list read. Revert strings:
     "bad validator", "exists", "unknown agent", "not authorized", "unknown", "not validator",
     "resp>100", "too many entries".
"""

from ..interfaces import IIdentityRegistry

MAX_URI: constant(uint256) = 512
MAX_TAG: constant(uint256) = 64
MAX_VALIDATORS: constant(uint256) = 64
MAX_READ: constant(uint256) = 1024


struct ValidationStatus:
    validatorAddress: address
    agentId: uint256
    response: uint8
    responseHash: bytes32
    tag: String[MAX_TAG]
    lastUpdate: uint256
    hasResponse: bool


event ValidationRequest:
    validatorAddress: indexed(address)
    agentId: indexed(uint256)
    requestURI: String[MAX_URI]
    requestHash: indexed(bytes32)


event ValidationResponse:
    validatorAddress: indexed(address)
    agentId: indexed(uint256)
    requestHash: indexed(bytes32)
    response: uint8
    responseURI: String[MAX_URI]
    responseHash: bytes32
    tag: String[MAX_TAG]


_identity: IIdentityRegistry
_validations: HashMap[bytes32, ValidationStatus]
_agent_validations: HashMap[uint256, DynArray[bytes32, 2**30]]
_validator_requests: HashMap[address, DynArray[bytes32, 2**30]]


@deploy
def __init__(identityRegistry: address):
    """
    @param identityRegistry The ERC-8004 IdentityRegistry whose agents are validated.
    """
    assert identityRegistry != empty(address), "bad identity"
    self._identity = IIdentityRegistry(identityRegistry)


@external
@view
def getIdentityRegistry() -> address:
    return self._identity.address


@external
def validationRequest(validatorAddress: address, agentId: uint256, requestURI: String[MAX_URI], requestHash: bytes32):
    """
    @notice Ask `validatorAddress` to validate the work of `agentId` described at `requestURI`
            (committed to by `requestHash`, which must be new). Owner or approved only.
    """
    assert validatorAddress != empty(address), "bad validator"
    assert self._validations[requestHash].validatorAddress == empty(address), "exists"
    assert staticcall self._identity.isAuthorizedOrOwner(msg.sender, agentId), "not authorized"
    self._validations[requestHash] = ValidationStatus(
        validatorAddress=validatorAddress,
        agentId=agentId,
        response=0,
        responseHash=empty(bytes32),
        tag="",
        lastUpdate=block.timestamp,
        hasResponse=False,
    )
    self._agent_validations[agentId].append(requestHash)
    self._validator_requests[validatorAddress].append(requestHash)
    log ValidationRequest(
        validatorAddress=validatorAddress, agentId=agentId, requestURI=requestURI, requestHash=requestHash
    )


@external
def validationResponse(
    requestHash: bytes32, response: uint8, responseURI: String[MAX_URI], responseHash: bytes32, tag: String[MAX_TAG]
):
    """
    @notice The named validator's answer to request `requestHash`: `response` in 0..100 (0 failed,
            100 passed, or anything between); repeatable, the last answer counts.
    """
    s: ValidationStatus = self._validations[requestHash]
    assert s.validatorAddress != empty(address), "unknown"
    assert msg.sender == s.validatorAddress, "not validator"
    assert response <= 100, "resp>100"
    s.response = response
    s.responseHash = responseHash
    s.tag = tag
    s.lastUpdate = block.timestamp
    s.hasResponse = True
    self._validations[requestHash] = s
    log ValidationResponse(
        validatorAddress=s.validatorAddress,
        agentId=s.agentId,
        requestHash=requestHash,
        response=response,
        responseURI=responseURI,
        responseHash=responseHash,
        tag=tag,
    )


@external
@view
def getValidationStatus(requestHash: bytes32) -> (address, uint256, uint8, bytes32, String[MAX_TAG], uint256):
    """
    @notice (validatorAddress, agentId, response, responseHash, tag, lastUpdate) of a request.
    """
    s: ValidationStatus = self._validations[requestHash]
    assert s.validatorAddress != empty(address), "unknown"
    return s.validatorAddress, s.agentId, s.response, s.responseHash, s.tag, s.lastUpdate


@external
@view
def getSummary(agentId: uint256, validatorAddresses: DynArray[address, MAX_VALIDATORS], tag: String[MAX_TAG]) -> (
    uint64, uint8
):
    """
    @notice (count, average response, rounded down) over the agent's answered requests whose
            validator is one of `validatorAddresses` (any when empty) and whose tag is `tag` (any
            when "").
    """
    n: uint256 = len(self._agent_validations[agentId])
    assert n <= MAX_READ, "too many entries"
    tag_hash: bytes32 = keccak256(tag)
    total: uint256 = 0
    count: uint64 = 0
    for i: uint256 in range(n, bound=MAX_READ):
        s: ValidationStatus = self._validations[self._agent_validations[agentId][i]]
        if not s.hasResponse:
            continue
        if len(validatorAddresses) > 0 and s.validatorAddress not in validatorAddresses:
            continue
        if len(tag) > 0 and keccak256(s.tag) != tag_hash:
            continue
        total += convert(s.response, uint256)
        count += 1
    if count == 0:
        return 0, 0
    return count, convert(total // convert(count, uint256), uint8)


@external
@view
def getAgentValidations(agentId: uint256) -> DynArray[bytes32, MAX_READ]:
    """
    @notice The request hashes of `agentId`, in request order.
    """
    n: uint256 = len(self._agent_validations[agentId])
    assert n <= MAX_READ, "too many entries"
    out: DynArray[bytes32, MAX_READ] = []
    for i: uint256 in range(n, bound=MAX_READ):
        out.append(self._agent_validations[agentId][i])
    return out


@external
@view
def getValidatorRequests(validatorAddress: address) -> DynArray[bytes32, MAX_READ]:
    """
    @notice The request hashes addressed to `validatorAddress`, in request order.
    """
    n: uint256 = len(self._validator_requests[validatorAddress])
    assert n <= MAX_READ, "too many entries"
    out: DynArray[bytes32, MAX_READ] = []
    for i: uint256 in range(n, bound=MAX_READ):
        out.append(self._validator_requests[validatorAddress][i])
    return out
