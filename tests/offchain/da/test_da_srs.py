"""EigenDA's 28 embedded [tau^(2^28 - 2^i)]_1 points: the published bytes, tied to the SRS's G2 powers."""

import pytest

from offchain.crypto import bn254
from offchain.da.srs import G1_REVERSE_POW2_HEX, eigenda_g1_reverse_pow2, load_eigenda_srs, load_g2
from tests.support import vector_path


def test_da_srs_reverse_points_match_shared_vector() -> None:
    published = vector_path("da", "g1_reverse_power_of_2.hex").read_text().split()
    assert list(G1_REVERSE_POW2_HEX) == published and len(published) == 28


def test_da_srs_reverse_points_tied_to_g2_powers() -> None:
    """e(rev_i, [tau^(2^i)]_2) == e(G1, [tau^(2^28)]_2) for every i, so all 28 products are equal; a point
    paired with another power (or a swapped table entry) breaks the equality."""
    pow2 = load_g2(vector_path("da", "g2.point.powerOf2"))
    rev = eigenda_g1_reverse_pow2()
    g1 = bn254.bn254().g1
    for i in range(1, 28):
        assert bn254.pairing_check([(rev[..., 0], pow2[..., 0]), (g1.neg(rev)[..., i], pow2[..., i])]), i
    assert not bn254.pairing_check([(rev[..., 0], pow2[..., 0]), (g1.neg(rev)[..., 3], pow2[..., 4])])


def test_da_srs_loader_attaches_reverse_points() -> None:
    vector_path("da", "g1_mainnet_first3000.point")
    srs = load_eigenda_srs(vector_path("da"), g1_count=8, with_g2=False)
    assert srs.g1_reverse_pow2 is not None
    assert bn254.g1_compress(srs.g1_reverse_pow2) == bytes.fromhex("".join(G1_REVERSE_POW2_HEX))


@pytest.mark.parametrize("i", [0, 27])
def test_da_srs_reverse_points_decode(i: int) -> None:
    assert bn254.g1_compress(eigenda_g1_reverse_pow2()[..., i : i + 1]).hex() == G1_REVERSE_POW2_HEX[i]
