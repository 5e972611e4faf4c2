"""offchain/settings.py: the DA disperser's claim settings (each read when asked for, bad values refused)."""

from __future__ import annotations

import pytest

from offchain import settings
from offchain.errors import SettingError


def test_da_claim_settings(monkeypatch) -> None:
    monkeypatch.delenv("EIGEN_DA_CLAIM_INTERVAL", raising=False)
    monkeypatch.delenv("EIGEN_DA_CLAIM_BATCH", raising=False)
    assert (settings.da_claim_interval(), settings.da_claim_batch()) == (30.0, 32)  # on by default
    for off in ("off", "0", "no", "FALSE"):
        monkeypatch.setenv("EIGEN_DA_CLAIM_INTERVAL", off)
        assert settings.da_claim_interval() is None
    monkeypatch.setenv("EIGEN_DA_CLAIM_INTERVAL", "2.5")
    assert settings.da_claim_interval() == 2.5
    for bad in ("soon", "-1", "86401", "nan"):
        monkeypatch.setenv("EIGEN_DA_CLAIM_INTERVAL", bad)
        with pytest.raises(SettingError, match="EIGEN_DA_CLAIM_INTERVAL"):
            settings.da_claim_interval()
    for bad in ("0", "x"):
        monkeypatch.setenv("EIGEN_DA_CLAIM_BATCH", bad)
        with pytest.raises(SettingError, match="EIGEN_DA_CLAIM_BATCH"):
            settings.da_claim_batch()
