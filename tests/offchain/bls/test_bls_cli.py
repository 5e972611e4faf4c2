"""`eigen bls ...`: keygen, pop, sign, aggregate, verify end to end, and every bad input as one line on
stderr with exit status 2 (a certificate that does not verify: exit 1)."""

from __future__ import annotations

import json

import pytest

from offchain.bls import keys, keystore
from offchain.cli import main

MSG = "0x" + "ab" * 32


def run(capsys, argv):
    try:
        rc = main(argv)
    except SystemExit as e:  # argparse's own errors (checked before the command runs)
        rc = e.code
    out = capsys.readouterr()
    return rc, out.out, out.err


def bad(capsys, argv, match):
    rc, _, err = run(capsys, argv)
    assert rc == 2, err
    assert len(err.strip().splitlines()) == 1 and match in err, err


@pytest.fixture(scope="module")
def keystores(tmp_path_factory):
    """Four operators' keystores (pbkdf2 with few rounds, written through the library) and members.json."""
    d = tmp_path_factory.mktemp("ops")
    pw = d / "pw.txt"
    pw.write_text("correct horse\n")
    paths, pubs = [], []
    for i in range(4):
        sk = keys.SecretKey(10_000 + i)
        p = d / f"op{i}.json"
        keystore.save(keystore.encrypt(sk, "correct horse", "pbkdf2", pbkdf2_c=1000), p)
        paths.append(p)
        pubs.append(sk.public_key().to_json())
    members = d / "members.json"
    members.write_text(json.dumps(pubs))
    return d, pw, paths, members


def test_keygen_writes_a_keystore_that_opens(tmp_path, capsys, keystores) -> None:
    _, pw, _, _ = keystores
    out = tmp_path / "k.json"
    rc, text, _ = run(
        capsys, ["bls", "keygen", "--out", str(out), "--password-file", str(pw), "--kdf", "pbkdf2"]
    )
    assert rc == 0
    info = json.loads(text)
    sk = keystore.decrypt(keystore.load(out), "correct horse")
    assert info["operator_id"] == "0x" + sk.public_key().operator_id.hex()
    bad(capsys, ["bls", "keygen", "--out", str(out), "--password-file", str(pw)], "already exists")


def test_sign_aggregate_verify(tmp_path, capsys, keystores) -> None:
    d, pw, paths, members = keystores
    sigs = []
    for i in (0, 2, 3):
        rc, text, _ = run(
            capsys, ["bls", "sign", "--keystore", str(paths[i]), "--password-file", str(pw), "--message", MSG]
        )
        assert rc == 0
        f = tmp_path / f"sig{i}.json"
        f.write_text(text)
        sigs += ["--signature", str(f)]
    cert = tmp_path / "cert.json"
    base = [
        "bls",
        "aggregate",
        "--members",
        str(members),
        "--message",
        MSG,
        "--set",
        "3",
        "--reference-block",
        "100",
    ]
    rc, text, _ = run(capsys, [*base, *sigs, "--out", str(cert)])
    assert rc == 0 and "3 signers, 1 non-signers" in text
    rc, text, _ = run(capsys, ["bls", "verify", "--cert", str(cert), "--members", str(members)])
    assert rc == 0 and "valid (3 of 4 signed)" in text
    # a certificate for another message: exit 1 (a negative verdict, not an input error)
    obj = json.loads(cert.read_text())
    obj["message"] = "0x" + "cd" * 32
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(obj))
    rc, text, _ = run(capsys, ["bls", "verify", "--cert", str(forged), "--members", str(members)])
    assert rc == 1 and "INVALID" in text
    # bad inputs
    bad(capsys, [*base, *sigs, *sigs[:2], "--out", str(tmp_path / "c2.json")], "second signature")
    other = tmp_path / "other.json"
    other.write_text(
        json.dumps({**json.loads((tmp_path / "sig0.json").read_text()), "message": "0x" + "00" * 32})
    )
    bad(capsys, [*base, "--signature", str(other), "--out", str(tmp_path / "c3.json")], "another message")
    junk = tmp_path / "junk.json"
    junk.write_text("{")
    bad(capsys, [*base, "--signature", str(junk), "--out", str(tmp_path / "c4.json")], "not JSON")
    obj = json.loads(cert.read_text())
    obj["sigma"] = ["0x1", "0x3"]
    junk.write_text(json.dumps(obj))
    bad(capsys, ["bls", "verify", "--cert", str(junk), "--members", str(members)], "not on the curve")
    bad(capsys, ["bls", "verify", "--cert", str(cert), "--members", str(d / "none.json")], "cannot read")
    one = tmp_path / "one.json"
    one.write_text(json.dumps([json.loads(members.read_text())[0]]))
    bad(capsys, [*base, *sigs, "--members", str(one), "--out", str(tmp_path / "c5.json")], "not a member")


def test_bad_keystores_passwords_and_messages(tmp_path, capsys, keystores) -> None:
    _, pw, paths, _ = keystores
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("battery staple\n")
    sign = ["bls", "sign", "--message", MSG]
    bad(capsys, [*sign, "--keystore", str(paths[0]), "--password-file", str(wrong)], "KeystorePasswordError")
    cut = tmp_path / "cut.json"
    cut.write_text(paths[0].read_text()[:100])
    bad(capsys, [*sign, "--keystore", str(cut), "--password-file", str(pw)], "truncated")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    bad(capsys, [*sign, "--keystore", str(paths[0]), "--password-file", str(empty)], "empty")
    bad(
        capsys, [*sign, "--keystore", str(paths[0]), "--password-file", str(tmp_path / "nope")], "cannot read"
    )
    bad(
        capsys,
        ["bls", "sign", "--message", "0x12", "--keystore", str(paths[0]), "--password-file", str(pw)],
        "32 bytes",
    )
    pop = ["bls", "pop", "--keystore", str(paths[0]), "--password-file", str(pw), "--chain-id", "1"]
    bad(capsys, [*pop, "--operator", "0x12", "--registry", "0x" + "11" * 20], "bad address")
    bad(
        capsys,
        [*pop, "--operator", "0x" + "11" * 20, "--registry", "0x" + "22" * 20, "--chain-id", "x"],
        "not an integer",
    )
    rc, text, _ = run(capsys, [*pop, "--operator", "0x" + "11" * 20, "--registry", "0x" + "22" * 20])
    assert rc == 0
    info = json.loads(text)
    sk = keystore.decrypt(keystore.load(paths[0]), "correct horse")
    sig = tuple(int(v, 16) for v in info["signature"])
    assert keys.verify_possession(sk.public_key(), sig, "0x" + "11" * 20, 1, "0x" + "22" * 20)
    assert len(bytes.fromhex(info["registration_data"][2:])) == 256
    assert main(["bls"]) == 2
