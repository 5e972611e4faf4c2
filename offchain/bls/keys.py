"""BN254 BLS keys, signatures and proofs of possession, as EigenLayer's middleware defines them.

- Secret key ``sk`` in [1, r); public keys ``pkG1 = sk * G1`` and ``pkG2 = sk * G2`` (both registered);
  ``operatorId = keccak256(pkG1.X || pkG1.Y)``.
- Signature of a 32-byte message m: ``sigma = sk * H(m)`` in G1, ``H`` the try-and-increment
  ``BN254.hashToG1`` (:func:`offchain.crypto.bn254.hash_to_g1`).
- Verification (``BLSSignatureChecker.trySignatureAndApkVerification``): with
  ``gamma = keccak256(m || apk.X || apk.Y || apkG2.X[0] || apkG2.X[1] || apkG2.Y[0] || apkG2.Y[1] || sigma.X
  || sigma.Y) mod r`` (G2 words in EVM order, X[0] the imaginary part), accept iff
  ``e(sigma + gamma * apk, -G2) * e(H(m) + gamma * G1, apkG2) == 1``. The G1 key ``apk`` binds the G2 key
  ``apkG2`` (the gamma terms check e(apk, G2) == e(G1, apkG2) at the same time).
- Proof of possession (``BLSApkRegistry.registerBLSPublicKey``): ``sigma = sk * H(d)`` with ``d`` the
  EIP-712 digest of ``BN254PubkeyRegistration(address operator)`` under the registry contract's domain,
  checked with ``gamma = keccak256(sigma.X || sigma.Y || pkG1.X || pkG1.Y || pkG2.X[0..1] || pkG2.Y[0..1] ||
  H.X || H.Y) mod r`` and the same pairing equation.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from eth_abi import encode as abi_encode
from eth_hash.auto import keccak

from offchain.bls import group
from offchain.bls.errors import BLSKeyError, BLSSignatureError
from offchain.bls.group import G1, G2, R
from offchain.crypto.bn254 import hash_to_g1

PUBKEY_REGISTRATION_TYPEHASH = keccak(b"BN254PubkeyRegistration(address operator)")
EIP712_DOMAIN_TYPEHASH = keccak(
    b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
# The registry contract's EIP-712 domain name and version (contracts/certs/BLSRegistry.vy).
REGISTRY_NAME = "EigenBLSRegistry"
REGISTRY_VERSION = "1"


def message32(message: bytes | str, what: str = "message") -> bytes:
    """A 32-byte message hash from bytes or hex (``0x`` optional); :class:`BLSSignatureError` otherwise."""
    if isinstance(message, str):
        text = message[2:] if message[:2].lower() == "0x" else message
        try:
            message = bytes.fromhex(text)
        except ValueError:
            raise BLSSignatureError(f"{what}: not hex") from None
    if not isinstance(message, bytes | bytearray) or len(message) != 32:
        raise BLSSignatureError(f"{what}: expected 32 bytes, got {len(message) if message else 0}")
    return bytes(message)


def operator_id(pk_g1: G1 | None) -> bytes:
    """``keccak256(abi.encodePacked(pkG1.X, pkG1.Y))``, the id the registry and the checker use."""
    return keccak(group.g1_words(pk_g1))


@dataclass(frozen=True)
class PublicKey:
    """An operator's registered key pair: the G1 key (summed on chain) and the G2 key (the signers'
    aggregate in certificates)."""

    g1: G1
    g2: G2

    @property
    def operator_id(self) -> bytes:
        return operator_id(self.g1)

    def check(self) -> PublicKey:
        """Both points valid and non-zero, and the same secret behind them: e(pkG1, G2) == e(G1, pkG2)."""
        if self.g1 is None or self.g2 is None:
            raise BLSKeyError("public key: the point at infinity")
        group.check_g1(self.g1, "public key G1")
        group.check_g2(self.g2, "public key G2")
        if not group.pairing_check([(self.g1, group.G2_GEN), (group.g1_neg(group.G1_GEN), self.g2)]):
            raise BLSKeyError("public key: the G1 and G2 keys have different secrets")
        return self

    def to_json(self) -> dict:
        (x1, x0), (y1, y0) = group.g2_to_evm(self.g2)
        return {"g1": [hex(v) for v in self.g1], "g2": [[hex(x1), hex(x0)], [hex(y1), hex(y0)]]}

    @classmethod
    def from_json(cls, obj: object) -> PublicKey:
        """From :meth:`to_json`'s form (G2 in EVM order); checks the points and that they match."""
        try:
            g1 = tuple(int(v, 16) for v in obj["g1"])  # type: ignore[index]
            g2 = tuple(tuple(int(v, 16) for v in c) for c in obj["g2"])  # type: ignore[index]
        except (TypeError, KeyError, ValueError, AttributeError):
            raise BLSKeyError(
                "public key: expected {'g1': [x, y], 'g2': [[x1, x0], [y1, y0]]} in hex"
            ) from None
        return cls(group.g1_from_evm(g1, "public key G1"), group.g2_from_evm(g2, "public key G2")).check()


class SecretKey:
    """A BN254 BLS secret key (an integer in [1, r))."""

    __slots__ = ("_sk", "_pk")

    def __init__(self, sk: int) -> None:
        if isinstance(sk, bool) or not isinstance(sk, int) or not 0 < sk < R:
            raise BLSKeyError("secret key: not an integer in [1, r)")
        self._sk = sk
        self._pk: PublicKey | None = None

    @classmethod
    def generate(cls) -> SecretKey:
        """A fresh key from the OS's CSPRNG (rejection sampling: uniform in [1, r))."""
        while True:
            v = secrets.randbits(254)
            if 0 < v < R:
                return cls(v)

    @classmethod
    def from_bytes(cls, data: bytes) -> SecretKey:
        """From 32 big-endian bytes (the keystore's secret)."""
        if len(data) != 32:
            raise BLSKeyError(f"secret key: expected 32 bytes, got {len(data)}")
        return cls(int.from_bytes(data, "big"))

    def to_bytes(self) -> bytes:
        return self._sk.to_bytes(32, "big")

    def __repr__(self) -> str:  # never print the secret
        return f"SecretKey(operator_id=0x{self.public_key().operator_id.hex()})"

    def public_key(self) -> PublicKey:
        if self._pk is None:
            (g1,) = group.g1_mul([group.G1_GEN], [self._sk])
            (g2,) = group.g2_mul([group.G2_GEN], [self._sk])
            self._pk = PublicKey(g1, g2)  # type: ignore[arg-type]
        return self._pk

    def sign(self, message: bytes | str) -> G1:
        """sigma = sk * hashToG1(m) for a 32-byte message hash m."""
        (sig,) = group.g1_mul([hash_to_g1(message32(message))], [self._sk])
        return sig  # type: ignore[return-value]

    def prove_possession(self, operator: str, chain_id: int, registry: str) -> G1:
        """The registration signature for ``operator`` at the registry ``registry`` on ``chain_id``."""
        (sig,) = group.g1_mul([pop_point(operator, chain_id, registry)], [self._sk])
        return sig  # type: ignore[return-value]


# ----- the γ-combined check -------------------------------------------------------------------
def signature_gamma(message: bytes, apk: G1 | None, apk_g2: G2 | None, sigma: G1 | None) -> int:
    """``BLSSignatureChecker``'s gamma: keccak256(m, apk, apkG2, sigma) mod r (abi.encodePacked)."""
    data = message + group.g1_words(apk) + group.g2_words(apk_g2) + group.g1_words(sigma)
    return int.from_bytes(keccak(data), "big") % R


def gamma_pairing(sigma: G1 | None, key_g1: G1 | None, key_g2: G2 | None, h: G1, gamma: int) -> bool:
    """e(sigma + gamma * keyG1, -G2) * e(H + gamma * G1, keyG2) == 1."""
    a, b = group.g1_mul([key_g1, group.G1_GEN], [gamma, gamma])
    left = group.g1_sum([sigma, a])
    right = group.g1_sum([h, b])
    return group.pairing_check([(left, group.g2_neg(group.G2_GEN)), (right, key_g2)])


def verify(message: bytes | str, apk: G1 | None, apk_g2: G2 | None, sigma: G1 | None) -> bool:
    """The on-chain check of an aggregate signature: true iff the γ-combined pairing equation holds
    for the 32-byte message hash (points as integers; validate untrusted ones with group.check_*)."""
    m = message32(message)
    if sigma is None or apk_g2 is None or apk is None:
        return False
    return gamma_pairing(sigma, apk, apk_g2, hash_to_g1(m), signature_gamma(m, apk, apk_g2, sigma))


def verify_single(message: bytes | str, pk: PublicKey, sigma: G1 | None) -> bool:
    """One operator's signature: the γ-combined check with its own key pair."""
    return verify(message, pk.g1, pk.g2, sigma)


def aggregate_signatures(sigmas: Sequence[G1 | None]) -> G1 | None:
    if not sigmas:
        raise BLSSignatureError("nothing to aggregate")
    return group.g1_sum(list(sigmas))


def aggregate_keys(keys: Sequence[PublicKey]) -> PublicKey:
    """(Σ pkG1, Σ pkG2) of the signers."""
    if not keys:
        raise BLSKeyError("no keys to aggregate")
    return PublicKey(group.g1_sum([k.g1 for k in keys]), group.g2_sum([k.g2 for k in keys]))  # type: ignore[arg-type]


# ----- proof of possession --------------------------------------------------------------------
def domain_separator(
    chain_id: int, registry: str, name: str = REGISTRY_NAME, version: str = REGISTRY_VERSION
) -> bytes:
    return keccak(
        abi_encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [EIP712_DOMAIN_TYPEHASH, keccak(name.encode()), keccak(version.encode()), chain_id, registry],
        )
    )


def pop_digest(operator: str, chain_id: int, registry: str) -> bytes:
    """The EIP-712 digest of ``BN254PubkeyRegistration(address operator)`` for the registry's domain."""
    struct = keccak(abi_encode(["bytes32", "address"], [PUBKEY_REGISTRATION_TYPEHASH, operator]))
    return keccak(b"\x19\x01" + domain_separator(chain_id, registry) + struct)


def pop_point(operator: str, chain_id: int, registry: str) -> G1:
    """``pubkeyRegistrationMessageHash(operator)``: hashToG1 of :func:`pop_digest`."""
    return hash_to_g1(pop_digest(operator, chain_id, registry))


def pop_gamma(sigma: G1 | None, pk: PublicKey, h: G1) -> int:
    data = group.g1_words(sigma) + group.g1_words(pk.g1) + group.g2_words(pk.g2) + group.g1_words(h)
    return int.from_bytes(keccak(data), "big") % R


def verify_possession(pk: PublicKey, sigma: G1 | None, operator: str, chain_id: int, registry: str) -> bool:
    """The registry's registration check: the key is not zero and the γ-combined pairing holds."""
    if sigma is None or pk.g1 is None or pk.g2 is None:
        return False
    h = pop_point(operator, chain_id, registry)
    return gamma_pairing(sigma, pk.g1, pk.g2, h, pop_gamma(sigma, pk, h))
