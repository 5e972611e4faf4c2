# pragma version ~=0.4.3
# pragma optimize codesize
"""
@title InferenceDisputes
@notice On-chain disputes over deterministic-inference receipts (offchain.ai). Anyone registers
        an operator's signed receipt, which names its client (the operator signs the client's
        address, so only that client can ever be compensated for it); during the challenge window anyone may challenge it with a
        bond; the operators of the inference operator set re-execute it off-chain and a
        stake-weighted threshold of them (the accused excluded) signs the correct output
        commitment. A receipt proven wrong slashes its operator through the AllocationManager;
        after the slash escrow's window the slashed tokens are forwarded to the receipt's client.
        The challenger's bond is held until the slash's fate is known: it comes back once the slash
        is final (claimCompensation or settleBond), and is forfeited to the accused operator if
        the set's resolver cancels the slash (the verdict was overturned: the accusation was
        false, as for a receipt the set confirmed). A receipt confirmed correct forfeits the bond
        to the accused operator. A challenge nobody resolves by its deadline expires and returns
        the bond.
@dev This contract is the AVS of its single inference set, the set's registrar, its slasher and
     its redistribution recipient (it forwards each slash to the client of the dispute that caused
     it). The threshold mechanism is the OperatorSetSigCheck module. The receipt digest is
     offchain.ai.receipt's: keccak256(abi_encode(f1, ..., f15)) over RECEIPT_FIELDS, signed without
     prefix by the operator. Statements: see offchain/chain/inference_disputes.py and docs/disputes.md.
"""

from ethereum.ercs import IERC20
from . import OperatorSetSigCheck as sigcheck
from ..lib import ownable
from ..interfaces import ITypes
from ..interfaces import IAllocationManagerAVS as IAM
from ..interfaces import IAVSRegistrar
from ..interfaces import ISlashEscrowRelease as IEscrow

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
BPS: constant(uint256) = 10000
MAX_STRATEGIES: constant(uint256) = 32
MAX_PROMPT_TOKENS: constant(uint256) = 512
MAX_OUTPUT_TOKENS: constant(uint256) = 512
RECEIPT_DOMAIN: constant(bytes32) = keccak256("eigencloud/ai/receipt/v2")
# Version 3 (request options): the receipt's domain word is keccak256(abi.encode(RECEIPT_DOMAIN_V3,
# optionsHash, textHash)); bindReceiptOptions publishes that preimage before registration.
RECEIPT_DOMAIN_V3: constant(bytes32) = keccak256("eigencloud/ai/receipt/v3")
OUTPUT_TAG: constant(bytes32) = keccak256("eigen.ai.dispute.Output.v1")
VERDICT_DOMAIN: constant(bytes32) = keccak256("eigen.ai.dispute.Verdict.v1")
# The correct output of a request the engine cannot run (token outside the vocabulary, prompt plus
# maxTokens beyond the context, empty prompt): no receipt's output commitment equals it.
INVALID_REQUEST: public(constant(bytes32)) = keccak256("eigen.ai.dispute.InvalidRequest.v1")

STATUS_NONE: constant(uint8) = 0
STATUS_REGISTERED: constant(uint8) = 1
STATUS_CHALLENGED: constant(uint8) = 2
STATUS_UPHELD: constant(uint8) = 3      # the set confirmed the receipt; the bond was forfeited
STATUS_FAULTY: constant(uint8) = 4      # the set proved the receipt wrong; the operator was slashed
STATUS_EXPIRED: constant(uint8) = 5     # no verdict by the resolution deadline; the bond came back

ESCROW_PENDING: constant(uint8) = 1
ESCROW_RELEASED: constant(uint8) = 2
ESCROW_CANCELLED: constant(uint8) = 3

struct InferenceReceipt:
    domain: bytes32
    modelHash: bytes32
    tokenizerHash: bytes32
    engineId: bytes32
    operator: address
    client: address
    seed: uint64
    temperatureMilli: uint32
    topK: uint32
    topPMicro: uint32
    maxTokens: uint32
    promptTokens: DynArray[uint32, MAX_PROMPT_TOKENS]
    outputTokens: DynArray[uint32, MAX_OUTPUT_TOKENS]
    stepsRoot: bytes32
    finishReason: uint8

struct Claim:
    client: address
    operator: address
    output: bytes32          # the receipt's output commitment
    status: uint8
    deadline: uint256        # REGISTERED: end of the challenge window; CHALLENGED: resolution deadline
    challenger: address
    # the challenge's bond while this contract holds it for the claim; 0 once credited (at the
    # verdict, at expiry, or, for a receipt proven wrong and slashed, once the slash's fate is known)
    bond: uint256
    slashId: uint256         # FAULTY and slashed: the AllocationManager's slash id
    compensated: bool

event InferenceSetCreated:
    operatorSetId: indexed(uint32)
    resolver: address
    thresholdBps: uint256

event ModelAllowed:
    modelKey: indexed(bytes32)
    modelHash: bytes32
    tokenizerHash: bytes32
    engineId: bytes32
    allowed: bool

event ReceiptOptionsBound:
    domain: indexed(bytes32)
    optionsHash: bytes32
    textHash: bytes32

event ReceiptRegistered:
    receiptDigest: indexed(bytes32)
    client: indexed(address)
    operator: indexed(address)
    output: bytes32
    challengeDeadline: uint256

event ReceiptChallenged:
    receiptDigest: indexed(bytes32)
    challenger: indexed(address)
    operator: indexed(address)
    bond: uint256
    resolveBy: uint256

event ChallengeRejected:
    receiptDigest: indexed(bytes32)
    challenger: indexed(address)
    operator: indexed(address)
    bondForfeited: uint256
    signedStake: uint256
    totalStake: uint256

event ReceiptProvenWrong:
    receiptDigest: indexed(bytes32)
    operator: indexed(address)
    challenger: indexed(address)
    claimedOutput: bytes32
    correctOutput: bytes32
    slashId: uint256
    signedStake: uint256
    totalStake: uint256

event OperatorNotSlashable:
    receiptDigest: indexed(bytes32)
    operator: indexed(address)

event ChallengeExpired:
    receiptDigest: indexed(bytes32)
    challenger: indexed(address)
    bondReturned: uint256

event VerdictOverturned:
    receiptDigest: indexed(bytes32)
    challenger: indexed(address)
    operator: indexed(address)
    slashId: uint256
    bondForfeited: uint256

event ClientCompensated:
    receiptDigest: indexed(bytes32)
    client: indexed(address)
    slashId: indexed(uint256)
    token: address
    amount: uint256

event BondCredited:
    account: indexed(address)
    receiptDigest: indexed(bytes32)
    amount: uint256

event BondWithdrawn:
    account: indexed(address)
    amount: uint256

# Set once initialize registered this contract as an AVS with the AllocationManager.
initialized: public(bool)
# The SlashEscrow that holds slashed funds until they can be forwarded to clients.
slashEscrow: public(immutable(address))
# Wei a challenger posts with challengeReceipt.
CHALLENGE_BOND: public(immutable(uint256))
# Seconds after registration during which a receipt may be challenged.
CHALLENGE_WINDOW: public(immutable(uint256))
# Seconds after a challenge during which the set may post its verdict.
RESOLUTION_WINDOW: public(immutable(uint256))
# Fraction (WAD = 100%) of an operator's allocation slashed per receipt proven wrong.
SLASH_WAD: public(immutable(uint256))

# The id of the single inference set (valid once setCreated).
operatorSetId: public(uint32)
# Set once createInferenceSet created the inference set.
setCreated: public(bool)
# Version 3 domain words whose preimage (options hash, text hash) was published.
boundDomain: public(HashMap[bytes32, bool])
# keccak256(modelHash, tokenizerHash, engineId) -> receipts for it may be registered.
allowedModel: public(HashMap[bytes32, bool])
# receipt digest -> Claim (operator, client, deadlines, challenger, status, slash id).
claims: public(HashMap[bytes32, Claim])
# account -> wei it may withdraw (returned bonds).
credits: public(HashMap[address, uint256])
# Sum of credits: the ETH this contract owes.
totalCredits: public(uint256)


@deploy
def __init__(_allocationManager: address, _slashEscrow: address, _challengeBond: uint256, _challengeWindow: uint256, _resolutionWindow: uint256, _slashWad: uint256):
    """
    @notice Deploy the AVS; the deployer becomes its owner.
    @param _allocationManager The AllocationManager.
    @param _slashEscrow The SlashEscrow.
    @param _challengeBond Wei a challenger posts (CHALLENGE_BOND).
    @param _challengeWindow Seconds after registration during which a receipt may be challenged.
    @param _resolutionWindow Seconds after a challenge during which the set may post a verdict.
    @param _slashWad Fraction (WAD = 100%) of allocated stake slashed per receipt proven wrong.
    """
    assert _slashEscrow != empty(address), "zero slash escrow"
    assert _challengeBond != 0, "zero bond"
    assert _challengeWindow != 0 and _resolutionWindow != 0, "zero window"
    assert _slashWad != 0 and _slashWad <= WAD, "bad slash wad"
    sigcheck.__init__(_allocationManager)
    ownable.__init__(msg.sender)
    slashEscrow = _slashEscrow
    CHALLENGE_BOND = _challengeBond
    CHALLENGE_WINDOW = _challengeWindow
    RESOLUTION_WINDOW = _resolutionWindow
    SLASH_WAD = _slashWad


# ---------------------------------------------------------------- admin

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
def createInferenceSet(operatorSetId: uint32, strategies: DynArray[address, MAX_STRATEGIES], resolver: address, thresholdBps: uint256):
    """
    @notice Create the inference operator set (once): redistributing, with this contract as its
            slasher and redistribution recipient, `resolver` (zero: none) able to cancel a slash
            during the escrow window. A verdict needs more than `thresholdBps` > 5000 of the stake
            allocated to the set by its members other than the accused, so two verdicts cannot both pass.
    @param operatorSetId The operator set id within the AVS.
    @param strategies The set's strategies.
    @param resolver The address that may cancel the set's slashes during the escrow window (zero: none).
    @param thresholdBps The threshold in basis points of the set's allocated stake.
    """
    ownable._check_owner()
    assert self.initialized, "not initialized"
    assert not self.setCreated, "set exists"
    assert thresholdBps > BPS // 2, "threshold must exceed half"
    sigcheck._set_threshold(operatorSetId, thresholdBps)
    self.setCreated = True
    self.operatorSetId = operatorSetId
    p: ITypes.CreateSetParams = ITypes.CreateSetParams(operatorSetId=operatorSetId, strategies=strategies, slasher=self)
    extcall IAM(sigcheck.allocationManager).createRedistributingOperatorSets(self, [p], [self], [resolver])
    sigcheck._enable_bls(operatorSetId, strategies)
    log InferenceSetCreated(operatorSetId=operatorSetId, resolver=resolver, thresholdBps=thresholdBps)


@external
def setBLSRegistry(registry: address):
    """
    @notice Attach this AVS's BLSRegistry (once, before the set is created): the set then takes BLS
            keys and verdicts may come as BLS certificates (resolveChallengeBLS, docs/bls.md).
    @param registry A BLSRegistry deployed for this AVS.
    """
    ownable._check_owner()
    sigcheck._set_bls_registry(registry)


@external
def setThreshold(thresholdBps: uint256):
    """
    @notice Change the verdict threshold (basis points of allocated stake, above 5000).
    @param thresholdBps The threshold in basis points of the set's allocated stake.
    """
    ownable._check_owner()
    assert self.setCreated, "no inference set"
    assert thresholdBps > BPS // 2 and thresholdBps <= BPS, "threshold must exceed half"
    sigcheck._set_threshold(self.operatorSetId, thresholdBps)


@internal
@pure
def _model_key(modelHash: bytes32, tokenizerHash: bytes32, engineId: bytes32) -> bytes32:
    return keccak256(abi_encode(modelHash, tokenizerHash, engineId))


@external
def setModelAllowed(modelHash: bytes32, tokenizerHash: bytes32, engineId: bytes32, allowed: bool):
    """
    @notice Allow (or stop allowing) receipts for a model file (SHA-256), tokenizer hash and engine
            id: the set's operators must be able to re-execute every registered receipt.
    @param modelHash SHA-256 of the model file.
    @param tokenizerHash The tokenizer hash.
    @param engineId The inference engine id.
    @param allowed True to allow, False to disallow.
    """
    ownable._check_owner()
    assert modelHash != empty(bytes32) and tokenizerHash != empty(bytes32) and engineId != empty(bytes32), "zero model id"
    key: bytes32 = self._model_key(modelHash, tokenizerHash, engineId)
    self.allowedModel[key] = allowed
    log ModelAllowed(modelKey=key, modelHash=modelHash, tokenizerHash=tokenizerHash, engineId=engineId, allowed=allowed)


@external
@view
def isModelAllowed(modelHash: bytes32, tokenizerHash: bytes32, engineId: bytes32) -> bool:
    """
    @notice Whether receipts for this model, tokenizer and engine may be registered.
    @param modelHash SHA-256 of the model file.
    @param tokenizerHash The tokenizer hash.
    @param engineId The inference engine id.
    @return True if receipts for the triple may be registered.
    """
    return self.allowedModel[self._model_key(modelHash, tokenizerHash, engineId)]


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


# ---------------------------------------------------------------- encodings

@internal
@pure
def _receipt_digest(r: InferenceReceipt) -> bytes32:
    return keccak256(abi_encode(r.domain, r.modelHash, r.tokenizerHash, r.engineId, r.operator, r.client, r.seed,
        r.temperatureMilli, r.topK, r.topPMicro, r.maxTokens, r.promptTokens, r.outputTokens,
        r.stepsRoot, r.finishReason))


@internal
@pure
def _output_commitment(r: InferenceReceipt) -> bytes32:
    return keccak256(abi_encode(OUTPUT_TAG, r.outputTokens, r.stepsRoot, r.finishReason))


@internal
@view
def _verdict_digest(receiptDigest: bytes32, correctOutput: bytes32) -> bytes32:
    return keccak256(abi_encode(VERDICT_DOMAIN, chain.id, self, receiptDigest, correctOutput))


@external
@pure
def receiptDigest(r: InferenceReceipt) -> bytes32:
    """
    @notice The receipt digest the operator signs (equals offchain.ai Receipt.digest()).
    @param r The receipt.
    @return The receipt digest.
    """
    return self._receipt_digest(r)


@external
@pure
def outputCommitment(r: InferenceReceipt) -> bytes32:
    """
    @notice keccak256(abi.encode(OUTPUT_TAG, outputTokens, stepsRoot, finishReason)): what a verdict names.
    @param r The receipt.
    @return The output commitment of the receipt.
    """
    return self._output_commitment(r)


@external
@view
def verdictDigest(receiptDigest: bytes32, correctOutput: bytes32) -> bytes32:
    """
    @notice The statement operators sign after re-executing: `correctOutput` is the receipt's correct output.
    @param receiptDigest The receipt digest (receiptDigest of the receipt).
    @param correctOutput The output commitment the set found by re-executing (INVALID_REQUEST for a malformed request).
    @return The digest operators sign.
    """
    return self._verdict_digest(receiptDigest, correctOutput)


# ---------------------------------------------------------------- receipts and challenges

@external
def bindReceiptOptions(optionsHash: bytes32, textHash: bytes32) -> bytes32:
    """
    @notice Publish the preimage of a version 3 receipt's domain word (a request with options: stop
            strings, penalties, logit bias, a grammar), so registerReceipt accepts receipts carrying
            it. Anyone may call it; it binds nothing but the two hashes, which re-executors need.
    @param optionsHash keccak256 of the request's canonical options (offchain.ai.options).
    @param textHash keccak256 of the text the receipt returned.
    @return The domain word keccak256(abi.encode(RECEIPT_DOMAIN_V3, optionsHash, textHash)).
    """
    domain: bytes32 = keccak256(abi_encode(RECEIPT_DOMAIN_V3, optionsHash, textHash))
    self.boundDomain[domain] = True
    log ReceiptOptionsBound(domain=domain, optionsHash=optionsHash, textHash=textHash)
    return domain


@external
def registerReceipt(r: InferenceReceipt, signature: sigcheck.Signature) -> bytes32:
    """
    @notice Register an operator's signed receipt on behalf of its client: the receipt's `client`
            field, signed by the operator, is the address a slash for it compensates, whoever
            registers it (a receipt with no client is refused, so nobody can front-run a client's
            registration and capture its compensation). Opens the challenge window of CHALLENGE_WINDOW seconds. The
            receipt must carry this protocol's domain (version 2, or a version 3 domain word bound
            with bindReceiptOptions), an allowed model, be signed (low s) by its
            `operator` field's key over the canonical digest, and the signer must be a member of the set or a
            member's registered signing key (that member answers for the receipt).
    @param r The receipt.
    @param signature The operator's signing-key signature over the receipt digest.
    @return the receipt digest
    """
    assert self.setCreated, "no inference set"
    assert r.domain == RECEIPT_DOMAIN or self.boundDomain[r.domain], "wrong receipt domain"
    assert r.client != empty(address), "receipt has no client"
    assert self.allowedModel[self._model_key(r.modelHash, r.tokenizerHash, r.engineId)], "model not allowed"
    digest: bytes32 = self._receipt_digest(r)
    assert sigcheck._recover(digest, signature) == r.operator, "not signed by operator"
    # The receipt's signer is the operator itself or the operator's registered signing key.
    set_id: uint32 = self.operatorSetId
    operator: address = r.operator
    if sigcheck._member_index[set_id][operator] == 0:
        operator = sigcheck.operatorOfKey[r.operator]
    assert operator != empty(address) and sigcheck._member_index[set_id][operator] != 0, "operator not in set"
    assert self.claims[digest].status == STATUS_NONE, "receipt registered"
    deadline: uint256 = block.timestamp + CHALLENGE_WINDOW
    output: bytes32 = self._output_commitment(r)
    self.claims[digest] = Claim(client=r.client, operator=operator, output=output, status=STATUS_REGISTERED,
        deadline=deadline, challenger=empty(address), bond=0, slashId=0, compensated=False)
    log ReceiptRegistered(receiptDigest=digest, client=r.client, operator=operator, output=output, challengeDeadline=deadline)
    return digest


@external
@payable
def challengeReceipt(receiptDigest: bytes32):
    """
    @notice Challenge a registered receipt within its challenge window, posting exactly
            CHALLENGE_BOND wei. The set then has RESOLUTION_WINDOW seconds to post a verdict.
    @param receiptDigest The receipt digest (receiptDigest of the receipt).
    """
    c: Claim = self.claims[receiptDigest]
    assert c.status != STATUS_NONE, "unknown receipt"
    assert c.status == STATUS_REGISTERED, "receipt not challengeable"
    assert block.timestamp <= c.deadline, "challenge window closed"
    assert msg.value == CHALLENGE_BOND, "wrong bond"
    resolve_by: uint256 = block.timestamp + RESOLUTION_WINDOW
    self.claims[receiptDigest].status = STATUS_CHALLENGED
    self.claims[receiptDigest].challenger = msg.sender
    self.claims[receiptDigest].bond = msg.value
    self.claims[receiptDigest].deadline = resolve_by
    log ReceiptChallenged(receiptDigest=receiptDigest, challenger=msg.sender, operator=c.operator, bond=msg.value, resolveBy=resolve_by)


@internal
def _credit(account: address, digest: bytes32, amount: uint256):
    # every credit is a claim's bond leaving the claim's hold
    self.claims[digest].bond = 0
    self.credits[account] += amount
    self.totalCredits += amount
    log BondCredited(account=account, receiptDigest=digest, amount=amount)


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
@view
def _verdict_stake(set_id: uint32, digest: bytes32, accused: address, sigs: DynArray[sigcheck.Signature, 64]) -> (uint256, uint256):
    # Signers' stake and the stake of every member but the accused; the accused may not sign.
    for sig: sigcheck.Signature in sigs:
        assert sigcheck.operatorOfKey[sigcheck._recover(digest, sig)] != accused, "accused operator signed"
    signed: uint256 = 0
    total: uint256 = 0
    signed, total = sigcheck._check(set_id, digest, sigs)
    if sigcheck._member_index[set_id][accused] != 0:
        total -= sigcheck._stakes(set_id, [accused])[0]
    assert total != 0, "no stake in set"
    assert signed * BPS >= total * sigcheck.thresholdBps[set_id], "threshold not met"
    return signed, total


@external
def resolveChallengeBLS(receiptDigest: bytes32, correctOutput: bytes32, cert: Bytes[sigcheck.BLS_CERT_MAX]):
    """
    @notice resolveChallenge with a BLS certificate: the set's BLS signers signed
            blsDigest(verdictDigest(receiptDigest, correctOutput), referenceBlock); the accused
            is a non-signer and its stake at the reference block is left out of the total.
    @param receiptDigest The receipt digest (receiptDigest of the receipt).
    @param correctOutput The output commitment the set found by re-executing (INVALID_REQUEST for a malformed request).
    @param cert abi.encode(uint32 referenceBlock, G1Point[] nonSigners (sorted by operator id), G2Point apkG2, G1Point sigma).
    """
    self._resolve(receiptDigest, correctOutput, [], cert, True)


@internal
def _resolve(receiptDigest: bytes32, correctOutput: bytes32, signatures: DynArray[sigcheck.Signature, 64], cert: Bytes[sigcheck.BLS_CERT_MAX], bls: bool):
    c: Claim = self.claims[receiptDigest]
    assert c.status == STATUS_CHALLENGED, "not challenged"
    assert block.timestamp <= c.deadline, "resolution deadline passed"
    assert correctOutput != empty(bytes32), "zero output"
    set_id: uint32 = self.operatorSetId
    signed: uint256 = 0
    total: uint256 = 0
    if bls:
        # the accused is a non-signer whose stake leaves the total (BLSRegistry.checkCertificate)
        signed, total = sigcheck._require_bls(set_id, self._verdict_digest(receiptDigest, correctOutput), cert, c.operator)
    else:
        signed, total = self._verdict_stake(set_id, self._verdict_digest(receiptDigest, correctOutput), c.operator, signatures)
    if correctOutput == c.output:
        self.claims[receiptDigest].status = STATUS_UPHELD
        log ChallengeRejected(receiptDigest=receiptDigest, challenger=c.challenger, operator=c.operator, bondForfeited=c.bond, signedStake=signed, totalStake=total)
        self._credit(c.operator, receiptDigest, c.bond)
        return
    self.claims[receiptDigest].status = STATUS_FAULTY
    am: address = sigcheck.allocationManager
    slash_id: uint256 = 0
    if staticcall IAM(am).isOperatorSlashable(c.operator, ITypes.OperatorSet(avs=self, id=set_id)):
        strategies: DynArray[address, MAX_STRATEGIES] = self._sorted_strategies(set_id)
        wads: DynArray[uint256, MAX_STRATEGIES] = []
        for _: address in strategies:
            wads.append(SLASH_WAD)
        shares: DynArray[uint256, MAX_STRATEGIES] = []
        slash_id, shares = extcall IAM(am).slashOperator(self, ITypes.SlashingParams(operator=c.operator, operatorSetId=set_id, strategies=strategies, wadsToSlash=wads, description="inference: receipt proven wrong by re-execution"))
        self.claims[receiptDigest].slashId = slash_id
    else:
        log OperatorNotSlashable(receiptDigest=receiptDigest, operator=c.operator)
    log ReceiptProvenWrong(receiptDigest=receiptDigest, operator=c.operator, challenger=c.challenger, claimedOutput=c.output, correctOutput=correctOutput, slashId=slash_id, signedStake=signed, totalStake=total)
    if slash_id == 0:
        # nothing slashed, nothing the resolver could cancel: the verdict is final
        self._credit(c.challenger, receiptDigest, c.bond)


@external
def resolveChallenge(receiptDigest: bytes32, correctOutput: bytes32, signatures: DynArray[sigcheck.Signature, 64]):
    """
    @notice Post the set's verdict on a challenged receipt before its resolution deadline (anyone
            may submit it). `signatures`: members' signatures over verdictDigest(receiptDigest,
            correctOutput), strictly ascending signing keys, not the accused's, whose stake reaches
            the threshold of the set's stake without the accused's. If `correctOutput` differs
            from the receipt's output commitment the operator is slashed by SLASH_WAD of its
            allocation in every strategy of the set and the bond is held until the slash's fate
            (settleBond; credited back at once when the operator was not slashable); otherwise the
            bond is credited to the accused operator.
    @param receiptDigest The receipt digest (receiptDigest of the receipt).
    @param correctOutput The output commitment the set found by re-executing (INVALID_REQUEST for a malformed request).
    @param signatures The signatures, in strictly ascending order of signing key.
    """
    self._resolve(receiptDigest, correctOutput, signatures, b"", False)


@external
def expireChallenge(receiptDigest: bytes32):
    """
    @notice After the resolution deadline passed without a verdict, close the challenge and credit
            the bond back to the challenger (anyone may call). The receipt is neither confirmed nor
            slashed and cannot be challenged again.
    @param receiptDigest The receipt digest (receiptDigest of the receipt).
    """
    c: Claim = self.claims[receiptDigest]
    assert c.status == STATUS_CHALLENGED, "not challenged"
    assert block.timestamp > c.deadline, "resolution window open"
    self.claims[receiptDigest].status = STATUS_EXPIRED
    log ChallengeExpired(receiptDigest=receiptDigest, challenger=c.challenger, bondReturned=c.bond)
    self._credit(c.challenger, receiptDigest, c.bond)


@external
@nonreentrant
def claimCompensation(receiptDigest: bytes32):
    """
    @notice Forward the slash of a receipt proven wrong to its client, once the slash escrow's
            window has passed (anyone may call): releases the escrow to this contract (the set's
            redistribution recipient) if nobody has yet, then transfers exactly the amounts the
            escrow recorded for that slash, and credits the challenger's held bond back (the
            slash is final). Reverts if the set's resolver cancelled the slash.
    @param receiptDigest The receipt digest (receiptDigest of the receipt).
    """
    c: Claim = self.claims[receiptDigest]
    assert c.status == STATUS_FAULTY, "receipt not proven wrong"
    assert c.slashId != 0, "operator was not slashed"
    assert not c.compensated, "already compensated"
    set_id: uint32 = self.operatorSetId
    rec: ITypes.SlashRecord = self._slash_record(c.slashId)
    assert rec.status != ESCROW_CANCELLED, "slash cancelled"
    assert rec.status == ESCROW_PENDING or rec.status == ESCROW_RELEASED, "nothing escrowed"
    self.claims[receiptDigest].compensated = True
    if c.bond != 0:
        # the slash is final (released here, or by someone before): the challenger's bond comes back
        self._credit(c.challenger, receiptDigest, c.bond)
    if rec.status == ESCROW_PENDING:
        extcall IEscrow(slashEscrow).releaseSlash(self, set_id, c.slashId)
    for i: uint256 in range(MAX_STRATEGIES):
        if i >= len(rec.tokens):
            break
        amount: uint256 = rec.amounts[i]
        if amount != 0:
            assert extcall IERC20(rec.tokens[i]).transfer(c.client, amount, default_return_value=True), "transfer failed"
        log ClientCompensated(receiptDigest=receiptDigest, client=c.client, slashId=c.slashId, token=rec.tokens[i], amount=amount)


@internal
@view
def _slash_record(slash_id: uint256) -> ITypes.SlashRecord:
    # one decoder of the escrow's record for claimCompensation and settleBond
    return staticcall IEscrow(slashEscrow).getSlash(self, self.operatorSetId, slash_id)


@external
def settleBond(receiptDigest: bytes32):
    """
    @notice Settle the bond of a challenge that proved its receipt wrong once its slash's fate is
            known (anyone may call): if the set's resolver cancelled the slash (the verdict was
            overturned) the bond is forfeited to the accused operator; once the slash is final
            (released, past the escrow's window, or nothing escrowed) it goes back to the
            challenger (claimCompensation does this too).
    @param receiptDigest The receipt digest (receiptDigest of the receipt).
    """
    c: Claim = self.claims[receiptDigest]
    assert c.status == STATUS_FAULTY, "receipt not proven wrong"
    assert c.bond != 0, "bond settled"
    rec: ITypes.SlashRecord = self._slash_record(c.slashId)
    if rec.status == ESCROW_CANCELLED:
        log VerdictOverturned(receiptDigest=receiptDigest, challenger=c.challenger, operator=c.operator, slashId=c.slashId, bondForfeited=c.bond)
        self._credit(c.operator, receiptDigest, c.bond)
        return
    assert rec.status != ESCROW_PENDING or block.number > convert(rec.resolveBlock, uint256), "slash pending"
    self._credit(c.challenger, receiptDigest, c.bond)


@external
@nonreentrant
def withdraw():
    """
    @notice Withdraw the caller's credited bonds (returned or forfeited to it) in wei.
    """
    amount: uint256 = self.credits[msg.sender]
    assert amount != 0, "nothing to withdraw"
    self.credits[msg.sender] = 0
    self.totalCredits -= amount
    log BondWithdrawn(account=msg.sender, amount=amount)
    raw_call(msg.sender, b"", value=amount)


@external
@view
def isFinalized(receiptDigest: bytes32) -> bool:
    """
    @notice A registered receipt whose challenge window passed unchallenged, or that the set confirmed.
    @param receiptDigest The receipt digest (receiptDigest of the receipt).
    @return True if the receipt is final.
    """
    c: Claim = self.claims[receiptDigest]
    return c.status == STATUS_UPHELD or (c.status == STATUS_REGISTERED and block.timestamp > c.deadline)
