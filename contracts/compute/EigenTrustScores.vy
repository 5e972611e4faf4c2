# pragma version ~=0.4.3
"""
@title EigenTrustScores
@notice EigenTrust scores per epoch, as an executor set of the TaskMailbox certified them: the
        accepted score root of each epoch comes from a VERIFIED task of one executor set running
        one image (the EigenTrust kernel, offchain/compute/kernels/eigentrust.c) on a graph that one
        source posted; a peer's score is read with its Merkle proof (scoreOf). The computation is
        exact fixed point (docs/compute-network.md, "EigenTrust"), so a wrong root is a provable
        fault of its certifiers, slashed through the TaskSlasher.
@dev The task result is abi.encode(uint64 epoch, bytes32 inputHash, bytes32 scoresRoot, uint32
     peers, uint32 iterations); the mailbox stores its keccak256, which publish() recomputes from the
     parts. Leaves are keccak256(peer (20 bytes) | uint256 score), in the graph's peer order, padded
     with zero words to a power of two; pairs hash as keccak256(left | right). No owner: the
     mailbox, the set, the image and the source are fixed at deployment.
"""

from ..interfaces import ITaskMailbox

STATUS_VERIFIED: constant(uint8) = 2
MAX_DEPTH: constant(uint256) = 20  # 2**20 peers: the kernel's MAX_PEERS

struct EpochScores:
    taskHash: bytes32
    root: bytes32
    peers: uint32
    iterations: uint32

event ScoresPublished:
    epoch: indexed(uint64)
    taskHash: indexed(bytes32)
    root: bytes32
    peers: uint32
    iterations: uint32

# The TaskMailbox whose certified tasks carry the scores.
mailbox: public(immutable(address))
# The executor set whose certificates count.
operatorSetId: public(immutable(uint32))
# The image (sha256 digest) the task type must run.
imageDigest: public(immutable(bytes32))
# The account whose tasks are the epochs' graphs (the creator of the task).
source: public(immutable(address))
# epoch -> its accepted scores (root zero: none yet)
epochScores: public(HashMap[uint64, EpochScores])
# The highest epoch published (meaningful once anyEpoch).
latestEpoch: public(uint64)
anyEpoch: public(bool)


@deploy
def __init__(_mailbox: address, _operatorSetId: uint32, _imageDigest: bytes32, _source: address):
    """
    @param _mailbox The TaskMailbox.
    @param _operatorSetId The executor set whose certified results are accepted.
    @param _imageDigest The EigenTrust image's digest (as registered in ComputeAVS).
    @param _source The account that creates the epochs' tasks (posts the graphs).
    """
    assert _mailbox != empty(address), "zero mailbox"
    assert _imageDigest != empty(bytes32), "zero image"
    assert _source != empty(address), "zero source"
    mailbox = _mailbox
    operatorSetId = _operatorSetId
    imageDigest = _imageDigest
    source = _source


@external
def publish(taskHash: bytes32, epoch: uint64, root: bytes32, peers: uint32, iterations: uint32):
    """
    @notice Accept the scores of a certified task as its epoch's (once per epoch; anyone may call).
    @param taskHash A VERIFIED task of the set's task type running the image, created by the source.
    @param epoch The graph's epoch (the result's first word).
    @param root The score tree's root.
    @param peers The number of peers.
    @param iterations The iterations the computation ran.
    """
    info: ITaskMailbox.TaskInfo = staticcall ITaskMailbox(mailbox).getTaskInfo(taskHash)
    assert info.status == STATUS_VERIFIED, "task not verified"
    assert info.creator == source, "not the source's task"
    tt: ITaskMailbox.TaskType = staticcall ITaskMailbox(mailbox).taskTypes(info.taskType)
    assert tt.operatorSetId == operatorSetId and tt.imageDigest == imageDigest, "not an eigentrust task"
    assert keccak256(abi_encode(epoch, info.inputHash, root, peers, iterations)) == info.resultHash, "result mismatch"
    assert self.epochScores[epoch].root == empty(bytes32), "epoch published"
    self.epochScores[epoch] = EpochScores(taskHash=taskHash, root=root, peers=peers, iterations=iterations)
    if not self.anyEpoch or epoch > self.latestEpoch:
        self.latestEpoch = epoch
        self.anyEpoch = True
    log ScoresPublished(epoch=epoch, taskHash=taskHash, root=root, peers=peers, iterations=iterations)


@internal
@view
def _verify(epoch: uint64, peer: address, score: uint256, index: uint256, proof: DynArray[bytes32, MAX_DEPTH]) -> bool:
    e: EpochScores = self.epochScores[epoch]
    assert e.root != empty(bytes32), "unknown epoch"
    assert index < convert(e.peers, uint256), "index past the peers"
    depth: uint256 = 0
    for d: uint256 in range(MAX_DEPTH):
        if (1 << depth) >= convert(e.peers, uint256):
            break
        depth += 1
    assert len(proof) == depth, "wrong proof length"
    h: bytes32 = keccak256(concat(convert(peer, bytes20), convert(score, bytes32)))
    idx: uint256 = index
    for sibling: bytes32 in proof:
        if idx % 2 == 0:
            h = keccak256(concat(h, sibling))
        else:
            h = keccak256(concat(sibling, h))
        idx //= 2
    return h == e.root


@external
@view
def verifyScore(epoch: uint64, peer: address, score: uint256, index: uint256, proof: DynArray[bytes32, MAX_DEPTH]) -> bool:
    """
    @notice Whether `peer` has `score` (WAD = 1) in `epoch`: leaf `index` of the epoch's root.
    """
    return self._verify(epoch, peer, score, index, proof)


@external
@view
def scoreOf(epoch: uint64, peer: address, score: uint256, index: uint256, proof: DynArray[bytes32, MAX_DEPTH]) -> uint256:
    """
    @notice `peer`'s score in `epoch`, checked against the epoch's root by its proof (reverts with
            "invalid score proof" otherwise): what a contract reads a reputation with.
    """
    assert self._verify(epoch, peer, score, index, proof), "invalid score proof"
    return score
