"""ingest.xmatch: survey sources around X-ray sources through CDS XMatch (no network).

A local stand-in (``helpers.LocalServer``: http.server on 127.0.0.1, OS-chosen port, in a
thread) takes the place of ``http://cdsxmatch.u-strasbg.fr/xmatch/api/v1/sync``, reached
through astroquery's XMatch client as in production (``fetch_around(url=...)``). It serves

* ``GET .../sync/tables?action=getVizieRTableNames`` with ``tests/data/xmatch/tables.txt``
  (astroquery checks the table exists before a query);
* ``POST .../sync`` (multipart form as astroquery sends it: ``request=xmatch``,
  ``distMaxArcsec``, ``RESPONSEFORMAT``, ``cat2``, ``colRA1``, ``colDec1``, file ``cat1``)
  with the recorded answer ``tests/data/xmatch/ngc3532_2mass_r10.csv`` (see the README
  there): the header, then the recorded lines of the uploaded X-ray ids, verbatim, in
  upload order, within the requested distance.

The uploaded positions are the 373 CSC sources of NGC 3532 (``csc/NGC3532_ave.csv``, id =
1-based row, as the recording was made).
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from helpers import DATA, sample_path, use_private_home
from xmatch_standin import HEADER, LINES, RECORDED, XMatchStandIn

from catalog.errors import InputError, SourceError
from catalog.healpix import radec_to_hpx
from catalog.surveys import SURVEYS
from ingest import xmatch as X
from ingest.surveys import normalize_survey, parse_survey

XDATA = DATA / "xmatch"
ERROR_DOC = (XDATA / "error_answer.vot").read_bytes()
TWOMASS = SURVEYS["2mass"]
CHUNK_ROWS = 50


def positions() -> pd.DataFrame:
    ave = pd.read_csv(sample_path("csc", "NGC3532_ave.csv"))
    return pd.DataFrame({"id": np.arange(1, len(ave) + 1), "ra": ave["ra"],
                         "dec": ave["dec"]})


@pytest.fixture
def home(tmp_path, monkeypatch):
    use_private_home(tmp_path, monkeypatch)
    return tmp_path


def test_chunks_follow_healpix_order_and_answers_are_the_recorded_pairs(home):
    pos = positions()
    with XMatchStandIn() as server:
        paths = X.fetch_around(pos, TWOMASS, 10.0, cache_dir=home / "xm",
                               chunk_rows=CHUNK_ROWS, url=server.url)
    n_chunks = -(-len(pos) // CHUNK_ROWS)
    assert len(server.uploads) == n_chunks == len(paths)
    assert server.table_requests == 1  # asked once per fetch, not per chunk
    hpx_of = dict(zip(pos["id"].astype(str), radec_to_hpx(pos["ra"], pos["dec"])))
    uploaded = []
    for up in server.uploads:
        assert up["header"] == list(X.UPLOAD_COLUMNS)
        assert up["form"]["cat2"] == "vizier:II/246/out"
        assert float(up["form"]["distMaxArcsec"]) == 10.0
        assert up["form"]["RESPONSEFORMAT"] == "csv"
        assert (up["form"]["colRA1"], up["form"]["colDec1"]) == ("xray_ra", "xray_dec")
        uploaded += [r[0] for r in up["rows"]]
        # the uploaded positions are the input's, exactly
        for xid, ra, dec in up["rows"][:3]:
            row = pos[pos["id"] == int(xid)].iloc[0]
            assert (float(ra), float(dec)) == (row["ra"], row["dec"])
    hpx = [hpx_of[i] for i in uploaded]
    assert hpx == sorted(hpx) and sorted(uploaded, key=int) == [str(i) for i in pos["id"]]

    pairs = X.read_answers(paths, TWOMASS)
    assert len(pairs) == sum(len(v) for v in LINES.values()) == 354
    assert pairs.attrs["pair_columns"] == ["angDist", "xray_id", "xray_ra", "xray_dec"]
    assert {"_2MASS", "errMaj", "JD", "Qflg"} <= set(pairs.columns)  # XMatch names mapped
    raw = pd.read_csv(RECORDED, dtype=str, keep_default_na=False)
    merged = pairs.merge(raw, left_on=["xray_id", "_2MASS"], right_on=["xray_id", "2MASS"])
    assert len(merged) == 354
    assert (merged["errMaj"] == merged["errHalfMaj"]).all()
    out = normalize_survey(pairs, TWOMASS)
    assert out.n_read == raw["2MASS"].nunique()


def test_a_second_run_asks_nothing(home):
    pos = positions()
    with XMatchStandIn() as server:
        first = X.fetch_around(pos, TWOMASS, 10.0, cache_dir=home / "xm",
                               chunk_rows=CHUNK_ROWS, url=server.url)
    events = []
    with XMatchStandIn() as again:
        second = X.fetch_around(pos, TWOMASS, 10.0, cache_dir=home / "xm",
                                chunk_rows=CHUNK_ROWS, url=again.url,
                                progress=lambda chunk, event: events.append(event))
    assert second == first
    assert again.uploads == [] and again.table_requests == 0
    assert events == ["cached"] * len(first)
    # a different radius is a different question
    with XMatchStandIn() as third:
        X.fetch_around(pos, TWOMASS, 5.0, cache_dir=home / "xm", chunk_rows=CHUNK_ROWS,
                       url=third.url)
    assert len(third.uploads) == len(first)


def test_a_killed_fetch_resumes_with_the_missing_chunks_only(home):
    pos = positions()
    with XMatchStandIn(fail={3: (500, b"<html>Internal Server Error</html>")}) as server:
        with pytest.raises(SourceError) as err:
            X.fetch_around(pos, TWOMASS, 10.0, cache_dir=home / "xm",
                           chunk_rows=CHUNK_ROWS, url=server.url)
    n_chunks = -(-len(pos) // CHUNK_ROWS)
    message = str(err.value)
    assert "CDS XMatch" in message and f"chunk 3/{n_chunks}" in message
    assert "HTTP 500" in message and "2mass" in message
    kept = sorted(p.name for p in (home / "xm").iterdir())
    assert len(kept) == 2 and not any(name.endswith(".part") for name in kept)
    done_ids = [r[0] for up in server.uploads[:2] for r in up["rows"]]

    with XMatchStandIn() as again:
        paths = X.fetch_around(pos, TWOMASS, 10.0, cache_dir=home / "xm",
                               chunk_rows=CHUNK_ROWS, url=again.url)
    assert len(again.uploads) == n_chunks - 2
    asked = [r[0] for up in again.uploads for r in up["rows"]]
    assert not set(asked) & set(done_ids)
    assert len(X.read_answers(paths, TWOMASS)) == 354


@pytest.mark.parametrize("status, body, expect", [
    (500, b"<html><body>Internal Server Error</body></html>", "HTTP 500"),
    (400, ERROR_DOC, "has no column xray_ra"),
    (200, ERROR_DOC, "has no column xray_ra"),
    (200, b"<html><body>maintenance</body></html>", "not a CDS XMatch answer"),
])
def test_service_errors_are_source_errors_naming_the_chunk(home, status, body, expect):
    with XMatchStandIn(fail={1: (status, body)}) as server:
        with pytest.raises(SourceError) as err:
            X.fetch_around(positions(), TWOMASS, 10.0, cache_dir=home / "xm",
                           chunk_rows=CHUNK_ROWS, url=server.url)
    assert expect in str(err.value)
    assert "chunk 1/" in str(err.value)
    assert list((home / "xm").iterdir()) == []


def test_an_unreachable_service_is_a_source_error(home):
    with XMatchStandIn() as server:
        url = server.url
    with pytest.raises(SourceError, match=r"CDS XMatch .*chunk 1/1"):
        X.fetch_around(positions().head(5), TWOMASS, 10.0, cache_dir=home / "xm",
                       url=url)


def test_mirror_mode_reads_answer_files_and_asks_nothing(home):
    pos = positions()
    with XMatchStandIn() as server:
        cached = X.fetch_around(pos, TWOMASS, 10.0, cache_dir=home / "xm",
                                chunk_rows=CHUNK_ROWS, url=server.url)
    mirror = home / "mirror"
    mirror.mkdir()
    for p in cached:
        shutil.copy(p, mirror / p.name)
    with XMatchStandIn() as idle:
        paths = X.fetch_around(pos, TWOMASS, 10.0, cache_dir=home / "unused",
                               mirror=mirror, chunk_rows=CHUNK_ROWS, url=idle.url)
    assert idle.uploads == [] and idle.table_requests == 0
    assert [p.name for p in paths] == [p.name for p in cached]
    assert all(p.parent == mirror for p in paths)
    missing = paths[4]
    missing.unlink()
    with pytest.raises(SourceError, match=rf"mirror .* no CDS XMatch answer for 2mass "
                                          rf"chunk 5/{len(paths)}"):
        X.fetch_around(pos, TWOMASS, 10.0, cache_dir=home / "unused", mirror=mirror,
                       chunk_rows=CHUNK_ROWS)


def test_the_cache_key_is_survey_radius_ids_and_positions():
    pos = positions().head(10)
    base = X.plan_chunks(pos, TWOMASS, 10.0)[0].name
    moved = pos.copy()
    moved.loc[3, "ra"] += 1e-9
    renamed = pos.copy()
    renamed.loc[3, "id"] = 999
    assert X.plan_chunks(moved, TWOMASS, 10.0)[0].name != base
    assert X.plan_chunks(renamed, TWOMASS, 10.0)[0].name != base
    assert X.plan_chunks(pos, SURVEYS["allwise"], 10.0)[0].name != base
    assert X.plan_chunks(pos, TWOMASS, 10.5)[0].name != base
    assert X.plan_chunks(pos.iloc[::-1], TWOMASS, 10.0)[0].name == base  # order-free


@pytest.mark.parametrize("change, expect", [
    (lambda p: p.drop(columns=["dec"]), "lack column"),
    (lambda p: p.assign(id=[1, 1] + list(p["id"][2:])), "appears twice"),
    (lambda p: p.assign(dec=[95.0] + list(p["dec"][1:])), "-90 <= dec <= 90"),
    (lambda p: p.assign(ra=[np.nan] + list(p["ra"][1:])), "is not 0 <= ra < 360"),
])
def test_bad_positions_are_input_errors(change, expect):
    with pytest.raises(InputError, match=expect):
        X.plan_chunks(change(positions().head(10)), TWOMASS, 10.0)


@pytest.mark.parametrize("radius", [0.0, -1.0, 181.0, "ten"])
def test_radius_outside_the_service_limits_is_an_input_error(radius):
    with pytest.raises(InputError, match="radius"):
        X.plan_chunks(positions().head(3), TWOMASS, radius)


def test_astroquerys_recorded_answer_reads_as_pairs_and_sources():
    """The real XMatch answer astroquery recorded (posList.csv vs II/246/out, 5")."""
    path = XDATA / "astroquery_query_res.csv"
    pairs = X.read_answers([path], "2mass")
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert len(pairs) == len(raw) == 11
    assert pairs.attrs["pair_columns"] == ["angDist", "ra", "dec", "my_id"]
    assert list(pairs["_2MASS"]) == list(raw["2MASS"])
    out = normalize_survey(pairs, "2mass")
    assert out.n_read == 11 and len(out.rejects) == 0
    src = out.sources.set_index("native_id")
    first = raw.iloc[0]  # Qfl "EEU": Ks is an upper limit, its error empty
    row = src.loc[first["2MASS"]]
    assert row["kmag"] != row["kmag"] and row["extra"]["kmag_upper_limit"] == float(
        first["Kmag"])
    assert row["jmag"] == float(first["Jmag"]) and row["err_maj_arcsec"] == float(
        first["errHalfMaj"])
    assert row["epoch"] == pytest.approx(2000.0 + (float(first["MeasureJD"]) - 2451545.0)
                                         / 365.25, abs=1e-9)
    # parse_survey drops the pairing columns and keeps their names
    parsed = parse_survey(path, "2mass")
    assert "angDist" not in parsed.columns and "my_id" not in parsed.columns
    assert parsed.attrs["pair_columns"] == ["angDist", "ra", "dec", "my_id"]


def test_an_error_document_in_the_cache_is_refused_on_reading(tmp_path):
    bad = tmp_path / "answer.csv"
    bad.write_bytes(ERROR_DOC)
    with pytest.raises(SourceError, match="answered an error"):
        X.read_answers([bad], "2mass")


def test_an_answer_without_pairs_is_kept_as_a_searched_empty_result(home):
    """X-ray sources with no 2MASS source within the radius: XMatch answers the header
    only; the empty answer is cached like any other (the sky was searched)."""
    far = pd.DataFrame({"id": ["a", "b"], "ra": [10.0, 200.0], "dec": [-5.0, 40.0]})
    with XMatchStandIn() as server:
        paths = X.fetch_around(far, TWOMASS, 10.0, cache_dir=home / "xm", url=server.url)
    assert len(paths) == 1 and paths[0].read_text() == HEADER + "\n"
    pairs = X.read_answers(paths, TWOMASS)
    assert len(pairs) == 0 and "_2MASS" in pairs.columns
    out = normalize_survey(pairs, TWOMASS)
    assert out.n_read == 0 and len(out.sources) == 0


def test_default_cache_dir_is_under_livecat_home(home):
    assert X.default_cache_dir() == (home / "home").resolve() / "cache" / "xmatch"
