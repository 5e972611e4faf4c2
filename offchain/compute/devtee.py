"""The development TEE: runs anywhere and emits Nitro-format evidence from a local test CA.

It is a faithful imitation of what an enclave does (fresh secp256k1 key, evidence that binds that key
and the image measurement, receipts signed by that key), not a security boundary: its CA keys derive
from a seed on disk. Verifiers accept its evidence only when the caller names its root explicitly.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding
from eth_hash.auto import keccak
from eth_keys import keys

from offchain.compute.codec import load_json
from offchain.compute.errors import ComputeError
from offchain.compute.eventlog import image_measurement
from offchain.compute.policy import Policy, require_utc
from offchain.compute.receipt import PLATFORM_NITRO, Receipt, ReceiptBundle, key_binding, sign
from offchain.compute.testca import NitroSpec, NitroTestCA

DEVTEE_FILE = "devtee.json"
ROOT_FILE = "root.pem"


def dev_pcrs(image_digest: bytes) -> dict[int, bytes]:
    """PCR0-2 derived from the image (non-zero, so not 'debug'), PCR16 = image measurement."""
    pcrs = {i: hashlib.sha384(b"eigen.devtee.pcr%d:" % i + image_digest).digest() for i in range(3)}
    pcrs.update({i: bytes(48) for i in range(3, 16)})
    pcrs[16] = image_measurement(image_digest)
    return pcrs


def dev_policy(ca: NitroTestCA, image_digest: bytes, **kw: object) -> Policy:
    """The policy an app's receipts name: dev root pinned, PCR0 and PCR16 expected."""
    pcrs = dev_pcrs(image_digest)
    return Policy(
        trusted_roots=(ca.root_fingerprint,),
        measurements={"pcr0": pcrs[0].hex(), "pcr16": pcrs[16].hex()},
        **kw,
    )  # type: ignore[arg-type]


@dataclass
class DevTEE:
    ca: NitroTestCA
    image_digest: bytes
    enclave_key: keys.PrivateKey = field(default_factory=lambda: keys.PrivateKey(secrets.token_bytes(32)))

    @property
    def address(self) -> str:
        return self.enclave_key.public_key.to_checksum_address().lower()

    def evidence(self, at: datetime, nonce: bytes | None = None) -> bytes:
        at = require_utc(at)
        spec = NitroSpec(
            module_id="i-devtee-enc" + self.address[2:18],
            timestamp=at,
            pcrs=dev_pcrs(self.image_digest),
            public_key=self.enclave_key.public_key.to_bytes(),
            user_data=key_binding(self.address),
            nonce=nonce,
            leaf_not_before=at - timedelta(hours=1),
            leaf_not_after=at + timedelta(hours=2),
        )
        return self.ca.document(spec)

    def run(
        self,
        input_data: bytes,
        output_data: bytes,
        at: datetime,
        *,
        app_id: bytes = bytes(32),
        chain_id: int = 0,
        policy: Policy | None = None,
    ) -> ReceiptBundle:
        """Attest at ``at`` and sign a receipt binding image, input, output and time."""
        at = require_utc(at)
        evidence = self.evidence(at)
        pol = policy or dev_policy(self.ca, self.image_digest)
        receipt = Receipt(
            appId=app_id,
            imageDigest=self.image_digest,
            inputHash=keccak(input_data),
            outputHash=keccak(output_data),
            timestamp=int(at.timestamp()),
            enclaveSigner=self.address,
            evidenceHash=keccak(evidence),
            collateralHash=keccak(self.ca.root.public_bytes(Encoding.DER)),
            policyHash=pol.hash(),
            platform=PLATFORM_NITRO,
            chainId=chain_id,
        )
        return ReceiptBundle(receipt, sign(receipt, self.enclave_key), evidence, pol.to_json())


def init_dir(path: Path, seed: bytes | None = None, *, force: bool = False) -> NitroTestCA:
    """Create a dev-TEE directory: the CA seed (its private key material, readable by the owner only)
    and the root certificate. An existing CA is never replaced unless ``force``: its key would be lost,
    and every receipt and policy naming its root with it."""
    existing = [name for name in (DEVTEE_FILE, ROOT_FILE) if (path / name).exists()]
    if existing and not force:
        raise ComputeError(
            f"{path} already holds a dev-TEE CA ({', '.join(existing)}); use --force to replace it"
        )
    ca = NitroTestCA(seed=seed or secrets.token_bytes(32))
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd = os.open(path / DEVTEE_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            os.fchmod(fh.fileno(), 0o600)  # an existing file (--force) keeps its mode otherwise
            fh.write(json.dumps({"seed": ca.seed.hex()}) + "\n")
        (path / ROOT_FILE).write_bytes(ca.root.public_bytes(Encoding.PEM))
    except OSError as exc:
        raise ComputeError(f"cannot create the dev-TEE directory {path}: {exc.strerror or exc}") from exc
    return ca


def load_dir(path: Path) -> NitroTestCA:
    try:
        seed = bytes.fromhex(load_json((path / DEVTEE_FILE).read_bytes(), DEVTEE_FILE, ComputeError)["seed"])
    except (OSError, ValueError, KeyError, TypeError, ComputeError) as exc:
        raise ComputeError(
            f"{path} is not a dev-TEE directory (run `eigen compute devtee init`): {exc}"
        ) from exc
    return NitroTestCA(seed=seed)
