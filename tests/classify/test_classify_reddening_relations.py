"""Tests of classify.reddening: E(B-V) to N_H, optical/IR extinction, reddening AGN rows.

(The absorption cross sections it uses are tested in tests/catalog/test_absorption.py.)
"""

import numpy as np
import pandas as pd
import pytest

from classify.reddening import band_extinction, nh_from_ebv, redden_agn


def test_reddening_relations():
    assert nh_from_ebv(1.0) == pytest.approx(6.851e21)
    a = band_extinction(1.0)
    assert a["Gmag"] > a["Jmag"] > a["Kmag"] > a["W1mag"] > 0
    assert a["Kmag"] / (3.1 * 1.0) == pytest.approx(0.12, abs=0.03)  # A_K/A_V ~ 0.1


def test_redden_agn_only_touches_agn():
    t = pd.DataFrame({
        "Fs": [1e-14, 1e-14], "e_Fs": [1e-15, 1e-15], "Fm": [1e-14, 1e-14], "e_Fm": [1e-15, 1e-15],
        "Fh": [1e-14, 1e-14], "e_Fh": [1e-15, 1e-15], "Gmag": [18.0, 18.0], "Jmag": [np.nan, 15.0],
    })
    out = redden_agn(t, np.array(["AGN", "YSO"]), ebv=0.5)
    assert out.loc[1].equals(t.loc[1])
    assert out.loc[0, "Fs"] < out.loc[0, "Fm"] < out.loc[0, "Fh"] < 1e-14
    assert out.loc[0, "e_Fs"] / out.loc[0, "Fs"] == pytest.approx(0.1)
    assert out.loc[0, "Gmag"] > 18.0 and np.isnan(out.loc[0, "Jmag"])
    assert t.loc[0, "Fs"] == 1e-14


def test_sfd_from_packaged_map():
    from classify.reddening import ebv_sfd

    ebv = ebv_sfd(np.array([266.4, 192.86]), np.array([-28.9, 27.13]))  # Galactic centre, NGP
    assert ebv[0] > 10 * ebv[1] and ebv[1] < 0.05
