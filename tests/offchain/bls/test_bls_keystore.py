"""EIP-2335 keystores: the EIP's own test vectors, round trips, and every bad input as a typed error."""

from __future__ import annotations

import copy
import json

import pytest

from offchain.bls import keystore
from offchain.bls.errors import KeystoreError, KeystorePasswordError
from offchain.bls.keys import SecretKey

SECRET = bytes.fromhex("000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f")
SALT = "d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3"
IV = "264daa3f303d7259501c93d997d84fe6"
SPEC_PASSWORD = "\U0001d531\U0001d522\U0001d530\U0001d531\U0001d52d\U0001d51e\U0001d530\U0001d530\U0001d534\U0001d52c\U0001d52f\U0001d521\U0001f511"


def _vector(kdf: dict, checksum: str, cipher: str) -> dict:
    return {
        "crypto": {
            "kdf": {**kdf, "message": ""},
            "checksum": {"function": "sha256", "params": {}, "message": checksum},
            "cipher": {"function": "aes-128-ctr", "params": {"iv": IV}, "message": cipher},
        },
        "version": 4,
    }


SCRYPT = {"function": "scrypt", "params": {"dklen": 32, "n": 262144, "p": 1, "r": 8, "salt": SALT}}
PBKDF2 = {"function": "pbkdf2", "params": {"dklen": 32, "c": 262144, "prf": "hmac-sha256", "salt": SALT}}
VECTORS = [  # EIP-2335's test vectors (spec password) and the same secret under "testpassword"
    (SCRYPT, "d2217fe5f3e9a1e34581ef8a78f7c9928e436d36dacc5e846690a5581e8ea484",
     "06ae90d55fe0a6e9c5c3bc5b170827b2e5cce3929ed3f116c2811e6366dfe20f", SPEC_PASSWORD),
    (PBKDF2, "8a9f5d9912ed7e75ea794bc5a89bca5f193721d30868ade6f73043c6ea6febf1",
     "cee03fde2af33149775b7223e7845e4fb2c8ae1792e5f99fe9ecf474cc8c16ad", SPEC_PASSWORD),
    (PBKDF2, "18b148af8e52920318084560fd766f9d09587b4915258dec0676cba5b0da09d8",
     "a9249e0ca7315836356e4c7440361ff22b9fe71e2e2ed34fc1eb03976924ed48", "testpassword"),
]  # fmt: skip


def test_normalize_password_as_eip_2335() -> None:
    assert keystore.normalize_password(SPEC_PASSWORD).hex() == "7465737470617373776f7264f09f9491"
    assert keystore.normalize_password("a\x00b\x7fc\x85d\u00e9") == "abcde\u0301".encode()


@pytest.mark.parametrize("kdf,checksum,cipher,password", VECTORS)
def test_eip_2335_vectors(kdf: dict, checksum: str, cipher: str, password: str) -> None:
    ks = _vector(kdf, checksum, cipher)
    assert keystore.decrypt_secret(ks, password) == SECRET
    with pytest.raises(KeystorePasswordError):
        keystore.decrypt_secret(ks, password + "x")


@pytest.mark.parametrize("kdf", ["scrypt", "pbkdf2"])
def test_round_trip_through_a_file(tmp_path, kdf: str) -> None:
    sk = SecretKey(0x1234567890ABCDEF)
    ks = keystore.encrypt(sk, "pässwörd", kdf, scrypt_n=2**10, pbkdf2_c=1000)
    path = tmp_path / "op.bls.json"
    keystore.save(ks, path)
    assert path.stat().st_mode & 0o777 == 0o600
    got = keystore.decrypt(keystore.load(path), "pässwörd")
    assert got.to_bytes() == sk.to_bytes() and got.public_key() == sk.public_key()
    assert ks["operator_id"] == "0x" + sk.public_key().operator_id.hex()
    with pytest.raises(KeystorePasswordError):
        keystore.decrypt(ks, "password")
    with pytest.raises(KeystoreError, match="already exists"):
        keystore.save(ks, path)  # never overwrites a key


def _small() -> dict:
    return keystore.encrypt(SecretKey(99), "pw", "scrypt", scrypt_n=2**10)


def test_truncated_and_malformed_files(tmp_path) -> None:
    text = json.dumps(_small())
    for i, cut in enumerate((len(text) // 2, 1, 0)):
        p = tmp_path / f"cut{i}.json"
        p.write_text(text[:cut])
        with pytest.raises(KeystoreError, match="not JSON"):
            keystore.load(p)
    p = tmp_path / "list.json"
    p.write_text("[]")
    with pytest.raises(KeystoreError, match="not a JSON object"):
        keystore.load(p)
    with pytest.raises(KeystoreError, match="cannot read"):
        keystore.load(tmp_path / "missing.json")
    big = tmp_path / "big.json"
    big.write_text(" " * (keystore.MAX_FILE_BYTES + 1))
    with pytest.raises(KeystoreError, match="larger"):
        keystore.load(big)


def _edit(path: tuple, value) -> dict:
    ks = copy.deepcopy(_small())
    d = ks
    for k in path[:-1]:
        d = d[k]
    if value is KeyError:
        del d[path[-1]]
    else:
        d[path[-1]] = value
    return ks


@pytest.mark.parametrize(
    "path,value,match",
    [
        (("version",), 3, "version"),
        (("crypto", "kdf"), KeyError, "crypto.kdf missing"),
        (("crypto", "kdf", "function"), "argon2", "kdf 'argon2'"),
        (("crypto", "kdf", "params", "n"), 2**30, "scrypt n"),
        (("crypto", "kdf", "params", "n"), 1000, "power of two"),
        (("crypto", "kdf", "params", "dklen"), 16, "dklen"),
        (("crypto", "kdf", "params", "salt"), "xyz", "salt is not hex"),
        (("crypto", "cipher", "function"), "aes-256-cbc", "cipher"),
        (("crypto", "cipher", "params", "iv"), "00" * 8, "iv must be 16 bytes"),
        (("crypto", "cipher", "message"), "", "empty cipher"),
        (("crypto", "checksum", "function"), "sha3", "checksum"),
        (("crypto", "checksum", "message"), "00" * 31, "32 bytes"),
        (("curve",), "bls12_381", "BN254"),
    ],
)
def test_refused_keystores(path: tuple, value, match: str) -> None:
    with pytest.raises(KeystoreError, match=match):
        keystore.decrypt(_edit(path, value), "pw")


def test_tampered_cipher_and_mismatched_pubkey() -> None:
    ks = _small()
    msg = bytearray.fromhex(ks["crypto"]["cipher"]["message"])
    msg[0] ^= 1
    bad = _edit(("crypto", "cipher", "message"), msg.hex())
    with pytest.raises(KeystorePasswordError):  # the checksum covers the ciphertext
        keystore.decrypt(bad, "pw")
    other = _edit(("pubkey",), SecretKey(100).public_key().to_json())
    with pytest.raises(KeystoreError, match="does not match"):
        keystore.decrypt(other, "pw")
    with pytest.raises(KeystoreError, match="kdf 'md5'"):
        keystore.encrypt(SecretKey(1), "pw", "md5")
