"""The curve constants (offchain/crypto/params.py) against py_ecc, and the kernels' generated C headers
(tools/gen_curve_params.py) against the committed files."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import py_ecc.optimized_bls12_381 as pb
import py_ecc.optimized_bn128 as pe
import pytest

from offchain.crypto import params

TOOL = Path(__file__).resolve().parents[3] / "tools" / "gen_curve_params.py"


@pytest.fixture(scope="module")
def gen():
    spec = importlib.util.spec_from_file_location("gen_curve_params", TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("name", ["g1_curve_params.h", "pairing_params.h"])
def test_committed_header_is_generated(gen, name):
    assert (gen.KERNELS / name).read_text() == gen.HEADERS[name]()


def test_tool_check_mode_passes(gen):
    assert gen.stale() == []


@pytest.mark.parametrize(
    ("c", "py"), [(params.BN254, pe), (params.BLS12_381, pb)], ids=["bn254", "bls12_381"]
)
def test_params_match_py_ecc(c, py):
    assert c.p == py.field_modulus and c.r == py.curve_order
    x1, y1 = py.normalize(py.G1)
    x2, y2 = py.normalize(py.G2)
    assert c.g1 == (int(x1), int(y1))
    assert c.g2 == (tuple(int(v) for v in x2.coeffs), tuple(int(v) for v in y2.coeffs))
    assert int(py.b) == c.b and tuple(int(v) for v in py.b2.coeffs) == c.twist_b
    assert (
        pow(c.root_of_unity, 1 << c.two_adicity, c.r) == 1
        and pow(c.root_of_unity, 1 << (c.two_adicity - 1), c.r) != 1
    )
    assert c.limbs * 64 >= c.p.bit_length() > (c.limbs - 1) * 64
