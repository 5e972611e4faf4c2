# pragma version ~=0.4.3
"""
@title MockAVSRegistrar
@notice Test registrar: records callbacks and rejects registrations while `reject` is set.
@dev Implements IAVSRegistrar; the AllocationManager unit tests use it as an AVS's registrar.
"""

from ..interfaces import IAVSRegistrar

implements: IAVSRegistrar

# The only AVS this registrar serves.
avs: public(address)
# While set, registerOperator reverts.
reject: public(bool)
# Number of registerOperator callbacks.
registrations: public(uint256)
# Number of deregisterOperator callbacks.
deregistrations: public(uint256)
# The operator of the last callback.
lastOperator: public(address)


@deploy
def __init__(_avs: address):
    """
    @notice Serve only `_avs`.
    @param _avs The AVS this registrar serves.
    """
    self.avs = _avs


@external
def setReject(r: bool):
    """
    @notice Reject (True) or accept (False) later registrations.
    @param r The new reject flag.
    """
    self.reject = r


@external
def registerOperator(operator: address, avs: address, operatorSetIds: DynArray[uint32, 16], data: Bytes[1024]):
    """
    @notice Count a registration callback; reverts "rejected" while `reject` is set.
    @param operator The operator.
    @param avs The AVS.
    @param operatorSetIds The sets the operator registers for.
    @param data The registration data (recorded).
    """
    assert not self.reject, "registrar rejected"
    self.registrations += 1
    self.lastOperator = operator


@external
def deregisterOperator(operator: address, avs: address, operatorSetIds: DynArray[uint32, 16]):
    """
    @notice Count a deregistration callback.
    @param operator The operator.
    @param avs The AVS.
    @param operatorSetIds The sets the operator leaves.
    """
    self.deregistrations += 1
    self.lastOperator = operator


@external
@view
def supportsAVS(avs: address) -> bool:
    """
    @notice Whether this registrar serves `avs`.
    @param avs The AVS.
    @return True if `avs` is the AVS given at deployment.
    """
    return avs == self.avs
