# pragma version ~=0.4.3
"""
@title ComputeAVS
@notice The verifiable-compute service on-chain: an image registry (apps, image digests,
        versions, upgrade deadlines), enclave-key enrolment by a stake-weighted threshold of the
        app's compute operator set, execution receipts checked against both, and fault proofs
        (two receipts of a deterministic app with the same image and input but different
        outputs) that slash the operators responsible through the AllocationManager.
@dev This contract is the AVS of its operator sets, their registrar and their slasher. The
     threshold mechanism is the OperatorSetSigCheck module. Receipt encoding mirrors
     offchain.compute.receipt (docs/compute.md); enrolment statements mirror
     offchain.chain.compute_avs (docs/avs.md).
"""

from . import OperatorSetSigCheck as sigcheck
from ..lib import ownable
from ..interfaces import ITypes
from ..interfaces import IAllocationManagerAVS as IAM
from ..interfaces import IAVSRegistrar

implements: IAVSRegistrar

initializes: sigcheck
initializes: ownable

exports: (
    ownable.owner,
    ownable.transferOwnership,
    sigcheck.allocationManager,
    sigcheck.signingKeyOf,
    sigcheck.operatorOfKey,
    sigcheck.thresholdBps,
    sigcheck.updateSigningKey,
    sigcheck.checkSignatures,
    sigcheck.isThresholdMet,
    sigcheck.getMembers,
    sigcheck.isMember,
    sigcheck.signingKeyDigest,
    sigcheck.blsRegistry,
    sigcheck.blsDigest,
)

WAD: constant(uint256) = 10**18
MAX_STRATEGIES: constant(uint256) = 32
RECEIPT_DOMAIN: constant(bytes32) = keccak256("eigen.compute.Receipt.v1")
ENROLMENT_DOMAIN: constant(bytes32) = keccak256("eigen.avs.EnclaveEnrolment.v1")
MAX_FUTURE_SKEW: constant(uint256) = 300

struct Receipt:
    appId: bytes32
    imageDigest: bytes32
    inputHash: bytes32
    outputHash: bytes32
    timestamp: uint256
    enclaveSigner: address
    evidenceHash: bytes32
    collateralHash: bytes32
    policyHash: bytes32
    platform: uint256
    chainId: uint256

struct App:
    owner: address
    operatorSetId: uint32
    deterministic: bool
    currentImage: bytes32
    imageCount: uint256

struct Image:
    policyHash: bytes32
    registeredAt: uint256
    validUntil: uint256  # 0: no deadline yet
    version: String[64]

struct Enclave:
    operator: address
    appId: bytes32
    imageDigest: bytes32
    evidenceHash: bytes32
    enrolledAt: uint256
    revoked: bool

event ComputeOperatorSetCreated:
    operatorSetId: indexed(uint32)
    redistributionRecipient: address
    resolver: address
    thresholdBps: uint256

event AppRegistered:
    appId: indexed(bytes32)
    owner: indexed(address)
    operatorSetId: uint32
    deterministic: bool

event AppOwnershipTransferred:
    appId: indexed(bytes32)
    previousOwner: indexed(address)
    newOwner: indexed(address)

event ImageRegistered:
    appId: indexed(bytes32)
    imageDigest: indexed(bytes32)
    version: String[64]
    policyHash: bytes32
    previousImage: bytes32
    upgradeBy: uint256

event ImageRevoked:
    appId: indexed(bytes32)
    imageDigest: indexed(bytes32)

event EnclaveKeyEnrolled:
    enclaveKey: indexed(address)
    appId: indexed(bytes32)
    operator: indexed(address)
    imageDigest: bytes32
    evidenceHash: bytes32
    signedStake: uint256
    totalStake: uint256

event EnclaveKeyRevoked:
    enclaveKey: indexed(address)
    appId: indexed(bytes32)
    by: address

event ReceiptAccepted:
    digest: indexed(bytes32)
    appId: indexed(bytes32)
    operator: indexed(address)
    imageDigest: bytes32
    inputHash: bytes32
    outputHash: bytes32
    enclaveSigner: address

event FaultProven:
    faultKey: indexed(bytes32)
    operator: indexed(address)
    appId: indexed(bytes32)
    slashId: uint256
    receiptA: bytes32
    receiptB: bytes32

event FaultOperatorNotSlashable:
    faultKey: indexed(bytes32)
    operator: indexed(address)

# Set once initialize registered this contract as an AVS with the AllocationManager.
initialized: public(bool)
# Seconds an enclave key stays valid after its evidence was verified.
ENROLMENT_TTL: public(immutable(uint256))
# Fraction (WAD = 100%) of an operator's allocation slashed per proven fault.
FAULT_WAD: public(immutable(uint256))

# appId -> App (owner, compute set, deterministic flag, current image, image count).
apps: public(HashMap[bytes32, App])
# appId -> image digest -> Image (version, policy hash, upgrade deadline, revoked).
images: public(HashMap[bytes32, HashMap[bytes32, Image]])
# enclave key -> Enclave (app, image, operator, enrolment time, revoked).
enclaves: public(HashMap[address, Enclave])
# receipt digest -> accepted by submitReceipt.
receiptAccepted: public(HashMap[bytes32, bool])
# first accepted output per keccak256(appId, imageDigest, inputHash)
acceptedOutput: public(HashMap[bytes32, bytes32])
# fault key -> operator -> found at fault for this fault key (slashed, or no longer slashable).
faultSlashed: public(HashMap[bytes32, HashMap[address, bool]])
# fault key -> operator -> the AllocationManager's slash id of that fault (the SlashEscrow record
# of the app's set, which the set's resolver may cancel in its window, so that whoever judges a
# receipt by it, TaskValidator, follows the slash's fate); 0: not slashed (no fault proven, or the
# operator was no longer slashable).
faultSlashId: public(HashMap[bytes32, HashMap[address, uint256]])


@deploy
def __init__(_allocationManager: address, _enrolmentTtl: uint256, _faultWad: uint256):
    """
    @notice Deploy the AVS; the deployer becomes its owner.
    @param _allocationManager The AllocationManager.
    @param _enrolmentTtl Seconds an enclave key stays valid after its evidence was verified.
    @param _faultWad Fraction (WAD = 100%) of allocated stake slashed per proven fault.
    """
    assert _enrolmentTtl != 0, "zero enrolment ttl"
    assert _faultWad != 0 and _faultWad <= WAD, "bad fault wad"
    sigcheck.__init__(_allocationManager)
    ownable.__init__(msg.sender)
    ENROLMENT_TTL = _enrolmentTtl
    FAULT_WAD = _faultWad


# ---------------------------------------------------------------- admin and operator sets

@external
def initialize(metadataURI: String[1024]):
    """
    @notice Register this contract as an AVS with the AllocationManager and as its own registrar.
    @param metadataURI The metadata URI (emitted only).
    """
    ownable._check_owner()
    assert not self.initialized, "already initialized"
    self.initialized = True
    am: address = sigcheck.allocationManager
    extcall IAM(am).updateAVSMetadataURI(self, metadataURI)
    extcall IAM(am).setAVSRegistrar(self, self)


@external
def createOperatorSet(operatorSetId: uint32, strategies: DynArray[address, MAX_STRATEGIES], resolver: address, redistributionRecipient: address, thresholdBps: uint256):
    """
    @notice Create a compute operator set slashed by this contract: redistributing to
            `redistributionRecipient`, or burning when it is zero. `resolver` may cancel slashes
            during the escrow window (zero: none). `thresholdBps` of the set's allocated stake
            must sign an enrolment.
    @param operatorSetId The operator set id within the AVS.
    @param strategies The set's strategies.
    @param resolver The address that may cancel the set's slashes during the escrow window (zero: none).
    @param redistributionRecipient Where slashed funds go (zero: burn).
    @param thresholdBps The threshold in basis points of the set's allocated stake.
    """
    ownable._check_owner()
    assert self.initialized, "not initialized"
    sigcheck._set_threshold(operatorSetId, thresholdBps)
    am: address = sigcheck.allocationManager
    p: ITypes.CreateSetParams = ITypes.CreateSetParams(operatorSetId=operatorSetId, strategies=strategies, slasher=self)
    if redistributionRecipient == empty(address):
        extcall IAM(am).createOperatorSets(self, [p], [resolver])
    else:
        extcall IAM(am).createRedistributingOperatorSets(self, [p], [redistributionRecipient], [resolver])
    sigcheck._enable_bls(operatorSetId, strategies)
    log ComputeOperatorSetCreated(operatorSetId=operatorSetId, redistributionRecipient=redistributionRecipient, resolver=resolver, thresholdBps=thresholdBps)


@external
def setBLSRegistry(registry: address):
    """
    @notice Attach this AVS's BLSRegistry (once): sets created afterwards take BLS keys and accept
            BLS certificates beside ECDSA signatures (docs/bls.md).
    @param registry A BLSRegistry deployed for this AVS.
    """
    ownable._check_owner()
    sigcheck._set_bls_registry(registry)


@external
def setThreshold(operatorSetId: uint32, thresholdBps: uint256):
    """
    @notice Change a managed set's enrolment threshold (basis points of allocated stake).
    @param operatorSetId The operator set id within the AVS.
    @param thresholdBps The threshold in basis points of the set's allocated stake.
    """
    ownable._check_owner()
    assert sigcheck.thresholdBps[operatorSetId] != 0, "set not managed"
    sigcheck._set_threshold(operatorSetId, thresholdBps)


# ---------------------------------------------------------------- registrar callbacks

@external
def registerOperator(operator: address, avs: address, operatorSetIds: DynArray[uint32, 16], data: Bytes[1024]):
    """
    @notice AllocationManager callback on registration. `data`: abi.encode(address signingKey,
            uint8 v, bytes32 r, bytes32 s), the key's proof of possession (see signingKeyDigest),
            or empty when the operator already has a key.
    @param operator The operator.
    @param avs Must be this contract.
    @param operatorSetIds The sets the operator registers for.
    @param data Registration data from the operator: abi.encode(signingKey, v, r, s).
    """
    assert msg.sender == sigcheck.allocationManager, "only allocation manager"
    assert avs == self, "wrong avs"
    for id: uint32 in operatorSetIds:
        sigcheck._add_member(id, operator, data)


@external
def deregisterOperator(operator: address, avs: address, operatorSetIds: DynArray[uint32, 16]):
    """
    @notice AllocationManager callback on deregistration: the operator stops counting as a signer.
    @param operator The operator.
    @param avs Must be this contract.
    @param operatorSetIds The sets the operator leaves.
    """
    assert msg.sender == sigcheck.allocationManager, "only allocation manager"
    assert avs == self, "wrong avs"
    for id: uint32 in operatorSetIds:
        sigcheck._remove_member(id, operator)


@external
@view
def supportsAVS(avs: address) -> bool:
    """
    @notice This registrar serves only this AVS.
    @param avs The AVS.
    @return Whether `avs` is this contract.
    """
    return avs == self


# ---------------------------------------------------------------- image registry

@internal
@view
def _only_app_owner(appId: bytes32):
    owner: address = self.apps[appId].owner
    assert owner != empty(address), "unknown app"
    assert msg.sender == owner, "only app owner"


@external
def registerApp(appId: bytes32, operatorSetId: uint32, deterministic: bool):
    """
    @notice Register app `appId` owned by the caller, served by the compute set `operatorSetId`.
            A deterministic app's receipts with equal image and input must have equal outputs.
    @param appId The app id.
    @param operatorSetId The compute set that serves the app.
    @param deterministic Whether the app is deterministic (same image and input give the same output).
    """
    assert appId != empty(bytes32), "zero app id"
    assert self.apps[appId].owner == empty(address), "app exists"
    assert sigcheck.thresholdBps[operatorSetId] != 0, "set not managed"
    self.apps[appId] = App(owner=msg.sender, operatorSetId=operatorSetId, deterministic=deterministic, currentImage=empty(bytes32), imageCount=0)
    log AppRegistered(appId=appId, owner=msg.sender, operatorSetId=operatorSetId, deterministic=deterministic)


@external
def transferAppOwnership(appId: bytes32, newOwner: address):
    """
    @notice Hand an app to `newOwner` (only the app owner).
    @param appId The app id.
    @param newOwner The new app owner; must not be zero.
    """
    self._only_app_owner(appId)
    assert newOwner != empty(address), "zero owner"
    self.apps[appId].owner = newOwner
    log AppOwnershipTransferred(appId=appId, previousOwner=msg.sender, newOwner=newOwner)


@external
def registerImage(appId: bytes32, imageDigest: bytes32, version: String[64], policyHash: bytes32, upgradeBy: uint256):
    """
    @notice Register a new image (OCI digest bytes) as the app's current version, with the hash of
            the attestation policy its enclaves are verified under. Operators must move to it by
            `upgradeBy` (unix seconds, not in the past): the previous current image stops being
            accepted then (sooner if it already had an earlier deadline). Ignored for the first image.
    @param appId The app id.
    @param imageDigest The image digest (OCI digest bytes).
    @param version Human-readable version, e.g. "v1.2.0".
    @param policyHash Hash of the attestation policy enclaves of this image must meet.
    @param upgradeBy Unix time after which the image is no longer accepted (0: never).
    """
    self._only_app_owner(appId)
    assert imageDigest != empty(bytes32), "zero image digest"
    assert policyHash != empty(bytes32), "zero policy hash"
    assert self.images[appId][imageDigest].registeredAt == 0, "image exists"
    prev: bytes32 = self.apps[appId].currentImage
    deadline: uint256 = 0
    if prev != empty(bytes32):
        assert upgradeBy >= block.timestamp, "deadline in the past"
        deadline = upgradeBy
        old: uint256 = self.images[appId][prev].validUntil
        if old == 0 or upgradeBy < old:
            self.images[appId][prev].validUntil = upgradeBy
    self.images[appId][imageDigest] = Image(policyHash=policyHash, registeredAt=block.timestamp, validUntil=0, version=version)
    self.apps[appId].currentImage = imageDigest
    self.apps[appId].imageCount += 1
    log ImageRegistered(appId=appId, imageDigest=imageDigest, version=version, policyHash=policyHash, previousImage=prev, upgradeBy=deadline)


@external
def revokeImage(appId: bytes32, imageDigest: bytes32):
    """
    @notice Stop accepting an image at once (e.g. a vulnerable version).
    @param appId The app id.
    @param imageDigest The image digest (OCI digest bytes).
    """
    self._only_app_owner(appId)
    img: Image = self.images[appId][imageDigest]
    assert img.registeredAt != 0, "unknown image"
    assert img.validUntil == 0 or img.validUntil > block.timestamp, "image inactive"
    self.images[appId][imageDigest].validUntil = block.timestamp
    log ImageRevoked(appId=appId, imageDigest=imageDigest)


@internal
@view
def _is_active(appId: bytes32, imageDigest: bytes32) -> bool:
    img: Image = self.images[appId][imageDigest]
    return img.registeredAt != 0 and (img.validUntil == 0 or block.timestamp < img.validUntil)


@external
@view
def isImageActive(appId: bytes32, imageDigest: bytes32) -> bool:
    """
    @notice Registered for the app and not past its upgrade deadline or revoked.
    @param appId The app id.
    @param imageDigest The image digest (OCI digest bytes).
    @return True if the image is registered, not revoked and not past its deadline.
    """
    return self._is_active(appId, imageDigest)


# ---------------------------------------------------------------- enclave-key enrolment

@internal
@view
def _enrolment_digest(appId: bytes32, imageDigest: bytes32, policyHash: bytes32, enclaveKey: address, evidenceHash: bytes32, operator: address, verifiedAt: uint256) -> bytes32:
    return keccak256(abi_encode(ENROLMENT_DOMAIN, chain.id, self, appId, imageDigest, policyHash, enclaveKey, evidenceHash, operator, verifiedAt))


@external
@view
def enrolmentDigest(appId: bytes32, imageDigest: bytes32, enclaveKey: address, evidenceHash: bytes32, operator: address, verifiedAt: uint256) -> bytes32:
    """
    @notice The statement operators sign: they verified this key's evidence under the image's policy.
    @param appId The app id.
    @param imageDigest The image digest (OCI digest bytes).
    @param enclaveKey The enclave key (an address).
    @param evidenceHash keccak256 of the attestation evidence.
    @param operator The operator that will run the enclave.
    @param verifiedAt Unix time (seconds) at which the evidence was verified.
    @return The digest operators sign.
    """
    return self._enrolment_digest(appId, imageDigest, self.images[appId][imageDigest].policyHash, enclaveKey, evidenceHash, operator, verifiedAt)


@internal
def _enrol(appId: bytes32, imageDigest: bytes32, enclaveKey: address, evidenceHash: bytes32, verifiedAt: uint256, signatures: DynArray[sigcheck.Signature, 64], cert: Bytes[sigcheck.BLS_CERT_MAX], bls: bool):
    app: App = self.apps[appId]
    assert app.owner != empty(address), "unknown app"
    assert self._is_active(appId, imageDigest), "image not active"
    assert sigcheck._member_index[app.operatorSetId][msg.sender] != 0, "operator not in set"
    assert enclaveKey != empty(address), "zero enclave key"
    assert self.enclaves[enclaveKey].operator == empty(address), "enclave key enrolled"
    assert verifiedAt <= block.timestamp + MAX_FUTURE_SKEW, "verified in the future"
    assert block.timestamp <= verifiedAt + ENROLMENT_TTL, "statement expired"
    digest: bytes32 = self._enrolment_digest(appId, imageDigest, self.images[appId][imageDigest].policyHash, enclaveKey, evidenceHash, msg.sender, verifiedAt)
    signed: uint256 = 0
    total: uint256 = 0
    if bls:
        signed, total = sigcheck._require_bls(app.operatorSetId, digest, cert, empty(address))
    else:
        signed, total = sigcheck._require_threshold(app.operatorSetId, digest, signatures)
    self.enclaves[enclaveKey] = Enclave(operator=msg.sender, appId=appId, imageDigest=imageDigest, evidenceHash=evidenceHash, enrolledAt=block.timestamp, revoked=False)
    log EnclaveKeyEnrolled(enclaveKey=enclaveKey, appId=appId, operator=msg.sender, imageDigest=imageDigest, evidenceHash=evidenceHash, signedStake=signed, totalStake=total)


@external
def enrollEnclaveKey(appId: bytes32, imageDigest: bytes32, enclaveKey: address, evidenceHash: bytes32, verifiedAt: uint256, signatures: DynArray[sigcheck.Signature, 64]):
    """
    @notice Enrol `enclaveKey` for (app, image), operated by the caller (a member of the app's
            set, who becomes answerable for the key's receipts). `signatures`: members' signatures
            over enrolmentDigest(...), strictly ascending signing keys, whose allocated stake
            reaches the set's threshold. `verifiedAt` (unix s) must be within ENROLMENT_TTL.
    @param appId The app id.
    @param imageDigest The image digest (OCI digest bytes).
    @param enclaveKey The enclave key (an address).
    @param evidenceHash keccak256 of the attestation evidence.
    @param verifiedAt Unix time (seconds) at which the evidence was verified.
    @param signatures The signatures, in strictly ascending order of signing key.
    """
    self._enrol(appId, imageDigest, enclaveKey, evidenceHash, verifiedAt, signatures, b"", False)


@external
def enrollEnclaveKeyBLS(appId: bytes32, imageDigest: bytes32, enclaveKey: address, evidenceHash: bytes32, verifiedAt: uint256, cert: Bytes[sigcheck.BLS_CERT_MAX]):
    """
    @notice enrollEnclaveKey with a BLS certificate: the set's BLS signers signed
            blsDigest(enrolmentDigest(...), referenceBlock) and the registry's checker accepts
            the certificate at its reference block with the set's threshold of stake signed.
    @param appId The app id.
    @param imageDigest The image digest (OCI digest bytes).
    @param enclaveKey The enclave key (an address).
    @param evidenceHash keccak256 of the attestation evidence.
    @param verifiedAt Unix time (seconds) at which the evidence was verified.
    @param cert abi.encode(uint32 referenceBlock, G1Point[] nonSigners (sorted by operator id), G2Point apkG2, G1Point sigma).
    """
    self._enrol(appId, imageDigest, enclaveKey, evidenceHash, verifiedAt, [], cert, True)


@external
def revokeEnclaveKey(enclaveKey: address):
    """
    @notice Stop accepting receipts from an enclave key (its operator or the app owner). Receipts
            it already signed remain evidence in fault proofs.
    @param enclaveKey The enclave key (an address).
    """
    e: Enclave = self.enclaves[enclaveKey]
    assert e.operator != empty(address), "unknown enclave key"
    assert not e.revoked, "enclave key revoked"
    assert msg.sender == e.operator or msg.sender == self.apps[e.appId].owner, "only operator or app owner"
    self.enclaves[enclaveKey].revoked = True
    log EnclaveKeyRevoked(enclaveKey=enclaveKey, appId=e.appId, by=msg.sender)


# ---------------------------------------------------------------- receipts

@internal
@pure
def _receipt_digest(r: Receipt) -> bytes32:
    return keccak256(abi_encode(RECEIPT_DOMAIN, r.appId, r.imageDigest, r.inputHash, r.outputHash,
        r.timestamp, r.enclaveSigner, r.evidenceHash, r.collateralHash, r.policyHash, r.platform, r.chainId))


@external
@pure
def receiptDigest(r: Receipt) -> bytes32:
    """
    @notice The canonical receipt digest (equals offchain.compute Receipt.digest()).
    @param r The receipt.
    @return The receipt digest.
    """
    return self._receipt_digest(r)


@internal
@view
def _verify_signed(r: Receipt, sig: sigcheck.Signature) -> (bytes32, Enclave):
    # A receipt signed by a key enrolled for its app and image, made for this chain under the
    # image's policy. Deadlines and revocation are checked by the caller where they apply.
    assert r.chainId == chain.id, "wrong chain"
    e: Enclave = self.enclaves[r.enclaveSigner]
    assert e.operator != empty(address), "enclave key not enrolled"
    assert e.appId == r.appId and e.imageDigest == r.imageDigest, "key not enrolled for image"
    assert r.policyHash == self.images[r.appId][r.imageDigest].policyHash, "wrong policy"
    digest: bytes32 = self._receipt_digest(r)
    assert sigcheck._recover(digest, sig) == r.enclaveSigner, "not signed by enclave key"
    return digest, e


@external
def submitReceipt(r: Receipt, signature: sigcheck.Signature) -> bytes32:
    """
    @notice Accept an execution receipt: its image is registered for the app and not past its
            upgrade deadline, its enclave key is enrolled for that image and not revoked, its
            policy is the image's, it is for this chain, not from the future, not seen before, and
            signed (low s) by the enclave key over the canonical digest.
    @param r The receipt.
    @param signature The enclave key's signature over the receipt digest.
    @return the receipt digest
    """
    assert self.apps[r.appId].owner != empty(address), "unknown app"
    assert self._is_active(r.appId, r.imageDigest), "image not active"
    digest: bytes32 = empty(bytes32)
    e: Enclave = empty(Enclave)
    digest, e = self._verify_signed(r, signature)
    assert not e.revoked, "enclave key revoked"
    assert r.timestamp <= block.timestamp + MAX_FUTURE_SKEW, "receipt from the future"
    assert not self.receiptAccepted[digest], "receipt already accepted"
    self.receiptAccepted[digest] = True
    k: bytes32 = keccak256(abi_encode(r.appId, r.imageDigest, r.inputHash))
    if self.acceptedOutput[k] == empty(bytes32):
        self.acceptedOutput[k] = r.outputHash
    log ReceiptAccepted(digest=digest, appId=r.appId, operator=e.operator, imageDigest=r.imageDigest, inputHash=r.inputHash, outputHash=r.outputHash, enclaveSigner=r.enclaveSigner)
    return digest


# ---------------------------------------------------------------- faults

@internal
def _sorted_strategies(set_id: uint32) -> DynArray[address, MAX_STRATEGIES]:
    s: DynArray[address, MAX_STRATEGIES] = sigcheck._strategies(set_id)
    n: uint256 = len(s)
    for i: uint256 in range(1, MAX_STRATEGIES):
        if i >= n:
            break
        x: address = s[i]
        j: uint256 = i
        for _: uint256 in range(MAX_STRATEGIES):
            if j == 0 or convert(s[j - 1], uint256) <= convert(x, uint256):
                break
            s[j] = s[j - 1]
            j -= 1
        s[j] = x
    return s


@internal
def _slash(fault_key: bytes32, operator: address, app: App, appId: bytes32, da: bytes32, db: bytes32) -> bool:
    # found at fault once per fault key; one no longer slashable is recorded (slash id 0) and skipped
    if self.faultSlashed[fault_key][operator]:
        return False
    self.faultSlashed[fault_key][operator] = True
    am: address = sigcheck.allocationManager
    if not staticcall IAM(am).isOperatorSlashable(operator, ITypes.OperatorSet(avs=self, id=app.operatorSetId)):
        log FaultOperatorNotSlashable(faultKey=fault_key, operator=operator)
        return False
    strategies: DynArray[address, MAX_STRATEGIES] = self._sorted_strategies(app.operatorSetId)
    wads: DynArray[uint256, MAX_STRATEGIES] = []
    for _: address in strategies:
        wads.append(FAULT_WAD)
    slash_id: uint256 = 0
    shares: DynArray[uint256, MAX_STRATEGIES] = []
    slash_id, shares = extcall IAM(am).slashOperator(self, ITypes.SlashingParams(operator=operator, operatorSetId=app.operatorSetId, strategies=strategies, wadsToSlash=wads, description="compute: conflicting receipts of a deterministic app"))
    self.faultSlashId[fault_key][operator] = slash_id
    log FaultProven(faultKey=fault_key, operator=operator, appId=appId, slashId=slash_id, receiptA=da, receiptB=db)
    return True


@external
def proveFault(a: Receipt, sigA: sigcheck.Signature, b: Receipt, sigB: sigcheck.Signature) -> uint256:
    """
    @notice Proof of fault: two receipts of a deterministic app, each signed by a key enrolled for
            its image, with the same image and input but different outputs. Slashes the operator of
            each enclave key (once per fault and operator) by FAULT_WAD of its allocation to the
            app's set in every strategy of the set; anyone may call. Operators no longer slashable
            are skipped (event). When the two keys belong to different operators both are slashed:
            the set's resolver cancels the honest side's slash after re-execution.
    @param a The first receipt.
    @param sigA Its enclave signature.
    @param b The second receipt (same app, image and input).
    @param sigB Its enclave signature.
    @return the number of operators slashed
    """
    app: App = self.apps[a.appId]
    assert app.owner != empty(address), "unknown app"
    assert app.deterministic, "app not deterministic"
    assert a.appId == b.appId and a.imageDigest == b.imageDigest and a.inputHash == b.inputHash, "receipts not comparable"
    assert a.outputHash != b.outputHash, "outputs agree"
    da: bytes32 = empty(bytes32)
    db: bytes32 = empty(bytes32)
    ea: Enclave = empty(Enclave)
    eb: Enclave = empty(Enclave)
    da, ea = self._verify_signed(a, sigA)
    db, eb = self._verify_signed(b, sigB)
    fault_key: bytes32 = keccak256(abi_encode(a.appId, a.imageDigest, a.inputHash))
    same: bool = ea.operator == eb.operator
    assert not self.faultSlashed[fault_key][ea.operator] or (not same and not self.faultSlashed[fault_key][eb.operator]), "fault already proven"
    n: uint256 = 0
    if self._slash(fault_key, ea.operator, app, a.appId, da, db):
        n += 1
    if not same and self._slash(fault_key, eb.operator, app, a.appId, da, db):
        n += 1
    return n
