# pragma version ~=0.4.3
"""
@title EigenDACertVerifier
@notice EigenDA's certificate verifier (EigenDACertVerifier + EigenDACertVerificationLib) over the
        project's BLS checker (contracts/certs/BLSRegistry.vy). `checkDACert(abi.encode(cert))`
        never reverts on a bad certificate; it returns a status:
          1 SUCCESS
          2 INVALID_INCLUSION_PROOF      keccak256(certHash) not under batchRoot at blobIndex
          3 SECURITY_ASSUMPTIONS_NOT_MET unknown blob version, or
                                         codingRate*(numChunks - maxNumOperators)*(conf - adv)
                                         < 100*numChunks
          4 BLOB_QUORUMS_NOT_SUBSET      a blob quorum is not confirmed (signed*100 < total*conf)
          5 REQUIRED_QUORUMS_NOT_SUBSET  a required quorum is not among the blob's quorums
          6 INVALID_CERT                 malformed (ABI, shapes, signed quorums not ascending or
                                         unknown) or the BLS check failed (non-signers, signature)
          7 INTERNAL_ERROR               the BLS checker itself failed (reverted)
          8 REFERENCE_BLOCK_NOT_RECENT   reference block not before this block or older than the
                                         recency window (or the checker's staleness window)
        Statuses 0-7 are EigenDA's; 8 is ours (EigenDA V4 folds recency into its derivation rules).
@dev Operators sign msg = keccak256(abi.encode(BatchHeaderV2)) with BN254 BLS. The BLSRegistry
     finds keys and stakes at the reference block itself (latest checkpoint, then binary search), so
     the certificate's lookup hints (quorumApks, quorumApkIndices, totalStakeIndices,
     nonSignerStakeIndices, nonSignerQuorumBitmapIndices) are only checked for shape, as
     EigenDA's checker requires one per signed quorum / non-signer. The registry's signature covers
     every quorum at once (each signer counted once), so a non-signer is one entry.
"""

from ..lib import ownable
from ..interfaces import IBLSRegistry

initializes: ownable
exports: ownable.__interface__

MAX_QUORUMS: constant(uint256) = 8  # the BLSRegistry's quorums per set
MAX_CERT_QUORUMS: constant(uint256) = 5  # signed quorums a certificate may carry (EigenDA's guard)
MAX_NON_SIGNERS: constant(uint256) = 415  # EigenDA's guard (PR #2413)
MAX_RELAYS: constant(uint256) = 32
MAX_PROOF: constant(uint256) = 1024  # 32 levels of 32-byte siblings
MAX_CERT_BYTES: constant(uint256) = 65536
MAX_VERSIONS: constant(uint256) = 65536

SUCCESS: constant(uint8) = 1
INVALID_INCLUSION_PROOF: constant(uint8) = 2
SECURITY_ASSUMPTIONS_NOT_MET: constant(uint8) = 3
BLOB_QUORUMS_NOT_SUBSET: constant(uint8) = 4
REQUIRED_QUORUMS_NOT_SUBSET: constant(uint8) = 5
INVALID_CERT: constant(uint8) = 6
INTERNAL_ERROR: constant(uint8) = 7
REFERENCE_BLOCK_NOT_RECENT: constant(uint8) = 8

BLS_SUCCESS: constant(uint8) = 1
BLS_STALE: constant(uint8) = 2

CHECK_SIGNATURES: constant(bytes4) = method_id("checkSignatures(uint32,bytes32,uint32,(uint256,uint256)[],(uint256[2],uint256[2]),(uint256,uint256))", output_type=bytes4)
CHECK_V3: constant(bytes4) = method_id("checkDACertV3(((bytes32,uint32),(((uint16,bytes,((uint256,uint256),(uint256[2],uint256[2]),(uint256[2],uint256[2]),uint32),bytes32),bytes,uint32[]),uint32,bytes),(uint32[],(uint256,uint256)[],(uint256,uint256)[],(uint256[2],uint256[2]),(uint256,uint256),uint32[],uint32[],uint32[][]),bytes))", output_type=bytes4)


struct BatchHeaderV2:
    batchRoot: bytes32
    referenceBlockNumber: uint32


struct BlobCommitment:
    commitment: IBLSRegistry.G1Point
    lengthCommitment: IBLSRegistry.G2Point
    lengthProof: IBLSRegistry.G2Point
    length: uint32


struct BlobHeaderV2:
    version: uint16
    quorumNumbers: Bytes[MAX_QUORUMS]
    commitment: BlobCommitment
    paymentHeaderHash: bytes32


struct BlobCertificate:
    blobHeader: BlobHeaderV2
    signature: Bytes[65]
    relayKeys: DynArray[uint32, MAX_RELAYS]


struct BlobInclusionInfo:
    blobCertificate: BlobCertificate
    blobIndex: uint32
    inclusionProof: Bytes[MAX_PROOF]


struct NonSignerStakesAndSignature:
    nonSignerQuorumBitmapIndices: DynArray[uint32, MAX_NON_SIGNERS]
    nonSignerPubkeys: DynArray[IBLSRegistry.G1Point, MAX_NON_SIGNERS]
    quorumApks: DynArray[IBLSRegistry.G1Point, MAX_CERT_QUORUMS]
    apkG2: IBLSRegistry.G2Point
    sigma: IBLSRegistry.G1Point
    quorumApkIndices: DynArray[uint32, MAX_CERT_QUORUMS]
    totalStakeIndices: DynArray[uint32, MAX_CERT_QUORUMS]
    nonSignerStakeIndices: DynArray[DynArray[uint32, MAX_NON_SIGNERS], MAX_CERT_QUORUMS]


struct EigenDACertV3:
    batchHeader: BatchHeaderV2
    blobInclusionInfo: BlobInclusionInfo
    nonSignerStakesAndSignature: NonSignerStakesAndSignature
    signedQuorumNumbers: Bytes[MAX_CERT_QUORUMS]


# EigenDAThresholdRegistry's VersionedBlobParams and SecurityThresholds
struct VersionedBlobParams:
    maxNumOperators: uint32
    numChunks: uint32
    codingRate: uint8


struct SecurityThresholds:
    confirmationThreshold: uint8
    adversaryThreshold: uint8


event VersionedBlobParamsAdded:
    version: indexed(uint16)
    versionedBlobParams: VersionedBlobParams


blsRegistry: public(immutable(address))
operatorSetId: public(immutable(uint32))
confirmationThreshold: public(immutable(uint8))
adversaryThreshold: public(immutable(uint8))
requiredQuorumsBitmap: public(immutable(uint256))
recencyWindow: public(immutable(uint32))

nextBlobVersion: public(uint16)
versionedBlobParams: HashMap[uint16, VersionedBlobParams]


@deploy
def __init__(_owner: address, _blsRegistry: address, _operatorSetId: uint32, _securityThresholds: SecurityThresholds, _requiredQuorumNumbers: Bytes[MAX_QUORUMS], _recencyWindow: uint32, _blobParams: VersionedBlobParams):
    """
    @param _owner Adds blob versions (EigenDAThresholdRegistry's owner).
    @param _blsRegistry The BLS checker whose set signs batches.
    @param _operatorSetId The operator set (its quorums are the registry's, numbered from 0).
    @param _securityThresholds Confirmation and adversary thresholds in percent (conf > adv, <= 100).
    @param _requiredQuorumNumbers Quorums every certificate's blob must use (EigenDA: 0x0001).
    @param _recencyWindow The oldest reference block accepted, in blocks behind this block.
    @param _blobParams The parameters of blob version 0.
    """
    ownable.__init__(_owner)
    assert _blsRegistry != empty(address), "zero registry"
    assert _securityThresholds.confirmationThreshold <= 100, "threshold above 100"
    assert _securityThresholds.confirmationThreshold > _securityThresholds.adversaryThreshold, "confirmation not above adversary"
    assert _recencyWindow != 0, "zero recency window"
    blsRegistry = _blsRegistry
    operatorSetId = _operatorSetId
    confirmationThreshold = _securityThresholds.confirmationThreshold
    adversaryThreshold = _securityThresholds.adversaryThreshold
    requiredQuorumsBitmap = self._bitmap(_requiredQuorumNumbers, False)
    recencyWindow = _recencyWindow
    self._add_params(_blobParams)


@internal
@pure
def _bitmap(quorums: Bytes[MAX_QUORUMS], ascending: bool) -> uint256:
    # bytesArrayToBitmap / orderedBytesArrayToBitmap; max_value(uint256) marks a refused array
    # (a repeat, or with `ascending` an out-of-order entry)
    out: uint256 = 0
    prev: int256 = -1
    for i: uint256 in range(len(quorums), bound=MAX_QUORUMS):
        q: uint256 = convert(slice(quorums, i, 1), uint256)
        if out & (1 << q) != 0 or (ascending and convert(q, int256) <= prev):
            return max_value(uint256)
        out |= 1 << q
        prev = convert(q, int256)
    return out


@internal
def _add_params(p: VersionedBlobParams) -> uint16:
    v: uint16 = self.nextBlobVersion
    self.versionedBlobParams[v] = p
    self.nextBlobVersion = v + 1
    log VersionedBlobParamsAdded(version=v, versionedBlobParams=p)
    return v


@external
def addVersionedBlobParams(_params: VersionedBlobParams) -> uint16:
    """
    @notice Add the next blob version (owner only; EigenDAThresholdRegistry.addVersionedBlobParams).
    @param _params {maxNumOperators, numChunks, codingRate}.
    @return The new version.
    """
    ownable._check_owner()
    assert self.nextBlobVersion != max_value(uint16), "no versions left"
    return self._add_params(_params)


@view
@external
def getBlobParams(_version: uint16) -> VersionedBlobParams:
    """
    @notice The parameters of blob version `_version` (zero if not added).
    @param _version The blob version.
    @return {maxNumOperators, numChunks, codingRate}.
    """
    return self.versionedBlobParams[_version]


@view
@external
def securityThresholds() -> SecurityThresholds:
    """
    @notice The confirmation and adversary thresholds in percent.
    @return {confirmationThreshold, adversaryThreshold}.
    """
    return SecurityThresholds(confirmationThreshold=confirmationThreshold, adversaryThreshold=adversaryThreshold)


# ----- hashes (EigenDAHasher) ----------------------------------------------------------------------


@internal
@pure
def _blob_key(h: BlobHeaderV2) -> bytes32:
    return keccak256(abi_encode(keccak256(abi_encode(h.version, h.quorumNumbers, h.commitment)), h.paymentHeaderHash))


@internal
@pure
def _cert_hash(c: BlobCertificate) -> bytes32:
    return keccak256(abi_encode(self._blob_key(c.blobHeader), c.signature, c.relayKeys))


@internal
@pure
def _included(info: BlobInclusionInfo, root: bytes32) -> bool:
    # Merkle.verifyInclusionKeccak(proof, root, keccak256(certHash), index), the index inside the tree
    proof: Bytes[MAX_PROOF] = info.inclusionProof
    n: uint256 = len(proof)
    if n % 32 != 0 or convert(info.blobIndex, uint256) >> (n // 32) != 0:
        return False
    h: bytes32 = keccak256(self._cert_hash(info.blobCertificate))
    index: uint256 = convert(info.blobIndex, uint256)
    for k: uint256 in range(MAX_PROOF // 32):
        if k * 32 >= n:
            break
        sibling: bytes32 = extract32(proof, k * 32)
        if index % 2 == 0:
            h = keccak256(concat(h, sibling))
        else:
            h = keccak256(concat(sibling, h))
        index //= 2
    return h == root


@view
@external
def hashBlobHeaderV2(_blobHeader: BlobHeaderV2) -> bytes32:
    """
    @notice The blob key: keccak256(abi.encode(keccak256(abi.encode(version, quorumNumbers,
            commitment)), paymentHeaderHash)).
    @param _blobHeader The blob header.
    @return The blob key.
    """
    return self._blob_key(_blobHeader)


@view
@external
def hashBlobCertificate(_blobCertificate: BlobCertificate) -> bytes32:
    """
    @notice keccak256(abi.encode(blobKey, signature, relayKeys)).
    @param _blobCertificate The blob certificate.
    @return Its hash (the batch tree's leaf is keccak256 of it).
    """
    return self._cert_hash(_blobCertificate)


@view
@external
def hashBatchHeaderV2(_batchHeader: BatchHeaderV2) -> bytes32:
    """
    @notice The message operators sign: keccak256(abi.encode(batchRoot, referenceBlockNumber)).
    @param _batchHeader The batch header.
    @return Its hash.
    """
    return keccak256(abi_encode(_batchHeader))


@view
@external
def verifyBlobInclusion(_info: BlobInclusionInfo, _batchRoot: bytes32) -> bool:
    """
    @notice Whether keccak256(certHash) is the leaf at blobIndex of the tree with root `_batchRoot`.
    @param _info The blob's inclusion info.
    @param _batchRoot The batch root.
    @return The verdict.
    """
    return self._included(_info, _batchRoot)


# ----- the checks ------------------------------------------------------------------------------------


@internal
@view
def _security_ok(version: uint16) -> bool:
    if version >= self.nextBlobVersion:
        return False
    p: VersionedBlobParams = self.versionedBlobParams[version]
    if p.numChunks <= p.maxNumOperators:
        return False
    lhs: uint256 = convert(p.codingRate, uint256) * convert(p.numChunks - p.maxNumOperators, uint256) * convert(confirmationThreshold - adversaryThreshold, uint256)
    return lhs >= 100 * convert(p.numChunks, uint256)


@view
@external
def checkDACertV3(cert: EigenDACertV3) -> (uint8, uint8):
    """
    @notice Check a decoded certificate: (status as checkDACert, the BLS checker's own status, 0 if
            the check stopped before it).
    @param cert The certificate (read in place: an internal call would copy its ~110 KB frame).
    @return (status, BLS checker status).
    """
    bh: BatchHeaderV2 = cert.batchHeader
    # shapes (EigenDA's checker reverts on these: INVALID_CERT)
    signed_bitmap: uint256 = self._bitmap(cert.signedQuorumNumbers, True)
    nq: uint256 = len(cert.signedQuorumNumbers)
    if signed_bitmap == max_value(uint256) or nq == 0:
        return INVALID_CERT, 0
    if len(cert.nonSignerStakesAndSignature.quorumApks) != nq or len(cert.nonSignerStakesAndSignature.quorumApkIndices) != nq or len(cert.nonSignerStakesAndSignature.totalStakeIndices) != nq or len(cert.nonSignerStakesAndSignature.nonSignerStakeIndices) != nq:
        return INVALID_CERT, 0
    if len(cert.nonSignerStakesAndSignature.nonSignerQuorumBitmapIndices) != len(cert.nonSignerStakesAndSignature.nonSignerPubkeys):
        return INVALID_CERT, 0
    # inclusion, security parameters, recency
    if not self._included(cert.blobInclusionInfo, bh.batchRoot):
        return INVALID_INCLUSION_PROOF, 0
    if not self._security_ok(cert.blobInclusionInfo.blobCertificate.blobHeader.version):
        return SECURITY_ASSUMPTIONS_NOT_MET, 0
    rbn: uint256 = convert(bh.referenceBlockNumber, uint256)
    if rbn >= block.number or block.number - rbn > convert(recencyWindow, uint256):
        return REFERENCE_BLOCK_NOT_RECENT, 0
    # the BLS checker at the reference block
    ok: bool = False
    res: Bytes[704] = b""
    g: uint256 = msg.gas
    ok, res = raw_call(
        blsRegistry,
        abi_encode(operatorSetId, keccak256(abi_encode(bh)), bh.referenceBlockNumber, cert.nonSignerStakesAndSignature.nonSignerPubkeys, cert.nonSignerStakesAndSignature.apkG2, cert.nonSignerStakesAndSignature.sigma, method_id=CHECK_SIGNATURES),
        max_outsize=704,
        is_static_call=True,
        revert_on_failure=False,
    )
    if not ok:
        # a checker that ran out of the gas it was given is the caller's shortfall, not a bad
        # certificate: revert (63/64 rule: then about g/64 is left here; a checker that refuses
        # at once leaves nearly all of g)
        assert msg.gas > g // 8, "out of gas"
        return INTERNAL_ERROR, 0
    if len(res) < 160:
        return INTERNAL_ERROR, 0
    bls: uint8 = 0
    signed: DynArray[uint256, MAX_QUORUMS] = []
    total: DynArray[uint256, MAX_QUORUMS] = []
    bls, signed, total = abi_decode(res, (uint8, DynArray[uint256, MAX_QUORUMS], DynArray[uint256, MAX_QUORUMS]))
    if bls == BLS_STALE:
        return REFERENCE_BLOCK_NOT_RECENT, bls
    if bls != BLS_SUCCESS:
        return INVALID_CERT, bls
    # confirmed quorums: signed and signed * 100 >= total * confirmationThreshold (total > 0)
    if signed_bitmap >> len(total) != 0:
        return INVALID_CERT, bls
    confirmed: uint256 = 0
    for q: uint256 in range(MAX_QUORUMS):
        if q >= len(total):
            break
        if signed_bitmap & (1 << q) != 0 and total[q] != 0 and signed[q] * 100 >= total[q] * convert(confirmationThreshold, uint256):
            confirmed |= 1 << q
    blob_bitmap: uint256 = self._bitmap(cert.blobInclusionInfo.blobCertificate.blobHeader.quorumNumbers, False)
    if blob_bitmap == max_value(uint256):
        return INVALID_CERT, bls
    if blob_bitmap & confirmed != blob_bitmap:
        return BLOB_QUORUMS_NOT_SUBSET, bls
    if requiredQuorumsBitmap & blob_bitmap != requiredQuorumsBitmap:
        return REQUIRED_QUORUMS_NOT_SUBSET, bls
    return SUCCESS, bls


@view
@external
def checkDACert(_abiEncodedCert: Bytes[MAX_CERT_BYTES]) -> uint8:
    """
    @notice Check abi.encode(EigenDACertV3). Never reverts on a bad certificate: a certificate that
            does not decode (or exceeds the bounds) is INVALID_CERT (6). Reverts "out of gas" when
            the check ran out of the gas it was given (so no certificate is judged for want of gas).
    @param _abiEncodedCert The ABI-encoded certificate.
    @return The status (1 SUCCESS; see the contract notice).
    """
    ok: bool = False
    res: Bytes[64] = b""
    g: uint256 = msg.gas
    ok, res = raw_call(self, concat(CHECK_V3, _abiEncodedCert), max_outsize=64, is_static_call=True, revert_on_failure=False)
    if not ok:
        # decoding failures cost little; a call that used up its share (about 63/64 of g, or an
        # inner "out of gas" that left about g/32) ran out of gas: revert, so a good certificate
        # is never reported invalid for want of gas (and eth_estimateGas is right)
        assert msg.gas > g // 8, "out of gas"
        return INVALID_CERT
    if len(res) != 64:
        return INVALID_CERT
    return convert(convert(extract32(res, 0), uint256) & 255, uint8)
