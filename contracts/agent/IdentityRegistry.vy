# pragma version ~=0.4.3
"""
@title IdentityRegistry
@notice ERC-8004 "Trustless Agents" identity registry: each agent is an ERC-721 token (name
        "AgentIdentity", symbol "AGENT") whose token URI is the agent's registration file, with
        free-form metadata (key -> bytes) and a verified agent wallet. The global agent id is
        eip155:{chainId}:{this address} plus the token id (agent ids start at 0).
@dev The selectors and events are ERC-8004's: `register` has the three overloads of the spec
     through default arguments (register(), register(string),
     register(string,(string,bytes)[])). The agent wallet is set by the wallet's own EIP-712
     signature (domain "ERC8004IdentityRegistry" / "1", type AgentWalletSet) or its ERC-1271
     answer for a contract wallet, within a deadline at most 5 minutes ahead; it starts as the
     registering account, is mirrored under the reserved metadata key "agentWallet" (which
     setMetadata and register refuse) and is cleared when the token is transferred. As the
     reference implementation: a 65-byte ECDSA signature by the wallet's key is accepted even
     when the wallet has code (an EIP-7702 delegated account), ERC-1271 is asked otherwise; the
     domain is readable through ERC-5267 eip712Domain(); setting a URI emits ERC-4906
     MetadataUpdate (ERC721URIStorage's event), so NFT indexers refresh the agent.
     Revert strings: "unknown agent", "not authorized", "reserved key", "zero wallet", "expired",
     "deadline too far", "invalid signature*", "zero receiver", "not owner", "not a receiver",
     "self approval", "too much metadata".
"""

from ..interfaces import IERC721Receiver
from ..lib import signatures

MAX_URI: constant(uint256) = 8192
MAX_KEY: constant(uint256) = 64
MAX_VALUE: constant(uint256) = 1024
MAX_ENTRIES: constant(uint256) = 16
MAX_DEADLINE_DELAY: constant(uint256) = 300
# A contract wallet's signature may be long (a passkey wallet's WebAuthn assertion): up to 2 KiB.
MAX_SIGNATURE: constant(uint256) = 2048
ERC1271_MAGIC: constant(bytes4) = 0x1626ba7e

DOMAIN_NAME_HASH: constant(bytes32) = keccak256("ERC8004IdentityRegistry")
AGENT_WALLET_SET_TYPEHASH: constant(bytes32) = keccak256(
    "AgentWalletSet(uint256 agentId,address newWallet,address owner,uint256 deadline)"
)
AGENT_WALLET_KEY: constant(String[11]) = "agentWallet"
AGENT_WALLET_KEY_HASH: constant(bytes32) = keccak256("agentWallet")
ERC721_RECEIVED: constant(bytes4) = 0x150b7a02

# ERC-165 interface ids: ERC-165, ERC-721, ERC-721 Metadata, ERC-4906 (metadata update).
IID_ERC165: constant(bytes4) = 0x01ffc9a7
IID_ERC721: constant(bytes4) = 0x80ac58cd
IID_ERC721_METADATA: constant(bytes4) = 0x5b5e139f
IID_ERC4906: constant(bytes4) = 0x49064906
# ERC-5267: the domain fields present (name, version, chainId, verifyingContract).
EIP712_FIELDS: constant(bytes1) = 0x0f
SECP256K1_HALF_N: constant(uint256) = 57896044618658097711785492504343953926418782139537452191302581570759080747168


interface IERC1271Wallet:
    def isValidSignature(_hash: bytes32, _signature: Bytes[MAX_SIGNATURE]) -> bytes4: view


struct MetadataEntry:
    metadataKey: String[MAX_KEY]
    metadataValue: Bytes[MAX_VALUE]


# ERC-721
event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    tokenId: indexed(uint256)


event Approval:
    owner: indexed(address)
    approved: indexed(address)
    tokenId: indexed(uint256)


event ApprovalForAll:
    owner: indexed(address)
    operator: indexed(address)
    approved: bool


# ERC-4906
event MetadataUpdate:
    _tokenId: uint256


# ERC-8004
event Registered:
    agentId: indexed(uint256)
    agentURI: String[MAX_URI]
    owner: indexed(address)


event URIUpdated:
    agentId: indexed(uint256)
    newURI: String[MAX_URI]
    updatedBy: indexed(address)


event MetadataSet:
    agentId: indexed(uint256)
    indexedMetadataKey: indexed(String[MAX_KEY])
    metadataKey: String[MAX_KEY]
    metadataValue: Bytes[MAX_VALUE]


# ERC-721 Metadata
name: public(String[16])
symbol: public(String[8])

# Owner of each agent (zero: no such agent).
_owners: HashMap[uint256, address]
# Number of agents each account owns.
_balances: HashMap[address, uint256]
# Single-token approval of each agent.
_approvals: HashMap[uint256, address]
# isApprovedForAll[owner][operator].
isApprovedForAll: public(HashMap[address, HashMap[address, bool]])
# Registration file URI of each agent (the ERC-721 token URI).
_uris: HashMap[uint256, String[MAX_URI]]
# _metadata[agentId][keccak256(key)]: the value set under `key`.
_metadata: HashMap[uint256, HashMap[bytes32, Bytes[MAX_VALUE]]]
# Verified wallet of each agent (zero: none).
_wallets: HashMap[uint256, address]
# The next agent id.
_next_id: uint256


@deploy
def __init__():
    self.name = "AgentIdentity"
    self.symbol = "AGENT"


# ------------------------------------------------------------------ ERC-165 / ERC-721


@external
@view
def supportsInterface(interfaceId: bytes4) -> bool:
    """
    @notice ERC-165: ERC-165, ERC-721, ERC-721 Metadata and ERC-4906.
    """
    return interfaceId in [IID_ERC165, IID_ERC721, IID_ERC721_METADATA, IID_ERC4906]


@internal
@view
def _owner_of(agentId: uint256) -> address:
    owner: address = self._owners[agentId]
    assert owner != empty(address), "unknown agent"
    return owner


@internal
@view
def _authorized(spender: address, agentId: uint256) -> bool:
    owner: address = self._owner_of(agentId)
    return spender == owner or self.isApprovedForAll[owner][spender] or self._approvals[agentId] == spender


@external
@view
def balanceOf(owner: address) -> uint256:
    """
    @notice Number of agents `owner` holds (the zero address is refused, as ERC-721 asks).
    """
    assert owner != empty(address), "zero owner"
    return self._balances[owner]


@external
@view
def ownerOf(tokenId: uint256) -> address:
    """
    @notice Owner of agent `tokenId` (reverts "unknown agent" if none).
    """
    return self._owner_of(tokenId)


@external
@view
def getApproved(tokenId: uint256) -> address:
    """
    @notice The account approved for agent `tokenId`, zero if none.
    """
    self._owner_of(tokenId)
    return self._approvals[tokenId]


@external
@view
def tokenURI(tokenId: uint256) -> String[MAX_URI]:
    """
    @notice The agent's registration file URI (ERC-8004's agentURI).
    """
    self._owner_of(tokenId)
    return self._uris[tokenId]


@external
@view
def isAuthorizedOrOwner(spender: address, agentId: uint256) -> bool:
    """
    @notice Whether `spender` owns agent `agentId` or is approved for it (token or operator).
    """
    return self._authorized(spender, agentId)


@external
def approve(approved: address, tokenId: uint256):
    """
    @notice Approve `approved` for agent `tokenId` (owner or operator only; zero clears).
    """
    owner: address = self._owner_of(tokenId)
    assert msg.sender == owner or self.isApprovedForAll[owner][msg.sender], "not authorized"
    assert approved != owner, "self approval"
    self._approvals[tokenId] = approved
    log Approval(owner=owner, approved=approved, tokenId=tokenId)


@external
def setApprovalForAll(operator: address, approved: bool):
    """
    @notice Let `operator` manage all of the caller's agents (or stop it).
    """
    assert operator != msg.sender, "self approval"
    self.isApprovedForAll[msg.sender][operator] = approved
    log ApprovalForAll(owner=msg.sender, operator=operator, approved=approved)


@internal
def _transfer(sender: address, receiver: address, tokenId: uint256):
    assert self._authorized(msg.sender, tokenId), "not authorized"
    assert self._owners[tokenId] == sender, "not owner"
    assert receiver != empty(address), "zero receiver"
    self._approvals[tokenId] = empty(address)
    self._balances[sender] -= 1
    self._balances[receiver] += 1
    self._owners[tokenId] = receiver
    log Transfer(sender=sender, receiver=receiver, tokenId=tokenId)
    # The verified wallet belongs to the old owner's setup: a new owner proves its own.
    self._wallets[tokenId] = empty(address)
    self._metadata[tokenId][AGENT_WALLET_KEY_HASH] = b""
    log MetadataSet(agentId=tokenId, indexedMetadataKey=AGENT_WALLET_KEY, metadataKey=AGENT_WALLET_KEY, metadataValue=b"")


@internal
def _check_receiver(operator: address, sender: address, receiver: address, tokenId: uint256, data: Bytes[1024]):
    # ERC-721 safe transfer: a contract receiver must answer onERC721Received's selector.
    if receiver.is_contract:
        ret: bytes4 = extcall IERC721Receiver(receiver).onERC721Received(operator, sender, tokenId, data)
        assert ret == ERC721_RECEIVED, "not a receiver"


@external
def transferFrom(sender: address, receiver: address, tokenId: uint256):
    """
    @notice Move agent `tokenId` from `sender` to `receiver` (owner, approved or operator); clears
            the agent wallet.
    """
    self._transfer(sender, receiver, tokenId)


@external
def safeTransferFrom(sender: address, receiver: address, tokenId: uint256, data: Bytes[1024] = b""):
    """
    @notice transferFrom, then a contract receiver must accept with onERC721Received.
    """
    self._transfer(sender, receiver, tokenId)
    self._check_receiver(msg.sender, sender, receiver, tokenId, data)


# ------------------------------------------------------------------ ERC-8004 identity


@internal
def _set_metadata(agentId: uint256, key: String[MAX_KEY], val: Bytes[MAX_VALUE]):
    assert keccak256(key) != AGENT_WALLET_KEY_HASH, "reserved key"
    self._metadata[agentId][keccak256(key)] = val
    log MetadataSet(agentId=agentId, indexedMetadataKey=key, metadataKey=key, metadataValue=val)


@internal
def _set_wallet(agentId: uint256, wallet: address):
    self._wallets[agentId] = wallet
    val: Bytes[MAX_VALUE] = b""
    if wallet != empty(address):
        val = concat(convert(wallet, bytes20), b"")
    self._metadata[agentId][AGENT_WALLET_KEY_HASH] = val
    log MetadataSet(agentId=agentId, indexedMetadataKey=AGENT_WALLET_KEY, metadataKey=AGENT_WALLET_KEY, metadataValue=val)


@external
def register(agentURI: String[MAX_URI] = "", metadata: DynArray[MetadataEntry, MAX_ENTRIES] = []) -> uint256:
    """
    @notice Register a new agent owned by the caller (ERC-8004 register(), register(string),
            register(string,(string,bytes)[])); the caller becomes its agent wallet.
    @param agentURI The registration file URI ("" allowed: set it later with setAgentURI).
    @param metadata Initial metadata entries; the key "agentWallet" is refused.
    @return The new agent id.
    """
    agentId: uint256 = self._next_id
    self._next_id = agentId + 1
    self._owners[agentId] = msg.sender
    self._balances[msg.sender] += 1
    self._uris[agentId] = agentURI
    log Transfer(sender=empty(address), receiver=msg.sender, tokenId=agentId)
    if len(agentURI) > 0:
        log MetadataUpdate(_tokenId=agentId)
    log Registered(agentId=agentId, agentURI=agentURI, owner=msg.sender)
    self._set_wallet(agentId, msg.sender)
    for entry: MetadataEntry in metadata:
        self._set_metadata(agentId, entry.metadataKey, entry.metadataValue)
    self._check_receiver(msg.sender, empty(address), msg.sender, agentId, b"")
    return agentId


@external
@view
def totalAgents() -> uint256:
    """
    @notice Number of agents registered so far (ids 0 .. totalAgents - 1).
    """
    return self._next_id


@external
def setAgentURI(agentId: uint256, newURI: String[MAX_URI]):
    """
    @notice Replace the agent's registration file URI (owner, approved or operator).
    """
    assert self._authorized(msg.sender, agentId), "not authorized"
    self._uris[agentId] = newURI
    log MetadataUpdate(_tokenId=agentId)
    log URIUpdated(agentId=agentId, newURI=newURI, updatedBy=msg.sender)


@external
@view
def getMetadata(agentId: uint256, metadataKey: String[MAX_KEY]) -> Bytes[MAX_VALUE]:
    """
    @notice The value set under `metadataKey` ("agentWallet": the wallet's 20 bytes), or empty.
    """
    return self._metadata[agentId][keccak256(metadataKey)]


@external
def setMetadata(agentId: uint256, metadataKey: String[MAX_KEY], metadataValue: Bytes[MAX_VALUE]):
    """
    @notice Set metadata of the agent (owner, approved or operator); "agentWallet" is reserved.
    """
    assert self._authorized(msg.sender, agentId), "not authorized"
    self._set_metadata(agentId, metadataKey, metadataValue)


@external
@view
def getAgentWallet(agentId: uint256) -> address:
    """
    @notice The agent's verified wallet (zero if unset or cleared by a transfer).
    """
    self._owner_of(agentId)
    return self._wallets[agentId]


@external
@view
def agentWalletDigest(agentId: uint256, newWallet: address, owner: address, deadline: uint256) -> bytes32:
    """
    @notice The EIP-712 digest `newWallet` signs to become the wallet of `agentId`.
    """
    return signatures._digest(DOMAIN_NAME_HASH, keccak256(abi_encode(AGENT_WALLET_SET_TYPEHASH, agentId, newWallet, owner, deadline)))


@external
@view
def DOMAIN_SEPARATOR() -> bytes32:
    """
    @notice The EIP-712 domain separator ("ERC8004IdentityRegistry", "1", chain id, this).
    """
    return signatures._domain_separator(DOMAIN_NAME_HASH)


@external
@view
def eip712Domain() -> (bytes1, String[23], String[1], uint256, address, bytes32, DynArray[uint256, 1]):
    """
    @notice ERC-5267: the EIP-712 domain (fields 0x0f: name "ERC8004IdentityRegistry", version
            "1", chain id, this contract; no salt, no extensions).
    """
    return EIP712_FIELDS, "ERC8004IdentityRegistry", "1", chain.id, self, empty(bytes32), []


@internal
@pure
def _ecdsa_signer(digest: bytes32, signature: Bytes[MAX_SIGNATURE]) -> address:
    """
    @notice The signer of a well-formed 65-byte (r, s, v) signature with low s; zero otherwise.
    """
    if len(signature) != 65:
        return empty(address)
    r: uint256 = convert(slice(signature, 0, 32), uint256)
    s: uint256 = convert(slice(signature, 32, 32), uint256)
    v: uint256 = convert(slice(signature, 64, 1), uint256)
    if (v != 27 and v != 28) or s > SECP256K1_HALF_N:
        return empty(address)
    return ecrecover(digest, v, r, s)


@external
def setAgentWallet(agentId: uint256, newWallet: address, deadline: uint256, signature: Bytes[MAX_SIGNATURE]):
    """
    @notice Set the agent's wallet (owner, approved or operator), proven by the wallet's signature
            of AgentWalletSet(agentId, newWallet, owner, deadline): ECDSA for an account, ERC-1271
            for a contract.
    @param deadline Unix time; the signature is refused after it, and so is a deadline more than
           5 minutes ahead.
    @param signature 65 bytes (r, s, v) for an account; up to 2048 bytes for a contract wallet.
    """
    assert newWallet != empty(address), "zero wallet"
    assert block.timestamp <= deadline, "expired"
    assert deadline <= block.timestamp + MAX_DEADLINE_DELAY, "deadline too far"
    owner: address = self._owner_of(agentId)
    assert self._authorized(msg.sender, agentId), "not authorized"
    struct_hash: bytes32 = keccak256(abi_encode(AGENT_WALLET_SET_TYPEHASH, agentId, newWallet, owner, deadline))
    digest: bytes32 = signatures._digest(DOMAIN_NAME_HASH, struct_hash)
    if newWallet.is_contract:
        # An account with code may still sign with its key (EIP-7702 delegation): ECDSA first,
        # as the reference registry; then ERC-1271, whose signature may be up to 2 KiB.
        if self._ecdsa_signer(digest, signature) != newWallet:
            magic: bytes4 = staticcall IERC1271Wallet(newWallet).isValidSignature(digest, signature)
            assert magic == ERC1271_MAGIC, "invalid signature"
    else:
        assert len(signature) == 65, "invalid signature length"
        signatures._check_signature(newWallet, digest, slice(signature, 0, 65))
    self._set_wallet(agentId, newWallet)


@external
def unsetAgentWallet(agentId: uint256):
    """
    @notice Clear the agent's wallet (owner, approved or operator).
    """
    assert self._authorized(msg.sender, agentId), "not authorized"
    self._set_wallet(agentId, empty(address))
