"""The optical/infrared surveys livecat looks for X-ray counterparts in: shared vocabulary.

One :class:`Survey` per survey table, keyed in :data:`SURVEYS` by the catalog key the
``mw_source`` rows carry: ``gaia_dr3``, ``gaia_dr3_dist``, ``2mass``, ``allwise``,
``catwise2020``. Each says where the table lives (VizieR id, CDS XMatch name), which
native columns hold the identifier, the position and its epoch, the 1-sigma error ellipse,
the proper motion, parallax, magnitudes and distances, and how they convert to the survey
contract of :mod:`ingest.normalized` (``SURVEY_SOURCE_COLUMNS``).

Column names are the VizieR labels as astroquery's VizieR interface returns them (the
``../shared/samples/mw/`` files, where each carries a ``_<suffix>`` suffix). Other
spellings of the same column (the ReadMe labels that CDS XMatch and TAPVizieR return, the
column ids astroquery uses where a VizieR label is ambiguous) are listed in
``Survey.aliases`` and renamed to these by :func:`canonical_columns`.

Sources, and what was verified
------------------------------
* Samples: ``mw/NGC3532_<suffix>.csv`` (astroquery VizieR answers for 373 CSC sources of
  NGC 3532). Units were checked against the values: Gaia ``e_RA_ICRS`` ~0.08 (mas);
  CatWISE ``pmRA`` ~ -0.01 is arcsec/yr (x1000 agrees with Gaia DR3 ``pmRA`` of the same
  stars to a median 2-3 mas/yr, while the cluster moves at -10 mas/yr); CatWISE
  ``W1mproPM``/``W2mproPM`` minus AllWISE ``W1mag``/``W2mag`` of the same stars is -0.03
  mag (median), so both are Vega magnitudes (AB would differ by 2.7/3.3 mag); AllWISE
  ``pmRA`` ~ +-40 with ``e_pmRA`` ~40 is mas/yr; AllWISE's ``eeMaj/eeMin/eePA`` agree with
  the ellipse built from its ``e_RA_pm/e_DE_pm/cosig_pm`` (negative co-sigma -> PA 135),
  which fixes the co-sigma convention used for CatWISE below.
* 2MASS PSC column descriptions (IRSA Gator, fp_psc): ``err_maj``/``err_min`` "major/minor
  axis of 1-sigma error ellipse" (arcsec), ``err_ang`` "angle of error ellipse major axis
  (E of N)"; Skrutskie et al. 2006, AJ 131, 1163 (2006AJ....131.1163S). VizieR II/246
  (2003yCat.2246....0C) labels them ``errMaj/errMin/errPA``; ``Date`` is the observation
  date and ``JD`` its Julian date (astroquery names that column ``_tab1_36``).
* CDS XMatch views, from astroquery's recorded XMatch answer
  (``astroquery/xmatch/tests/data/query_res.csv``, II/246/out: ``2MASS, RAJ2000, DEJ2000,
  errHalfMaj, errHalfMin, errPosAng, Jmag, Hmag, Kmag, e_Jmag, e_Hmag, e_Kmag, Qfl, Rfl,
  X, MeasureJD``). For I/355/gaiadr3, II/328/allwise and II/365/catwise the XMatch column
  names (``RAdeg, DEdeg, e_RAdeg, e_DEdeg, Source, Plx, pmRA, Gmag, e_Gmag`` ...;
  ``AllWISE, RAJ2000, eeMaj`` ...; ``objID, RAdeg, DEdeg, Name, MJD, RAPMdeg, e_RAPMdeg,
  ePosPM, W1mproPM, abfl`` ...) come from published code using the service (not from a
  recording): treated as aliases, not verified against a live answer.
* Gaia DR3: VizieR I/355 (Gaia Collaboration, Vallenari et al. 2023, A&A 674, A1,
  2023A&A...674A...1G): positions ``RA_ICRS/DE_ICRS`` at Ep=2016.0, ``e_RA_ICRS`` is
  sigma(RA*cos Dec) in mas, ``RADEcor`` their correlation; ``pmRA`` includes cos(Dec).
* Bailer-Jones et al. 2021, AJ 161, 147 (2021AJ....161..147B), VizieR I/352/gedr3dis:
  ``rgeo`` median geometric distance, ``b_rgeo``/``B_rgeo`` its 16th/84th percentiles (pc).
* AllWISE: Cutri et al. 2013 (Explanatory Supplement; VizieR II/328, 2013yCat.2328....0C):
  positions are means over the 2010-2011 observations; the motion fit (``RA_pm``...) is
  referenced to MJD 55400.0 (2010.56), the epoch used here for the mean positions too (the
  per-source mean epoch, IRSA's ``w1mjdmean``, is not in VizieR: the true mean epoch of a
  source can differ by a few months). ``qph`` 'U' marks a 95 % upper limit.
* CatWISE2020: Marocco et al. 2021, ApJS 253, 8 (2021ApJS..253....8M), VizieR II/365; the
  IRSA CatWISE2020 README. ``RAPMdeg/DEPMdeg`` are the motion-fit positions at MJD
  57170.0 (2015.4); ``RA_ICRS/DE_ICRS`` the stationary fit at the source's mean epoch
  (``MJD``). The motion-fit position is used: its epoch is one fixed date for every
  source, it is unbiased for moving stars (the stationary fit averages a moving star over
  eight years), and with ``pmRA/pmDE`` it propagates correctly to an X-ray epoch. The
  stationary position is the fallback for a row without a motion fit.
  The MJD 57170.0 epoch is from the CatWISE2020 documentation as summarised above; the
  VizieR II/365 ReadMe itself was not read (not in the search index).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Epoch:
    """The epoch of a survey's positions.

    Attributes
    ----------
    year : float or None
        A fixed epoch (Julian year) for every row, or the fallback when ``column`` is
        empty.
    column : str or None
        Per-row epoch column; converted with ``fmt``.
    fmt : {"jd", "mjd", "date"} or None
        ``jd``/``mjd``: (modified) Julian date; ``date``: ISO date ``YYYY-MM-DD``.
    fallback_column, fallback_fmt : str or None
        Second choice when ``column`` is absent or empty in a row.
    note : str
    """

    year: float | None = None
    column: str | None = None
    fmt: str | None = None
    fallback_column: str | None = None
    fallback_fmt: str | None = None
    note: str = ""


@dataclass(frozen=True)
class PositionError:
    """How to build a survey's 1-sigma position error ellipse (arcsec, PA east of north).

    Attributes
    ----------
    kind : {"ellipse", "radec"}
        ``ellipse``: ``columns`` = (semi-major, semi-minor, PA deg E of N);
        ``radec``: ``columns`` = (sigma of RA*cos(Dec), sigma of Dec, correlation or
        ``None``).
    columns : tuple of str
    to_arcsec : float
        Unit factor of the axis columns to arcsec (Gaia: mas -> 1e-3).
    correlation : {"coefficient", "cosigma", None}
        ``coefficient``: a correlation coefficient in [-1, 1] (Gaia ``RADEcor``);
        ``cosigma``: the WISE "co-sigma" ``sign(cov) * sqrt(|cov|)`` in the axis unit
        (AllWISE ``cosig_pm``, CatWISE ``ePosPM``/``ePos``).
    one_sigma : bool
        Whether the published values are 1-sigma (all here are).
    """

    kind: str
    columns: tuple
    to_arcsec: float = 1.0
    correlation: str | None = None
    one_sigma: bool = True


@dataclass(frozen=True)
class Survey:
    """One survey table.

    Attributes
    ----------
    key : str
        livecat catalog key (``mw_source.catalog``).
    title, reference : str
        Human title and reference bibcode.
    vizier : str
        VizieR table id (``I/355/gaiadr3``).
    xmatch : str
        CDS XMatch table name (``vizier:I/355/gaiadr3``).
    suffix : str or None
        Column suffix in the ``mw/`` samples (``Gmag_gaia``).
    id_column : str
        Native identifier (contract ``native_id``).
    id_pattern : str or None
        Regular expression a valid identifier matches (catches ids rounded through a
        float, e.g. a Gaia source id written as ``5.3386549660947e+18``).
    name_column : str or None
        Published designation column; ``name_prefix`` + id when None or empty.
    name_prefix : str
    ra_column, dec_column : str
        Position (deg, ICRS) at ``epoch``.
    fallback_position : tuple or None
        ``(ra, dec, Epoch, PositionError)`` used in rows where ``ra_column`` is empty
        (CatWISE2020: the stationary fit where there is no motion fit).
    epoch : Epoch
    error : PositionError or None
    pm : tuple or None
        ``(pmra, pmdec, e_pmra, e_pmdec)`` columns; ``pmra`` includes cos(Dec).
    pm_to_mas_yr : float
        Unit factor of the proper-motion columns to mas/yr.
    plx : tuple or None
        ``(plx, e_plx)`` in mas.
    mags : tuple of (contract, column, error column)
        Magnitudes, mapped to :data:`ingest.normalized.SURVEY_MAG_COLUMNS`.
    upper_limit_flag : tuple or None
        ``(flag column, letter, {contract mag: character index})``: the magnitude is an
        upper limit (not a measurement) where that character of the flag is ``letter``.
    distances : tuple of (contract, column)
        ``rgeo``/``rgeo_lo``/``rgeo_hi`` columns (pc).
    extra_columns : tuple of str
        Native columns kept in ``extra``.
    text_columns : tuple of str
        Those of them kept as text even when they read as numbers (flag codes such as
        2MASS ``Ndet`` "060606", identifiers).
    aliases : tuple of (canonical, (other spellings...))
    signature : tuple of str
        Columns whose joint presence identifies a table of this survey.
    required : tuple of str
        Columns without which a table cannot be read as this survey.
    associate : bool
        Whether its sources are associated with X-ray sources by position (False for
        ``gaia_dr3_dist``, joined to Gaia DR3 by ``join_key``).
    join_key : tuple or None
        ``(survey key, column)`` the table is joined on.
    """

    key: str
    title: str
    reference: str
    vizier: str
    xmatch: str
    suffix: str | None
    id_column: str
    name_column: str | None
    name_prefix: str
    ra_column: str
    dec_column: str
    epoch: Epoch
    error: PositionError | None
    id_pattern: str | None = None
    fallback_position: tuple | None = None
    pm: tuple | None = None
    pm_to_mas_yr: float = 1.0
    plx: tuple | None = None
    mags: tuple = ()
    upper_limit_flag: tuple | None = None
    distances: tuple = ()
    extra_columns: tuple = ()
    text_columns: tuple = ()
    aliases: tuple = ()
    signature: tuple = ()
    required: tuple = ()
    associate: bool = True
    join_key: tuple | None = None

    def alias_map(self) -> dict[str, str]:
        """Other spelling -> canonical column name."""
        return {other: canon for canon, others in self.aliases for other in others}

    def known_columns(self) -> set[str]:
        """Every canonical column this survey reads (identifier, position, errors, ...)."""
        cols = {self.id_column, self.ra_column, self.dec_column, *self.extra_columns}
        for c in (self.name_column, self.epoch.column, self.epoch.fallback_column):
            if c:
                cols.add(c)
        if self.error:
            cols.update(c for c in self.error.columns if c)
        if self.fallback_position:
            ra, dec, ep, err = self.fallback_position
            cols.update([ra, dec, *(c for c in (ep.column, ep.fallback_column) if c),
                         *(c for c in err.columns if c)])
        for group in (self.pm, self.plx):
            if group:
                cols.update(group)
        for _, col, ecol in self.mags:
            cols.update([col, ecol])
        cols.update(col for _, col in self.distances)
        if self.upper_limit_flag:
            cols.add(self.upper_limit_flag[0])
        return cols


def mjd_to_year(mjd):
    """Julian year of a modified Julian date (MJD 51544.5 = J2000.0)."""
    return 2000.0 + (np.asarray(mjd, dtype=float) - 51544.5) / 365.25


#: AllWISE motion-fit reference epoch, MJD 55400.0 (Cutri et al. 2013).
ALLWISE_EPOCH = float(mjd_to_year(55400.0))
#: CatWISE2020 motion-fit reference epoch, MJD 57170.0 (Marocco et al. 2021).
CATWISE_PM_EPOCH = float(mjd_to_year(57170.0))

_GAIA_MAGS = (("gmag", "Gmag", "e_Gmag"), ("bpmag", "BPmag", "e_BPmag"),
              ("rpmag", "RPmag", "e_RPmag"))

GAIA_DR3 = Survey(
    key="gaia_dr3", title="Gaia DR3 (VizieR I/355/gaiadr3)",
    reference="2023A&A...674A...1G", vizier="I/355/gaiadr3",
    xmatch="vizier:I/355/gaiadr3", suffix="gaia",
    id_column="Source", id_pattern=r"^\d{1,20}$",
    name_column="DR3Name", name_prefix="Gaia DR3 ",
    ra_column="RA_ICRS", dec_column="DE_ICRS",
    epoch=Epoch(year=2016.0, note="Gaia DR3 reference epoch J2016.0 (TCB)"),
    error=PositionError("radec", ("e_RA_ICRS", "e_DE_ICRS", "RADEcor"), to_arcsec=1e-3,
                        correlation="coefficient"),
    pm=("pmRA", "pmDE", "e_pmRA", "e_pmDE"), pm_to_mas_yr=1.0,
    plx=("Plx", "e_Plx"), mags=_GAIA_MAGS,
    extra_columns=("e_RA_ICRS", "e_DE_ICRS", "RADEcor", "PM", "RUWE", "Solved", "Dup",
                   "NSS", "VarFlag", "BP-RP", "E(BP/RP)", "PQSO", "PGal", "PSS", "Teff",
                   "logg", "Dist", "b_Dist", "B_Dist", "AG", "RV", "e_RV", "epsi",
                   "sepsi"),
    text_columns=("VarFlag",),
    aliases=(("RA_ICRS", ("RAdeg",)), ("DE_ICRS", ("DEdeg",)),
             ("e_RA_ICRS", ("e_RAdeg",)), ("e_DE_ICRS", ("e_DEdeg",)),
             ("Source", ("source_id",)), ("E(BP/RP)", ("E_BP_RP_",)),
             ("BP-RP", ("BP_RP",))),
    signature=("Source", "RA_ICRS", "DE_ICRS", "Gmag"),
    required=("Source", "RA_ICRS", "DE_ICRS"),
)

GAIA_DR3_DIST = Survey(
    key="gaia_dr3_dist",
    title="Bailer-Jones et al. 2021 distances to Gaia (E)DR3 sources (VizieR I/352/gedr3dis)",
    reference="2021AJ....161..147B", vizier="I/352/gedr3dis",
    xmatch="vizier:I/352/gedr3dis", suffix=None,
    id_column="Source", id_pattern=r"^\d{1,20}$",
    name_column=None, name_prefix="Gaia DR3 ",
    ra_column="RA_ICRS", dec_column="DE_ICRS",
    # the table repeats the Gaia EDR3 positions, identical to DR3's, at J2016.0
    epoch=Epoch(year=2016.0, note="Gaia EDR3 positions, J2016.0"),
    error=None,
    distances=(("rgeo", "rgeo"), ("rgeo_lo", "b_rgeo"), ("rgeo_hi", "B_rgeo")),
    extra_columns=("rpgeo", "b_rpgeo", "B_rpgeo", "Flag"),
    text_columns=("Flag",),  # a digit code ("10033"), not a number
    # not verified: XMatch's spelling of this table's positions (assumed as Gaia's)
    aliases=(("RA_ICRS", ("RAdeg",)), ("DE_ICRS", ("DEdeg",)),
             ("Source", ("source_id",)), ("rgeo", ("r_med_geo",)),
             ("b_rgeo", ("r_lo_geo",)), ("B_rgeo", ("r_hi_geo",))),
    signature=("Source", "rgeo"),
    required=("Source", "RA_ICRS", "DE_ICRS", "rgeo"),
    associate=False, join_key=("gaia_dr3", "Source"),
)

TWOMASS = Survey(
    key="2mass", title="2MASS All-Sky Point Source Catalog (VizieR II/246/out)",
    reference="2006AJ....131.1163S", vizier="II/246/out", xmatch="vizier:II/246/out",
    suffix="2mass", id_column="_2MASS", id_pattern=r"^\d{8}[+-]\d{7}[A-Z]?$",
    name_column=None, name_prefix="2MASS J",
    ra_column="RAJ2000", dec_column="DEJ2000",
    epoch=Epoch(column="JD", fmt="jd", fallback_column="Date", fallback_fmt="date",
                note="each 2MASS position is one observation: JD (else Date) of it"),
    error=PositionError("ellipse", ("errMaj", "errMin", "errPA")),
    mags=(("jmag", "Jmag", "e_Jmag"), ("hmag", "Hmag", "e_Hmag"), ("kmag", "Kmag", "e_Kmag")),
    # Qflg 'U': "upper limit on magnitude" (2MASS Explanatory Supplement, ph_qual)
    upper_limit_flag=("Qflg", "U", {"jmag": 0, "hmag": 1, "kmag": 2}),
    extra_columns=("Qflg", "Rflg", "Bflg", "Cflg", "Xflg", "Aflg", "Ndet", "prox", "Date",
                   "JD", "Cntr"),
    text_columns=("Qflg", "Rflg", "Bflg", "Cflg", "Ndet", "Date", "Cntr"),
    aliases=(("_2MASS", ("2MASS",)), ("errMaj", ("errHalfMaj",)),
             ("errMin", ("errHalfMin",)), ("errPA", ("errPosAng",)),
             ("Qflg", ("Qfl",)), ("Rflg", ("Rfl",)), ("JD", ("MeasureJD", "_tab1_36")),
             # XMatch's "X" (values 0/2 in astroquery's recording) read as Xflg: assumed
             ("Xflg", ("X",))),
    signature=("_2MASS", "Jmag", "Kmag"),
    required=("_2MASS", "RAJ2000", "DEJ2000"),
)

ALLWISE = Survey(
    key="allwise", title="AllWISE Source Catalog (VizieR II/328/allwise)",
    reference="2013yCat.2328....0C", vizier="II/328/allwise", xmatch="vizier:II/328/allwise",
    suffix="allwise", id_column="AllWISE", id_pattern=r"^J\d{6}\.\d{2}[+-]\d{6}\.\d$",
    name_column=None, name_prefix="WISEA ",
    ra_column="RAJ2000", dec_column="DEJ2000",
    epoch=Epoch(year=ALLWISE_EPOCH,
                note="mean of 2010-2011 observations; MJD 55400.0 (motion-fit epoch)"),
    error=PositionError("ellipse", ("eeMaj", "eeMin", "eePA")),
    mags=(("w1mag", "W1mag", "e_W1mag"), ("w2mag", "W2mag", "e_W2mag"),
          ("w3mag", "W3mag", "e_W3mag"), ("w4mag", "W4mag", "e_W4mag")),
    # qph 'U': "upper limit: the magnitude is a 95% confidence brightness upper limit"
    upper_limit_flag=("qph", "U", {"w1mag": 0, "w2mag": 1, "w3mag": 2, "w4mag": 3}),
    # AllWISE's apparent motions (pmRA, mas/yr) stay in extra: they refer to the
    # motion-fit positions RA_pm/DE_pm, not to the mean positions used here.
    extra_columns=("ccf", "ex", "var", "qph", "nb", "na", "pmRA", "e_pmRA", "pmDE",
                   "e_pmDE", "RA_pm", "e_RA_pm", "DE_pm", "e_DE_pm", "cosig_pm", "d2M",
                   "Jmag", "e_Jmag", "Hmag", "e_Hmag", "Kmag", "e_Kmag"),
    text_columns=("ccf", "var", "qph"),
    aliases=(),
    signature=("AllWISE", "W1mag"),
    required=("AllWISE", "RAJ2000", "DEJ2000"),
)

_CATWISE_STATIONARY = (
    "RA_ICRS", "DE_ICRS",
    Epoch(column="MJD", fmt="mjd", note="stationary fit at the mean observation MJD"),
    PositionError("radec", ("e_RA_ICRS", "e_DE_ICRS", "ePos"), correlation="cosigma"))

CATWISE2020 = Survey(
    key="catwise2020", title="CatWISE2020 Catalog (VizieR II/365/catwise)",
    reference="2021ApJS..253....8M", vizier="II/365/catwise", xmatch="vizier:II/365/catwise",
    suffix="catwise", id_column="objID", id_pattern=r"^\d{4}[mp]\d{3}_\w+-\d+$",
    name_column="Name", name_prefix="CWISE ",
    ra_column="RAPMdeg", dec_column="DEPMdeg",
    epoch=Epoch(year=CATWISE_PM_EPOCH, note="motion-fit position at MJD 57170.0"),
    error=PositionError("radec", ("e_RAPMdeg", "e_DEPMdeg", "ePosPM"), correlation="cosigma"),
    fallback_position=_CATWISE_STATIONARY,
    pm=("pmRA", "pmDE", "e_pmRA", "e_pmDE"), pm_to_mas_yr=1000.0,  # arcsec/yr on VizieR
    mags=(("w1mag", "W1mproPM", "e_W1mproPM"), ("w2mag", "W2mproPM", "e_W2mproPM")),
    extra_columns=("Name", "RA_ICRS", "DE_ICRS", "e_RA_ICRS", "e_DE_ICRS", "ePos", "MJD",
                   "e_RAPMdeg", "e_DEPMdeg", "ePosPM", "pmQual", "ccf", "abf", "snrW1pm",
                   "snrW2pm", "plx1", "e_plx1", "plx2", "e_plx2", "Dist", "nW1", "mW1",
                   "nW2", "mW2"),
    text_columns=("Name", "pmQual", "ccf", "abf"),
    aliases=(("RA_ICRS", ("RAdeg",)), ("DE_ICRS", ("DEdeg",)),
             ("e_RA_ICRS", ("e_RAdeg",)), ("e_DE_ICRS", ("e_DEdeg",)),
             ("MJD", ("_tab1_20",)), ("abf", ("abfl",))),
    signature=("objID", "W1mproPM"),
    required=("objID",),  # plus a position: the motion fit or the stationary one
)

#: The surveys by catalog key.
SURVEYS: dict[str, Survey] = {s.key: s for s in (GAIA_DR3, GAIA_DR3_DIST, TWOMASS, ALLWISE,
                                                 CATWISE2020)}

#: MUWCLASS training-set (``TD_train.csv``, Yang et al. 2022, ApJ 941, 104) columns ->
#: (survey key, contract column). ``pm`` is not a contract column: it is the total proper
#: motion ``hypot(pmra, pmdec)`` of the Gaia DR3 source (VizieR ``PM``, kept in ``extra``).
#: W1-W3 are AllWISE's (the only survey here with W3; whether MUWCLASS took W1/W2 from
#: CatWISE2020 where both exist was not verified).
TRAINING_SET_COLUMNS: dict[str, tuple[str, str]] = {
    "Gmag": ("gaia_dr3", "gmag"), "e_Gmag": ("gaia_dr3", "e_gmag"),
    "BPmag": ("gaia_dr3", "bpmag"), "e_BPmag": ("gaia_dr3", "e_bpmag"),
    "RPmag": ("gaia_dr3", "rpmag"), "e_RPmag": ("gaia_dr3", "e_rpmag"),
    "Jmag": ("2mass", "jmag"), "e_Jmag": ("2mass", "e_jmag"),
    "Hmag": ("2mass", "hmag"), "e_Hmag": ("2mass", "e_hmag"),
    "Kmag": ("2mass", "kmag"), "e_Kmag": ("2mass", "e_kmag"),
    "W1mag": ("allwise", "w1mag"), "e_W1mag": ("allwise", "e_w1mag"),
    "W2mag": ("allwise", "w2mag"), "e_W2mag": ("allwise", "e_w2mag"),
    "W3mag": ("allwise", "w3mag"), "e_W3mag": ("allwise", "e_w3mag"),
    "Plx": ("gaia_dr3", "plx"), "e_Plx": ("gaia_dr3", "e_plx"),
    "PM": ("gaia_dr3", "pm"),
    "rgeo": ("gaia_dr3_dist", "rgeo"), "b_rgeo": ("gaia_dr3_dist", "rgeo_lo"),
    "B_rgeo": ("gaia_dr3_dist", "rgeo_hi"),
}


def get_survey(key: str) -> Survey:
    """The survey of catalog key ``key``.

    Raises
    ------
    catalog.errors.InputError
        Unknown key (the message lists the known ones).
    """
    from catalog.errors import InputError

    try:
        return SURVEYS[key]
    except KeyError:
        raise InputError(f"unknown survey {key!r}; expected one of "
                         f"{', '.join(SURVEYS)}") from None


def canonical_columns(columns, survey: Survey) -> dict[str, str]:
    """Renames that turn other spellings of ``survey``'s columns into its canonical ones.

    A spelling is renamed only when the canonical column is not present already.

    Returns
    -------
    dict
        Present column -> canonical name.
    """
    present = set(columns)
    out = {}
    for other, canon in survey.alias_map().items():
        if other in present and canon not in present and canon not in out.values():
            out[other] = canon
    return out


def ellipse_from_radec(sig_ra, sig_dec, corr=None):
    """1-sigma error ellipse from the errors along RA*cos(Dec) and Dec and their correlation.

    The covariance in the tangent plane (x east, y north) is
    ``[[s_a**2, r s_a s_d], [r s_a s_d, s_d**2]]``; its eigenvalues are the squared axes
    and the major axis's angle from north towards east is the position angle.

    Parameters
    ----------
    sig_ra, sig_dec : array_like
        Standard errors (any one unit; the axes come out in it).
    corr : array_like, optional
        Correlation coefficient (NaN or None = 0).

    Returns
    -------
    major, minor, pa_deg : numpy.ndarray
        Semi-axes and position angle in [0, 180) degrees east of north.
    """
    sa = np.asarray(sig_ra, dtype=float)
    sd = np.asarray(sig_dec, dtype=float)
    r = np.zeros_like(sa) if corr is None else np.nan_to_num(np.asarray(corr, dtype=float))
    cxx, cyy, cxy = sa ** 2, sd ** 2, r * sa * sd
    mean = (cxx + cyy) / 2.0
    half = np.sqrt(((cxx - cyy) / 2.0) ** 2 + cxy ** 2)
    major = np.sqrt(mean + half)
    minor = np.sqrt(np.clip(mean - half, 0.0, None))
    theta = 0.5 * np.degrees(np.arctan2(2.0 * cxy, cxx - cyy))  # from east towards north
    pa = np.mod(90.0 - theta, 180.0)
    return major, minor, pa


def cosigma_to_correlation(sig_ra, sig_dec, cosigma):
    """Correlation coefficient from the WISE co-sigma ``sign(cov) * sqrt(|cov|)``.

    AllWISE/CatWISE publish ``sigradec`` (VizieR ``cosig_pm``, ``ePosPM``, ``ePos``) in
    the unit of the sigmas: ``cov = sign(c) * c**2``.
    """
    c = np.asarray(cosigma, dtype=float)
    sa = np.asarray(sig_ra, dtype=float)
    sd = np.asarray(sig_dec, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.clip(np.sign(c) * c ** 2 / (sa * sd), -1.0, 1.0)
