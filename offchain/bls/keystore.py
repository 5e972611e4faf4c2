"""EIP-2335 keystores for BN254 BLS secret keys.

The file is EIP-2335's JSON (version 4): ``crypto.kdf`` (``scrypt`` with dklen 32, n, r, p, salt; or
``pbkdf2`` with dklen 32, c, prf ``hmac-sha256``, salt), ``crypto.checksum`` (``sha256`` of the second half
of the decryption key followed by the cipher message) and ``crypto.cipher`` (``aes-128-ctr`` with a 16-byte
iv, key = the first half of the decryption key). The password is normalised as EIP-2335 says (NFKD, then
the C0, C1 and DEL control codes removed). The decrypted secret is 32 big-endian bytes; this module adds
``curve: "bn254"`` and the public key (``pubkey``: G1 and G2 in hex, EVM order) and checks, after
decryption, that the secret gives that public key. Errors: :class:`KeystorePasswordError` for a
password that does not open the file, :class:`KeystoreError` for anything malformed or refused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import unicodedata
import uuid
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from offchain.bls.errors import BLSKeyError, KeystoreError, KeystorePasswordError
from offchain.bls.keys import PublicKey, SecretKey

# EIP-2335's defaults; a reader accepts at most these costs (a file cannot ask for more memory or time)
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**18, 8, 1
PBKDF2_C = 2**18
MAX_SCRYPT_N, MAX_PBKDF2_C = 2**20, 2**22
MAX_FILE_BYTES = 64 * 1024


def normalize_password(password: str) -> bytes:
    """EIP-2335: NFKD, then strip C0 (0x00-0x1F), C1 (0x80-0x9F) and DEL (0x7F); UTF-8."""
    text = unicodedata.normalize("NFKD", password)
    return "".join(c for c in text if not (ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F)).encode()


def _hex(obj: Any, what: str, size: int | None = None) -> bytes:
    if not isinstance(obj, str):
        raise KeystoreError(f"keystore: {what} must be a hex string")
    try:
        b = bytes.fromhex(obj[2:] if obj.startswith("0x") else obj)
    except ValueError:
        raise KeystoreError(f"keystore: {what} is not hex") from None
    if size is not None and len(b) != size:
        raise KeystoreError(f"keystore: {what} must be {size} bytes, got {len(b)}")
    return b


def _int(obj: Any, what: str, lo: int, hi: int) -> int:
    if isinstance(obj, bool) or not isinstance(obj, int) or not lo <= obj <= hi:
        raise KeystoreError(f"keystore: {what} must be an integer in [{lo}, {hi}], got {obj!r}")
    return obj


def _section(crypto: Any, name: str) -> tuple[str, dict, str]:
    sec = crypto.get(name) if isinstance(crypto, dict) else None
    if not isinstance(sec, dict):
        raise KeystoreError(f"keystore: crypto.{name} missing")
    fn, params, message = sec.get("function"), sec.get("params"), sec.get("message")
    if not isinstance(fn, str) or not isinstance(params, dict) or not isinstance(message, str):
        raise KeystoreError(f"keystore: crypto.{name} needs function, params and message")
    return fn, params, message


def _derive(fn: str, params: dict, password: bytes) -> bytes:
    if _int(params.get("dklen"), "kdf dklen", 32, 32) != 32:  # pragma: no cover - _int enforces it
        raise KeystoreError("keystore: dklen must be 32")
    salt = _hex(params.get("salt"), "kdf salt")
    if fn == "scrypt":
        n = _int(params.get("n"), "scrypt n", 2, MAX_SCRYPT_N)
        if n & (n - 1):
            raise KeystoreError(f"keystore: scrypt n must be a power of two, got {n}")
        r = _int(params.get("r"), "scrypt r", 1, 32)
        p = _int(params.get("p"), "scrypt p", 1, 16)
        return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, dklen=32, maxmem=256 * n * r + (1 << 24))
    if fn == "pbkdf2":
        if params.get("prf") != "hmac-sha256":
            raise KeystoreError(f"keystore: pbkdf2 prf {params.get('prf')!r} not supported (hmac-sha256)")
        c = _int(params.get("c"), "pbkdf2 c", 1, MAX_PBKDF2_C)
        return hashlib.pbkdf2_hmac("sha256", password, salt, c, 32)
    raise KeystoreError(f"keystore: kdf {fn!r} not supported (scrypt, pbkdf2)")


def _aes_ctr(key: bytes, iv: bytes, data: bytes) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    return enc.update(data) + enc.finalize()


def decrypt_secret(keystore: dict, password: str) -> bytes:
    """The secret bytes of an EIP-2335 keystore (any curve): KDF, checksum, AES-128-CTR."""
    if not isinstance(keystore, dict):
        raise KeystoreError("keystore: not a JSON object")
    if keystore.get("version") != 4:
        raise KeystoreError(f"keystore: version {keystore.get('version')!r} (EIP-2335 is version 4)")
    crypto = keystore.get("crypto")
    kdf_fn, kdf_params, _ = _section(crypto, "kdf")
    ck_fn, _, ck_msg = _section(crypto, "checksum")
    ci_fn, ci_params, ci_msg = _section(crypto, "cipher")
    if ck_fn != "sha256":
        raise KeystoreError(f"keystore: checksum {ck_fn!r} not supported (sha256)")
    if ci_fn != "aes-128-ctr":
        raise KeystoreError(f"keystore: cipher {ci_fn!r} not supported (aes-128-ctr)")
    iv = _hex(ci_params.get("iv"), "cipher iv", 16)
    cipher_message = _hex(ci_msg, "cipher message")
    checksum = _hex(ck_msg, "checksum message", 32)
    if not cipher_message:
        raise KeystoreError("keystore: empty cipher message")
    dk = _derive(kdf_fn, kdf_params, normalize_password(password))
    if not hmac.compare_digest(hashlib.sha256(dk[16:32] + cipher_message).digest(), checksum):
        raise KeystorePasswordError("keystore: wrong password (checksum mismatch)")
    return _aes_ctr(dk[:16], iv, cipher_message)


def encrypt(
    sk: SecretKey,
    password: str,
    kdf: str = "scrypt",
    *,
    scrypt_n: int = SCRYPT_N,
    pbkdf2_c: int = PBKDF2_C,
    description: str = "",
) -> dict:
    """A new keystore for ``sk`` (fresh salt, iv and uuid)."""
    salt = secrets.token_bytes(32)
    if kdf == "scrypt":
        params: dict[str, Any] = {
            "dklen": 32,
            "n": scrypt_n,
            "r": SCRYPT_R,
            "p": SCRYPT_P,
            "salt": salt.hex(),
        }
    elif kdf == "pbkdf2":
        params = {"dklen": 32, "c": pbkdf2_c, "prf": "hmac-sha256", "salt": salt.hex()}
    else:
        raise KeystoreError(f"keystore: kdf {kdf!r} not supported (scrypt, pbkdf2)")
    dk = _derive(kdf, params, normalize_password(password))
    iv = secrets.token_bytes(16)
    message = _aes_ctr(dk[:16], iv, sk.to_bytes())
    pk = sk.public_key()
    return {
        "crypto": {
            "kdf": {"function": kdf, "params": params, "message": ""},
            "checksum": {
                "function": "sha256",
                "params": {},
                "message": hashlib.sha256(dk[16:32] + message).hexdigest(),
            },
            "cipher": {"function": "aes-128-ctr", "params": {"iv": iv.hex()}, "message": message.hex()},
        },
        "description": description,
        "curve": "bn254",
        "pubkey": pk.to_json(),
        "operator_id": "0x" + pk.operator_id.hex(),
        "path": "",
        "uuid": str(uuid.uuid4()),
        "version": 4,
    }


def decrypt(keystore: dict, password: str) -> SecretKey:
    """The BN254 secret key of a keystore written by :func:`encrypt`; checks it against ``pubkey``."""
    if not isinstance(keystore, dict) or keystore.get("curve") != "bn254":
        raise KeystoreError("keystore: not a BN254 key (curve must be 'bn254')")
    secret = decrypt_secret(keystore, password)
    try:
        sk = SecretKey.from_bytes(secret)
        stored = PublicKey.from_json(keystore.get("pubkey"))
    except BLSKeyError as e:
        raise KeystoreError(f"keystore: {e}") from None
    if sk.public_key() != stored:
        raise KeystoreError("keystore: the secret does not match the stored public key")
    return sk


def load(path: str | Path) -> dict:
    """Read a keystore file (JSON, at most 64 KiB); :class:`KeystoreError` if unreadable or malformed."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise KeystoreError(f"keystore {p}: cannot read ({e.strerror})") from None
    if len(data) > MAX_FILE_BYTES:
        raise KeystoreError(f"keystore {p}: larger than {MAX_FILE_BYTES} bytes")
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise KeystoreError(f"keystore {p}: not JSON (truncated or corrupt)") from None
    if not isinstance(obj, dict):
        raise KeystoreError(f"keystore {p}: not a JSON object")
    return obj


def save(keystore: dict, path: str | Path) -> None:
    """Write a keystore (mode 0600, refusing to overwrite an existing file)."""
    p = Path(path)
    try:
        fd = p.open("x", encoding="utf-8")
    except FileExistsError:
        raise KeystoreError(f"keystore {p}: already exists (refusing to overwrite a key)") from None
    except OSError as e:
        raise KeystoreError(f"keystore {p}: cannot create ({e.strerror})") from None
    with fd:
        p.chmod(0o600)
        json.dump(keystore, fd, indent=2)
        fd.write("\n")
