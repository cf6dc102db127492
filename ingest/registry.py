"""The one list of catalogs livecat ingests: one :class:`~ingest.spec.CatalogSpec` each.

Every list of catalogs reads :data:`REGISTRY`: the ``livecat ingest`` commands, the
nightly job's defaults, ``livecat ingest list``, and the names a class table may not
take. Adding a catalog is one module (its parse and normalize stages) and one entry here.

Where each X-ray release comes from (remote mode)
-------------------------------------------------
``csc``
    The CXC CSC 2.1 TAP service (``csc21.master_source``), fetched in resumable RA/Dec
    tiles by :func:`ingest.csc_fetch.fetch_tiles`, with HEASARC's ``csc`` table (CSC
    2.1.1) as fallback. Release default ``2.1``.
``xmm``
    The XMM SSC slim (unique-source) FITS catalogue by release name, downloaded over HTTP
    from the HEASARC FTP area (conditional requests: an unchanged file is a 304 and the
    ingest is skipped), e.g.
    https://heasarc.gsfc.nasa.gov/FTP/xmm/data/catalogues/4XMM_DR14cat_slim_v1.0.fits.gz
    (the URL used for 4XMM-DR14 by published analysis code; the XMM SSC catalogue pages,
    http://xmmssc.irap.omp.eu/Catalogue/4XMM-DR10/4XMM_DR10.html, distribute the same
    FITS files; DR13 follows the same file-name pattern). ``5XMM-DR15`` has no slim file
    URL here: it is read from HEASARC's TAP table ``xmmssc`` (which serves 5XMM-DR15,
    https://heasarc.gsfc.nasa.gov/w3browse/all/xmmssc.html) in the same tiles as CSC.
    Release default ``4XMM-DR14``.
``erass1``
    eROSITA-DE DR1 Main catalogue (0.2-2.3 keV), Merloni et al. 2024, A&A 682, A34:
    https://erosita.mpe.mpg.de/dr1/AllSkySurveyData_dr1/Catalogues_dr1/MerloniA_DR1/eRASS1_Main.tar.gz
    (a tar archive holding ``eRASS1_Main.v1.1.fits``). DR2 (eRASS:3) has no URL here:
    use ``--file``.
``2sxps`` / ``lsxps``
    Swift-XRT 2SXPS (Evans et al. 2020, https://www.swift.ac.uk/2SXPS/docs.php) and LSXPS
    (https://www.swift.ac.uk/LSXPS/docs.php). **Two catalog keys**: the two catalogues
    number their sources independently, so the same number in both is not the same source.
    No static download URL was verified (LSXPS is served through the ``swifttools`` API,
    which is not a dependency): set ``LIVECAT_2SXPS_URL`` / ``LIVECAT_LSXPS_URL`` to the
    source-table URL (CSV or FITS, optionally gzipped), or use ``--file``/``--mirror``.
"""

from __future__ import annotations

import os
from functools import partial

from catalog.errors import InputError
from ingest import atnf, ipcat, muwclass
from ingest.fetch import fetch
from catalog.surveys import SURVEYS
from ingest.spec import CatalogSpec, Fetched
from ingest.survey_fetch import fetch_survey, read_survey
from ingest.xray import XrayHome, fetch_xray, read_xray

#: XMM slim-catalogue URLs by release (HTTP download).
XMM_SLIM_URLS = {
    "4XMM-DR13": "https://heasarc.gsfc.nasa.gov/FTP/xmm/data/catalogues/"
                 "4XMM_DR13cat_slim_v1.0.fits.gz",
    "4XMM-DR14": "https://heasarc.gsfc.nasa.gov/FTP/xmm/data/catalogues/"
                 "4XMM_DR14cat_slim_v1.0.fits.gz",
}
#: eROSITA-DE catalogue archives by release.
ERASS_URLS = {
    "DR1": "https://erosita.mpe.mpg.de/dr1/AllSkySurveyData_dr1/Catalogues_dr1/MerloniA_DR1/"
           "eRASS1_Main.tar.gz",
}
#: Environment variables naming the Swift source-table URLs.
SXPS_URL_ENV = {"2sxps": "LIVECAT_2SXPS_URL", "lsxps": "LIVECAT_LSXPS_URL"}


def _csc_tables(release: str):
    from ingest.csc_fetch import CXC_MASTER, HEASARC_CSC

    return (CXC_MASTER, HEASARC_CSC)


def _xmm_tables(release: str):
    if not release.startswith("5XMM"):
        return None
    from ingest.csc_fetch import HEASARC_TAP, CscTable

    return (CscTable(HEASARC_TAP, "xmmssc", (), release=release),)


def _xmm_version(df) -> str | None:
    from ingest.xmm import guess_release

    return guess_release(df)


def _erass_version(df) -> str | None:
    return "DR2" if "UID_DR1" in df.columns else None


def _file_fetch(url_of, args, reporter=None) -> Fetched:
    """The fetch stage of a catalogue that is one file at ``url_of()`` (the catalog module
    owns its URL)."""
    result = fetch(args.url or url_of(), file=args.file, mirror=args.mirror, force=args.force,
                   progress=reporter.download if reporter else None)
    return Fetched(result=result, paths=[result.path])


def _xray(name: str, title: str, default_release: str, home: XrayHome, *, nightly=None,
          version_of=None, examples: str = "") -> CatalogSpec:
    return CatalogSpec(
        name=name, kind="xray", title=title, default_release=default_release,
        home=(home.url_env and f"${home.url_env}") or ", ".join(
            (home.urls or {}).values()) or "TAP", over_tap=home.over_tap,
        fetch=partial(fetch_xray, name, home, default_release),
        read=partial(read_xray, name, home, default_release, version_of=version_of),
        nightly=nightly or (lambda: True),
        examples=examples or (f"livecat ingest {name} ; livecat ingest {name} --file "
                              f"catalogue.fits --release {default_release} ; livecat ingest "
                              f"{name} --region 166.28 -58.85 12arcmin"))


#: Release names of the surveys (VizieR holds one release of each).
SURVEY_RELEASES = {"gaia_dr3": "DR3", "gaia_dr3_dist": "EDR3-BJ2021", "2mass": "PSC",
                   "allwise": "AllWISE", "catwise2020": "CatWISE2020"}


def _survey(key: str) -> CatalogSpec:
    survey = SURVEYS[key]
    return CatalogSpec(
        name=key, kind="survey", title=survey.title, home=f"CDS XMatch {survey.xmatch}",
        default_release=SURVEY_RELEASES.get(key), fetch=partial(fetch_survey, survey),
        read=partial(read_survey, survey),
        examples=f"livecat counterparts fetch {key} --catalog csc (surveys are fetched "
                 "around X-ray sources, never whole)")


def _build() -> dict[str, CatalogSpec]:
    specs = [
        CatalogSpec(
            name=atnf.CATALOG, kind="literature", title="ATNF Pulsar Catalogue (psrcat)",
            home=atnf.PACKAGE_URL, fetch=partial(_file_fetch, lambda: atnf.PACKAGE_URL),
            read=atnf.read_release, whole_catalogue_files=True, nightly=lambda: True,
            examples="livecat ingest atnf ; livecat ingest atnf --file psrcat.db ; "
                     "livecat ingest atnf --mirror /data/mirror  (reads /data/mirror/"
                     "research/pulsar/psrcat/downloads/psrcat_pkg.tar.gz)"),
        CatalogSpec(
            name=ipcat.CATALOG, kind="literature",
            title="K. Mukai's catalogue of intermediate polars (CV/IP)",
            home=ipcat.SOURCE_URL, fetch=partial(_file_fetch, lambda: ipcat.SOURCE_URL),
            read=ipcat.read_release, whole_catalogue_files=True, nightly=lambda: True,
            examples="livecat ingest ipcat ; livecat ingest ipcat --file alpha.html"),
        _xray("csc", "Chandra Source Catalog 2.1 (CXC TAP; HEASARC fallback)", "2.1",
              XrayHome("ingest.csc", tap=_csc_tables, tap_format="csc")),
        _xray("xmm", "XMM-Newton serendipitous source catalogue (slim FITS)", "4XMM-DR14",
              XrayHome("ingest.xmm", urls=XMM_SLIM_URLS, tap=_xmm_tables, tap_format="xmm",
                       label="XMM"),
              version_of=_xmm_version),
        _xray("erass1", "eROSITA-DE eRASS1 Main catalogue (DR1)", "DR1",
              XrayHome("ingest.erass", urls=ERASS_URLS, label="eRASS",
                       normalize_release=lambda r: "DR2" if r.upper().startswith("DR2")
                       else "DR1"),
              version_of=_erass_version),
        _xray("2sxps", "Swift-XRT 2SXPS point sources", "2SXPS",
              XrayHome("ingest.sxps", url_env=SXPS_URL_ENV["2sxps"], id_column="2SXPS_ID",
                       other_catalog="lsxps"),
              nightly=lambda: bool(os.environ.get(SXPS_URL_ENV["2sxps"]))),
        _xray("lsxps", "Swift-XRT LSXPS (live) point sources", "LSXPS",
              XrayHome("ingest.sxps", url_env=SXPS_URL_ENV["lsxps"], id_column="LSXPS_ID",
                       other_catalog="2sxps"),
              nightly=lambda: bool(os.environ.get(SXPS_URL_ENV["lsxps"]))),
        *[_survey(key) for key in SURVEYS],
        CatalogSpec(
            name=muwclass.CATALOG, kind="trainingset",
            title="the published MUWCLASS training set: sources, classes, counterparts",
            home=muwclass.SOURCE_URL, fetch=partial(_file_fetch, lambda: muwclass.SOURCE_URL),
            read=muwclass.read_release, load=muwclass.load_training_set,
            whole_catalogue_files=True, command="muwclass-td",
            examples="livecat ingest muwclass-td ; livecat ingest muwclass-td --file "
                     "../shared/samples/muwclass/TD_train.csv"),
    ]
    return {spec.name: spec for spec in specs}


#: Catalog name -> spec.
REGISTRY: dict[str, CatalogSpec] = _build()

#: Names a catalog brought by a user (``livecat ingest table --catalog``) may not take:
#: the registry's, and the X-ray catalog of the MUWCLASS training set.
RESERVED_NAMES = frozenset(REGISTRY) | {muwclass.XRAY_CATALOG}


def get_spec(name: str) -> CatalogSpec:
    """The spec of catalog ``name``.

    Raises
    ------
    catalog.errors.InputError
        Naming the unknown catalog and listing the known ones.
    """
    try:
        return REGISTRY[name]
    except KeyError:
        raise InputError(f"unknown catalog {name!r}: expected one of "
                         f"{', '.join(REGISTRY)}") from None


def nightly_defaults() -> list[str]:
    """The catalogs the nightly job checks when nothing else is configured."""
    return [name for name, spec in REGISTRY.items() if spec.nightly()]
