"""MUWCLASS features as pure functions of a source table.

Follows the reference implementation of Yang et al. (2022, ApJ 941, 104;
arXiv:2206.13656), repository huiyang-astro/MUWCLASS_CSCv2, ``codes/muwclass_library.py``
(``create_colors``, ``create_Xfeatures``, ``mag2flux``, ``standardize_log``,
``postprocessing``):

* X-ray: CSC band fluxes s (0.5-1.2 keV), m (1.2-2), h (2-7) and b = s + m + h
  (erg cm^-2 s^-1); hardness ratios HR_ms = (m-s)/(s+m), HR_hm = (h-m)/(m+h),
  HR_hms = (h-m-s)/(s+m+h); variability probabilities P_intra, P_inter.
* Optical/IR: Gaia G/BP/RP, 2MASS J/H/K, WISE W1/W2/W3 magnitudes; magnitudes at or
  fainter than the survey limits are treated as missing (reference ``mw2limit``); the
  reference's selected colours; magnitudes converted to band fluxes
  ``F = f_lambda,0 10^(-m/2.5) W_eff``.
* Standardisation: every flux feature is log10 of its ratio to the broad-band X-ray flux;
  the broad-band flux itself enters as log10.
* Like the reference, W3 enters only through colours, not as a flux feature.

Zero points (Vega, erg cm^-2 s^-1 A^-1) and effective widths (A) are those of the SVO
Filter Profile Service (Rodrigo, Solano & Bayo 2012; Rodrigo & Solano 2020), as used by
the reference: Gaia DR2 passbands (Maiz Apellaniz & Weiler 2018), 2MASS (Cohen, Wheaton &
Megeath 2003), WISE (Jarrett et al. 2011).

Missing values stay NaN here; the model pipeline (:mod:`classify.model`) replaces them by
a sentinel after scaling, as the reference does. Nothing is imputed to zero.

Optional, beyond the reference (switchable): Gaia astrometry features -- log10 distance
(Bailer-Jones ``rgeo``, only for parallax S/N >= 2 and positive parallax, the reference's
cut in ``sample_data``), log10 proper motion, log10 X-ray and G-band luminosities
(the reference's optional ``rgeo_lum`` features), and the parallax significance Plx/e_Plx.

Optional and off by default (issue 13, item 4; not yet measured on a training set with
cross-mission coverage, see ``scripts/eval_muwclass.py --cross-mission-variability``):
the long-term variability of the source's sky object across missions
(``xray_object.var_ratio``/``var_sigma``, :mod:`catalog.variability`) as
``log_xvar_ratio`` = log10 of the highest-to-lowest common-band flux ratio,
``xvar_sigma`` = its significance, and ``xvar_lower_limit`` = 1 when the lowest flux is
an upper limit (ratio and significance are then lower bounds), 0 otherwise. A source whose
object was seen once, or not associated, has all three missing (the sentinel after
scaling, never zero: zero would claim "seen twice, not variable").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from catalog.bands import MUWCLASS_BANDS

CSC_FLAGS = ("extent", "conf", "pileup")
#: Input columns of the cross-mission variability (the ``xray_object`` columns and the
#: lower-limit flag of :func:`catalog.variability.object_variability`).
CROSS_MISSION_COLUMNS = ("var_ratio", "var_sigma", "var_is_lower_limit")
#: Feature columns made from them (:func:`cross_mission_features`).
CROSS_MISSION_FEATURES = ("log_xvar_ratio", "xvar_sigma", "xvar_lower_limit")
PC_CM = 3.0857e18
#: Upper limit (erg cm^-2 s^-1) of a CSC band without a flux: the reference's
#: ``nan_flux`` (huiyang-astro/MUWCLASS_CSCv2, ``codes/prepare_library.py``) takes a
#: missing band as a non-detection with mode 0 and this upper limit, i.e. the mean and
#: standard deviation of a half-normal distribution of that scale.
NONDETECTION_LIMIT = 1e-17
NONDETECTION_FLUX = float(np.sqrt(2.0 / np.pi) * NONDETECTION_LIMIT)
NONDETECTION_ERROR = float(np.sqrt(1.0 - 2.0 / np.pi) * NONDETECTION_LIMIT)


@dataclass(frozen=True)
class MWBand:
    """An optical/IR survey band.

    Attributes
    ----------
    name : str
        Column name of the magnitude (``Gmag``); the error column is ``e_`` + name.
    limit : float
        Survey limiting magnitude; magnitudes >= limit are treated as missing.
    zero_point : float
        Vega zero point in erg cm^-2 s^-1 A^-1.
    eff_wave : float
        Effective wavelength in A (used for extinction).
    width : float
        Effective width in A.
    """

    name: str
    limit: float
    zero_point: float
    eff_wave: float
    width: float


MW_BANDS: tuple[MWBand, ...] = (
    MWBand("Gmag", 21.5, 2.5e-9, 5822.39, 4052.97),
    MWBand("BPmag", 21.5, 4.08e-9, 5035.75, 2157.50),
    MWBand("RPmag", 21.0, 1.27e-9, 7619.96, 2924.44),
    MWBand("Jmag", 18.5, 3.13e-10, 12350.0, 1624.32),
    MWBand("Hmag", 18.0, 1.13e-10, 16620.0, 2509.40),
    MWBand("Kmag", 17.0, 4.28e-11, 21590.0, 2618.87),
    MWBand("W1mag", 18.5, 8.18e-12, 33526.0, 6626.42),
    MWBand("W2mag", 17.5, 2.42e-12, 46028.0, 10422.66),
    MWBand("W3mag", 14.5, 6.52e-14, 115608.0, 55055.71),
)
MW_BAND_BY_NAME = {b.name: b for b in MW_BANDS}
MAG_COLUMNS = tuple(b.name for b in MW_BANDS)
#: Gaia parallax, proper motion and distance of a counterpart (training-set names).
ASTROMETRY_COLUMNS = ("Plx", "e_Plx", "PM", "rgeo", "b_rgeo", "B_rgeo")
#: Every counterpart quantity a source table holds: magnitudes, their errors, astrometry
#: (missing, never zero, for a source without a counterpart).
COUNTERPART_MEASUREMENTS = (*MAG_COLUMNS, *[f"e_{m}" for m in MAG_COLUMNS],
                            *ASTROMETRY_COLUMNS)

#: Bands whose flux is a feature (reference ``MUWCLASS_features``: all but W3).
FLUX_BANDS = tuple(b for b in MAG_COLUMNS if b != "W3mag")

#: Colours selected by the reference (``colors`` in ``muwclass_library.py``).
REFERENCE_COLOURS = (
    "G-BP", "G-RP", "G-J", "G-H", "G-K", "BP-RP",
    "J-H", "J-K", "H-K", "W1-W2", "W1-W3", "W2-W3",
)


def all_colours() -> tuple[str, ...]:
    """Every pairwise colour of the nine bands, in survey order (36 colours)."""
    short = [b[:-3] for b in MAG_COLUMNS]
    return tuple(f"{a}-{b}" for i, a in enumerate(short) for b in short[i + 1:])


def fill_nondetections(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Take the CSC bands without a flux as the reference's non-detections.

    A source measured in one or two of the s, m, h bands gets, in each band without a
    flux, :data:`NONDETECTION_FLUX` with error :data:`NONDETECTION_ERROR` (mode 0, upper
    limit :data:`NONDETECTION_LIMIT`): exactly how the MUWCLASS training set
    (``TD_train.csv``: ``8e-18`` +/- ``6e-18``) holds its sources' missing bands, so the
    classifier sees such a source as it saw them in training. Leaving the band NaN instead
    would make the broad-band flux, every flux ratio and every hardness ratio missing,
    which no training source is.

    Parameters
    ----------
    table : pandas.DataFrame
        ``Fs``, ``Fm``, ``Fh`` with ``e_`` errors (NaN = no flux).

    Returns
    -------
    (pandas.DataFrame, pandas.Series)
        A copy with the missing bands filled (rows without any band are left as they
        are), and per row the bands filled (``"h"``, ``"s,m"``; None when none was).
    """
    out = table.copy()
    filled = np.zeros((len(out), len(MUWCLASS_BANDS)), dtype=bool)
    values = out[[f"F{b}" for b in MUWCLASS_BANDS]].to_numpy(float)
    some = ~np.isnan(values).all(axis=1)
    for i, band in enumerate(MUWCLASS_BANDS):
        miss = np.isnan(values[:, i]) & some
        filled[:, i] = miss
        out[f"F{band}"] = np.where(miss, NONDETECTION_FLUX, values[:, i])
        out[f"e_F{band}"] = np.where(miss, NONDETECTION_ERROR,
                                     out[f"e_F{band}"].to_numpy(float))
    names = [",".join(b for b, f in zip(MUWCLASS_BANDS, row) if f) or None for row in filled]
    return out, pd.Series(names, index=table.index, dtype=object)


def hardness_ratios(fs: np.ndarray, fm: np.ndarray, fh: np.ndarray) -> dict[str, np.ndarray]:
    """Hardness ratios of the CSC bands.

    Parameters
    ----------
    fs, fm, fh : array_like
        Soft, medium and hard band fluxes (same units).

    Returns
    -------
    dict
        ``HR_ms = (m-s)/(s+m)``, ``HR_hm = (h-m)/(m+h)``, ``HR_hms = (h-m-s)/(s+m+h)``;
        NaN where a denominator is not positive.
    """
    fs, fm, fh = (np.asarray(x, dtype=float) for x in (fs, fm, fh))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = {
            "HR_ms": (fm - fs) / (fs + fm),
            "HR_hm": (fh - fm) / (fm + fh),
            "HR_hms": (fh - fm - fs) / (fs + fm + fh),
        }
    bad = {"HR_ms": fs + fm, "HR_hm": fm + fh, "HR_hms": fs + fm + fh}
    for key, denom in bad.items():
        out[key] = np.where(denom > 0, out[key], np.nan)
    return out


def mask_survey_limits(mags: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of ``mags`` with magnitudes at or beyond the survey limits set to NaN.

    Parameters
    ----------
    mags : pandas.DataFrame
        Table holding any of the magnitude columns of :data:`MW_BANDS`.
    """
    out = mags.copy()
    for band in MW_BANDS:
        if band.name in out:
            col = out[band.name].astype(float)
            out[band.name] = col.where(col < band.limit)
    return out


def colours(mags: pd.DataFrame, names: tuple[str, ...] = REFERENCE_COLOURS) -> pd.DataFrame:
    """Colours ``A-B`` = mag_A - mag_B; NaN when either magnitude is missing."""
    data = {}
    for name in names:
        a, b = name.split("-")
        data[name] = mags[a + "mag"].astype(float) - mags[b + "mag"].astype(float)
    return pd.DataFrame(data, index=mags.index)


def mag_to_flux(mag: np.ndarray, band: str) -> np.ndarray:
    """Band flux (erg cm^-2 s^-1) of a Vega magnitude: ``f0 10^(-m/2.5) W_eff``."""
    b = MW_BAND_BY_NAME[band]
    return b.zero_point * 10.0 ** (-np.asarray(mag, dtype=float) / 2.5) * b.width


@dataclass(frozen=True)
class FeatureOptions:
    """Which feature groups to compute.

    Attributes
    ----------
    variability : bool
        Include ``P_intra`` and ``P_inter`` (the input must have them).
    colour_names : tuple of str
        Colours to include (default: the reference's selection).
    astrometry : bool
        Include Gaia distance, proper motion and luminosity features (beyond the reference).
    flags : bool
        Include the CSC source flags ``extent``, ``conf`` and ``pileup`` as 0/1 features
        (beyond the reference), read from the ``CSCv2_flags`` text (``extent|conf``).
    cross_mission_variability : bool
        Include :data:`CROSS_MISSION_FEATURES` from the input's
        :data:`CROSS_MISSION_COLUMNS` (:func:`cross_mission_features`). Off by default:
        a candidate feature, not measured yet.
    """

    variability: bool = True
    colour_names: tuple[str, ...] = REFERENCE_COLOURS
    astrometry: bool = False
    flags: bool = False
    cross_mission_variability: bool = False

    def feature_names(self) -> list[str]:
        """Ordered feature column names produced by :func:`compute_features`."""
        names = ["Fs", "Fm", "Fh", "Fb", "HR_ms", "HR_hm", "HR_hms"]
        if self.variability:
            names += ["P_intra", "P_inter"]
        names += [f"F_{b}" for b in FLUX_BANDS]
        names += list(self.colour_names)
        if self.astrometry:
            names += ["log_dist", "log_pm", "log_Lx", "log_LG", "plx_snr"]
        if self.flags:
            names += [f"flag_{f}" for f in CSC_FLAGS]
        if self.cross_mission_variability:
            names += list(CROSS_MISSION_FEATURES)
        return names


def good_distance(table: pd.DataFrame) -> pd.Series:
    """Bailer-Jones ``rgeo`` (pc) where the parallax is positive with S/N >= 2, else NaN."""
    plx = table["Plx"].astype(float)
    eplx = table["e_Plx"].astype(float)
    ok = (plx > 0) & (plx / eplx >= 2)
    return table["rgeo"].astype(float).where(ok)


def cross_mission_features(table: pd.DataFrame) -> dict[str, np.ndarray]:
    """Features of the long-term variability across missions.

    Parameters
    ----------
    table : pandas.DataFrame
        ``var_ratio`` (highest / lowest common-band flux of the source's object, >= 1;
        NaN: seen once or not associated), ``var_sigma`` (its significance; NaN when a
        flux had no error) and, optionally, ``var_is_lower_limit`` (the lowest flux is an
        upper limit; NaN or absent: unknown).

    Returns
    -------
    dict
        ``log_xvar_ratio`` = log10 ``var_ratio`` (NaN where the ratio is missing or not a
        number >= 1), ``xvar_sigma`` (NaN where the ratio is missing), ``xvar_lower_limit``
        1.0/0.0 (NaN where the ratio is missing or the flag unknown). A lower limit keeps
        its value: the true ratio and significance are at least that large, and the flag
        tells the model so. Nothing becomes zero for lack of a measurement.
    """
    ratio = table["var_ratio"].astype(float).to_numpy()
    sigma = table["var_sigma"].astype(float).to_numpy()
    has = np.isfinite(ratio) & (ratio >= 1.0)
    if "var_is_lower_limit" in table:
        flag = pd.to_numeric(table["var_is_lower_limit"].astype(object), errors="coerce")
        flag = flag.astype(float).to_numpy()
    else:
        flag = np.full(len(table), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "log_xvar_ratio": np.where(has, np.log10(np.where(has, ratio, 1.0)), np.nan),
            "xvar_sigma": np.where(has, sigma, np.nan),
            "xvar_lower_limit": np.where(has & np.isfinite(flag), (flag > 0).astype(float),
                                         np.nan),
        }


def compute_features(table: pd.DataFrame, options: FeatureOptions = FeatureOptions()) -> pd.DataFrame:
    """Compute the MUWCLASS feature table.

    Parameters
    ----------
    table : pandas.DataFrame
        Measurements: ``Fs``, ``Fm``, ``Fh`` (erg cm^-2 s^-1), magnitude columns of
        :data:`MW_BANDS` (NaN = no counterpart), and when the options ask for them
        ``P_intra``, ``P_inter``; ``Plx``, ``e_Plx``, ``PM``, ``rgeo``; ``CSCv2_flags``;
        :data:`CROSS_MISSION_COLUMNS`.
    options : FeatureOptions
        Feature groups to include.

    Returns
    -------
    pandas.DataFrame
        One row per input row, columns :meth:`FeatureOptions.feature_names`; NaN marks a
        missing value.
    """
    fs, fm, fh = (table[f"F{b}"].astype(float).to_numpy() for b in MUWCLASS_BANDS)
    fb = fs + fm + fh
    with np.errstate(divide="ignore", invalid="ignore"):
        log_fb = np.where(fb > 0, np.log10(fb), np.nan)

        def log_ratio(flux: np.ndarray) -> np.ndarray:
            return np.where((flux > 0) & (fb > 0), np.log10(flux / fb), np.nan)

        out: dict[str, np.ndarray] = {
            "Fs": log_ratio(fs),
            "Fm": log_ratio(fm),
            "Fh": log_ratio(fh),
            "Fb": log_fb,
        }
        out.update(hardness_ratios(fs, fm, fh))
        if options.variability:
            out["P_intra"] = table["P_intra"].astype(float).to_numpy()
            out["P_inter"] = table["P_inter"].astype(float).to_numpy()
        mags = mask_survey_limits(table[list(MAG_COLUMNS)])
        for band in FLUX_BANDS:
            out[f"F_{band}"] = log_ratio(mag_to_flux(mags[band].to_numpy(), band))
        cols = colours(mags, options.colour_names)
        for name in options.colour_names:
            out[name] = cols[name].to_numpy()
        if options.astrometry:
            dist_pc = good_distance(table).to_numpy()
            four_pi_d2 = 4 * np.pi * (dist_pc * PC_CM) ** 2
            out["log_dist"] = np.log10(dist_pc)
            pm = table["PM"].astype(float).to_numpy()
            out["log_pm"] = np.where(pm > 0, np.log10(pm), np.nan)
            out["log_Lx"] = np.log10(fb * four_pi_d2)
            fg = mag_to_flux(mags["Gmag"].to_numpy(), "Gmag")
            out["log_LG"] = np.log10(fg * four_pi_d2)
            # parallax significance: ~0 for extragalactic sources, large for nearby stars
            out["plx_snr"] = (table["Plx"].astype(float) / table["e_Plx"].astype(float)).to_numpy()
        if options.flags:
            # parse each distinct flag string once: Monte Carlo tables repeat them
            codes, uniques = pd.factorize(table["CSCv2_flags"].fillna("").astype(str))
            parts = [set(u.split("|")) for u in uniques]
            for flag in CSC_FLAGS:
                has = np.array([flag in p for p in parts] + [False], dtype=float)
                out[f"flag_{flag}"] = has[codes]
        if options.cross_mission_variability:
            out.update(cross_mission_features(table))
    frame = pd.DataFrame(out, index=table.index)
    return frame[options.feature_names()]
