"""Chain client of the agent contracts (contracts/agent): the EIP-712 messages their signatures
cover, and a web3 handle on the EIP-3009 stablecoin and the x402 upto settler that the x402
facilitator settles through.

The typed data here is built from the standards' type strings (EIP-3009 as USDC has it, ERC-8004's
AgentWalletSet) and hashed by eth_account, independently of the contracts' own digest code, so a
test that signs here and verifies on-chain checks both.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_hash.auto import keccak
from eth_utils import to_checksum_address
from web3 import Web3
from web3.exceptions import ContractLogicError, TimeExhausted, Web3Exception

from offchain.chain.errors import ChainInputError, ChainRevertError, DevnetError
from offchain.chain.task_mailbox import certified_stakes

# EIP-3009's three messages, field for field as FiatToken v2 (USDC) declares them.
AUTH_FIELDS = (
    ("from", "address"),
    ("to", "address"),
    ("value", "uint256"),
    ("validAfter", "uint256"),
    ("validBefore", "uint256"),
    ("nonce", "bytes32"),
)
TRANSFER_WITH_AUTHORIZATION = "TransferWithAuthorization"
RECEIVE_WITH_AUTHORIZATION = "ReceiveWithAuthorization"
CANCEL_AUTHORIZATION = "CancelAuthorization"
CANCEL_FIELDS = (("authorizer", "address"), ("nonce", "bytes32"))
# ERC-8004: the new agent wallet signs this to prove it consents.
AGENT_WALLET_SET = "AgentWalletSet"
AGENT_WALLET_FIELDS = (
    ("agentId", "uint256"),
    ("newWallet", "address"),
    ("owner", "address"),
    ("deadline", "uint256"),
)
IDENTITY_DOMAIN = ("ERC8004IdentityRegistry", "1")
# USDC's EIP-712 domain version; the devnet token's name is its deployment parameter.
STABLE_VERSION = "2"
TX_TIMEOUT_S = 60
TIP_WEI = 10**9


def type_string(primary: str, fields: tuple[tuple[str, str], ...]) -> str:
    """``Name(type1 name1,type2 name2)``, the string a typehash is the keccak of."""
    return f"{primary}({','.join(f'{t} {n}' for n, t in fields)})"


def typehash(primary: str, fields: tuple[tuple[str, str], ...]) -> bytes:
    return keccak(type_string(primary, fields).encode())


def typed_data(
    primary: str,
    fields: tuple[tuple[str, str], ...],
    domain: tuple[str, str],
    chain_id: int,
    contract: str,
    message: dict[str, Any],
) -> dict[str, Any]:
    """An EIP-712 message for eth_account: domain (name, version, chainId, verifyingContract)."""
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            primary: [{"name": n, "type": t} for n, t in fields],
        },
        "primaryType": primary,
        "domain": {
            "name": domain[0],
            "version": domain[1],
            "chainId": chain_id,
            "verifyingContract": to_checksum_address(contract),
        },
        "message": message,
    }


def digest(data: dict[str, Any]) -> bytes:
    """The 32-byte EIP-712 digest of a typed-data message."""
    m = encode_typed_data(full_message=data)
    return keccak(b"\x19" + m.version + m.header + m.body)


def sign(key: Any, data: dict[str, Any]) -> bytes:
    """The 65-byte signature r || s || v (v 27 or 28, low s) of a typed-data message."""
    return bytes(Account.sign_typed_data(key, full_message=data).signature)


def recover(data: dict[str, Any], signature: bytes) -> str:
    """The address whose key signed `data` (ECDSA only; a contract signer answers ERC-1271)."""
    return Account.recover_message(encode_typed_data(full_message=data), signature=signature)


@dataclass(frozen=True)
class Authorization:
    """An EIP-3009 authorization: `value` from `from_` to `to`, valid strictly between
    `valid_after` and `valid_before` (unix seconds), with a 32-byte `nonce` unique per payer."""

    from_: str
    to: str
    value: int
    valid_after: int
    valid_before: int
    nonce: bytes

    def message(self) -> dict[str, Any]:
        return {
            "from": to_checksum_address(self.from_),
            "to": to_checksum_address(self.to),
            "value": self.value,
            "validAfter": self.valid_after,
            "validBefore": self.valid_before,
            "nonce": self.nonce,
        }

    def args(self) -> tuple[Any, ...]:
        m = self.message()
        return (m["from"], m["to"], m["value"], m["validAfter"], m["validBefore"], m["nonce"])


def authorization_data(
    primary: str,
    token_name: str,
    chain_id: int,
    token: str,
    auth: Authorization,
    version: str = STABLE_VERSION,
) -> dict[str, Any]:
    """The EIP-712 message of a Transfer- or ReceiveWithAuthorization on `token`."""
    if primary not in (TRANSFER_WITH_AUTHORIZATION, RECEIVE_WITH_AUTHORIZATION):
        raise ChainInputError(f"not an EIP-3009 transfer message: {primary!r}")
    return typed_data(primary, AUTH_FIELDS, (token_name, version), chain_id, token, auth.message())


def cancel_data(token_name: str, chain_id: int, token: str, authorizer: str, nonce: bytes) -> dict[str, Any]:
    """The EIP-712 message of a CancelAuthorization on `token`."""
    msg = {"authorizer": to_checksum_address(authorizer), "nonce": nonce}
    return typed_data(CANCEL_AUTHORIZATION, CANCEL_FIELDS, (token_name, STABLE_VERSION), chain_id, token, msg)


def agent_wallet_data(
    chain_id: int, registry: str, agent_id: int, new_wallet: str, owner: str, deadline: int
) -> dict[str, Any]:
    """The ERC-8004 AgentWalletSet message `new_wallet` signs for IdentityRegistry.setAgentWallet."""
    msg = {
        "agentId": agent_id,
        "newWallet": to_checksum_address(new_wallet),
        "owner": to_checksum_address(owner),
        "deadline": deadline,
    }
    return typed_data(AGENT_WALLET_SET, AGENT_WALLET_FIELDS, IDENTITY_DOMAIN, chain_id, registry, msg)


def upto_nonce(pay_to: str, facilitator: str, salt: bytes) -> bytes:
    """The EIP-3009 nonce of an upto authorization (UptoSettler.uptoNonce): it binds the payee and
    the one account allowed to settle."""
    if len(salt) != 32:
        raise ChainInputError(f"an upto salt is 32 bytes, got {len(salt)}")
    return keccak(abi_encode(["address", "address", "bytes32"], [pay_to, facilitator, salt]))


# VerifiedEscrow's kinds of work: KIND_TASK, a TaskMailbox task hash; KIND_INFERENCE, an inference
# request digest (offchain.ai.receipt.request_digest) answered by an InferenceDisputes receipt.
ESCROW_KIND_TASK = 1
ESCROW_KIND_INFERENCE = 2
ESCROW_KINDS = {"task": ESCROW_KIND_TASK, "inference": ESCROW_KIND_INFERENCE}


# TaskValidator (contracts/agent/TaskValidator.vy): what a validation request names.
VALIDATION_KIND_TASK = 1  # a TaskMailbox task hash, with the expected result hash (zero: any)
VALIDATION_KIND_INFERENCE = 2  # an InferenceDisputes receipt digest
VALIDATION_KIND_RESULT = 3  # a ComputeAVS receipt digest (an accepted TEE-attested result)
VALIDATION_REQUEST_DOMAIN = keccak(b"eigen.agent.ValidationRequest.v1")


def validation_request_hash(
    validator: str,
    chain_id: int,
    agent_id: int,
    kind: int,
    ref: bytes,
    expected: bytes = bytes(32),
    salt: bytes = bytes(32),
) -> bytes:
    """The ERC-8004 request hash an agent files for the TaskValidator at `validator` to answer
    (TaskValidator.requestHash): it binds the chain, the validator, the agent, the kind of work, the work
    (`ref`), the result hash claimed (kind 1; zero: any certified result; kinds 2 and 3 name none,
    the receipt commits to its output) and a salt (any 32 bytes: a second request for the same work
    needs another)."""
    if not 0 <= agent_id < 2**256:
        raise ChainInputError(f"agent id out of range: {agent_id}")
    if kind not in (VALIDATION_KIND_TASK, VALIDATION_KIND_INFERENCE, VALIDATION_KIND_RESULT):
        raise ChainInputError(f"unknown validation kind {kind}")
    if len(ref) != 32 or len(expected) != 32 or len(salt) != 32:
        raise ChainInputError("a validation reference, expected result and salt are 32 bytes each")
    if kind != VALIDATION_KIND_TASK and expected != bytes(32):
        raise ChainInputError("a receipt's validation names no expected result (the receipt commits to it)")
    return keccak(
        abi_encode(
            ["bytes32", "uint256", "address", "uint256", "uint8", "bytes32", "bytes32", "bytes32"],
            [VALIDATION_REQUEST_DOMAIN, chain_id, validator, agent_id, kind, ref, expected, salt],
        )
    )


def escrow_nonce(
    pay_to: str, kind: int, ref: bytes, expected_result: bytes, deadline: int, salt: bytes
) -> bytes:
    """The EIP-3009 nonce of a verified-escrow payment (VerifiedEscrow.escrowNonce): it binds the
    payee, the kind of work and the work the payment is conditioned on (a task hash, an inference
    request digest), the expected result (task: the result hash; inference: the output commitment;
    zero: any), the refund deadline (unix seconds) and a salt."""
    for name, v in (("ref", ref), ("expected result", expected_result), ("salt", salt)):
        if len(v) != 32:
            raise ChainInputError(f"an escrow {name} is 32 bytes, got {len(v)}")
    if kind not in ESCROW_KINDS.values():
        raise ChainInputError(f"unknown escrow kind {kind}")
    if not 0 <= deadline < 2**256:
        raise ChainInputError(f"escrow deadline out of range: {deadline}")
    return keccak(
        abi_encode(
            ["address", "uint8", "bytes32", "bytes32", "uint256", "bytes32"],
            [pay_to, kind, ref, expected_result, deadline, salt],
        )
    )


def escrow_id(token: str, payer: str, nonce: bytes) -> bytes:
    """The id of the escrow a deposit creates (VerifiedEscrow.escrowId)."""
    if len(nonce) != 32:
        raise ChainInputError(f"an EIP-3009 nonce is 32 bytes, got {len(nonce)}")
    return keccak(abi_encode(["address", "address", "bytes32"], [token, payer, nonce]))


def split_signature(signature: bytes) -> tuple[int, bytes, bytes]:
    """(v, r, s) of a 65-byte r || s || v signature, for FiatToken's (v, r, s) selectors."""
    if len(signature) != 65:
        raise ChainInputError(f"a (v, r, s) signature is 65 bytes, got {len(signature)}")
    return signature[64], signature[:32], signature[32:64]


def revert_reason(exc: Exception) -> str:
    msg = getattr(exc, "message", None) or str(exc)
    return str(msg).removeprefix("execution reverted: ").strip() or "no reason given"


class Sender:
    """Sends transactions from one key over web3, with its own nonce counter (so many settlements
    can be in flight from one facilitator account); thread-safe."""

    def __init__(self, w3: Web3, key: Any) -> None:
        self.w3 = w3
        self.account = Account.from_key(key)
        self.address = self.account.address
        self.chain_id = w3.eth.chain_id
        self._lock = threading.Lock()
        self._nonce: int | None = None

    def _next_nonce(self) -> int:
        with self._lock:
            if self._nonce is None:
                self._nonce = self.w3.eth.get_transaction_count(self.address, "pending")
            n = self._nonce
            self._nonce += 1
            return n

    def resync(self) -> None:
        """Read the nonce from the node again at the next send (after this key sent through another
        client, e.g. a TaskMailbox task posted with the SDK)."""
        with self._lock:
            self._nonce = None

    def simulate(self, fn: Any) -> None:
        """eth_call `fn` from this account; a refusal is ChainRevertError with the reason."""
        try:
            fn.call({"from": self.address})
        except ContractLogicError as exc:
            raise ChainRevertError(revert_reason(exc)) from None
        except (Web3Exception, ValueError) as exc:
            raise ChainRevertError(revert_reason(exc)) from None

    def send(self, fn: Any, gas: int = 300_000) -> bytes:
        """Sign and send `fn`, wait for its receipt; returns the transaction hash. A reverted
        transaction is ChainRevertError; nothing answering is DevnetError."""
        try:
            tx = fn.build_transaction(
                {
                    "from": self.address,
                    "nonce": self._next_nonce(),
                    "gas": gas,
                    "chainId": self.chain_id,
                    # twice the base fee plus a 1 gwei tip: not eth_gasPrice, which follows
                    # the recent tips and would climb with every settlement of our own
                    "gasPrice": 2 * int(self.w3.eth.get_block("latest").get("baseFeePerGas", 0)) + TIP_WEI,
                }
            )
            signed = self.account.sign_transaction(tx)
            tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, TX_TIMEOUT_S, poll_latency=0.05)
        except TimeExhausted as exc:
            raise DevnetError(f"no receipt within {TX_TIMEOUT_S} s: {exc}") from None
        except (Web3Exception, ValueError, OSError) as exc:
            with self._lock:
                self._nonce = None  # resynchronise with the node
            raise DevnetError(f"sending failed: {revert_reason(exc)}") from None
        if receipt["status"] != 1:
            raise ChainRevertError(f"the transaction {bytes(receipt['transactionHash']).hex()} reverted")
        return bytes(receipt["transactionHash"])


class StableToken:
    """A web3 handle on contracts/agent/StableToken.vy (or any EIP-3009 token with USDC's ABI)."""

    def __init__(self, w3: Web3, address: str, abi: list[dict[str, Any]]) -> None:
        self.w3 = w3
        self.address = to_checksum_address(address)
        self.contract = w3.eth.contract(address=self.address, abi=abi)
        self.name = self.contract.functions.name().call()
        self.chain_id = w3.eth.chain_id

    def balance_of(self, who: str) -> int:
        return self.contract.functions.balanceOf(to_checksum_address(who)).call()

    def authorization_state(self, authorizer: str, nonce: bytes) -> bool:
        return self.contract.functions.authorizationState(to_checksum_address(authorizer), nonce).call()

    def transfer_with_authorization(self, auth: Authorization, signature: bytes) -> Any:
        return self.contract.functions.transferWithAuthorization(*auth.args(), signature)


class Settler:
    """A web3 handle on contracts/agent/UptoSettler.vy."""

    def __init__(self, w3: Web3, address: str, abi: list[dict[str, Any]]) -> None:
        self.address = to_checksum_address(address)
        self.contract = w3.eth.contract(address=self.address, abi=abi)

    def fee_terms(self) -> tuple[str, int]:
        """(fee vault, fee bips): a settlement of `amount` pays floor(amount * bips / 10,000) into
        the vault and the rest to the payee (no fee while the vault is the zero address)."""
        f = self.contract.functions
        vault = to_checksum_address(f.feeVault().call())
        return vault, int(f.feeBips().call()) if int(vault, 16) else 0

    def settled_amount(self, token: str, payer: str, nonce: bytes) -> int:
        """What the settlement of a contract `payer`'s authorization `nonce` on `token` charged
        (0: none, a zero charge, or an account payer, whose charge is not stored; the token's
        authorization_state tells whether the nonce was used)."""
        return int(
            self.contract.functions.settledAmount(
                to_checksum_address(token), to_checksum_address(payer), nonce
            ).call()
        )

    def settle(
        self, token: str, payer: str, pay_to: str, max_amount: int, valid_after: int, valid_before: int,
        salt: bytes, signature: bytes, amount: int,
    ) -> Any:  # fmt: skip
        return self.contract.functions.settle(
            to_checksum_address(token),
            to_checksum_address(payer),
            to_checksum_address(pay_to),
            max_amount,
            valid_after,
            valid_before,
            salt,
            signature,
            amount,
        )


ESCROW_STATES = ("none", "held", "released", "refunded")


@dataclass(frozen=True)
class EscrowRecord:
    """One VerifiedEscrow escrow as the contract stores it (`state`: none, held, released or
    refunded; `receipt`: the inference receipt digest bound to it, zero until bound; `window_end`:
    a task payment's challenge window end, zero until confirmed)."""

    token: str
    payer: str
    payee: str
    amount: int
    kind: int
    ref: bytes
    expected_result: bytes
    deadline: int
    state: str
    receipt: bytes = bytes(32)
    window_end: int = 0


class Escrow:
    """A web3 handle on contracts/agent/VerifiedEscrow.vy: the deposit the x402 ``verified``
    facilitator submits, and the confirmation, binding, release and refund anyone may send
    afterwards."""

    def __init__(self, w3: Web3, address: str, abi: list[dict[str, Any]]) -> None:
        self.w3 = w3
        self.address = to_checksum_address(address)
        self.contract = w3.eth.contract(address=self.address, abi=abi)

    def deposit(
        self, token: str, payer: str, amount: int, valid_after: int, valid_before: int, payee: str,
        kind: int, ref: bytes, expected_result: bytes, deadline: int, salt: bytes, signature: bytes,
    ) -> Any:  # fmt: skip
        return self.contract.functions.deposit(
            to_checksum_address(token),
            to_checksum_address(payer),
            amount,
            valid_after,
            valid_before,
            to_checksum_address(payee),
            kind,
            ref,
            expected_result,
            deadline,
            salt,
            signature,
        )

    @property
    def task_window(self) -> int:
        """TASK_WINDOW: seconds a confirmed task payment stays open to fault proofs."""
        return self.contract.functions.TASK_WINDOW().call()

    def serves(self) -> dict[str, bool]:
        """Which kinds of work this escrow serves (a task kind needs its mailbox, an inference
        kind its disputes contract)."""
        zero = "0x" + "00" * 20
        return {
            "task": self.contract.functions.mailbox().call() != zero,
            "inference": self.contract.functions.disputes().call() != zero,
        }

    def confirm_task(self, escrow: bytes) -> Any:
        """Open a task payment's challenge window (its task is certified with the expected result)."""
        return self.contract.functions.confirmTask(escrow)

    def bind_receipt(self, escrow: bytes, receipt: tuple) -> Any:
        """Name the registered InferenceDisputes receipt answering an inference payment; `receipt`
        is the InferenceReceipt tuple (offchain.chain.inference_disputes.receipt_args)."""
        return self.contract.functions.bindReceipt(escrow, receipt)

    def release(self, escrow: bytes, signers: list[str]) -> Any:
        """Pay the payee (task: verified with the expected result, window over, no fault proven or
        its slash cancelled; inference: the bound receipt final or its slash cancelled); `signers`: a task's certifying operators as
        TaskVerified listed them (ignored for inference)."""
        return self.contract.functions.release(escrow, [to_checksum_address(s) for s in signers])

    def release_to_certifiers(self, escrow: bytes, signers: list[str], stakes: list[int]) -> Any:
        """Pay a task payment whose payee is the mailbox to the task's certifiers (as release
        would pay a payee): the mailbox's fee split to its collector, the rest pro rata to
        `stakes`, the stake each of `signers` signed with (:meth:`task_certifiers`), credited
        to their mailbox fees (``withdrawFees``)."""
        return self.contract.functions.releaseToCertifiers(
            escrow, [to_checksum_address(s) for s in signers], [int(x) for x in stakes]
        )

    def pays_certifiers(self, rec: EscrowRecord) -> bool:
        """Whether a payment is to its task's certifiers (its payee is the escrow's mailbox)."""
        return rec.payee == to_checksum_address(self.contract.functions.mailbox().call())

    def task_certifiers(self, task: bytes, mailbox_abi: list[dict[str, Any]]) -> tuple[list[str], list[int]]:
        """A verified task's certifying operators and the stake each signed with
        (offchain.chain.task_mailbox.certified_stakes): what releaseToCertifiers takes."""

        mailbox = self.w3.eth.contract(address=self.contract.functions.mailbox().call(), abi=mailbox_abi)
        return certified_stakes(self.w3, mailbox, task)

    def refund(self, escrow: bytes, signers: list[str]) -> Any:
        """Return the payment to the payer (expired, past its deadline, unexpected result, a
        proven fault whose slash is final, or an unresolved challenge; `signers` as for release, only read for a
        verified task)."""
        return self.contract.functions.refund(escrow, [to_checksum_address(s) for s in signers])

    def task_signers(self, task: bytes, mailbox_abi: list[dict[str, Any]]) -> list[str]:
        """The certifying operators of `task` as its TaskVerified event lists them (what release
        and refund take); empty while the task is not verified."""
        if len(task) != 32:
            raise ChainInputError(f"a task hash is 32 bytes, got {len(task)}")
        mailbox = self.w3.eth.contract(address=self.contract.functions.mailbox().call(), abi=mailbox_abi)
        logs = mailbox.events.TaskVerified().get_logs(argument_filters={"taskHash": task}, from_block=0)
        return [to_checksum_address(a) for a in logs[-1]["args"]["signers"]] if logs else []

    def get(self, escrow: bytes) -> EscrowRecord:
        e = self.contract.functions.escrows(escrow).call()
        return EscrowRecord(
            to_checksum_address(e[0]),
            to_checksum_address(e[1]),
            to_checksum_address(e[2]),
            e[3],
            e[4],
            bytes(e[5]),
            bytes(e[6]),
            e[7],
            ESCROW_STATES[e[8]],
            bytes(e[9]),
            e[10],
        )
