"""Structured reference strings for EigenDA KZG on BN254.

Real SRS (EigenDA mainnet, Perpetual Powers of Tau ``challenge_0085``, order 2^28):
- ``g1.point``: [tau^i]_1, gnark-compressed, 32 B each (the full file has 2^19 points = 16 MiB blobs);
- ``g2.point`` / ``g2.trailing.point``: [tau^i]_2 and the last 2^19 powers, 64 B each (length commitment
  and length proof);
- ``g2.point.powerOf2``: [tau^(2^i)]_2 for i < 28 (what chunk verification needs).
Files are checked against the sha256 list that EigenDA publishes (``srs-files-16777216.sha256``) and,
for the 3,000-point mainnet prefix, against its known digest. Large files are supplied by the user
(EigenDA's ``srs-utils download`` writes them), never downloaded here.

:class:`InsecureTestSRS` builds an SRS from a *known* secret. Anyone can forge proofs against it; it
exists only so that sizes beyond the SRS at hand can be exercised, and is never used by default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from offchain import native
from offchain.abi import sha256_file
from offchain.crypto import bn254, g2_native
from offchain.crypto.curve import scalars_to_bytes
from offchain.crypto.g1_native import host_kernel
from offchain.crypto.ntt import powers
from offchain.da.errors import SRSError

SRS_ORDER = 1 << 28
MAINNET_G1_PREFIX_3000_SHA256 = "1a23c29f5739fa223410ee518f94922248afe99efc47c9617d89722e8874cf4e"
# Published digests of EigenDA's SRS files (resources/srs/srs-files-16777216.sha256)
KNOWN_DIGESTS = {
    "g1.point": "8f18b9c04ed4bddcdb73001fb693703197328cecabdfa9025f647410b0c50d7f",
    "g2.point": "a6942684aa751b4ec7873e2edb4660ac5c4516adb3b310441802cc0d489f645a",
    "g2.trailing.point": "78fad17d74d28cecdb7f826fdd72dee08bdbe1e8ad66f2b24fcf2fc140176788",
    "g2.point.powerOf2": "4d5ed827f742e1270f22b4a39129bf1d25445821b15824e2eb3a709a16f64518",
    "g1_mainnet_first3000.point": MAINNET_G1_PREFIX_3000_SHA256,
}

# EigenDA's G1ReversePowerOf2SRS: [tau^(2^28 - 2^i)]_1 for i < 28, gnark-compressed. Public constants of the
# mainnet SRS that EigenDA embeds in its binaries (encoding/v2/kzg, PR #1997) because no published SRS file
# holds them; the length-proof pairing e([tau^(2^28 - n)]_1, LC) == e(G1, LP) takes point log2(n).
# Each is tied to g2.point.powerOf2 by e(rev_i, [tau^(2^i)]_2) == e(G1, [tau^(2^28)]_2) for every i
# (tests/offchain/da/test_da_srs.py checks that, and these bytes against ../shared/vectors when present).
G1_REVERSE_POW2_HEX = (
    "d902537c5ac68b39468f8cfcc46b00da353024b618b0454e6847d2aee530e850",
    "c672cec11e3d0c0096d550635d28c4b51dd3c2deb407a5985f458f5a8610fe94",
    "c2ee739ae261af377f3c65362049fef9402013bd898351eb60e0d7429a56f880",
    "d9d7adde8d4e55e87312fcb7713fdd1e8713358347d7c8bc1ac21fa1ef1db34a",
    "8f89ac9e77846d29af1c58af31cfc3fe61c45ca14cf0a10f7aa71605b868c0e7",
    "e3adc6dbd3cb5c694b17bdb974860d07222f9ffd75655d8800702f455ddffc97",
    "cb36c6a5486f20baf22e4ca283ee475b70447c35e16b749d710caa4bc7bf2ac9",
    "86aa256a555695131099bc873d2d23dd0f31d6fa9e0117f2dc913565380f8536",
    "ac25b7bfc07913ee0aa062624b6c06f0218dcf1f03f232397761463d079be7fe",
    "a219ecf6ee97fe6b32ab434e3daff9ed6cbe8f467979ad1c6f39ee9dc660b212",
    "97840fcc4dd766fa0748bf2d50dd85242d4bb031fac39f8bb8f12d1146b0d443",
    "95b23343161483eed8834b7d595f5ac18b8c5dfe85d40538c83027a12b7e0ca6",
    "82e393213e64aef7726afb4ee823b58634087a47330ef6150c6e9e496a18cc5a",
    "e11a52ebf3628f51663a2fb41de1b755d28b764dde082521072531cf53bbb895",
    "c6318eb9dfa5f5627ceddde2f026af4e3ef79b7f1702f497b353437f57f188e4",
    "cfdc1c150ef291fa5eb1bdd2743815eebea02b4a89b3b0b1cc801269fb2502d6",
    "88723a42d3025fbb3beb27a75cf1266e37c59959a434ccabd04c332c888afc7c",
    "ebc857866d0cbb6ce20c2abd612cb99d1d2f4446e5330255c77f69bcfc56c8be",
    "ecc72a85bca27e6e6d9dcc73e15bd528b9bb1b4dc5b158e87d821571859820eb",
    "899e0d8eda7fcd5d0fcb7488574361663a7d05e920c11643101c1c996aad21b7",
    "87f814468e6e5b08526830fe3ce8fde7b5385f53e7654d3c061f5f602c5452b6",
    "a26d44f770db3207696477d61e7feedc3f0a83ea58f37b9ef914834fb32895b8",
    "90ec8f5ba15034bf2faa5b650606b7786e3c5c16201488c4411de3a40476874c",
    "ad10e224d82572833b2854c327a5db10a0b6c617c367e3aff58f5862aab90a41",
    "8ccb85c07ad9092316ea6f95161e0a64ed7cca863f23bc22300225bf456d094a",
    "d20165a1b364337df11a35fb687aa62382236938f8f740cb7059b656e1f4dd1c",
    "a9d669092e951729fcc2eaf05ff706cf372e04cbde166f48833337fa37b69537",
    "eb34e5696bcd208899dbd9d1e7604ec39cc594eeedae3eaf40ff8695ab25ca72",
)

Array = Any


def eigenda_g1_reverse_pow2(xp: ModuleType = np) -> Array:
    """The 28 embedded [tau^(2^28 - 2^i)]_1 points of EigenDA's SRS as a G1 batch (decoded, on-curve)."""
    return bn254.g1_decompress(bytes.fromhex("".join(G1_REVERSE_POW2_HEX)), xp)


def read_sha256_list(path: Path) -> dict[str, str]:
    """Parse ``<hex digest>  <filename>`` lines (``#`` comments allowed)."""
    out: dict[str, str] = {}
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2 or len(parts[0]) != 64:
            raise SRSError(f"{path}: malformed sha256 line {line!r}")
        out[parts[1]] = parts[0].lower()
    return out


def check_digest(path: Path, expected: str) -> None:
    got = sha256_file(path).hex()
    if got != expected.lower():
        raise SRSError(f"{path}: sha256 {got} does not match the published {expected}")


@dataclass
class SRS:
    """G1 powers (projective batch) plus the G2 points that are available."""

    g1: Array  # [tau^i]_1, i < len
    g2_pow2: Array | None  # [tau^(2^i)]_2, i < 28
    g2: Array | None = None  # [tau^i]_2, i < len (length commitment)
    g2_trailing: Array | None = None  # [tau^(2^28 - len + i)]_2 (length proof)
    g1_reverse_pow2: Array | None = None  # [tau^(2^28 - 2^i)]_1 (length-proof check)
    name: str = "srs"
    insecure: bool = False
    xp: ModuleType = np
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def n_g1(self) -> int:
        return int(self.g1.shape[-1])

    def g1_prefix(self, n: int) -> Array:
        if n > self.n_g1:
            raise SRSError(f"{self.name}: {n} G1 points needed, only {self.n_g1} loaded")
        return self.g1[..., :n]

    def g2_tau_pow2(self, k: int) -> Array:
        """[tau^(2^k)]_2 as a single point."""
        if self.g2_pow2 is None or k >= self.g2_pow2.shape[-1]:
            raise SRSError(f"{self.name}: [tau^(2^{k})]_2 is not available")
        return self.g2_pow2[..., k]

    def to_backend(self, xp: ModuleType) -> SRS:
        """The same SRS with its arrays moved to the array module ``xp``."""
        if xp is self.xp:
            return self

        def conv(a: Array | None) -> Array | None:
            if a is None:
                return None
            return xp.asarray(a.get() if hasattr(a, "get") else a)

        return SRS(
            conv(self.g1),
            conv(self.g2_pow2),
            conv(self.g2),
            conv(self.g2_trailing),
            conv(self.g1_reverse_pow2),
            self.name,
            self.insecure,
            xp,
        )


def _load_points(
    path: str | Path,
    size: int,
    decode: Any,
    count: int | None,
    xp: ModuleType,
    sha256: str | None,
    from_end: bool = False,
) -> Array:
    """Read (the first ``count``, or the last ``count`` with ``from_end``) ``size``-byte compressed points
    of an SRS file and decode them (the digest covers the whole file)."""
    path = Path(path)
    if not path.exists():
        raise SRSError(f"SRS file not found: {path}")
    if sha256 is not None:
        check_digest(path, sha256)
    total_bytes = path.stat().st_size
    if total_bytes % size:
        raise SRSError(f"{path}: size {total_bytes} is not a multiple of {size}")
    total = total_bytes // size
    count = total if count is None else count
    if count > total:
        raise SRSError(f"{path}: {count} points requested, file holds {total}")
    with open(path, "rb") as f:
        if from_end:
            f.seek(size * (total - count))
        data = f.read(size * count)
    try:
        return decode(data, xp)
    except bn254.PointError as exc:
        raise SRSError(f"{path}: {exc}") from exc


def load_g1(
    path: str | Path, count: int | None = None, xp: ModuleType = np, sha256: str | None = None
) -> Array:
    """gnark-compressed G1 points (32 B) of an SRS file, checked on-curve."""
    return _load_points(path, 32, bn254.g1_decompress, count, xp, sha256)


def load_g2(
    path: str | Path,
    count: int | None = None,
    xp: ModuleType = np,
    sha256: str | None = None,
    from_end: bool = False,
) -> Array:
    """gnark-compressed G2 points (64 B) of an SRS file (the first ``count``, or the last with ``from_end``),
    checked on-curve and in the subgroup."""
    return _load_points(path, 64, bn254.g2_decompress, count, xp, sha256, from_end)


def load_eigenda_srs(
    directory: str | Path,
    g1_count: int | None = None,
    xp: ModuleType = np,
    sha256_list: str | Path | None = None,
    with_g2: bool = True,
) -> SRS:
    """Load EigenDA SRS files from ``directory``, each checked against its published sha256.

    The 28 [tau^(2^28 - 2^i)]_1 points of the length-proof check are EigenDA's embedded constants
    (:data:`G1_REVERSE_POW2_HEX`), attached to every SRS loaded here.
    G1: ``g1.point`` (the full 2^19-point file) or ``g1_mainnet_first3000.point`` (the 3,000-point
    mainnet prefix). ``g2.point.powerOf2`` is required; ``g2.point`` and ``g2.trailing.point`` are loaded
    when present and ``with_g2`` (only length commitments/proofs need them): the first and the last
    ``g1_count`` points (all when ``g1_count`` is None). Digests come from the built-in list of
    EigenDA's published hashes, or from ``sha256_list`` (a file in EigenDA's format) when given.
    """
    d = Path(directory)
    if not d.is_dir():
        raise SRSError(f"SRS directory not found: {d}")
    digests = dict(KNOWN_DIGESTS)
    if sha256_list:
        digests.update(read_sha256_list(Path(sha256_list)))
    g1_name = next((nm for nm in ("g1.point", "g1_mainnet_first3000.point") if (d / nm).exists()), None)
    if g1_name is None:
        raise SRSError(f"{d}: no g1.point or g1_mainnet_first3000.point")
    g1 = load_g1(d / g1_name, g1_count, xp, sha256=digests[g1_name])
    g2_pow2 = load_g2(d / "g2.point.powerOf2", None, xp, sha256=digests["g2.point.powerOf2"])
    g2 = g2t = None
    if with_g2 and (d / "g2.point").exists():
        g2 = load_g2(d / "g2.point", g1_count, xp, sha256=digests["g2.point"])
    if with_g2 and (d / "g2.trailing.point").exists():
        g2t = load_g2(
            d / "g2.trailing.point", g1_count, xp, sha256=digests["g2.trailing.point"], from_end=True
        )
    rev = eigenda_g1_reverse_pow2(xp)
    return SRS(g1, g2_pow2, g2, g2t, rev, name=f"eigenda:{d}/{g1_name}", xp=xp)


def _generator_multiples(c: Any, group: str, scalars: np.ndarray) -> Array:
    """[s_i] G for the generator G of ``group`` ("g1" or "g2") and big-endian scalars (n, 32): the native
    kernels' fixed-base comb when they are on (same group elements), else the array code."""
    curve = getattr(c, group)
    n = scalars.shape[0]
    if not native.enabled() or c.xp is not np:
        return curve.scalar_mul(curve.concat([curve.generator] * n), scalars)
    words = np.ascontiguousarray(scalars[:, ::-1]).view("<u8").reshape(n, 4)  # big-endian bytes -> LE words
    if group == "g1":
        k = host_kernel("bn254", c)
        return k.to_group(k.fixed_base_mul(k.from_group(curve.generator), words))
    k2 = g2_native.kernel("bn254", c)
    return k2.to_group(k2.fixed_base_mul(k2.from_group(curve.generator), words))


def insecure_test_srs(n: int, secret: int = 0xDEADBEEF1234, xp: ModuleType = np, with_g2: bool = True) -> SRS:
    """INSECURE: an SRS with a publicly known secret, for tests and benchmarks beyond the real SRS."""
    c = bn254.bn254(xp)
    r = bn254.R
    s = secret % r
    g1_scalars = c.fr.to_bytes(powers(c.fr, s, n)) if n else np.zeros((0, 32), np.uint8)
    g1 = _generator_multiples(c, "g1", g1_scalars) if n else c.g1.infinity(0)
    pow2 = [pow(s, 1 << i, r) for i in range(28)]
    g2_pow2 = _generator_multiples(c, "g2", scalars_to_bytes(pow2))
    rev = [pow(s, SRS_ORDER - (1 << i), r) for i in range(28)]
    g1_rev = _generator_multiples(c, "g1", scalars_to_bytes(rev))
    g2 = g2t = None
    if with_g2 and n:
        g2 = _generator_multiples(c, "g2", g1_scalars)
        trail = c.fr.to_bytes(powers(c.fr, s, n, start=pow(s, SRS_ORDER - n, r)))
        g2t = _generator_multiples(c, "g2", trail)
    return SRS(
        g1=g1,
        g2_pow2=g2_pow2,
        g2=g2,
        g2_trailing=g2t,
        g1_reverse_pow2=g1_rev,
        name=f"INSECURE-test-srs(n={n})",
        insecure=True,
        xp=xp,
    )
