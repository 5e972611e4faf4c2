# pragma version ~=0.4.3
"""
@title PredictionMarket
@notice Binary questions settled by a deterministic-inference verdict (docs/agent.md, *The
        AI-settled prediction market*).
        A question fixes at creation what decides it: the inference request (model, tokenizer,
        engine, sampling parameters, the prompt's tokens and the request options, which bind the
        YES/NO grammar) as one `requestHash`, the prompt template's hash and the input record's
        reference (its DA certificate hash) for re-executors, a close time and a resolution
        deadline. Until the close time anyone bets YES or NO in the stable token (a pari-mutuel
        pool). After it anyone posts a verdict: a receipt registered with InferenceDisputes after
        the close, for exactly the question's request, whose returned text is `{"answer":"YES"}` or `{"answer":"NO"}`.
        While the receipt's challenge window is open anyone may challenge it there (bonded); the
        inference set re-executes it and a stake-weighted threshold of operators signs the correct
        output. The market follows InferenceDisputes:
          - final (unchallenged past its window, or upheld and not appealed): settles to the verdict;
          - proven wrong (its operator slashed there): the verdict is discarded and a correct
            receipt may be posted, until the resolution deadline;
          - challenge expired without a verdict: the verdict is discarded likewise.
        Last resort: within APPEAL_WINDOW after the set's decision anyone may point the question at
        a pending ForkManager challenge whose evidence hash is appealEvidence(id) (the challenger
        burns an EIGEN bond to accuse the set's operators). The question freezes until governance
        resolves that challenge; adoption reverses the set's decision (an upheld verdict: the
        question voids, since the chain cannot know the right answer; a verdict the set called
        wrong: it stands), rejection lets the set's decision apply.
        No final verdict by the resolution deadline, or nobody on the winning side: the question
        voids and every stake is refunded. Payouts are pulled with claim once settled.
@dev Pari-mutuel payout, exact in integers: the winning side's stakers share the whole pool P.
     Claims run against the remaining pool R and the remaining winning stake S (initially P and the
     winning side's total): a claim of stake s pays floor(R * s / S), then R -= paid, S -= s. The
     ratio R / S never decreases, so every claim gets at least floor(P * s / W); the last claim
     gets exactly the rest, so nothing stays behind. Revert strings: "zero address", "bad window",
     "close time passed", "deadline before close", "unknown question", "market closed",
     "zero amount", "transfer failed", "market open", "market settled", "verdict pending",
     "resolution deadline passed", "receipt is for another request", "receipt options not bound",
     "verdict is not YES or NO", "receipt not registered", "receipt already disputed",
     "receipt registered before close", "receipt's challenge window too short", "no verdict",
     "dispute window open", "verdict disputed", "appeal window open", "fork pending",
     "set has not decided", "appeal window closed", "already appealed", "fork challenge not pending",
     "fork challenge is about something else", "fork challenge predates the verdict",
     "no verdict yet", "not settled", "nothing to claim"; recorded questions: "bad threshold",
     "zero address", "duplicate source", "recording deadline before close",
     "deadline before recording deadline", "inputs fixed at creation", "no bond required",
     "unknown source", "already bonded", "no bond", "empty recording", "no signatures",
     "signers and signatures differ", "source equivocated", "duplicate signer",
     "source signed another recording", "source not bonded",
     "recording deadline passed", "inputs not recorded", "source has not signed", "same recording",
     "inputs appeal window open", "recording open", "fork challenge predates the recording", and the signature
     module's "invalid signature", "invalid signature length", "invalid signature v",
     "invalid signature s".
     Recorded inputs (createRecordedQuestion): the question fixes everything of the request but the
     prompt (model, tokenizer, engine, sampling parameters, options: `requestBase`), n <= MAX_SOURCES
     distinct data sources and a threshold k (1 <= k <= n; k > n/2 so that a minority cannot
     record), optionally a bond each source posts in the token. After the close anyone relays
     sources' EIP-712 Recording(questionId, inputsRef, promptHash) signatures (EOA ECDSA or ERC-1271)
     with recordInputs, in one call or several, until the recording deadline: a source's first
     relayed signature is its vote; once k sources voted for the same recording it is recorded and
     the question's request becomes keccak256(abi.encode(RECORDED_TAG, requestBase, promptHash));
     votes still count until the deadline (a second recording reaching k voids; with 2k <= n a
     verdict therefore settles only after the deadline). A source's signature over a different recording than its vote (contestRecording, anyone, until
     settlement) proves it equivocated: its vote is struck, its bond forfeited (half to the prover,
     half to the pool), and a recorded recording that falls below k voids the question. No
     recording by the deadline: void. A majority lying consistently is not provable on-chain: within
     APPEAL_WINDOW after the recording anyone may freeze the question on a ForkManager challenge
     whose evidence is inputsAppealEvidence(id) (appealInputsToFork); adoption voids it.
"""

from ethereum.ercs import IERC20
from ..lib import signatures

MAX_PROMPT_TOKENS: constant(uint256) = 512
MAX_OUTPUT_TOKENS: constant(uint256) = 512
# The most data sources a recorded question names.
MAX_SOURCES: public(constant(uint256)) = 7

RECEIPT_DOMAIN_V3: constant(bytes32) = keccak256("eigencloud/ai/receipt/v3")
REQUEST_TAG: public(constant(bytes32)) = keccak256("eigen.agent.prediction.Request.v1")
APPEAL_TAG: constant(bytes32) = keccak256("eigen.agent.prediction.Appeal.v1")
INPUTS_APPEAL_TAG: constant(bytes32) = keccak256("eigen.agent.prediction.InputsAppeal.v1")
BASE_TAG: constant(bytes32) = keccak256("eigen.agent.prediction.RequestBase.v1")
RECORDED_TAG: constant(bytes32) = keccak256("eigen.agent.prediction.RecordedRequest.v1")
DOMAIN_NAME_HASH: constant(bytes32) = keccak256("PredictionMarket")
RECORDING_TYPEHASH: constant(bytes32) = keccak256("Recording(uint256 questionId,bytes32 inputsRef,bytes32 promptHash)")
# keccak256 of the texts the YES/NO grammar (VERDICT_SCHEMA in offchain/agent/prediction.py) returns.
YES_TEXT: public(constant(bytes32)) = keccak256('{"answer":"YES"}')
NO_TEXT: public(constant(bytes32)) = keccak256('{"answer":"NO"}')

OUTCOME_NONE: constant(uint8) = 0
OUTCOME_YES: public(constant(uint8)) = 1
OUTCOME_NO: public(constant(uint8)) = 2
OUTCOME_VOID: public(constant(uint8)) = 3

# InferenceDisputes claim statuses
RECEIPT_NONE: constant(uint8) = 0
RECEIPT_REGISTERED: constant(uint8) = 1
RECEIPT_CHALLENGED: constant(uint8) = 2
RECEIPT_UPHELD: constant(uint8) = 3
RECEIPT_FAULTY: constant(uint8) = 4
RECEIPT_EXPIRED: constant(uint8) = 5

# ForkManager challenge statuses
FORK_OPEN: constant(uint8) = 1
FORK_QUEUED: constant(uint8) = 2
FORK_ADOPTED: constant(uint8) = 3
FORK_REJECTED: constant(uint8) = 4

# InferenceDisputes' receipt, field for field.
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

# InferenceDisputes.claims's record, field for field.
struct Claim:
    client: address
    operator: address
    output: bytes32
    status: uint8
    deadline: uint256
    challenger: address
    bond: uint256
    slashId: uint256
    compensated: bool

# ForkManager.getChallenge's record, field for field.
struct ForkChallenge:
    challenger: address
    fork: address
    parent: address
    forkBlock: uint256
    evidenceHash: bytes32
    bond: uint256
    slashedStake: uint256
    reward: uint256
    status: uint8
    adopt: bool
    eta: uint256


interface IInferenceDisputes:
    def claims(receiptDigest: bytes32) -> Claim: view
    def receiptDigest(r: InferenceReceipt) -> bytes32: view
    def CHALLENGE_WINDOW() -> uint256: view


interface IForkChallenges:
    def getChallenge(challengeId: uint256) -> ForkChallenge: view


struct Question:
    creator: address
    questionHash: bytes32    # keccak256 of the question's text
    templateHash: bytes32    # keccak256 of the prompt template (re-executors rebuild the prompt)
    inputsRef: bytes32       # the input record's reference: keccak256 of its DA certificate (recorded: once recorded)
    requestHash: bytes32     # the request any verdict must answer (recorded: zero until recorded)
    closeTime: uint256       # bets until here (inclusive); verdicts from registrations after it
    resolveBy: uint256       # no final verdict by here (and none pending): void
    yesPool: uint256
    noPool: uint256
    receiptDigest: bytes32   # the pending verdict's receipt (zero: none)
    verdict: uint8           # its answer (OUTCOME_YES / OUTCOME_NO)
    proposedBlock: uint256   # the block it was posted in
    appealId: uint256        # the ForkManager challenge it was appealed to (zero: none)
    outcome: uint8           # OUTCOME_NONE until settled
    remainingPool: uint256   # R of the payout formula
    remainingStake: uint256  # S of the payout formula
    threshold: uint256       # recorded questions: k, how many distinct named sources must sign the same recording (zero: inputs fixed at creation)
    recordBy: uint256        # recorded questions: the recording deadline
    requestBase: bytes32     # recorded questions: requestBaseOf(the receipt, optionsHash) any verdict must have

# A recorded question's sources and recording, beside its Question record.
struct Sourcing:
    sourceBond: uint256      # what each named source bonds in the token (zero: no bonds)
    forfeited: uint256       # equivocators' forfeited bonds added to the pool at settlement
    recordedAt: uint256      # when the inputs were recorded (zero: not yet)
    recordedBlock: uint256   # the block they were recorded in
    appealId: uint256        # the ForkManager challenge the recorded inputs were appealed to (zero: none)


event QuestionCreated:
    questionId: indexed(uint256)
    creator: indexed(address)
    questionHash: bytes32
    templateHash: bytes32
    inputsRef: bytes32
    requestHash: bytes32
    closeTime: uint256
    resolveBy: uint256

event RecordedQuestionCreated:
    questionId: indexed(uint256)
    sources: DynArray[address, MAX_SOURCES]
    threshold: uint256
    sourceBond: uint256
    requestBase: bytes32
    recordBy: uint256

event SourceBonded:
    questionId: indexed(uint256)
    source: indexed(address)
    payer: indexed(address)
    amount: uint256

event SourceSigned:
    questionId: indexed(uint256)
    source: indexed(address)
    inputsRef: bytes32
    promptHash: bytes32
    signatures: uint256

event BondReleased:
    questionId: indexed(uint256)
    source: indexed(address)
    amount: uint256

event InputsAppealedToFork:
    questionId: indexed(uint256)
    challengeId: indexed(uint256)

event InputsRecorded:
    questionId: indexed(uint256)
    recorder: indexed(address)
    inputsRef: bytes32
    promptHash: bytes32
    requestHash: bytes32

event RecordingContested:
    questionId: indexed(uint256)
    source: indexed(address)
    contester: indexed(address)
    inputsRef: bytes32
    promptHash: bytes32
    bond: uint256
    reward: uint256

event BetPlaced:
    questionId: indexed(uint256)
    account: indexed(address)
    yes: bool
    amount: uint256

event VerdictProposed:
    questionId: indexed(uint256)
    receiptDigest: indexed(bytes32)
    proposer: indexed(address)
    verdict: uint8

event VerdictDiscarded:
    questionId: indexed(uint256)
    receiptDigest: indexed(bytes32)
    receiptStatus: uint8
    forkAdopted: bool

event AppealedToFork:
    questionId: indexed(uint256)
    receiptDigest: indexed(bytes32)
    challengeId: indexed(uint256)

event Settled:
    questionId: indexed(uint256)
    outcome: uint8
    receiptDigest: bytes32
    pool: uint256

event Claimed:
    questionId: indexed(uint256)
    account: indexed(address)
    amount: uint256


# The stable token bets are made in.
token: public(immutable(address))
# The InferenceDisputes whose verdicts settle questions.
disputes: public(immutable(address))
# The ForkManager of bEIGEN: the last resort.
forkManager: public(immutable(address))
# Seconds after the inference set's decision deadline during which it may be appealed to the fork.
APPEAL_WINDOW: public(immutable(uint256))
# Seconds of the receipt's challenge window that must remain when a verdict is posted.
MIN_CHALLENGE_TIME: public(immutable(uint256))
# InferenceDisputes' CHALLENGE_WINDOW (an immutable there).
RECEIPT_WINDOW: immutable(uint256)

questionCount: public(uint256)
_questions: HashMap[uint256, Question]
# question id -> account -> stake on YES / on NO
yesStake: public(HashMap[uint256, HashMap[address, uint256]])
noStake: public(HashMap[uint256, HashMap[address, uint256]])
# Recorded questions: the named sources, the bonds, each source's vote (recordingKey of the recording
# whose signature was relayed first; zero: none), proven equivocations, and the votes per recording.
_sources: HashMap[uint256, DynArray[address, MAX_SOURCES]]
sourcing: public(HashMap[uint256, Sourcing])
bonds: public(HashMap[uint256, HashMap[address, uint256]])
votes: public(HashMap[uint256, HashMap[address, bytes32]])
equivocated: public(HashMap[uint256, HashMap[address, bool]])
tally: public(HashMap[uint256, HashMap[bytes32, uint256]])


@deploy
def __init__(_token: address, _disputes: address, _forkManager: address, _appealWindow: uint256, _minChallengeTime: uint256):
    """
    @notice Deploy the market.
    @param _token The stable token bets are made in.
    @param _disputes The InferenceDisputes whose verdicts settle questions.
    @param _forkManager The bEIGEN ForkManager (the last resort).
    @param _appealWindow Seconds after the set's decision deadline during which it may be appealed.
    @param _minChallengeTime Seconds of a receipt's challenge window that must remain when it is posted.
    """
    assert _token != empty(address) and _disputes != empty(address) and _forkManager != empty(address), "zero address"
    window: uint256 = staticcall IInferenceDisputes(_disputes).CHALLENGE_WINDOW()
    assert _appealWindow != 0 and _minChallengeTime != 0 and _minChallengeTime <= window, "bad window"
    token = _token
    disputes = _disputes
    forkManager = _forkManager
    APPEAL_WINDOW = _appealWindow
    MIN_CHALLENGE_TIME = _minChallengeTime
    RECEIPT_WINDOW = window


# ---------------------------------------------------------------- external reads and transfers (one call site each)

@internal
@view
def _fork(challengeId: uint256) -> ForkChallenge:
    return staticcall IForkChallenges(forkManager).getChallenge(challengeId)


@internal
@view
def _claim(digest: bytes32) -> Claim:
    return staticcall IInferenceDisputes(disputes).claims(digest)


@internal
def _pay(to: address, amount: uint256):
    assert extcall IERC20(token).transfer(to, amount, default_return_value=True), "transfer failed"


@internal
def _pull(amount: uint256):
    assert extcall IERC20(token).transferFrom(msg.sender, self, amount, default_return_value=True), "transfer failed"


# ---------------------------------------------------------------- views

@internal
@pure
def _request_hash(r: InferenceReceipt, optionsHash: bytes32) -> bytes32:
    return keccak256(abi_encode(REQUEST_TAG, r.modelHash, r.tokenizerHash, r.engineId, r.seed,
        r.temperatureMilli, r.topK, r.topPMicro, r.maxTokens, keccak256(abi_encode(r.promptTokens)), optionsHash))


@external
@pure
def requestHashOf(r: InferenceReceipt, optionsHash: bytes32) -> bytes32:
    """
    @notice The request a receipt answers: keccak256(abi.encode(REQUEST_TAG, modelHash,
            tokenizerHash, engineId, seed, temperatureMilli, topK, topPMicro, maxTokens,
            keccak256(abi.encode(uint32[] promptTokens)), optionsHash)).
    @param r A receipt (its operator, client and output are not part of the request).
    @param optionsHash keccak256 of the request's canonical options (offchain.ai.options).
    @return The request hash.
    """
    return self._request_hash(r, optionsHash)


@internal
@pure
def _request_base(r: InferenceReceipt, optionsHash: bytes32) -> bytes32:
    return keccak256(abi_encode(BASE_TAG, r.modelHash, r.tokenizerHash, r.engineId, r.seed,
        r.temperatureMilli, r.topK, r.topPMicro, r.maxTokens, optionsHash))


@external
@pure
def requestBaseOf(r: InferenceReceipt, optionsHash: bytes32) -> bytes32:
    """
    @notice A recorded question's request without its prompt: keccak256(abi.encode(BASE_TAG,
            modelHash, tokenizerHash, engineId, seed, temperatureMilli, topK, topPMicro,
            maxTokens, optionsHash)).
    @param r A receipt (its prompt, operator, client and output are not part of the base).
    @param optionsHash keccak256 of the request's canonical options.
    @return The request base.
    """
    return self._request_base(r, optionsHash)


@external
@view
def recordingDigest(questionId: uint256, inputsRef: bytes32, promptHash: bytes32) -> bytes32:
    """
    @notice The EIP-712 digest (domain "PredictionMarket", version "1", this chain and market) of
            Recording(uint256 questionId, bytes32 inputsRef, bytes32 promptHash): what the
            question's source signs.
    @param questionId The question.
    @param inputsRef The input record's reference (keccak256 of its DA certificate).
    @param promptHash keccak256(abi.encode(uint32[] promptTokens)) of the rendered prompt.
    @return The digest.
    """
    return self._recording_digest(questionId, inputsRef, promptHash)


@internal
@view
def _recording_digest(questionId: uint256, inputsRef: bytes32, promptHash: bytes32) -> bytes32:
    return signatures._digest(DOMAIN_NAME_HASH, keccak256(abi_encode(RECORDING_TYPEHASH, questionId, inputsRef, promptHash)))


@external
@view
def appealEvidence(questionId: uint256) -> bytes32:
    """
    @notice The evidence hash a ForkManager challenge must carry to freeze this question:
            keccak256(abi.encode(APPEAL_TAG, chainid, this market, questionId, receiptDigest)).
    @param questionId The question.
    @return The evidence hash for its pending verdict (zero word of receipt when none).
    """
    return self._appeal_evidence(questionId, self._questions[questionId].receiptDigest)


@internal
@view
def _appeal_evidence(questionId: uint256, digest: bytes32) -> bytes32:
    return keccak256(abi_encode(APPEAL_TAG, chain.id, self, questionId, digest))


@external
@view
def inputsAppealEvidence(questionId: uint256) -> bytes32:
    """
    @notice The evidence hash a ForkManager challenge must carry to freeze a recorded question over
            its recorded inputs: keccak256(abi.encode(INPUTS_APPEAL_TAG, chainid, this market,
            questionId, inputsRef, requestHash)).
    @param questionId The question.
    @return The evidence hash for its recorded inputs (zero words when none).
    """
    q: Question = self._questions[questionId]
    return self._inputs_evidence(questionId, q.inputsRef, q.requestHash)


@internal
@view
def _inputs_evidence(questionId: uint256, inputsRef: bytes32, request: bytes32) -> bytes32:
    return keccak256(abi_encode(INPUTS_APPEAL_TAG, chain.id, self, questionId, inputsRef, request))


@external
@view
def sourcesOf(questionId: uint256) -> DynArray[address, MAX_SOURCES]:
    """
    @notice A recorded question's named data sources (empty for inputs fixed at creation).
    @param questionId The question.
    @return The sources, in creation order.
    """
    return self._sources[questionId]


@internal
@pure
def _recording_key(requestBase: bytes32, inputsRef: bytes32, promptHash: bytes32) -> bytes32:
    # a recording's identity: its inputs reference and the request it makes
    return keccak256(abi_encode(inputsRef, keccak256(abi_encode(RECORDED_TAG, requestBase, promptHash))))


@external
@view
def getQuestion(questionId: uint256) -> Question:
    """
    @notice A question's record.
    @param questionId The question id (1, 2, ...).
    @return The Question record.
    """
    return self._questions[questionId]


# ---------------------------------------------------------------- questions and bets

@external
def createQuestion(questionHash: bytes32, templateHash: bytes32, inputsRef: bytes32, requestHash: bytes32, closeTime: uint256, resolveBy: uint256) -> uint256:
    """
    @notice Create a binary question. Bets are taken until `closeTime`; a verdict must answer
            exactly `requestHash` (requestHashOf); with no final verdict by `resolveBy` (and none
            pending) the question voids.
    @param questionHash keccak256 of the question's text.
    @param templateHash keccak256 of the prompt template.
    @param inputsRef The input record's reference (keccak256 of its DA certificate).
    @param requestHash The inference request that decides the question.
    @param closeTime The last second bets are taken.
    @param resolveBy The resolution deadline.
    @return The question id.
    """
    assert resolveBy > closeTime, "deadline before close"
    return self._create(questionHash, templateHash, inputsRef, requestHash, closeTime, resolveBy, 0, 0, empty(bytes32))


@external
@nonreentrant
def createRecordedQuestion(questionHash: bytes32, templateHash: bytes32, requestBase: bytes32,
                           sources: DynArray[address, MAX_SOURCES], threshold: uint256, sourceBond: uint256,
                           closeTime: uint256, recordBy: uint256, resolveBy: uint256) -> uint256:
    """
    @notice Create a binary question whose inputs are recorded after the close: `threshold` (k) of
            the n named `sources` must sign the same recording (recordInputs) of the input record
            and the rendered prompt, relayed by anyone after `closeTime` and until `recordBy`; a
            verdict must answer the request `requestBase` completed with that prompt. No recording
            by `recordBy`: void. With `sourceBond` non-zero a source's signature counts only once it
            bonded that much (bondSource; a creator that is a named source bonds here).
    @param questionHash keccak256 of the question's text.
    @param templateHash keccak256 of the prompt template.
    @param requestBase requestBaseOf the request: model, tokenizer, engine, sampling, options.
    @param sources The data sources (EOAs, or contracts answering ERC-1271), distinct, at most MAX_SOURCES.
    @param threshold k: 1 <= k <= n; k > n / 2 so that a minority cannot record.
    @param sourceBond What each source bonds in the token (zero: no bonds).
    @param closeTime The last second bets are taken.
    @param recordBy The recording deadline.
    @param resolveBy The resolution deadline.
    @return The question id.
    """
    n: uint256 = len(sources)
    assert threshold != 0 and threshold <= n, "bad threshold"
    for i: uint256 in range(n, bound=MAX_SOURCES):
        assert sources[i] != empty(address), "zero address"
        for j: uint256 in range(i, bound=MAX_SOURCES):
            assert sources[j] != sources[i], "duplicate source"
    assert recordBy > closeTime, "recording deadline before close"
    assert resolveBy > recordBy, "deadline before recording deadline"
    qid: uint256 = self._create(questionHash, templateHash, empty(bytes32), empty(bytes32), closeTime, resolveBy, threshold, recordBy, requestBase)
    self._sources[qid] = sources
    self.sourcing[qid].sourceBond = sourceBond
    log RecordedQuestionCreated(questionId=qid, sources=sources, threshold=threshold, sourceBond=sourceBond, requestBase=requestBase, recordBy=recordBy)
    if sourceBond != 0 and msg.sender in sources:
        self._bond(qid, msg.sender, sourceBond)
    return qid


@internal
def _bond(questionId: uint256, source: address, amount: uint256):
    self.bonds[questionId][source] = amount
    self._pull(amount)
    log SourceBonded(questionId=questionId, source=source, payer=msg.sender, amount=amount)


@external
@nonreentrant
def bondSource(questionId: uint256, source: address):
    """
    @notice Post a named source's bond (anyone pays it; approve the market first), until the close
            time, once per source. It comes back to the source with releaseBond after settlement,
            unless the source is proven to have signed two different recordings (contestRecording).
    @param questionId The question.
    @param source The named source the bond is for.
    """
    q: Question = self._known(questionId)
    assert q.threshold != 0, "inputs fixed at creation"
    assert block.timestamp <= q.closeTime, "market closed"
    amount: uint256 = self.sourcing[questionId].sourceBond
    assert amount != 0, "no bond required"
    assert source in self._sources[questionId], "unknown source"
    assert self.bonds[questionId][source] == 0, "already bonded"
    self._bond(questionId, source, amount)


@external
@nonreentrant
def releaseBond(questionId: uint256, source: address) -> uint256:
    """
    @notice Pay a source's bond back to it once the question is settled (anyone).
    @param questionId The question.
    @param source The source.
    @return The amount paid.
    """
    q: Question = self._known(questionId)
    assert q.outcome != OUTCOME_NONE, "not settled"
    amount: uint256 = self.bonds[questionId][source]
    assert amount != 0, "no bond"
    self.bonds[questionId][source] = 0
    self._pay(source, amount)
    log BondReleased(questionId=questionId, source=source, amount=amount)
    return amount


@internal
def _create(questionHash: bytes32, templateHash: bytes32, inputsRef: bytes32, requestHash: bytes32, closeTime: uint256,
            resolveBy: uint256, threshold: uint256, recordBy: uint256, requestBase: bytes32) -> uint256:
    assert closeTime > block.timestamp, "close time passed"
    qid: uint256 = self.questionCount + 1
    self.questionCount = qid
    q: Question = empty(Question)
    q.creator = msg.sender
    q.questionHash = questionHash
    q.templateHash = templateHash
    q.inputsRef = inputsRef
    q.requestHash = requestHash
    q.closeTime = closeTime
    q.resolveBy = resolveBy
    q.threshold = threshold
    q.recordBy = recordBy
    q.requestBase = requestBase
    self._questions[qid] = q
    log QuestionCreated(questionId=qid, creator=msg.sender, questionHash=questionHash, templateHash=templateHash,
        inputsRef=inputsRef, requestHash=requestHash, closeTime=closeTime, resolveBy=resolveBy)
    return qid


@internal
@view
def _recorded(questionId: uint256) -> Question:
    q: Question = self._known(questionId)
    assert q.threshold != 0, "inputs fixed at creation"
    assert q.outcome == OUTCOME_NONE, "market settled"
    return q


@external
def recordInputs(questionId: uint256, inputsRef: bytes32, promptHash: bytes32, signers: DynArray[address, MAX_SOURCES],
                 sigs: DynArray[Bytes[256], MAX_SOURCES]):
    """
    @notice Relay named sources' signatures of one recording of a recorded question's inputs
            (anyone relays; the signatures are what count): after the close and until the recording
            deadline. `sigs[i]` is `signers[i]`'s signature over
            recordingDigest(questionId, inputsRef, promptHash). Each source's first relayed
            signature is its vote (another recording of the same source is equivocation:
            contestRecording); votes accumulate across calls. When `threshold` distinct sources
            have voted for the same recording it is recorded: the question's request becomes
            keccak256(abi.encode(RECORDED_TAG, requestBase, promptHash)). Votes still count after
            that, until the deadline: for the recorded recording they strengthen it (against
            struck votes); another recording reaching `threshold` too voids the question.
    @param questionId The question.
    @param inputsRef The input record's reference (keccak256 of its DA certificate).
    @param promptHash keccak256(abi.encode(uint32[] promptTokens)) of the template rendered over the record.
    @param signers The named sources whose signatures are relayed, distinct.
    @param sigs Their signatures (65-byte ECDSA, or what an ERC-1271 source accepts), in the same order.
    """
    q: Question = self._recorded(questionId)
    assert block.timestamp > q.closeTime, "market open"
    assert block.timestamp <= q.recordBy, "recording deadline passed"
    assert inputsRef != empty(bytes32), "empty recording"
    assert len(signers) != 0, "no signatures"
    assert len(signers) == len(sigs), "signers and signatures differ"
    key: bytes32 = self._recording_key(q.requestBase, inputsRef, promptHash)
    digest: bytes32 = self._recording_digest(questionId, inputsRef, promptHash)
    named: DynArray[address, MAX_SOURCES] = self._sources[questionId]
    bonded: bool = self.sourcing[questionId].sourceBond == 0
    count: uint256 = self.tally[questionId][key]
    for i: uint256 in range(len(signers), bound=MAX_SOURCES):
        s: address = signers[i]
        assert s in named, "unknown source"
        assert not self.equivocated[questionId][s], "source equivocated"
        vote: bytes32 = self.votes[questionId][s]
        assert vote != key, "duplicate signer"
        assert vote == empty(bytes32), "source signed another recording"
        assert bonded or self.bonds[questionId][s] != 0, "source not bonded"
        signatures._check_signature(s, digest, sigs[i])
        self.votes[questionId][s] = key
        count += 1
        log SourceSigned(questionId=questionId, source=s, inputsRef=inputsRef, promptHash=promptHash, signatures=count)
    self.tally[questionId][key] = count
    if count < q.threshold:
        return
    if q.inputsRef != empty(bytes32):
        # recorded already: more votes for it only strengthen it; another recording reaching k too
        # (possible only when 2k <= n) means k sources said one thing and k another: void
        if key != keccak256(abi_encode(q.inputsRef, q.requestHash)):
            self._settle(questionId, q, OUTCOME_VOID)
        return
    request: bytes32 = keccak256(abi_encode(RECORDED_TAG, q.requestBase, promptHash))
    self._questions[questionId].inputsRef = inputsRef
    self._questions[questionId].requestHash = request
    self.sourcing[questionId].recordedAt = block.timestamp
    self.sourcing[questionId].recordedBlock = block.number
    log InputsRecorded(questionId=questionId, recorder=msg.sender, inputsRef=inputsRef, promptHash=promptHash, requestHash=request)


@external
@nonreentrant
def contestRecording(questionId: uint256, source: address, inputsRef: bytes32, promptHash: bytes32, signature: Bytes[256]):
    """
    @notice Prove that a named source equivocated (anyone, until settlement): its signature over a
            recording of the question other than the one its vote is for. Its vote no longer
            counts, it cannot vote again, and its bond is forfeited: half to the caller, half to
            the pool (all to the caller when nobody bet). If its vote was part of the recorded
            recording and that recording falls below the threshold, the question voids.
    @param questionId The question.
    @param source The named source.
    @param inputsRef The other recording's input reference.
    @param promptHash The other recording's prompt hash.
    @param signature The source's signature over recordingDigest(questionId, inputsRef, promptHash).
    """
    q: Question = self._recorded(questionId)
    assert source in self._sources[questionId], "unknown source"
    assert not self.equivocated[questionId][source], "source equivocated"
    vote: bytes32 = self.votes[questionId][source]
    assert vote != empty(bytes32), "source has not signed"
    assert self._recording_key(q.requestBase, inputsRef, promptHash) != vote, "same recording"
    signatures._check_signature(source, self._recording_digest(questionId, inputsRef, promptHash), signature)
    self.equivocated[questionId][source] = True
    left: uint256 = self.tally[questionId][vote] - 1
    self.tally[questionId][vote] = left
    bond: uint256 = self.bonds[questionId][source]
    self.bonds[questionId][source] = 0
    reward: uint256 = bond
    if q.yesPool + q.noPool != 0:
        reward = bond // 2
        self.sourcing[questionId].forfeited += bond - reward
    log RecordingContested(questionId=questionId, source=source, contester=msg.sender, inputsRef=inputsRef,
        promptHash=promptHash, bond=bond, reward=reward)
    if reward != 0:
        self._pay(msg.sender, reward)
    if q.inputsRef != empty(bytes32) and vote == keccak256(abi_encode(q.inputsRef, q.requestHash)) and left < q.threshold:
        self._settle(questionId, q, OUTCOME_VOID)


@external
def appealInputsToFork(questionId: uint256, challengeId: uint256):
    """
    @notice Escalate a recorded question's inputs to the fork (anyone): within APPEAL_WINDOW after
            the recording, freeze the question on a pending ForkManager challenge opened at or
            after the recording's block whose evidence hash is inputsAppealEvidence(questionId)
            (the challenger burns an EIGEN bond; the accusation: the recording's signers lied).
            Adoption voids the question; rejection lets it go on. One inputs appeal per question.
    @param questionId The question.
    @param challengeId The ForkManager challenge.
    """
    q: Question = self._recorded(questionId)
    assert q.inputsRef != empty(bytes32), "inputs not recorded"
    s: Sourcing = self.sourcing[questionId]
    assert s.appealId == 0, "already appealed"
    assert block.timestamp <= s.recordedAt + APPEAL_WINDOW, "appeal window closed"
    f: ForkChallenge = self._fork(challengeId)
    assert f.status == FORK_OPEN or f.status == FORK_QUEUED, "fork challenge not pending"
    assert f.evidenceHash == self._inputs_evidence(questionId, q.inputsRef, q.requestHash), "fork challenge is about something else"
    assert f.forkBlock >= s.recordedBlock, "fork challenge predates the recording"
    self.sourcing[questionId].appealId = challengeId
    log InputsAppealedToFork(questionId=questionId, challengeId=challengeId)


@internal
@view
def _known(questionId: uint256) -> Question:
    q: Question = self._questions[questionId]
    assert q.creator != empty(address), "unknown question"
    return q


@external
@nonreentrant
def bet(questionId: uint256, yes: bool, amount: uint256):
    """
    @notice Stake `amount` of the token on YES or NO (approve the market first), until the close time.
    @param questionId The question.
    @param yes True for YES, False for NO.
    @param amount The stake in the token's units.
    """
    q: Question = self._known(questionId)
    assert block.timestamp <= q.closeTime, "market closed"
    assert amount != 0, "zero amount"
    if yes:
        self._questions[questionId].yesPool = q.yesPool + amount
        self.yesStake[questionId][msg.sender] += amount
    else:
        self._questions[questionId].noPool = q.noPool + amount
        self.noStake[questionId][msg.sender] += amount
    self._pull(amount)
    log BetPlaced(questionId=questionId, account=msg.sender, yes=yes, amount=amount)


# ---------------------------------------------------------------- verdicts

@external
def proposeVerdict(questionId: uint256, r: InferenceReceipt, optionsHash: bytes32, textHash: bytes32):
    """
    @notice Post the question's verdict (anyone): a receipt registered with InferenceDisputes after
            the close time, at least MIN_CHALLENGE_TIME before its challenge window ends and not yet
            challenged, for the question's request, whose returned text is {"answer":"YES"} or {"answer":"NO"}
            (`optionsHash`, `textHash`: the preimage of its version 3 domain word).
    @param questionId The question.
    @param r The receipt.
    @param optionsHash keccak256 of the request's canonical options.
    @param textHash keccak256 of the text the receipt returned.
    """
    q: Question = self._known(questionId)
    assert block.timestamp > q.closeTime, "market open"
    assert q.outcome == OUTCOME_NONE, "market settled"
    assert q.receiptDigest == empty(bytes32), "verdict pending"
    assert block.timestamp <= q.resolveBy, "resolution deadline passed"
    request: bytes32 = empty(bytes32)
    if q.threshold == 0:
        request = self._request_hash(r, optionsHash)
    else:
        assert q.requestHash != empty(bytes32), "inputs not recorded"
        request = keccak256(abi_encode(RECORDED_TAG, self._request_base(r, optionsHash), keccak256(abi_encode(r.promptTokens))))
    assert request == q.requestHash, "receipt is for another request"
    assert r.domain == keccak256(abi_encode(RECEIPT_DOMAIN_V3, optionsHash, textHash)), "receipt options not bound"
    verdict: uint8 = OUTCOME_NONE
    if textHash == YES_TEXT:
        verdict = OUTCOME_YES
    elif textHash == NO_TEXT:
        verdict = OUTCOME_NO
    assert verdict != OUTCOME_NONE, "verdict is not YES or NO"
    digest: bytes32 = staticcall IInferenceDisputes(disputes).receiptDigest(r)
    c: Claim = self._claim(digest)
    assert c.status != RECEIPT_NONE, "receipt not registered"
    assert c.status == RECEIPT_REGISTERED, "receipt already disputed"
    assert c.deadline >= q.closeTime + RECEIPT_WINDOW, "receipt registered before close"
    assert c.deadline >= block.timestamp + MIN_CHALLENGE_TIME, "receipt's challenge window too short"
    self._questions[questionId].receiptDigest = digest
    self._questions[questionId].verdict = verdict
    self._questions[questionId].proposedBlock = block.number
    log VerdictProposed(questionId=questionId, receiptDigest=digest, proposer=msg.sender, verdict=verdict)


@external
def appealToFork(questionId: uint256, challengeId: uint256):
    """
    @notice The last resort (anyone): after the inference set decided on the pending verdict
            (upheld or proven wrong) and until APPEAL_WINDOW after its decision deadline, freeze
            the question on a pending ForkManager challenge opened after the verdict was posted
            whose evidence hash is appealEvidence(questionId). One appeal per verdict.
    @param questionId The question.
    @param challengeId The ForkManager challenge.
    """
    q: Question = self._known(questionId)
    assert q.outcome == OUTCOME_NONE, "market settled"
    assert q.receiptDigest != empty(bytes32), "no verdict"
    assert q.appealId == 0, "already appealed"
    c: Claim = self._claim(q.receiptDigest)
    assert c.status == RECEIPT_UPHELD or c.status == RECEIPT_FAULTY, "set has not decided"
    assert block.timestamp <= c.deadline + APPEAL_WINDOW, "appeal window closed"
    f: ForkChallenge = self._fork(challengeId)
    assert f.status == FORK_OPEN or f.status == FORK_QUEUED, "fork challenge not pending"
    assert f.evidenceHash == self._appeal_evidence(questionId, q.receiptDigest), "fork challenge is about something else"
    assert f.forkBlock >= q.proposedBlock, "fork challenge predates the verdict"
    self._questions[questionId].appealId = challengeId
    log AppealedToFork(questionId=questionId, receiptDigest=q.receiptDigest, challengeId=challengeId)


@internal
def _settle(questionId: uint256, q: Question, outcome: uint8):
    o: uint8 = outcome
    winning: uint256 = 0
    if o == OUTCOME_YES:
        winning = q.yesPool
    elif o == OUTCOME_NO:
        winning = q.noPool
    if winning == 0:
        o = OUTCOME_VOID  # nobody to pay: everyone gets their stake back
    if o != OUTCOME_VOID and q.threshold != 0:
        # the bettors had their window to escalate the recorded inputs (an appeal, rejected, closes it)
        if self.sourcing[questionId].appealId == 0:
            assert block.timestamp > self.sourcing[questionId].recordedAt + APPEAL_WINDOW, "inputs appeal window open"
        # with 2k <= n a conflicting recording can reach k until the recording deadline
        if 2 * q.threshold <= len(self._sources[questionId]):
            assert block.timestamp > q.recordBy, "recording open"
    pool: uint256 = q.yesPool + q.noPool
    self._questions[questionId].outcome = o
    # equivocators' forfeited bonds join the pool (void: shared pro rata to the stakes)
    self._questions[questionId].remainingPool = pool + self.sourcing[questionId].forfeited
    self._questions[questionId].remainingStake = winning if o != OUTCOME_VOID else pool
    log Settled(questionId=questionId, outcome=o, receiptDigest=q.receiptDigest, pool=pool)


@internal
def _discard(questionId: uint256, q: Question, status: uint8, adopted: bool):
    log VerdictDiscarded(questionId=questionId, receiptDigest=q.receiptDigest, receiptStatus=status, forkAdopted=adopted)
    self._questions[questionId].receiptDigest = empty(bytes32)
    self._questions[questionId].verdict = OUTCOME_NONE
    self._questions[questionId].proposedBlock = 0
    self._questions[questionId].appealId = 0
    if block.timestamp > q.resolveBy:
        self._settle(questionId, q, OUTCOME_VOID)


@external
def settle(questionId: uint256):
    """
    @notice Move the question as far as InferenceDisputes and the ForkManager allow (anyone):
            settle it to its final verdict, discard a verdict that was proven wrong or whose
            challenge expired (voiding the question if past its resolution deadline), or void a
            question with no verdict past its resolution deadline. Reverts when nothing can move.
    @param questionId The question.
    """
    q: Question = self._known(questionId)
    assert block.timestamp > q.closeTime, "market open"
    assert q.outcome == OUTCOME_NONE, "market settled"
    inputsAppeal: uint256 = self.sourcing[questionId].appealId
    if inputsAppeal != 0:
        g: ForkChallenge = self._fork(inputsAppeal)
        assert g.status == FORK_ADOPTED or g.status == FORK_REJECTED, "fork pending"
        if g.status == FORK_ADOPTED:
            # social consensus says the recorded inputs were false: the chain cannot know the true ones
            self._settle(questionId, q, OUTCOME_VOID)
            return
    if q.receiptDigest == empty(bytes32):
        # no verdict past the deadline, or no recording past the recording deadline: void
        unrecorded: bool = q.threshold != 0 and q.requestHash == empty(bytes32) and block.timestamp > q.recordBy
        assert block.timestamp > q.resolveBy or unrecorded, "no verdict yet"
        self._settle(questionId, q, OUTCOME_VOID)
        return
    c: Claim = self._claim(q.receiptDigest)
    if q.appealId != 0:
        f: ForkChallenge = self._fork(q.appealId)
        assert f.status == FORK_ADOPTED or f.status == FORK_REJECTED, "fork pending"
        if f.status == FORK_ADOPTED:
            # Social consensus overturned the set: an upheld verdict is void (the chain cannot
            # know the right answer); a verdict the set called wrong stands.
            if c.status == RECEIPT_UPHELD:
                self._settle(questionId, q, OUTCOME_VOID)
            else:
                self._settle(questionId, q, q.verdict)
            return
        # rejected: the set's decision applies, now
        if c.status == RECEIPT_UPHELD:
            self._settle(questionId, q, q.verdict)
        else:
            self._discard(questionId, q, c.status, False)
        return
    if c.status == RECEIPT_REGISTERED:
        assert block.timestamp > c.deadline, "dispute window open"
        self._settle(questionId, q, q.verdict)
    elif c.status == RECEIPT_CHALLENGED:
        raise "verdict disputed"
    elif c.status == RECEIPT_EXPIRED:
        self._discard(questionId, q, c.status, False)
    else:
        assert block.timestamp > c.deadline + APPEAL_WINDOW, "appeal window open"
        if c.status == RECEIPT_UPHELD:
            self._settle(questionId, q, q.verdict)
        else:
            self._discard(questionId, q, c.status, False)


# ---------------------------------------------------------------- payouts

@external
@view
def payoutOf(questionId: uint256, account: address) -> uint256:
    """
    @notice What claim would pay `account` now (zero before settlement).
    @param questionId The question.
    @param account The account.
    @return The amount in the token's units.
    """
    q: Question = self._questions[questionId]
    return self._payout(questionId, q, account)


@internal
@view
def _payout(questionId: uint256, q: Question, account: address) -> uint256:
    s: uint256 = 0
    if q.outcome == OUTCOME_YES:
        s = self.yesStake[questionId][account]
    elif q.outcome == OUTCOME_NO:
        s = self.noStake[questionId][account]
    elif q.outcome == OUTCOME_VOID:
        s = self.yesStake[questionId][account] + self.noStake[questionId][account]
    if s == 0:
        return 0
    return q.remainingPool * s // q.remainingStake


@external
@nonreentrant
def claim(questionId: uint256) -> uint256:
    """
    @notice Collect the caller's payout of a settled question: its share of the pool on the winning
            side (see the payout formula), or its stakes back when the question voided.
    @param questionId The question.
    @return The amount paid.
    """
    q: Question = self._known(questionId)
    assert q.outcome != OUTCOME_NONE, "not settled"
    amount: uint256 = self._payout(questionId, q, msg.sender)
    stake: uint256 = 0
    if q.outcome == OUTCOME_YES:
        stake = self.yesStake[questionId][msg.sender]
    elif q.outcome == OUTCOME_NO:
        stake = self.noStake[questionId][msg.sender]
    else:
        stake = self.yesStake[questionId][msg.sender] + self.noStake[questionId][msg.sender]
    assert stake != 0, "nothing to claim"
    self.yesStake[questionId][msg.sender] = 0
    self.noStake[questionId][msg.sender] = 0
    self._questions[questionId].remainingPool = q.remainingPool - amount
    self._questions[questionId].remainingStake = q.remainingStake - stake
    self._pay(msg.sender, amount)
    log Claimed(questionId=questionId, account=msg.sender, amount=amount)
    return amount
