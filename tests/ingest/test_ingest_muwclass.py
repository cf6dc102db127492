"""`livecat ingest muwclass-td`: the MUWCLASS training set into sources (catalog
muwclass-csc), fluxes, counterparts and literature objects. The confirmations of its pairs
are a curation action: tests/curation/test_muwclass_import.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from conftest import sample_path
from helpers import invoke
from test_fetch import RecordedServer

from ingest import muwclass
from ingest.pipeline import ingest

REMOTE_PATH = "/huiyang-astro/MUWCLASS_CSCv2/HEAD/files/TD.csv"
MAG_SURVEYS = {"gaia_dr3": ["Gmag", "BPmag", "RPmag", "Plx", "PM", "rgeo"],
               "2mass": ["Jmag", "Hmag", "Kmag"],
               "allwise": ["W1mag", "W2mag", "W3mag"]}


def td_path():
    return sample_path("muwclass", "TD_train.csv")


def td_text_frame() -> pd.DataFrame:
    """The sample as text cells, read independently of the ingest code."""
    return pd.read_csv(td_path(), dtype=str, keep_default_na=False)


def subset_bytes(n: int = 40, edit=None) -> bytes:
    frame = td_text_frame().head(n).copy()
    if edit:
        edit(frame)
    return frame.to_csv(index=False).encode()


def scalar(engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


def counts(engine) -> dict[str, int]:
    tables = ("xray_source", "xray_flux", "literature_object", "mw_counterpart",
              "counterpart_candidate", "curation_event", "candidate_run", "catalog_release")
    return {t: scalar(engine, f"SELECT count(*) FROM livecat.{t}") for t in tables}


@pytest.fixture(autouse=True)
def isolated_home(monkeypatch, tmp_path):
    monkeypatch.setenv("LIVECAT_HOME", str(tmp_path / "home"))
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy",
                 "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


# --------------------------------------------------------------------------------------
# the whole sample
# --------------------------------------------------------------------------------------

@pytest.mark.slow
def test_full_training_set_counts_and_reingest(clean_tables):
    engine = clean_tables
    raw = pd.read_csv(td_path())  # independent reading: pandas' own parser
    result = ingest(engine, "muwclass", file=td_path())
    assert result.status == "succeeded"
    n = len(raw)
    assert (result.xray.n_inserted, result.xray.n_rejected) == (n, 0)

    # classes per the CSV
    expected = raw["True_Class"].value_counts().to_dict()
    with engine.connect() as conn:
        got = dict(conn.execute(sa.text(
            "SELECT livecat_class, count(*) FROM livecat.literature_object "
            "WHERE catalog = 'muwclass' GROUP BY 1")).all())
    assert got == expected
    assert got == {"AGN": 1112, "YSO": 803, "LM-STAR": 165, "HM-STAR": 94, "NS": 70,
                   "LMXB": 52, "CV": 35, "HMXB": 21}

    # X-ray sources: one per CSC name, fluxes per band = non-empty flux cells
    # the training set's sources are a catalog of their own, never rows of a real CSC ingest
    assert scalar(engine, "SELECT count(*) FROM livecat.xray_source "
                          "WHERE catalog = 'muwclass-csc'") == n
    assert scalar(engine, "SELECT count(*) FROM livecat.xray_source WHERE catalog = 'csc'") == 0
    with engine.connect() as conn:
        bands = {r[0]: r[1:] for r in conn.execute(sa.text(
            "SELECT band, count(*), min(band_lo_kev), max(band_hi_kev), "
            "bool_and(kind = 'energy_flux') FROM livecat.xray_flux GROUP BY 1"))}
    assert bands == {"s": (raw["Fs"].notna().sum(), 0.5, 1.2, True),
                     "m": (raw["Fm"].notna().sum(), 1.2, 2.0, True),
                     "h": (raw["Fh"].notna().sum(), 2.0, 7.0, True),
                     "b": (raw["Fb"].notna().sum(), 0.5, 7.0, True)}
    row = raw.iloc[0]
    with engine.connect() as conn:
        lo, val, hi = conn.execute(sa.text(
            "SELECT f.value_lo, f.value, f.value_hi FROM livecat.xray_flux f JOIN "
            "livecat.xray_source x ON x.id = f.source_id WHERE x.native_id = :n "
            "AND f.band = 'h'"), {"n": row["CSCv2_name"]}).one()
    assert (lo, val, hi) == pytest.approx((row["Fh"] - row["e_Fh"], row["Fh"],
                                           row["Fh"] + row["e_Fh"]))

    # counterparts per survey = rows with any value of that survey
    with engine.connect() as conn:
        surveys = dict(conn.execute(sa.text(
            "SELECT survey, count(*) FROM livecat.mw_counterpart "
            "WHERE matched_by = 'muwclass-td' AND is_best GROUP BY 1")).all())
        best = conn.execute(sa.text(
            'SELECT b."Gmag", b."e_Gmag", b."Jmag", b."W3mag", b."rgeo", b."b_rgeo", '
            'b."B_rgeo" FROM livecat.mw_best b JOIN livecat.xray_source x '
            "ON x.id = b.xray_source_id WHERE x.native_id = :n"),
            {"n": raw.iloc[1]["CSCv2_name"]}).one()
    assert surveys == {s: int(raw[cols].notna().any(axis=1).sum())
                       for s, cols in MAG_SURVEYS.items()}
    r1 = raw.iloc[1]
    assert best == pytest.approx((r1["Gmag"], r1["e_Gmag"], r1["Jmag"], r1["W3mag"],
                                  r1["rgeo"], r1["b_rgeo"], r1["B_rgeo"]))

    # same file again: skipped; forced: nothing inserted or updated anywhere
    before = counts(engine)
    again = ingest(engine, "muwclass", file=td_path())
    assert again.status == "skipped"
    forced = ingest(engine, "muwclass", file=td_path(), force=True)
    assert (forced.xray.n_inserted, forced.xray.n_updated, forced.xray.n_unchanged) == (0, 0, n)
    assert (forced.literature.n_inserted, forced.literature.n_updated) == (0, 0)
    assert (forced.mw_inserted, forced.mw_updated, forced.mw_removed) == (0, 0, 0)
    assert counts(engine) == {**before, "catalog_release": before["catalog_release"]}


# --------------------------------------------------------------------------------------
# normalize (pure)
# --------------------------------------------------------------------------------------

def test_normalize_flags_errors_counterparts_and_unlabelled_rows():
    def edit(f):
        f.loc[2, "True_Class"] = ""              # unlabelled
        f["P_intra"] = ["0.5"] * len(f)
        f["P_inter"] = [""] * len(f)
        f.loc[3, "CSCv2_RA"] = "361.0"           # outside the sky
        f.loc[4, "e_Fs"] = "-1e-15"              # negative error
        f.loc[5, "CSCv2_flags"] = "extent|conf"
    td = muwclass.normalize_td(muwclass.parse_td(subset_bytes(10, edit)))
    assert td.xray.n_read == 10 and len(td.xray.sources) == 8
    reasons = dict(zip(td.xray.rejects["row_number"], td.xray.rejects["reason"]))
    assert "position out of range: CSCv2_RA=361.0" in reasons[4]
    assert "negative error: e_Fs" in reasons[5]
    # literature: the labelled rows only; its rejects are the bad labelled rows
    assert td.literature.n_read == 9 and len(td.literature.sources) == 7
    assert len(td.literature.rejects) == 2
    raw = td_text_frame().head(10)
    assert raw.loc[2, "CSCv2_name"] not in set(td.literature.sources["native_id"])
    src = td.xray.sources.set_index("native_id")
    name5 = raw.loc[5, "CSCv2_name"]
    assert src.loc[name5, "flags"] == {"extended": True, "confused": True, "pileup": False}
    assert bool(src.loc[name5, "extended"]) is True
    assert src["var_intra_prob"].eq(0.5).all() and src["var_inter_prob"].isna().all()
    name0 = raw.loc[0, "CSCv2_name"]
    assert src.loc[name0, "pos_err_arcsec"] == pytest.approx(float(raw.loc[0, "CSCv2_PU"])
                                                             / 2.4477, rel=1e-4)
    mw = td.counterparts
    first = mw[mw["native_id"] == name0].set_index("survey")
    assert sorted(first.index) == ["allwise", "gaia_dr3"]  # row 0 has no 2MASS values
    assert first.loc["gaia_dr3", "rgeo_lo"] == float(raw.loc[0, "b_rgeo"])
    assert np.isnan(first.loc["allwise", "gmag"])


# --------------------------------------------------------------------------------------
# the command on small subsets
# --------------------------------------------------------------------------------------

def test_unknown_true_class_is_an_error_and_nothing_is_written(clean_tables, db_url,
                                                               monkeypatch, tmp_path):
    def edit(f):
        f.loc[7, "True_Class"] = "BLAZAR"
    path = tmp_path / "TD.csv"
    path.write_bytes(subset_bytes(20, edit))
    res = invoke(["ingest", "muwclass-td", str(path)], monkeypatch, db_url)
    assert res.exit_code == 1
    name = td_text_frame().loc[7, "CSCv2_name"]
    assert f"Error: unknown True_Class 'BLAZAR' in row 8 ({name}): expected one of AGN, CV, " \
           f"HM-STAR, HMXB, LM-STAR, LMXB, NS, YSO; nothing was written" in res.output
    assert all(v == 0 for v in counts(clean_tables).values())


def test_remote_fetch_then_not_modified(clean_tables, db_url, monkeypatch):
    body = subset_bytes(30)
    with RecordedServer({REMOTE_PATH: (body, '"td-1"')}) as server:
        monkeypatch.setattr(muwclass, "SOURCE_URL", server.base + REMOTE_PATH)
        res = invoke(["ingest", "muwclass-td"], monkeypatch, db_url)
        assert res.exit_code == 0, res.output
        got = counts(clean_tables)
        assert got["xray_source"] == 30 and got["literature_object"] == 30
        assert got["xray_flux"] == 120
        assert scalar(clean_tables, "SELECT origin FROM livecat.catalog_release WHERE "
                      "catalog = 'muwclass'") == server.base + REMOTE_PATH
        again = invoke(["ingest", "muwclass-td"], monkeypatch, db_url)
        assert again.exit_code == 0, again.output
        assert "skipped" in again.output
        assert server.requests[-1][1].get("If-None-Match") == '"td-1"'
    assert counts(clean_tables) == got


def test_import_is_atomic(clean_tables, monkeypatch, tmp_path):
    path = tmp_path / "TD.csv"
    path.write_bytes(subset_bytes(15))

    def broken(*args, **kwargs):
        raise RuntimeError("disk full while writing counterparts")
    monkeypatch.setattr(muwclass, "_load_counterparts", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        ingest(clean_tables, "muwclass", file=path)
    got = counts(clean_tables)
    assert got == {**{k: 0 for k in got}, "catalog_release": got["catalog_release"]}
    assert scalar(clean_tables, "SELECT count(*) FROM livecat.xray_source") == 0
    with clean_tables.connect() as conn:
        runs = conn.execute(sa.text("SELECT catalog, status FROM livecat.ingest_run "
                                    "ORDER BY catalog")).all()
    assert runs == [("muwclass", "failed"), ("muwclass-csc", "failed")]


def test_unlabelled_rows_variability_and_summary(clean_tables, db_url, monkeypatch,
                                                 tmp_path):
    def edit(f):
        f.loc[[0, 1, 2], "True_Class"] = ""
        f["P_intra"] = ["0.9"] * len(f)
        f["P_inter"] = ["0.1"] * len(f)
    path = tmp_path / "TD.csv"
    path.write_bytes(subset_bytes(12, edit))
    res = invoke(["ingest", "muwclass-td", str(path)], monkeypatch, db_url)
    assert res.exit_code == 0, res.output
    assert "muwclass-csc sources" in res.output and "muwclass objects" in res.output
    got = counts(clean_tables)
    assert got["xray_source"] == 12
    assert got["literature_object"] == 9
    assert got["counterpart_candidate"] == 0  # confirming is curation's: curate import-muwclass
    with clean_tables.connect() as conn:
        var = conn.execute(sa.text("SELECT DISTINCT var_intra_prob, var_inter_prob "
                                   "FROM livecat.xray_source")).all()
        releases = conn.execute(sa.text("SELECT catalog, state FROM livecat.catalog_release "
                                        "ORDER BY catalog")).all()
    assert var == [(0.9, 0.1)]
    # no csc release at all: the training set never touches the real CSC's rows
    assert [tuple(r) for r in releases] == [("muwclass", "partial"),
                                            ("muwclass-csc", "complete")]
    forced = invoke(["ingest", "muwclass-td", str(path), "--force"], monkeypatch, db_url)
    assert forced.exit_code == 0, forced.output
    assert counts(clean_tables) == got


# --------------------------------------------------------------------------------------
# hardening: the import owns no row of a real catalog, and retires only what it speaks for
# --------------------------------------------------------------------------------------

def test_import_never_touches_the_real_csc_source(clean_tables, tmp_path):
    """2CXO J110435.9-584520 is in both the NGC 3532 CSC sample and the training set: the
    CSC row keeps its error ellipse, N_H, variability and fluxes through an import and a
    later CSC re-ingest; the training set's source is its own row, linked by name."""
    engine = clean_tables
    name = "2CXO J110435.9-584520"
    csc_file = sample_path("csc", "NGC3532_conesearch.csv")
    ingest(engine, "csc", file=csc_file, release="2.0")

    def csc_row():
        with engine.connect() as conn:
            return conn.execute(sa.text(
                "SELECT s.id, s.err_maj_arcsec, s.err_min_arcsec, s.nh_gal_cm2, "
                "s.var_intra_prob, s.row_hash, (SELECT array_agg(value ORDER BY band, kind) "
                "FROM livecat.xray_flux f WHERE f.source_id = s.id) FROM livecat.xray_source s "
                "WHERE s.catalog = 'csc' AND s.native_id = :n"), {"n": name}).one()

    before = csc_row()
    assert before.err_maj_arcsec is not None and before.nh_gal_cm2 is not None
    td = td_text_frame()
    path = tmp_path / "TD.csv"
    path.write_bytes(td[td["CSCv2_name"] == name].to_csv(index=False).encode())
    ingest(engine, "muwclass", file=path)
    assert csc_row() == before
    again = ingest(engine, "csc", file=csc_file, release="2.0", force=True)
    assert (again.n_inserted, again.n_updated) == (0, 0) and csc_row() == before
    with engine.connect() as conn:
        own = conn.execute(sa.text(
            "SELECT catalog, extra->>'csc_native_id' FROM livecat.xray_source "
            "WHERE native_id = :n ORDER BY catalog"), {"n": name}).all()
    assert [tuple(r) for r in own] == [("csc", None), ("muwclass-csc", name)]


def test_an_unlabelled_file_retires_no_object(clean_tables, tmp_path):
    engine = clean_tables
    labelled = tmp_path / "TD.csv"
    labelled.write_bytes(subset_bytes(30))
    ingest(engine, "muwclass", file=labelled)

    def blank(f):
        f["True_Class"] = ""
    unlabelled = tmp_path / "TD_unlabelled.csv"
    unlabelled.write_bytes(subset_bytes(30, blank))
    res = ingest(engine, "muwclass", file=unlabelled)
    assert res.literature is None  # no labelled row: the objects are not loaded at all
    assert scalar(engine, "SELECT count(*) FROM livecat.literature_object "
                          "WHERE is_current") == 30

    def unlabel_three(f):
        f.loc[[0, 1, 2], "True_Class"] = ""
    three = tmp_path / "TD_three.csv"
    three.write_bytes(subset_bytes(30, unlabel_three))
    res = ingest(engine, "muwclass", file=three)
    assert res.literature.n_retired == 3
    assert scalar(engine, "SELECT count(*) FROM livecat.literature_object "
                          "WHERE is_current") == 27
