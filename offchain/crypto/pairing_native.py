"""Pairing-product checks of BN254 and BLS12-381 in the native kernel
(``offchain/crypto/kernels/pairing_native.c``).

``check_points(name, pairs)`` is what ``bn254.pairing_check`` / ``bls12_381.pairing_check`` call when
the native kernels are enabled: it takes the array code's single (projective) points, converts all
their coordinates to canonical 64-bit words in one vectorised step (no inversions here: the array
code's field inversion costs more than the whole native pairing) and lets the kernel normalise them
and compute prod_k e(P_k, Q_k) == 1 with one shared Miller loop and one final exponentiation.

At the kernel boundary points are canonical little-endian uint64 words: G1 affine ``(n, 2, NL)``
(x, y), G2 affine ``(n, 4, NL)`` (x.c0, x.c1, y.c0, y.c1); all-zero coordinates encode the point at
infinity (such a pair is skipped). Every coordinate is checked to be below p and every point to be on
its curve (G2: the twist); subgroup membership is the caller's job (the decoders check it). Bad input
raises :class:`PairingKernelError`.

GT elements (``gt``, ``fp12_op``) are arrays ``(12, NL)`` of canonical words in tower order
(c0.c0.c0, c0.c0.c1, c0.c1.c0, ..., c1.c2.c1); :func:`to_pyecc_coeffs` / :func:`from_pyecc_coeffs`
map them to and from py_ecc's FQ12 coefficients (the map is derived in pairing_native.c).
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from offchain import native
from offchain.backend import to_numpy
from offchain.crypto.errors import PairingKernelError
from offchain.crypto.field import PrimeField, field_to_words
from offchain.crypto.params import CURVES, LIMBS

SOURCE = "crypto/kernels/pairing_native.c"
FLAGS: tuple[str, ...] = ()

XI0 = {name: c.xi0 for name, c in CURVES.items()}  # xi = XI0 + u
# the curve parameter x: p, r are polynomials in it (BN: p = 36x^4 + 36x^3 + 24x^2 + 6x + 1)
X = {name: c.x for name, c in CURVES.items()}

# status codes of the C entry points (pairing_native.c)
ERRORS = {
    -1: "a G1 coordinate is not below p",
    -2: "a G1 point is not on the curve",
    -3: "a G2 coordinate is not below p",
    -4: "a G2 point is not on the twist curve",
    -5: "bad argument",
    -6: "the kernel could not allocate its scratch memory",
}

# fp12_op codes
OPS = {
    "mul": 0,
    "sqr": 1,
    "inv": 2,
    "conj": 3,
    "frob1": 4,
    "frob2": 5,
    "frob3": 6,
    "cyc_sqr": 7,
    "final_exp": 8,
    "mul_line": 9,
    "cyc_exp_x": 10,
}

Array = Any


_u64p = ctypes.POINTER(ctypes.c_uint64)


def _ptr(a: np.ndarray) -> Any:
    return a.ctypes.data_as(_u64p)


def ints_to_words(vals: Sequence[int], nl: int) -> np.ndarray:
    """Non-negative ints below 2^(64 nl) -> uint64 (len, nl), little-endian words."""
    out = np.zeros((len(vals), nl), dtype=np.uint64)
    for i, v in enumerate(vals):
        if v < 0 or v >> (64 * nl):
            raise PairingKernelError(f"value {v} does not fit in {nl} 64-bit words")
        out[i] = np.frombuffer(int(v).to_bytes(8 * nl, "little"), dtype="<u8")
    return out


def words_to_ints(w: np.ndarray) -> list[int]:
    """uint64 (..., nl) -> flat list of ints."""
    w = np.ascontiguousarray(w, dtype=np.uint64)
    nl = w.shape[-1]
    return [int.from_bytes(row.astype("<u8").tobytes(), "little") for row in w.reshape(-1, nl)]


class PairingKernel:
    """The native pairing of one curve (``"bn254"`` or ``"bls12_381"``)."""

    def __init__(self, name: str, extra_flags: tuple[str, ...] = ()) -> None:
        if name not in LIMBS:
            raise PairingKernelError(f"no native pairing for curve {name!r}")
        self.name = name
        self.nl = LIMBS[name]
        lib = native.load(SOURCE, FLAGS + tuple(extra_flags))
        p, i_, n_ = _u64p, ctypes.c_int, ctypes.c_long
        lp = ctypes.POINTER(ctypes.c_long)
        sigs = {
            "pairing_check": [p, p, n_, lp],
            "pairing_check_proj": [p, p, n_, lp],
            "pairing_gt": [p, p, n_, lp, p],
            "fp12_op": [i_, p, p, p],
        }
        self._fn = {}
        for op, args in sigs.items():
            f = getattr(lib, f"{name}_{op}")
            f.restype = ctypes.c_int
            f.argtypes = args
            self._fn[op] = f

    # ----- checks -------------------------------------------------------------------------
    def _words(self, a: Any, width: int, what: str, n: int | None = None) -> np.ndarray:
        if (
            not isinstance(a, np.ndarray)
            or a.dtype != np.uint64
            or a.ndim != 3
            or a.shape[1:] != (width, self.nl)
        ):
            raise PairingKernelError(
                f"{self.name}: {what} must be uint64 (n, {width}, {self.nl}), got {getattr(a, 'shape', None)}"
            )
        if n is not None and a.shape[0] != n:
            raise PairingKernelError(f"{self.name}: {a.shape[0]} {what} for {n} pairs")
        return np.ascontiguousarray(a)

    def _status(self, rc: int, bad: ctypes.c_long) -> int:
        if rc < 0:
            where = f" (pair {bad.value})" if bad.value >= 0 else ""
            raise PairingKernelError(f"{self.name}: {ERRORS.get(rc, f'status {rc}')}{where}", rc, bad.value)
        return rc

    # ----- operations ---------------------------------------------------------------------
    def check(self, g1: Any, g2: Any) -> bool:
        """prod_k e(P_k, Q_k) == 1 for canonical affine G1 (n, 2, NL) and G2 (n, 4, NL) words."""
        a = self._words(g1, 2, "G1 points")
        b = self._words(g2, 4, "G2 points", a.shape[0])
        bad = ctypes.c_long(-1)
        return bool(
            self._status(self._fn["pairing_check"](_ptr(a), _ptr(b), a.shape[0], ctypes.byref(bad)), bad)
        )

    def check_projective(self, g1: Any, g2: Any) -> bool:
        """The same for homogeneous projective G1 (n, 3, NL) = X, Y, Z and G2 (n, 6, NL) = X.c0, X.c1,
        Y.c0, Y.c1, Z.c0, Z.c1 (canonical words; Z = 0 is the point at infinity)."""
        a = self._words(g1, 3, "G1 points")
        b = self._words(g2, 6, "G2 points", a.shape[0])
        bad = ctypes.c_long(-1)
        return bool(
            self._status(self._fn["pairing_check_proj"](_ptr(a), _ptr(b), a.shape[0], ctypes.byref(bad)), bad)
        )

    def gt(self, g1: Any, g2: Any) -> np.ndarray:
        """prod_k e(P_k, Q_k) itself: canonical uint64 (12, NL) in tower order."""
        a = self._words(g1, 2, "G1 points")
        b = self._words(g2, 4, "G2 points", a.shape[0])
        out = np.zeros((12, self.nl), dtype=np.uint64)
        bad = ctypes.c_long(-1)
        self._status(self._fn["pairing_gt"](_ptr(a), _ptr(b), a.shape[0], ctypes.byref(bad), _ptr(out)), bad)
        return out

    def fp12_op(self, op: str, a: Any, b: Any = None) -> np.ndarray:
        """Test hook: one tower operation (``OPS``) on canonical (12, NL) elements."""
        if op not in OPS:
            raise PairingKernelError(f"unknown Fp12 operation {op!r}")
        x = self._words(np.asarray(a, dtype=np.uint64).reshape(1, 12, self.nl), 12, "Fp12 operand")
        y = (
            None
            if b is None
            else self._words(np.asarray(b, dtype=np.uint64).reshape(1, 12, self.nl), 12, "Fp12 operand")
        )
        out = np.zeros((12, self.nl), dtype=np.uint64)
        rc = self._fn["fp12_op"](OPS[op], _ptr(x), None if y is None else _ptr(y), _ptr(out))
        if rc < 0:
            raise PairingKernelError(f"{self.name}: fp12_op {op}: {ERRORS.get(rc, rc)}", rc)
        return out


@functools.lru_cache(maxsize=4)
def kernel(name: str) -> PairingKernel:
    """The (cached) native pairing of ``name``."""
    return PairingKernel(name)


# ----- conversions ---------------------------------------------------------------------------------
def to_pyecc_coeffs(name: str, gt: np.ndarray, p: int) -> list[int]:
    """Tower-order element (12, NL) -> py_ecc FQ12 coefficients a_0..a_11 (see pairing_native.c)."""
    v = words_to_ints(gt)
    xi0 = XI0[name]
    out = [0] * 12
    for j in range(6):
        half, pos = j & 1, j >> 1
        x, y = v[6 * half + 2 * pos], v[6 * half + 2 * pos + 1]
        out[j] = (x - xi0 * y) % p
        out[j + 6] = y
    return out


def from_pyecc_coeffs(name: str, coeffs: Sequence[int], p: int) -> np.ndarray:
    """py_ecc FQ12 coefficients a_0..a_11 -> tower-order element (12, NL)."""
    xi0 = XI0[name]
    v = [0] * 12
    for j in range(6):
        half, pos = j & 1, j >> 1
        y = int(coeffs[j + 6]) % p
        v[6 * half + 2 * pos] = (int(coeffs[j]) + xi0 * y) % p
        v[6 * half + 2 * pos + 1] = y
    return ints_to_words(v, LIMBS[name])


def affine_words(name: str, pairs: Sequence[tuple[Any, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """[((x, y) | None, ((x0, x1), (y0, y1)) | None), ...] (ints; None = infinity) -> G1 (n, 2, NL)
    and G2 (n, 4, NL) words, infinity as zeros."""
    nl = LIMBS[name]
    g1 = [v for P, _ in pairs for v in ((0, 0) if P is None else P)]
    g2 = [v for _, Q in pairs for v in ((0, 0, 0, 0) if Q is None else (*Q[0], *Q[1]))]
    n = len(pairs)
    return ints_to_words(g1, nl).reshape(n, 2, nl), ints_to_words(g2, nl).reshape(n, 4, nl)


def check_ints(name: str, pairs: Sequence[tuple[Any, Any]]) -> bool:
    """prod e(P_k, Q_k) == 1 for points given as ints (see :func:`affine_words`)."""
    g1, g2 = affine_words(name, pairs)
    return kernel(name).check(g1, g2)


@functools.lru_cache(maxsize=4)
def _base_field(name: str) -> PrimeField:
    """The numpy base field of ``name`` (the array code's Fp, rebuilt from its modulus)."""
    if name not in LIMBS:
        raise PairingKernelError(f"no native pairing for curve {name!r}")
    return PrimeField(CURVES[name].p, np, f"{name}.Fp")


def check_points(name: str, pairs: Sequence[tuple[Array, Array]]) -> bool:
    """prod e(P_k, Q_k) == 1 for single array-code points (numpy or cupy): G1 (3, limbs), G2
    (3, limbs, 2), projective; all coordinates go to canonical words in one batch."""
    fp = _base_field(name)
    nl = LIMBS[name]
    cols = []
    for P_, Q in pairs:
        P = to_numpy(P_)
        Qn = to_numpy(Q)
        if P.size != 3 * fp.n or Qn.size != 6 * fp.n:
            raise PairingKernelError(
                f"{name}: pairing_check takes single points, got shapes {P.shape} and {Qn.shape}"
            )
        P = P.reshape(3, fp.n)
        Qn = Qn.reshape(3, fp.n, 2)
        cols += [P[0], P[1], P[2]] + [Qn[i][:, j] for i in range(3) for j in range(2)]
    n = len(pairs)
    if n == 0:
        return True
    words = field_to_words(fp, np.stack(cols, axis=1), nl).reshape(n, 9, nl)
    return kernel(name).check_projective(
        np.ascontiguousarray(words[:, :3]), np.ascontiguousarray(words[:, 3:])
    )
