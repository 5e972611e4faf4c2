# pragma version ~=0.4.3
# @title MockAVSRegistrar
# @notice Test registrar: records callbacks and rejects registrations while `reject` is set.

from ..interfaces import IAVSRegistrar

implements: IAVSRegistrar

avs: public(address)
reject: public(bool)
registrations: public(uint256)
deregistrations: public(uint256)
lastOperator: public(address)


@deploy
def __init__(_avs: address):
    self.avs = _avs


@external
def setReject(r: bool):
    self.reject = r


@external
def registerOperator(operator: address, avs: address, operatorSetIds: DynArray[uint32, 16], data: Bytes[1024]):
    assert not self.reject, "registrar rejected"
    self.registrations += 1
    self.lastOperator = operator


@external
def deregisterOperator(operator: address, avs: address, operatorSetIds: DynArray[uint32, 16]):
    self.deregistrations += 1
    self.lastOperator = operator


@external
@view
def supportsAVS(avs: address) -> bool:
    return avs == self.avs
