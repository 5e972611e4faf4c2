# pragma version ~=0.4.3
"""
@title OperatorSetSigCheck
@notice The shared AVS mechanism "a stake-weighted threshold of operator set X signed message M",
        ECDSA flavour (small sets): operators of the AVS's sets register a secp256k1 signing key
        with a proof of possession; a message digest is accepted for set X when the signers'
        allocated stake in X (from the AllocationManager, in X's strategies, at the current block)
        reaches X's threshold fraction of the stake allocated to X by all registered members.
@dev A Vyper module: the AVS contract that `initializes` it is the AVS of its operator sets and
     their registrar (membership is learned from the AllocationManager's registrar callbacks,
     the signing key arrives in the registration data). Signatures sign the digest itself (no
     EIP-191 prefix), one per signer, ordered by strictly ascending signing-key address, low s.
     Stake is the plain sum of allocated shares over the set's strategies (multiplier 1 each).
     BLS flavour (any set size): with a BLSRegistry (contracts/certs) attached, sets created
     afterwards take BN254 keys too (the registration data then carries the ECDSA part followed
     by the BLS part, which is forwarded to the registry), and a certificate is accepted when
     the registry's checker returns success at its reference block and the signed stake, summed
     over the set's strategies as for ECDSA, reaches the same threshold. BLS signers sign
     keccak256(abi.encode(digest, referenceBlock)), so a certificate names its block.
"""

from ..interfaces import ITypes
from ..interfaces import IAllocationManagerAVS as IAM
from ..interfaces import IBLSRegistry

MAX_MEMBERS: constant(uint256) = 64
MAX_STRATEGIES: constant(uint256) = 32
BPS: constant(uint256) = 10000
# a BLS certificate as the AVSs take it: abi.encode(uint32 referenceBlock, G1Point[] nonSigners,
# G2Point apkG2, G1Point sigma), at most 512 non-signers; forwarded to the registry as it is
BLS_CERT_MAX: constant(uint256) = 33056
SECP256K1_N: constant(uint256) = 115792089237316195423570985008687907852837564279074904382605163141518161494337
SECP256K1_HALF_N: constant(uint256) = 57896044618658097711785492504343953926418782139537452191302581570759080747168
KEY_DOMAIN: constant(bytes32) = keccak256("eigen.avs.SigningKey.v1")

struct Signature:
    v: uint8
    r: bytes32
    s: bytes32

event SigningKeyRegistered:
    operator: indexed(address)
    signingKey: indexed(address)
    previousKey: address

event OperatorSetMemberAdded:
    operatorSetId: indexed(uint32)
    operator: indexed(address)

event OperatorSetMemberRemoved:
    operatorSetId: indexed(uint32)
    operator: indexed(address)

event ThresholdSet:
    operatorSetId: indexed(uint32)
    thresholdBps: uint256

# The AllocationManager whose allocated stake weighs the signatures.
allocationManager: public(address)
# operator -> its signing key (zero: none).
signingKeyOf: public(HashMap[address, address])
# signing key -> its operator (a key belongs to one operator).
operatorOfKey: public(HashMap[address, address])
# operator set id -> signing threshold in basis points of allocated stake (0: set not managed).
thresholdBps: public(HashMap[uint32, uint256])
# The BLSRegistry of this AVS's sets (zero: ECDSA only).
blsRegistry: public(address)
# operator set id -> registered members.
_members: HashMap[uint32, DynArray[address, MAX_MEMBERS]]
_member_index: HashMap[uint32, HashMap[address, uint256]]  # 1-based position in _members


@deploy
def __init__(allocation_manager: address):
    """
    @notice Remember the AllocationManager whose stake the signatures are weighed by.
    @param allocation_manager The AllocationManager.
    """
    assert allocation_manager != empty(address), "zero allocation manager"
    self.allocationManager = allocation_manager


# ---------------------------------------------------------------- signatures

@internal
@view
def _recover(digest: bytes32, sig: Signature) -> address:
    # ecrecover with the rules the off-chain side applies: v in {27, 28}, 0 < r < n, 0 < s <= n/2.
    assert sig.v == 27 or sig.v == 28, "bad signature v"
    r: uint256 = convert(sig.r, uint256)
    s: uint256 = convert(sig.s, uint256)
    assert r != 0 and r < SECP256K1_N, "bad signature r"
    assert s != 0 and s <= SECP256K1_HALF_N, "high s"
    signer: address = ecrecover(digest, sig.v, sig.r, sig.s)
    assert signer != empty(address), "invalid signature"
    return signer


@internal
@view
def _key_digest(operator: address, key: address) -> bytes32:
    return keccak256(abi_encode(KEY_DOMAIN, chain.id, self, operator, key))


@internal
def _set_key(operator: address, key: address, sig: Signature):
    assert key != empty(address), "zero signing key"
    assert self.operatorOfKey[key] == empty(address), "signing key in use"
    assert self._recover(self._key_digest(operator, key), sig) == key, "bad proof of possession"
    old: address = self.signingKeyOf[operator]
    if old != empty(address):
        self.operatorOfKey[old] = empty(address)
    self.signingKeyOf[operator] = key
    self.operatorOfKey[key] = operator
    log SigningKeyRegistered(operator=operator, signingKey=key, previousKey=old)


# ---------------------------------------------------------------- membership (registrar side)

@internal
def _add_member(set_id: uint32, operator: address, data: Bytes[1024]):
    # `data` is abi.encode(address key, uint8 v, bytes32 r, bytes32 s), or empty when the operator
    # already has a key; for a BLS set, followed by the BLS registration (256 bytes, or nothing to
    # reuse the operator's key), which goes to the registry.
    reg: address = self.blsRegistry
    if reg != empty(address) and len(staticcall IBLSRegistry(reg).quorums(set_id)) != 0:
        bls: Bytes[256] = b""
        if len(data) == 384 or len(data) == 256:
            bls = slice(data, len(data) - 256, 256)
        extcall IBLSRegistry(reg).registerOperator(operator, self, [set_id], bls)
        if len(data) == 256:
            data = b""
    if len(data) != 0:
        assert len(data) == 128 or len(data) == 384, "bad registration data"
        key: address = empty(address)
        sig: Signature = empty(Signature)
        key, sig.v, sig.r, sig.s = abi_decode(slice(data, 0, 128), (address, uint8, bytes32, bytes32))
        if key != self.signingKeyOf[operator]:
            self._set_key(operator, key, sig)
    assert self.signingKeyOf[operator] != empty(address), "no signing key"
    assert self.thresholdBps[set_id] != 0, "set not managed"
    assert self._member_index[set_id][operator] == 0, "already a member"
    assert len(self._members[set_id]) < MAX_MEMBERS, "operator set full"
    self._members[set_id].append(operator)
    self._member_index[set_id][operator] = len(self._members[set_id])
    log OperatorSetMemberAdded(operatorSetId=set_id, operator=operator)


@internal
def _remove_member(set_id: uint32, operator: address):
    reg: address = self.blsRegistry
    if reg != empty(address) and len(staticcall IBLSRegistry(reg).quorums(set_id)) != 0:
        extcall IBLSRegistry(reg).deregisterOperator(operator, self, [set_id])
    idx: uint256 = self._member_index[set_id][operator]
    if idx == 0:
        return
    n: uint256 = len(self._members[set_id])
    last: address = self._members[set_id][n - 1]
    self._members[set_id][idx - 1] = last
    self._member_index[set_id][last] = idx
    self._members[set_id].pop()
    self._member_index[set_id][operator] = 0
    log OperatorSetMemberRemoved(operatorSetId=set_id, operator=operator)


@internal
def _set_bls_registry(registry: address):
    assert self.blsRegistry == empty(address), "bls registry already set"
    assert registry != empty(address), "zero bls registry"
    self.blsRegistry = registry


@internal
def _enable_bls(set_id: uint32, strategies: DynArray[address, MAX_STRATEGIES]):
    # a set created after the registry was attached takes BLS keys, one quorum per strategy
    reg: address = self.blsRegistry
    if reg == empty(address):
        return
    quorums: DynArray[address, 8] = []
    for s: address in strategies:
        quorums.append(s)
    extcall IBLSRegistry(reg).configureQuorums(set_id, quorums)


@internal
def _set_threshold(set_id: uint32, bps: uint256):
    assert bps != 0 and bps <= BPS, "bad threshold"
    self.thresholdBps[set_id] = bps
    log ThresholdSet(operatorSetId=set_id, thresholdBps=bps)


@external
def updateSigningKey(signingKey: address, v: uint8, r: bytes32, s: bytes32):
    """
    @notice Rotate the caller's signing key. (v, r, s) is the new key's signature over
            keccak256(abi.encode(KEY_DOMAIN, chainid, this, operator, signingKey)).
    @param signingKey The signing key (an address).
    @param v Recovery id of the possession signature (27 or 28).
    @param r Signature r.
    @param s Signature s.
    """
    assert self.signingKeyOf[msg.sender] != empty(address), "no signing key"
    self._set_key(msg.sender, signingKey, Signature(v=v, r=r, s=s))


# ---------------------------------------------------------------- the threshold check

@internal
@view
def _strategies(set_id: uint32) -> DynArray[address, MAX_STRATEGIES]:
    # the set's strategies, as the AllocationManager lists them (one decoder for every reader)
    return staticcall IAM(self.allocationManager).getStrategiesInOperatorSet(ITypes.OperatorSet(avs=self, id=set_id))


@internal
@view
def _stakes(set_id: uint32, operators: DynArray[address, MAX_MEMBERS]) -> DynArray[uint256, MAX_MEMBERS]:
    # each operator's stake allocated to the set, summed over the set's strategies
    rows: DynArray[DynArray[uint256, MAX_STRATEGIES], MAX_MEMBERS] = staticcall IAM(self.allocationManager).getAllocatedStake(ITypes.OperatorSet(avs=self, id=set_id), operators, self._strategies(set_id))
    stake: DynArray[uint256, MAX_MEMBERS] = []
    for row: DynArray[uint256, MAX_STRATEGIES] in rows:
        t: uint256 = 0
        for x: uint256 in row:
            t += x
        stake.append(t)
    return stake


@internal
@view
def _check(set_id: uint32, digest: bytes32, sigs: DynArray[Signature, MAX_MEMBERS]) -> (uint256, uint256):
    members: DynArray[address, MAX_MEMBERS] = self._members[set_id]
    assert len(members) != 0, "no members"
    stake: DynArray[uint256, MAX_MEMBERS] = self._stakes(set_id, members)
    total: uint256 = 0
    for t: uint256 in stake:
        total += t
    signed: uint256 = 0
    prev: uint256 = 0
    for sig: Signature in sigs:
        key: address = self._recover(digest, sig)
        assert convert(key, uint256) > prev, "signers not ascending"
        prev = convert(key, uint256)
        idx: uint256 = self._member_index[set_id][self.operatorOfKey[key]]
        assert idx != 0, "signer not in set"
        signed += stake[idx - 1]
    return signed, total


@internal
@view
def _require_threshold(set_id: uint32, digest: bytes32, sigs: DynArray[Signature, MAX_MEMBERS]) -> (uint256, uint256):
    signed: uint256 = 0
    total: uint256 = 0
    signed, total = self._check(set_id, digest, sigs)
    assert total != 0, "no stake in set"
    assert signed * BPS >= total * self.thresholdBps[set_id], "threshold not met"
    return signed, total


@internal
@view
def _bls_digest(digest: bytes32, reference_block: uint32) -> bytes32:
    return keccak256(abi_encode(digest, reference_block))


@internal
@view
def _bls_check(set_id: uint32, digest: bytes32, cert: Bytes[BLS_CERT_MAX], excluded: address) -> (uint256, uint256):
    # the registry's checkCertificate: signers signed blsDigest(digest, referenceBlock); stake at
    # the reference block summed over the set's strategies, `excluded` (if a member then) a
    # non-signer whose stake leaves the total
    reg: address = self.blsRegistry
    assert reg != empty(address), "no bls registry"
    status: uint8 = 0
    signed: uint256 = 0
    total: uint256 = 0
    status, signed, total = staticcall IBLSRegistry(reg).checkCertificate(set_id, digest, cert, excluded)
    assert status != 8, "accused operator signed"
    assert status == 1, "bls certificate rejected"
    return signed, total


@internal
@view
def _require_bls(set_id: uint32, digest: bytes32, cert: Bytes[BLS_CERT_MAX], excluded: address) -> (uint256, uint256):
    signed: uint256 = 0
    total: uint256 = 0
    signed, total = self._bls_check(set_id, digest, cert, excluded)
    assert total != 0, "no stake in set"
    assert signed * BPS >= total * self.thresholdBps[set_id], "threshold not met"
    return signed, total


@external
@view
def blsDigest(digest: bytes32, referenceBlock: uint32) -> bytes32:
    """
    @notice The message BLS signers sign for `digest` with a certificate at `referenceBlock`.
    @param digest The statement digest (the one ECDSA signers sign).
    @param referenceBlock The certificate's reference block.
    @return keccak256(abi.encode(digest, referenceBlock)).
    """
    return self._bls_digest(digest, referenceBlock)


@external
@view
def checkSignatures(operatorSetId: uint32, msgHash: bytes32, signatures: DynArray[Signature, MAX_MEMBERS]) -> (uint256, uint256):
    """
    @notice Verify signatures over `msgHash` by members of the set (strictly ascending signing
            keys, low s) and return (signers' allocated stake, all members' allocated stake).
            Reverts on any bad or foreign signature; does not apply the threshold.
    @param operatorSetId The operator set id within the AVS.
    @param msgHash The 32-byte message the signers signed.
    @param signatures The signatures, in strictly ascending order of signing key.
    @return (signed stake, total stake) of the set.
    """
    return self._check(operatorSetId, msgHash, signatures)


@external
@view
def isThresholdMet(operatorSetId: uint32, msgHash: bytes32, signatures: DynArray[Signature, MAX_MEMBERS]) -> bool:
    """
    @notice Whether the signers' stake reaches the set's threshold (reverts on bad signatures).
    @param operatorSetId The operator set id within the AVS.
    @param msgHash The 32-byte message the signers signed.
    @param signatures The signatures, in strictly ascending order of signing key.
    @return True if the signed stake reaches the threshold.
    """
    signed: uint256 = 0
    total: uint256 = 0
    signed, total = self._check(operatorSetId, msgHash, signatures)
    return total != 0 and signed * BPS >= total * self.thresholdBps[operatorSetId]


@external
@view
def getMembers(operatorSetId: uint32) -> DynArray[address, MAX_MEMBERS]:
    """
    @notice Registered members of the set (order changes on removal).
    @param operatorSetId The operator set id within the AVS.
    @return The members.
    """
    return self._members[operatorSetId]


@external
@view
def isMember(operatorSetId: uint32, operator: address) -> bool:
    """
    @notice Whether the operator is a registered member of the set.
    @param operatorSetId The operator set id within the AVS.
    @param operator The operator.
    @return True if `operator` is a member.
    """
    return self._member_index[operatorSetId][operator] != 0


@external
@view
def signingKeyDigest(operator: address, signingKey: address) -> bytes32:
    """
    @notice The digest a signing key signs to prove possession for `operator`.
    @param operator The operator.
    @param signingKey The signing key (an address).
    @return The possession digest.
    """
    return self._key_digest(operator, signingKey)
