"""``eigen bls ...``: BN254 BLS keys and certificates for operators and aggregators (docs/bls.md).

    eigen bls keygen --out KEYSTORE --password-file FILE [--kdf scrypt|pbkdf2]
    eigen bls pop --keystore KEYSTORE --password-file FILE --operator ADDR --registry ADDR --chain-id N
    eigen bls sign --keystore KEYSTORE --password-file FILE --message HASH
    eigen bls aggregate --members FILE --signature FILE... --message HASH --set N --reference-block N --out FILE
    eigen bls verify --cert FILE --members FILE

Files are JSON: a keystore is EIP-2335 (``curve: bn254``, the public key beside it); ``--members`` is the
list of the set's public keys at the reference block (``{"g1": [x, y], "g2": [[x1, x0], [y1, y0]]}``, G2 in
EVM order, hex); a signature file is what ``sign`` prints (``{"operator_id", "message", "sigma"}``).
``verify`` exits 1 when the certificate does not verify. Every bad input is one line and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from offchain import cliargs


def register(sub: Any) -> None:
    p = sub.add_parser(
        "bls",
        help="BN254 BLS keys, signatures and certificates (docs/bls.md)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])
    s = p.add_subparsers(dest="bls_command", metavar="COMMAND")

    k = s.add_parser("keygen", help="a new key in an encrypted keystore (EIP-2335)")
    k.add_argument("--out", type=cliargs.output_file, required=True, help="the keystore file to create")
    _password(k)
    k.add_argument("--kdf", choices=("scrypt", "pbkdf2"), default="scrypt", help="key derivation function")
    k.set_defaults(func=_keygen)

    pp = s.add_parser("pop", help="proof of possession for a registry (the registration data)")
    _keystore(pp)
    pp.add_argument("--operator", required=True, help="the operator's address")
    pp.add_argument("--registry", required=True, help="the BLSRegistry's address")
    pp.add_argument("--chain-id", type=cliargs.uint(64), required=True, help="the chain id")
    pp.set_defaults(func=_pop)

    sg = s.add_parser("sign", help="sign a 32-byte message hash")
    _keystore(sg)
    sg.add_argument("--message", required=True, help="the message hash, 0x + 64 hex digits")
    sg.set_defaults(func=_sign)

    ag = s.add_parser("aggregate", help="build a certificate from the members' signatures")
    ag.add_argument("--members", type=cliargs.path, required=True, help="JSON list of the set's public keys")
    ag.add_argument(
        "--signature", type=cliargs.path, action="append", required=True, help="a signature file (repeatable)"
    )
    ag.add_argument("--message", required=True, help="the message hash, 0x + 64 hex digits")
    ag.add_argument("--set", type=cliargs.uint(32), required=True, help="the operator set id")
    ag.add_argument("--reference-block", type=cliargs.uint(32), required=True, help="the reference block")
    ag.add_argument("--out", type=cliargs.output_file, required=True, help="the certificate file to write")
    ag.set_defaults(func=_aggregate)

    v = s.add_parser("verify", help="verify a certificate against the set's public keys (exit 1 if it fails)")
    v.add_argument("--cert", type=cliargs.path, required=True, help="the certificate file")
    v.add_argument("--members", type=cliargs.path, required=True, help="JSON list of the set's public keys")
    v.set_defaults(func=_verify)


def _password(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--password-file", type=cliargs.path, required=True, help="a file holding the password (one line)"
    )


def _keystore(p: argparse.ArgumentParser) -> None:
    p.add_argument("--keystore", type=cliargs.path, required=True, help="the keystore file")
    _password(p)


def read_password(path: Path) -> str:
    """The password in a file: its first line, without the line ending."""
    from offchain.bls.errors import KeystoreError

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise KeystoreError(f"password file {path}: cannot read ({e.strerror})") from None
    except UnicodeDecodeError:
        raise KeystoreError(f"password file {path}: not UTF-8") from None
    lines = text.splitlines()
    if not lines or not lines[0]:
        raise KeystoreError(f"password file {path}: empty")
    return lines[0]


def open_keystore(path: Path, password_file: Path) -> Any:
    from offchain.bls import keystore

    return keystore.decrypt(keystore.load(path), read_password(password_file))


def _read_json(path: Path, what: str) -> Any:
    from offchain.bls.errors import BLSCertificateError

    try:
        return json.loads(path.read_bytes())
    except OSError as e:
        raise BLSCertificateError(f"{what} {path}: cannot read ({e.strerror})") from None
    except (ValueError, UnicodeDecodeError):
        raise BLSCertificateError(f"{what} {path}: not JSON") from None


def _members(path: Path) -> list:
    from offchain.bls.errors import BLSCertificateError, BLSKeyError
    from offchain.bls.keys import PublicKey

    obj = _read_json(path, "members file")
    if not isinstance(obj, list) or not obj:
        raise BLSCertificateError(f"members file {path}: expected a non-empty JSON list of public keys")
    try:
        return [PublicKey.from_json(x) for x in obj]
    except BLSKeyError as e:
        raise BLSCertificateError(f"members file {path}: {e}") from None


def _write(path: Path, text: str) -> None:
    path.write_text(text + "\n", encoding="utf-8")


def _keygen(args: argparse.Namespace) -> int:
    from offchain.bls import keystore
    from offchain.bls.keys import SecretKey

    password = read_password(args.password_file)
    sk = SecretKey.generate()
    keystore.save(keystore.encrypt(sk, password, args.kdf), args.out)
    pk = sk.public_key()
    print(json.dumps({"keystore": str(args.out), "operator_id": "0x" + pk.operator_id.hex(), **pk.to_json()}))
    return 0


def _pop(args: argparse.Namespace) -> int:
    from offchain import abi
    from offchain.bls.errors import BLSKeyError
    from offchain.chain.bls_registry import key_args, registration_data

    operator = abi.address(args.operator, err=BLSKeyError)
    registry = abi.address(args.registry, err=BLSKeyError)
    sk = open_keystore(args.keystore, args.password_file)
    g1, g2, sig = key_args(sk, operator, args.chain_id, registry)
    data = registration_data(sk, operator, args.chain_id, registry)
    print(
        json.dumps(
            {
                "operator": operator,
                "operator_id": "0x" + sk.public_key().operator_id.hex(),
                "pk_g1": [hex(v) for v in g1],
                "pk_g2": [[hex(v) for v in c] for c in g2],
                "signature": [hex(v) for v in sig],
                "registration_data": "0x" + data.hex(),
            }
        )
    )
    return 0


def _sign(args: argparse.Namespace) -> int:
    from offchain.bls.keys import message32

    m = message32(args.message, "--message")
    sk = open_keystore(args.keystore, args.password_file)
    sigma = sk.sign(m)
    out = {"operator_id": "0x" + sk.public_key().operator_id.hex(), "message": "0x" + m.hex()}
    print(json.dumps({**out, "sigma": [hex(v) for v in sigma]}))
    return 0


def _aggregate(args: argparse.Namespace) -> int:
    from offchain.bls import group
    from offchain.bls.cert import build_certificate
    from offchain.bls.errors import BLSCertificateError, BLSKeyError
    from offchain.bls.keys import message32

    m = message32(args.message, "--message")
    members = _members(args.members)
    sigs: dict[bytes, Any] = {}
    for path in args.signature:
        obj = _read_json(path, "signature file")
        try:
            oid = bytes.fromhex(obj["operator_id"].removeprefix("0x"))
            if message32(obj["message"]) != m:
                raise BLSCertificateError(f"signature file {path}: signs another message")
            sigma = group.check_g1(tuple(int(v, 16) for v in obj["sigma"]), "sigma")
        except BLSKeyError as e:
            raise BLSCertificateError(f"signature file {path}: {e}") from None
        except (TypeError, KeyError, ValueError, AttributeError):
            raise BLSCertificateError(
                f"signature file {path}: expected {{operator_id, message, sigma}} as `eigen bls sign` prints"
            ) from None
        if oid in sigs:
            raise BLSCertificateError(f"signature file {path}: a second signature of 0x{oid.hex()}")
        sigs[oid] = sigma
    cert, _ = build_certificate(args.set, m, args.reference_block, members, sigs)
    _write(args.out, cert.dumps())
    print(f"certificate: {len(sigs)} signers, {len(cert.non_signers)} non-signers -> {args.out}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from offchain.bls import group
    from offchain.bls.cert import Certificate, verify_certificate

    cert = Certificate.from_json(_read_json(args.cert, "certificate"))
    members = _members(args.members)
    ok = verify_certificate(cert, group.g1_sum([pk.g1 for pk in members]))
    print(
        f"certificate for set {cert.operator_set_id} at block {cert.reference_block}: "
        f"{'valid' if ok else 'INVALID'} ({len(members) - len(cert.non_signers)} of {len(members)} signed)",
        file=sys.stdout,
    )
    return 0 if ok else 1
