# pragma version ~=0.4.3
"""
@title BLSRegistry
@notice Operator-set certificates, BN254 BLS flavour, as EigenLayer's middleware builds them
        (BLSApkRegistry + StakeRegistry + BLSSignatureChecker in one contract, for one AVS):
        - keys: each operator registers one BN254 key pair (G1 and G2) per operator set with a
          proof of possession over hashToG1(EIP-712 digest of BN254PubkeyRegistration(address
          operator)) under this contract's domain; a key belongs to one operator for ever;
          operatorId = keccak256(pkG1.X || pkG1.Y); rotation takes effect after a delay;
        - histories: per set, the aggregate G1 key of its members and the total stake of each of
          its quorums (one quorum per strategy), and per (set, operatorId) membership and stake,
          all checkpointed by block, so a certificate is checked against its reference block;
        - the checker: checkSignatures(set, msgHash, referenceBlock, nonSigners, apkG2, sigma)
          computes apk = setApk - sum(nonSigners) and the signed stake per quorum at the reference
          block and runs the gamma-combined pairing check through the precompiles with bounded
          gas. It never reverts on a bad certificate: it returns a status.
@dev Membership arrives through the AllocationManager's registrar callbacks: this contract is the
     AVS's registrar, or the AVS contract (the registrar) forwards its callbacks. Stakes are the
     operators' allocated stake per strategy (AllocationManager.getAllocatedStake), recorded at
     registration, deregistration, key rotation and by the permissionless updateOperators.
"""

from ..interfaces import ITypes
from ..interfaces import IAllocationManagerAVS as IAM
from ..interfaces import IAVSRegistrar
from ..interfaces import IBLSRegistry

implements: IAVSRegistrar
implements: IBLSRegistry

interface IRegistrarOf:
    def getAVSRegistrar(avs: address) -> address: view

# the point structs are the interface's (contracts/interfaces/IBLSRegistry.vyi)

struct PendingKey:
    pk: IBLSRegistry.G1Point
    effectiveBlock: uint256

MAX_QUORUMS: constant(uint256) = 8
MAX_NON_SIGNERS: constant(uint256) = 512
MAX_BATCH: constant(uint256) = 64

P: constant(uint256) = 21888242871839275222246405745257275088696311157297823662689037894645226208583
R: constant(uint256) = 21888242871839275222246405745257275088548364400416034343698204186575808495617
SQRT_EXP: constant(uint256) = 5472060717959818805561601436314318772174077789324455915672259473661306552146
NEG_G2_X1: constant(uint256) = 11559732032986387107991004021392285783925812861821192530917403151452391805634
NEG_G2_X0: constant(uint256) = 10857046999023057135944570762232829481370756359578518086990519993285655852781
NEG_G2_Y1: constant(uint256) = 17805874995975841540914202342111839520379459829704422454583296818431106115052
NEG_G2_Y0: constant(uint256) = 13392588948715843804641432497768002650278120570034223513918757245338268106653
ZERO_PK_HASH: constant(bytes32) = 0xad3228b676f7d3cd4284a5443f17f1962b36e491b30a40b2405849e597ba5fb5

# gas stipends of the precompile calls (a failing precompile burns only its stipend)
EC_ADD_GAS: constant(uint256) = 500
EC_MUL_GAS: constant(uint256) = 8000
MODEXP_GAS: constant(uint256) = 5000
PAIRING_GAS: constant(uint256) = 120000

PUBKEY_REGISTRATION_TYPEHASH: constant(bytes32) = keccak256("BN254PubkeyRegistration(address operator)")
DOMAIN_TYPEHASH: constant(bytes32) = keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
NAME_HASH: constant(bytes32) = keccak256("EigenBLSRegistry")
VERSION_HASH: constant(bytes32) = keccak256("1")

# checkSignatures statuses
SUCCESS: constant(uint8) = 1
STALE_REFERENCE: constant(uint8) = 2      # reference block not in the past, or older than the window
UNKNOWN_SET: constant(uint8) = 3          # set not configured, or no members at the reference block
NON_SIGNERS_UNSORTED: constant(uint8) = 4  # operator ids not strictly ascending (or repeated)
NON_SIGNER_NOT_MEMBER: constant(uint8) = 5  # a non-signer key that was no member at the reference block
BAD_SIGNATURE_POINT: constant(uint8) = 6  # sigma off the curve
INVALID_SIGNATURE: constant(uint8) = 7    # the pairing equation fails or a precompile refused the input
EXCLUDED_SIGNED: constant(uint8) = 8      # checkCertificate: the excluded operator is not a non-signer
CERT_MAX: constant(uint256) = 33056

MASK32: constant(uint256) = 2**32 - 1
MAX_STAKE0: constant(uint256) = 2**192

event QuorumsConfigured:
    operatorSetId: indexed(uint32)
    strategies: DynArray[address, MAX_QUORUMS]

event KeyRegistered:
    operator: indexed(address)
    operatorSetId: indexed(uint32)
    operatorId: indexed(bytes32)
    pkG1: IBLSRegistry.G1Point
    pkG2: IBLSRegistry.G2Point

event KeyRotationQueued:
    operator: indexed(address)
    operatorSetId: indexed(uint32)
    operatorId: indexed(bytes32)
    effectiveBlock: uint256

event KeyRotated:
    operator: indexed(address)
    operatorSetId: indexed(uint32)
    operatorId: indexed(bytes32)
    previousOperatorId: bytes32

event OperatorAdded:
    operator: indexed(address)
    operatorSetId: indexed(uint32)
    operatorId: indexed(bytes32)

event OperatorRemoved:
    operator: indexed(address)
    operatorSetId: indexed(uint32)
    operatorId: indexed(bytes32)

event StakeUpdated:
    operatorId: indexed(bytes32)
    operatorSetId: indexed(uint32)
    stakes: DynArray[uint256, MAX_QUORUMS]

# The AllocationManager whose allocated stake is recorded.
allocationManager: public(immutable(address))
# The AVS whose operator sets this registry serves (its callbacks come from the AllocationManager
# when this contract is the registrar, or from the AVS when the AVS forwards them).
avs: public(immutable(address))
# Blocks between a key rotation request and the new key taking effect.
rotationDelay: public(immutable(uint256))
# A certificate's reference block may be at most this many blocks old.
maxStaleness: public(immutable(uint256))

# set -> its quorums (strategies), fixed once
_quorums: HashMap[uint32, DynArray[address, MAX_QUORUMS]]
# key hash (operatorId) -> operator, for ever (no key reused across operators)
operatorOfKey: public(HashMap[bytes32, address])
# set -> operator -> current key / operatorId / membership
_keyOf: HashMap[uint32, HashMap[address, IBLSRegistry.G1Point]]
operatorIdOf: public(HashMap[uint32, HashMap[address, bytes32]])
isMember: public(HashMap[uint32, HashMap[address, bool]])
_pending: HashMap[uint32, HashMap[address, PendingKey]]

# set history: block, apk, total stake per quorum
_setLen: HashMap[uint32, uint256]
_setBlock: HashMap[uint32, HashMap[uint256, uint256]]
_setApk: HashMap[uint32, HashMap[uint256, IBLSRegistry.G1Point]]
_setTotal: HashMap[uint32, HashMap[uint256, HashMap[uint256, uint256]]]
# operator history per (set, operatorId): word = block | member << 32 | stake(quorum 0) << 64,
# the other quorums' stakes beside it
_opLen: HashMap[uint32, HashMap[bytes32, uint256]]
_opCk: HashMap[uint32, HashMap[bytes32, HashMap[uint256, uint256]]]
_opStake: HashMap[uint32, HashMap[bytes32, HashMap[uint256, HashMap[uint256, uint256]]]]


@deploy
def __init__(_allocationManager: address, _avs: address, _rotationDelay: uint256, _maxStaleness: uint256):
    """
    @notice A registry for the operator sets of `_avs`.
    @param _allocationManager The AllocationManager (stake source, registrar callbacks).
    @param _avs The AVS whose sets this registry serves.
    @param _rotationDelay Blocks before a rotated key takes effect.
    @param _maxStaleness The oldest reference block a certificate may use, in blocks.
    """
    assert _allocationManager != empty(address) and _avs != empty(address), "zero address"
    assert _maxStaleness != 0, "zero staleness window"
    allocationManager = _allocationManager
    avs = _avs
    rotationDelay = _rotationDelay
    maxStaleness = _maxStaleness


# ---------------------------------------------------------------- BN254 through the precompiles

@internal
@view
def _ec_add(a: IBLSRegistry.G1Point, b: IBLSRegistry.G1Point) -> (bool, IBLSRegistry.G1Point):
    ok: bool = False
    out: Bytes[64] = b""
    ok, out = raw_call(
        0x0000000000000000000000000000000000000006,
        abi_encode(a.X, a.Y, b.X, b.Y),
        max_outsize=64, gas=EC_ADD_GAS, is_static_call=True, revert_on_failure=False,
    )
    if not ok or len(out) != 64:
        return False, empty(IBLSRegistry.G1Point)
    return True, IBLSRegistry.G1Point(X=extract32(out, 0, output_type=uint256), Y=extract32(out, 32, output_type=uint256))


@internal
@view
def _ec_mul(a: IBLSRegistry.G1Point, s: uint256) -> (bool, IBLSRegistry.G1Point):
    ok: bool = False
    out: Bytes[64] = b""
    ok, out = raw_call(
        0x0000000000000000000000000000000000000007,
        abi_encode(a.X, a.Y, s),
        max_outsize=64, gas=EC_MUL_GAS, is_static_call=True, revert_on_failure=False,
    )
    if not ok or len(out) != 64:
        return False, empty(IBLSRegistry.G1Point)
    return True, IBLSRegistry.G1Point(X=extract32(out, 0, output_type=uint256), Y=extract32(out, 32, output_type=uint256))


@internal
@pure
def _neg(a: IBLSRegistry.G1Point) -> IBLSRegistry.G1Point:
    if a.X == 0 and a.Y == 0:
        return a
    return IBLSRegistry.G1Point(X=a.X, Y=P - (a.Y % P))


@internal
@pure
def _on_curve(a: IBLSRegistry.G1Point) -> bool:
    if a.X == 0 and a.Y == 0:
        return True
    if a.X >= P or a.Y >= P:
        return False
    return uint256_mulmod(a.Y, a.Y, P) == uint256_addmod(uint256_mulmod(uint256_mulmod(a.X, a.X, P), a.X, P), 3, P)


@internal
@view
def _hash_to_g1(m: bytes32) -> IBLSRegistry.G1Point:
    # BN254.hashToG1: x = m mod p, then x + 1 until x^3 + 3 is a square; y = (x^3 + 3)^((p+1)/4).
    # Each step fails with probability 1/2: 64 steps fail with probability 2^-64.
    x: uint256 = convert(m, uint256) % P
    for i: uint256 in range(64):
        beta: uint256 = uint256_addmod(uint256_mulmod(uint256_mulmod(x, x, P), x, P), 3, P)
        ok: bool = False
        out: Bytes[32] = b""
        ok, out = raw_call(
            0x0000000000000000000000000000000000000005,
            abi_encode(convert(32, uint256), convert(32, uint256), convert(32, uint256), beta, SQRT_EXP, P),
            max_outsize=32, gas=MODEXP_GAS, is_static_call=True, revert_on_failure=False,
        )
        assert ok and len(out) == 32, "modexp failed"
        y: uint256 = extract32(out, 0, output_type=uint256)
        if uint256_mulmod(y, y, P) == beta:
            return IBLSRegistry.G1Point(X=x, Y=y)
        x = uint256_addmod(x, 1, P)
    raise "hashToG1: no point"


@internal
@view
def _gamma_pairing(sigma: IBLSRegistry.G1Point, pk: IBLSRegistry.G1Point, pk2: IBLSRegistry.G2Point, h: IBLSRegistry.G1Point, gamma: uint256) -> bool:
    # e(sigma + gamma * pk, -G2) * e(h + gamma * G1, pk2) == 1
    ok: bool = False
    t: IBLSRegistry.G1Point = empty(IBLSRegistry.G1Point)
    a: IBLSRegistry.G1Point = empty(IBLSRegistry.G1Point)
    b: IBLSRegistry.G1Point = empty(IBLSRegistry.G1Point)
    ok, t = self._ec_mul(pk, gamma)
    if not ok:
        return False
    ok, a = self._ec_add(sigma, t)
    if not ok:
        return False
    ok, t = self._ec_mul(IBLSRegistry.G1Point(X=1, Y=2), gamma)
    if not ok:
        return False
    ok, b = self._ec_add(h, t)
    if not ok:
        return False
    out: Bytes[32] = b""
    ok, out = raw_call(
        0x0000000000000000000000000000000000000008,
        abi_encode(
            a.X, a.Y, NEG_G2_X1, NEG_G2_X0, NEG_G2_Y1, NEG_G2_Y0,
            b.X, b.Y, pk2.X[0], pk2.X[1], pk2.Y[0], pk2.Y[1],
        ),
        max_outsize=32, gas=PAIRING_GAS, is_static_call=True, revert_on_failure=False,
    )
    return ok and len(out) == 32 and extract32(out, 0, output_type=uint256) == 1


@external
@view
def trySignatureAndApkVerification(msgHash: bytes32, apk: IBLSRegistry.G1Point, apkG2: IBLSRegistry.G2Point, sigma: IBLSRegistry.G1Point) -> (bool, bool):
    """
    @notice BLSSignatureChecker.trySignatureAndApkVerification: the gamma-combined pairing check
            e(sigma + gamma * apk, -G2) * e(H(m) + gamma * G1, apkG2) == 1 with gamma =
            keccak256(msgHash, apk, apkG2, sigma) mod r. Never reverts on bad points.
    @param msgHash The signed message hash.
    @param apk The signers' aggregate G1 key.
    @param apkG2 The signers' aggregate G2 key.
    @param sigma The aggregate signature.
    @return (the precompiles accepted the points, the signature is valid).
    """
    if not self._on_curve(apk) or not self._on_curve(sigma):
        return False, False
    gamma: uint256 = convert(keccak256(abi_encode(msgHash, apk, apkG2, sigma)), uint256) % R
    ok: bool = self._gamma_pairing(sigma, apk, apkG2, self._hash_to_g1(msgHash), gamma)
    return True, ok


# ---------------------------------------------------------------- keys

@internal
@view
def _domain_separator() -> bytes32:
    return keccak256(abi_encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, chain.id, self))


@internal
@view
def _registration_digest(operator: address) -> bytes32:
    struct_hash: bytes32 = keccak256(abi_encode(PUBKEY_REGISTRATION_TYPEHASH, operator))
    return keccak256(concat(b"\x19\x01", self._domain_separator(), struct_hash))


@external
@view
def pubkeyRegistrationMessageHash(operator: address) -> IBLSRegistry.G1Point:
    """
    @notice The G1 point an operator signs to prove possession of its key: hashToG1 of the EIP-712
            digest of BN254PubkeyRegistration(address operator) under this contract's domain.
    @param operator The operator.
    @return The message point.
    """
    return self._hash_to_g1(self._registration_digest(operator))


@external
@view
def calculatePubkeyRegistrationMessageHash(operator: address) -> bytes32:
    """
    @notice The EIP-712 digest behind pubkeyRegistrationMessageHash.
    @param operator The operator.
    @return The digest.
    """
    return self._registration_digest(operator)


@internal
def _claim_key(operator: address, pk1: IBLSRegistry.G1Point, pk2: IBLSRegistry.G2Point, sig: IBLSRegistry.G1Point) -> bytes32:
    # proof of possession, then the key is the operator's for ever
    oid: bytes32 = keccak256(abi_encode(pk1.X, pk1.Y))
    assert oid != ZERO_PK_HASH, "zero key"
    assert self._on_curve(pk1) and self._on_curve(sig), "point not on curve"
    owner: address = self.operatorOfKey[oid]
    assert owner == empty(address) or owner == operator, "key registered by another operator"
    h: IBLSRegistry.G1Point = self._hash_to_g1(self._registration_digest(operator))
    gamma: uint256 = convert(keccak256(abi_encode(sig, pk1, pk2, h)), uint256) % R
    assert self._gamma_pairing(sig, pk1, pk2, h, gamma), "invalid proof of possession"
    self.operatorOfKey[oid] = operator
    return oid


# ---------------------------------------------------------------- histories

@internal
@view
def _op_index(set_id: uint32, oid: bytes32, ref: uint256) -> (bool, uint256, uint256):
    # the last checkpoint of (set, oid) at or before `ref`: (found, index, word)
    n: uint256 = self._opLen[set_id][oid]
    if n == 0:
        return False, 0, 0
    w: uint256 = self._opCk[set_id][oid][n - 1]
    if w & MASK32 <= ref:
        return True, n - 1, w
    lo: uint256 = 0
    hi: uint256 = n - 1  # invariant: block(hi) > ref
    if self._opCk[set_id][oid][0] & MASK32 > ref:
        return False, 0, 0
    for i: uint256 in range(64):
        if hi - lo <= 1:
            break
        mid: uint256 = (lo + hi) // 2
        if self._opCk[set_id][oid][mid] & MASK32 <= ref:
            lo = mid
        else:
            hi = mid
    return True, lo, self._opCk[set_id][oid][lo]


@internal
@view
def _set_index(set_id: uint32, ref: uint256) -> (bool, uint256):
    n: uint256 = self._setLen[set_id]
    if n == 0:
        return False, 0
    if self._setBlock[set_id][n - 1] <= ref:
        return True, n - 1
    if self._setBlock[set_id][0] > ref:
        return False, 0
    lo: uint256 = 0
    hi: uint256 = n - 1
    for i: uint256 in range(64):
        if hi - lo <= 1:
            break
        mid: uint256 = (lo + hi) // 2
        if self._setBlock[set_id][mid] <= ref:
            lo = mid
        else:
            hi = mid
    return True, lo


@internal
@view
def _op_stakes(set_id: uint32, oid: bytes32, i: uint256, w: uint256, nq: uint256) -> DynArray[uint256, MAX_QUORUMS]:
    out: DynArray[uint256, MAX_QUORUMS] = [w >> 64]
    for q: uint256 in range(1, MAX_QUORUMS):
        if q >= nq:
            break
        out.append(self._opStake[set_id][oid][i][q])
    return out


@internal
def _op_push(set_id: uint32, oid: bytes32, member: bool, stakes: DynArray[uint256, MAX_QUORUMS]):
    n: uint256 = self._opLen[set_id][oid]
    i: uint256 = n
    if n != 0 and self._opCk[set_id][oid][n - 1] & MASK32 == block.number:
        i = n - 1
    else:
        self._opLen[set_id][oid] = n + 1
    assert stakes[0] < MAX_STAKE0, "stake too large"
    flag: uint256 = 0
    if member:
        flag = 1
    self._opCk[set_id][oid][i] = block.number | (flag << 32) | (stakes[0] << 64)
    for q: uint256 in range(1, MAX_QUORUMS):
        if q >= len(stakes):
            break
        self._opStake[set_id][oid][i][q] = stakes[q]
    log StakeUpdated(operatorId=oid, operatorSetId=set_id, stakes=stakes)


@internal
def _set_push(set_id: uint32, apk_delta: IBLSRegistry.G1Point, add: DynArray[uint256, MAX_QUORUMS], sub: DynArray[uint256, MAX_QUORUMS]):
    # new set checkpoint at this block: apk + delta, totals + add - sub
    n: uint256 = self._setLen[set_id]
    apk: IBLSRegistry.G1Point = empty(IBLSRegistry.G1Point)
    last: uint256 = 0
    if n != 0:
        last = n - 1
        apk = self._setApk[set_id][last]
    i: uint256 = n
    if n != 0 and self._setBlock[set_id][n - 1] == block.number:
        i = n - 1
    else:
        self._setLen[set_id] = n + 1
        self._setBlock[set_id][i] = block.number
    ok: bool = False
    ok, apk = self._ec_add(apk, apk_delta)
    assert ok, "ecAdd failed"
    self._setApk[set_id][i] = apk
    for q: uint256 in range(MAX_QUORUMS):
        if q >= len(add):
            break
        t: uint256 = 0
        if n != 0:
            t = self._setTotal[set_id][last][q]
        self._setTotal[set_id][i][q] = t + add[q] - sub[q]


@internal
@view
def _current_stakes(set_id: uint32, operators: DynArray[address, MAX_BATCH]) -> DynArray[DynArray[uint256, 32], MAX_BATCH]:
    qs: DynArray[address, MAX_QUORUMS] = self._quorums[set_id]
    strategies: DynArray[address, 32] = []
    for s: address in qs:
        strategies.append(s)
    return staticcall IAM(allocationManager).getAllocatedStake(ITypes.OperatorSet(avs=avs, id=set_id), operators, strategies)


@internal
@view
def _last_stakes(set_id: uint32, oid: bytes32) -> DynArray[uint256, MAX_QUORUMS]:
    nq: uint256 = len(self._quorums[set_id])
    n: uint256 = self._opLen[set_id][oid]
    if n == 0:
        zero: DynArray[uint256, MAX_QUORUMS] = []
        for q: uint256 in range(MAX_QUORUMS):
            if q >= nq:
                break
            zero.append(0)
        return zero
    return self._op_stakes(set_id, oid, n - 1, self._opCk[set_id][oid][n - 1], nq)


@internal
def _enter(set_id: uint32, operator: address, oid: bytes32, pk: IBLSRegistry.G1Point, stakes: DynArray[uint256, MAX_QUORUMS]):
    # a key that left earlier holds zero stake in its last checkpoint
    old: DynArray[uint256, MAX_QUORUMS] = self._last_stakes(set_id, oid)
    self._op_push(set_id, oid, True, stakes)
    self._set_push(set_id, pk, stakes, old)
    log OperatorAdded(operator=operator, operatorSetId=set_id, operatorId=oid)


@internal
def _leave(set_id: uint32, operator: address, oid: bytes32, pk: IBLSRegistry.G1Point):
    old: DynArray[uint256, MAX_QUORUMS] = self._last_stakes(set_id, oid)
    zero: DynArray[uint256, MAX_QUORUMS] = []
    for q: uint256 in range(MAX_QUORUMS):
        if q >= len(old):
            break
        zero.append(0)
    self._op_push(set_id, oid, False, zero)
    self._set_push(set_id, self._neg(pk), zero, old)
    log OperatorRemoved(operator=operator, operatorSetId=set_id, operatorId=oid)


@internal
@pure
def _same(a: DynArray[uint256, MAX_QUORUMS], b: DynArray[uint256, MAX_QUORUMS]) -> bool:
    if len(a) != len(b):
        return False
    for q: uint256 in range(MAX_QUORUMS):
        if q >= len(a):
            break
        if a[q] != b[q]:
            return False
    return True


@internal
@pure
def _stakes_row(row: DynArray[uint256, 32]) -> DynArray[uint256, MAX_QUORUMS]:
    out: DynArray[uint256, MAX_QUORUMS] = []
    for q: uint256 in range(MAX_QUORUMS):
        if q >= len(row):
            break
        out.append(row[q])
    return out


# ---------------------------------------------------------------- AVS side

@internal
@view
def _only_registrar_path():
    # the AllocationManager's callback when this registry is the AVS's registrar, or the AVS
    # contract forwarding its own callbacks when it is its own registrar (an AVS that is not the
    # registrar cannot attribute keys or membership to operators)
    registrar: address = staticcall IRegistrarOf(allocationManager).getAVSRegistrar(avs)
    assert (msg.sender == allocationManager and registrar == self) or (msg.sender == avs and registrar == avs), "only allocation manager or avs"


@external
def configureQuorums(operatorSetId: uint32, strategies: DynArray[address, MAX_QUORUMS]):
    """
    @notice Fix the quorums (strategies) of a set, once, before anyone registers. Only the AVS.
    @param operatorSetId The set.
    @param strategies Its quorums, in the order certificates report stake.
    """
    assert msg.sender == avs, "only avs"
    assert len(strategies) != 0, "no quorums"
    assert len(self._quorums[operatorSetId]) == 0, "quorums already set"
    self._quorums[operatorSetId] = strategies
    log QuorumsConfigured(operatorSetId=operatorSetId, strategies=strategies)


@external
def registerOperator(operator: address, _avs: address, operatorSetIds: DynArray[uint32, 16], data: Bytes[1024]):
    """
    @notice Registrar callback: `operator` joins `operatorSetIds`. `data` is abi.encode(IBLSRegistry.G1Point pkG1,
            IBLSRegistry.G2Point pkG2, IBLSRegistry.G1Point signature), the proof of possession over
            pubkeyRegistrationMessageHash(operator), or empty to reuse the operator's key in each set.
    @param operator The operator.
    @param _avs The AVS (must be this registry's).
    @param operatorSetIds The sets joined.
    @param data The key registration, or empty.
    """
    self._only_registrar_path()
    assert _avs == avs, "wrong avs"
    pk1: IBLSRegistry.G1Point = empty(IBLSRegistry.G1Point)
    pk2: IBLSRegistry.G2Point = empty(IBLSRegistry.G2Point)
    sig: IBLSRegistry.G1Point = empty(IBLSRegistry.G1Point)
    oid: bytes32 = empty(bytes32)
    if len(data) != 0:
        assert len(data) == 256, "bad registration data"
        pk1, pk2, sig = abi_decode(data, (IBLSRegistry.G1Point, IBLSRegistry.G2Point, IBLSRegistry.G1Point))
        oid = self._claim_key(operator, pk1, pk2, sig)
    ids: DynArray[address, MAX_BATCH] = [operator]
    for set_id: uint32 in operatorSetIds:
        assert len(self._quorums[set_id]) != 0, "set not configured"
        assert not self.isMember[set_id][operator], "already a member"
        if len(data) != 0:
            current: bytes32 = self.operatorIdOf[set_id][operator]
            assert current == empty(bytes32) or current == oid, "operator has another key in this set: rotate it"
            if current == empty(bytes32):
                self._keyOf[set_id][operator] = pk1
                self.operatorIdOf[set_id][operator] = oid
                log KeyRegistered(operator=operator, operatorSetId=set_id, operatorId=oid, pkG1=pk1, pkG2=pk2)
        key_id: bytes32 = self.operatorIdOf[set_id][operator]
        assert key_id != empty(bytes32), "no key in this set"
        self._apply_pending(set_id, operator)
        key_id = self.operatorIdOf[set_id][operator]
        rows: DynArray[DynArray[uint256, 32], MAX_BATCH] = self._current_stakes(set_id, ids)
        self.isMember[set_id][operator] = True
        self._enter(set_id, operator, key_id, self._keyOf[set_id][operator], self._stakes_row(rows[0]))


@external
def deregisterOperator(operator: address, _avs: address, operatorSetIds: DynArray[uint32, 16]):
    """
    @notice Registrar callback: `operator` leaves `operatorSetIds` (its key stays its own).
    @param operator The operator.
    @param _avs The AVS (must be this registry's).
    @param operatorSetIds The sets left.
    """
    self._only_registrar_path()
    assert _avs == avs, "wrong avs"
    for set_id: uint32 in operatorSetIds:
        if not self.isMember[set_id][operator]:
            continue
        self.isMember[set_id][operator] = False
        self._leave(set_id, operator, self.operatorIdOf[set_id][operator], self._keyOf[set_id][operator])


@external
@view
def supportsAVS(_avs: address) -> bool:
    """
    @notice Whether this registry serves `_avs`.
    @param _avs An AVS.
    @return True for this registry's AVS.
    """
    return _avs == avs


@external
def updateOperators(operatorSetId: uint32, operators: DynArray[address, MAX_BATCH]):
    """
    @notice Record the current allocated stake of members of a set (anyone may call; EigenLayer's
            StakeRegistry.updateOperators). Non-members are skipped.
    @param operatorSetId The set.
    @param operators Members whose stake to refresh.
    """
    rows: DynArray[DynArray[uint256, 32], MAX_BATCH] = self._current_stakes(operatorSetId, operators)
    for k: uint256 in range(MAX_BATCH):
        if k >= len(operators):
            break
        op: address = operators[k]
        if not self.isMember[operatorSetId][op]:
            continue
        oid: bytes32 = self.operatorIdOf[operatorSetId][op]
        new: DynArray[uint256, MAX_QUORUMS] = self._stakes_row(rows[k])
        old: DynArray[uint256, MAX_QUORUMS] = self._last_stakes(operatorSetId, oid)
        if self._same(new, old):
            continue
        self._op_push(operatorSetId, oid, True, new)
        self._set_push(operatorSetId, empty(IBLSRegistry.G1Point), new, old)


@external
def rotateKey(operatorSetId: uint32, pkG1: IBLSRegistry.G1Point, pkG2: IBLSRegistry.G2Point, signature: IBLSRegistry.G1Point):
    """
    @notice Queue a new key for the caller in a set where it has one; it takes effect
            `rotationDelay` blocks later (applyKeyRotation). The new key must be unused and proven.
    @param operatorSetId The set.
    @param pkG1 The new G1 key.
    @param pkG2 The new G2 key.
    @param signature Proof of possession of the new key.
    """
    assert self.operatorIdOf[operatorSetId][msg.sender] != empty(bytes32), "no key in this set"
    oid: bytes32 = self._claim_key(msg.sender, pkG1, pkG2, signature)
    assert oid != self.operatorIdOf[operatorSetId][msg.sender], "same key"
    eff: uint256 = block.number + rotationDelay
    self._pending[operatorSetId][msg.sender] = PendingKey(pk=pkG1, effectiveBlock=eff)
    log KeyRotationQueued(operator=msg.sender, operatorSetId=operatorSetId, operatorId=oid, effectiveBlock=eff)
    log KeyRegistered(operator=msg.sender, operatorSetId=operatorSetId, operatorId=oid, pkG1=pkG1, pkG2=pkG2)


@internal
def _apply_pending(set_id: uint32, operator: address) -> bool:
    pend: PendingKey = self._pending[set_id][operator]
    if pend.effectiveBlock == 0 or block.number < pend.effectiveBlock:
        return False
    old_id: bytes32 = self.operatorIdOf[set_id][operator]
    old_pk: IBLSRegistry.G1Point = self._keyOf[set_id][operator]
    new_id: bytes32 = keccak256(abi_encode(pend.pk.X, pend.pk.Y))
    self._pending[set_id][operator] = empty(PendingKey)
    if self.isMember[set_id][operator]:
        stakes: DynArray[uint256, MAX_QUORUMS] = self._last_stakes(set_id, old_id)
        self._leave(set_id, operator, old_id, old_pk)
        self._enter(set_id, operator, new_id, pend.pk, stakes)
    self._keyOf[set_id][operator] = pend.pk
    self.operatorIdOf[set_id][operator] = new_id
    log KeyRotated(operator=operator, operatorSetId=set_id, operatorId=new_id, previousOperatorId=old_id)
    return True


@external
def applyKeyRotation(operatorSetId: uint32, operator: address):
    """
    @notice Make a queued key rotation take effect once its delay has passed (anyone may call).
    @param operatorSetId The set.
    @param operator The operator.
    """
    assert self._apply_pending(operatorSetId, operator), "no rotation due"


# ---------------------------------------------------------------- the checker

@internal
@view
def _fail(status: uint8) -> (uint8, DynArray[uint256, MAX_QUORUMS], DynArray[uint256, MAX_QUORUMS]):
    return status, [], []


@internal
@view
def _check(set_id: uint32, msgHash: bytes32, ref: uint32, nonSigners: DynArray[IBLSRegistry.G1Point, MAX_NON_SIGNERS], apkG2: IBLSRegistry.G2Point, sigma: IBLSRegistry.G1Point) -> (uint8, DynArray[uint256, MAX_QUORUMS], DynArray[uint256, MAX_QUORUMS]):
    rb: uint256 = convert(ref, uint256)
    if rb >= block.number or block.number - rb > maxStaleness:
        return self._fail(STALE_REFERENCE)
    nq: uint256 = len(self._quorums[set_id])
    found: bool = False
    si: uint256 = 0
    found, si = self._set_index(set_id, rb)
    if nq == 0 or not found:
        return self._fail(UNKNOWN_SET)
    total: DynArray[uint256, MAX_QUORUMS] = []
    signed: DynArray[uint256, MAX_QUORUMS] = []
    for q: uint256 in range(MAX_QUORUMS):
        if q >= nq:
            break
        t: uint256 = self._setTotal[set_id][si][q]
        total.append(t)
        signed.append(t)
    # apk = setApk - sum(nonSigners); signed = total - sum(nonSigner stakes)
    nsum: IBLSRegistry.G1Point = empty(IBLSRegistry.G1Point)
    prev: uint256 = 0
    ok: bool = False
    for k: uint256 in range(MAX_NON_SIGNERS):
        if k >= len(nonSigners):
            break
        pk: IBLSRegistry.G1Point = nonSigners[k]
        oid: bytes32 = keccak256(abi_encode(pk.X, pk.Y))
        if k != 0 and convert(oid, uint256) <= prev:
            return self._fail(NON_SIGNERS_UNSORTED)
        prev = convert(oid, uint256)
        i: uint256 = 0
        w: uint256 = 0
        found, i, w = self._op_index(set_id, oid, rb)
        if not found or (w >> 32) & 1 == 0:
            return self._fail(NON_SIGNER_NOT_MEMBER)
        signed[0] -= w >> 64
        for q: uint256 in range(1, MAX_QUORUMS):
            if q >= nq:
                break
            signed[q] -= self._opStake[set_id][oid][i][q]
        # registered keys are on the curve: the addition cannot fail
        ok, nsum = self._ec_add(nsum, pk)
    if not self._on_curve(sigma):
        return self._fail(BAD_SIGNATURE_POINT)
    apk: IBLSRegistry.G1Point = empty(IBLSRegistry.G1Point)
    ok, apk = self._ec_add(self._setApk[set_id][si], self._neg(nsum))
    gamma: uint256 = convert(keccak256(abi_encode(msgHash, apk, apkG2, sigma)), uint256) % R
    if not ok or not self._gamma_pairing(sigma, apk, apkG2, self._hash_to_g1(msgHash), gamma):
        return self._fail(INVALID_SIGNATURE)
    return SUCCESS, signed, total


@external
@view
def checkSignatures(operatorSetId: uint32, msgHash: bytes32, referenceBlock: uint32, nonSignerPubkeys: DynArray[IBLSRegistry.G1Point, MAX_NON_SIGNERS], apkG2: IBLSRegistry.G2Point, sigma: IBLSRegistry.G1Point) -> (uint8, DynArray[uint256, MAX_QUORUMS], DynArray[uint256, MAX_QUORUMS]):
    """
    @notice Check a certificate against the set's keys and stakes at `referenceBlock`:
            non-signers strictly ascending by operatorId and members then, apk = setApk -
            sum(nonSigners), the gamma-combined pairing check. Never reverts on a bad certificate.
    @param operatorSetId The set.
    @param msgHash The signed message hash.
    @param referenceBlock The block whose keys and stakes apply (in the past, within maxStaleness).
    @param nonSignerPubkeys The non-signers' G1 keys, sorted by operatorId.
    @param apkG2 The signers' aggregate G2 key.
    @param sigma The aggregate signature.
    @return (status: 1 success, 2 stale reference, 3 unknown set, 4 non-signers unsorted, 5
            non-signer not a member, 6 sigma off the curve, 7 invalid signature; signed stake per
            quorum; total stake per quorum), the stakes empty unless the status is 1.
    """
    return self._check(operatorSetId, msgHash, referenceBlock, nonSignerPubkeys, apkG2, sigma)


@external
@view
def isThresholdMet(operatorSetId: uint32, msgHash: bytes32, referenceBlock: uint32, nonSignerPubkeys: DynArray[IBLSRegistry.G1Point, MAX_NON_SIGNERS], apkG2: IBLSRegistry.G2Point, sigma: IBLSRegistry.G1Point, thresholdBps: uint256) -> (uint8, bool):
    """
    @notice checkSignatures, then whether every quorum's signed stake reaches `thresholdBps` of its
            (non-zero) total.
    @param operatorSetId The set.
    @param msgHash The signed message hash.
    @param referenceBlock The reference block.
    @param nonSignerPubkeys The non-signers' G1 keys, sorted by operatorId.
    @param apkG2 The signers' aggregate G2 key.
    @param sigma The aggregate signature.
    @param thresholdBps The threshold in basis points.
    @return (status, met).
    """
    status: uint8 = 0
    signed: DynArray[uint256, MAX_QUORUMS] = []
    total: DynArray[uint256, MAX_QUORUMS] = []
    status, signed, total = self._check(operatorSetId, msgHash, referenceBlock, nonSignerPubkeys, apkG2, sigma)
    if status != SUCCESS:
        return status, False
    for q: uint256 in range(MAX_QUORUMS):
        if q >= len(total):
            break
        if total[q] == 0 or signed[q] * 10000 < total[q] * thresholdBps:
            return status, False
    return status, True


@external
@view
def checkCertificate(operatorSetId: uint32, digest: bytes32, cert: Bytes[CERT_MAX], excluded: address) -> (uint8, uint256, uint256):
    """
    @notice The AVS contracts' entry (OperatorSetSigCheck): `cert` = abi.encode(uint32
            referenceBlock, G1Point[] nonSigners, G2Point apkG2, G1Point sigma) over the message
            keccak256(abi.encode(digest, referenceBlock)), checked as checkSignatures does; stakes
            are summed over the set's quorums. If `excluded` (an operator; zero: none) was a member
            at the reference block, its key must be a non-signer (else status 8) and its stake
            leaves the total. Reverts only on a certificate that is not ABI-encoded.
    @param operatorSetId The set.
    @param digest The statement digest.
    @param cert The encoded certificate.
    @param excluded An operator that may not sign and does not count (zero: none).
    @return (status, signed stake, total stake), the stakes summed over the quorums.
    """
    ref: uint32 = 0
    ns: DynArray[IBLSRegistry.G1Point, MAX_NON_SIGNERS] = []
    apk_g2: IBLSRegistry.G2Point = empty(IBLSRegistry.G2Point)
    sigma: IBLSRegistry.G1Point = empty(IBLSRegistry.G1Point)
    ref, ns, apk_g2, sigma = abi_decode(cert, (uint32, DynArray[IBLSRegistry.G1Point, MAX_NON_SIGNERS], IBLSRegistry.G2Point, IBLSRegistry.G1Point))
    status: uint8 = 0
    signed_q: DynArray[uint256, MAX_QUORUMS] = []
    total_q: DynArray[uint256, MAX_QUORUMS] = []
    status, signed_q, total_q = self._check(operatorSetId, keccak256(abi_encode(digest, ref)), ref, ns, apk_g2, sigma)
    if status != SUCCESS:
        return status, 0, 0
    signed: uint256 = 0
    total: uint256 = 0
    for q: uint256 in range(MAX_QUORUMS):
        if q >= len(total_q):
            break
        signed += signed_q[q]
        total += total_q[q]
    if excluded != empty(address):
        oid: bytes32 = self.operatorIdOf[operatorSetId][excluded]
        found: bool = False
        i: uint256 = 0
        w: uint256 = 0
        found, i, w = self._op_index(operatorSetId, oid, convert(ref, uint256))
        if found and (w >> 32) & 1 == 1:
            listed: bool = False
            for pk: IBLSRegistry.G1Point in ns:
                if keccak256(abi_encode(pk.X, pk.Y)) == oid:
                    listed = True
                    break
            if not listed:
                return EXCLUDED_SIGNED, 0, 0
            own: DynArray[uint256, MAX_QUORUMS] = self._op_stakes(operatorSetId, oid, i, w, len(self._quorums[operatorSetId]))
            for x: uint256 in own:
                total -= x
    return SUCCESS, signed, total


# ---------------------------------------------------------------- views

@external
@view
def quorums(operatorSetId: uint32) -> DynArray[address, MAX_QUORUMS]:
    """
    @notice The set's quorums (strategies).
    @param operatorSetId The set.
    @return The strategies.
    """
    return self._quorums[operatorSetId]


@external
@view
def keyOf(operatorSetId: uint32, operator: address) -> IBLSRegistry.G1Point:
    """
    @notice The operator's current G1 key in the set (zero: none).
    @param operatorSetId The set.
    @param operator The operator.
    @return The key.
    """
    return self._keyOf[operatorSetId][operator]


@external
@view
def pendingKey(operatorSetId: uint32, operator: address) -> PendingKey:
    """
    @notice A queued key rotation (effectiveBlock 0: none).
    @param operatorSetId The set.
    @param operator The operator.
    @return The pending key.
    """
    return self._pending[operatorSetId][operator]


@external
@view
def apkAt(operatorSetId: uint32, blockNumber: uint32) -> IBLSRegistry.G1Point:
    """
    @notice The set's aggregate G1 key at a block (zero before any member).
    @param operatorSetId The set.
    @param blockNumber The block.
    @return The aggregate key.
    """
    found: bool = False
    i: uint256 = 0
    found, i = self._set_index(operatorSetId, convert(blockNumber, uint256))
    if not found:
        return empty(IBLSRegistry.G1Point)
    return self._setApk[operatorSetId][i]


@external
@view
def totalStakeAt(operatorSetId: uint32, blockNumber: uint32) -> DynArray[uint256, MAX_QUORUMS]:
    """
    @notice The set's total stake per quorum at a block (empty before any member).
    @param operatorSetId The set.
    @param blockNumber The block.
    @return The totals.
    """
    found: bool = False
    i: uint256 = 0
    found, i = self._set_index(operatorSetId, convert(blockNumber, uint256))
    out: DynArray[uint256, MAX_QUORUMS] = []
    if not found:
        return out
    for q: uint256 in range(MAX_QUORUMS):
        if q >= len(self._quorums[operatorSetId]):
            break
        out.append(self._setTotal[operatorSetId][i][q])
    return out


@external
@view
def operatorStakeAt(operatorSetId: uint32, operatorId: bytes32, blockNumber: uint32) -> (bool, DynArray[uint256, MAX_QUORUMS]):
    """
    @notice An operator key's membership and stake per quorum in the set at a block.
    @param operatorSetId The set.
    @param operatorId The operator id (keccak256 of its G1 key).
    @param blockNumber The block.
    @return (member, stakes).
    """
    found: bool = False
    i: uint256 = 0
    w: uint256 = 0
    found, i, w = self._op_index(operatorSetId, operatorId, convert(blockNumber, uint256))
    if not found or (w >> 32) & 1 == 0:
        return False, []
    return True, self._op_stakes(operatorSetId, operatorId, i, w, len(self._quorums[operatorSetId]))
