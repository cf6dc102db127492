"""X-ray fluxes: one xray_source_flux row per source, the xray_flux view of one row per band.

Migration 0007 keeps every rule the per-band table had (foreign key with cascade, one row
per (source, band, kind), kind energy_flux or count_rate, band_lo_kev < band_hi_kev) and
keeps INSERT and DELETE on xray_flux working for hand-written SQL.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

INSERT = sa.text("INSERT INTO livecat.xray_flux (source_id, band, kind, band_lo_kev, "
                 "band_hi_kev, value, value_lo, value_hi) VALUES (:s, :b, :k, :lo, :hi, :v, "
                 ":vlo, :vhi)")


def _source(conn, native_id: str = "X1") -> int:
    return conn.execute(sa.text(
        "INSERT INTO livecat.xray_source (catalog, native_id, ra, dec) "
        "VALUES ('flux-test', :n, 10.0, 20.0) RETURNING id"), {"n": native_id}).scalar_one()


def _band(source_id, band, kind="energy_flux", lo=0.5, hi=2.0, value=1e-14):
    return {"s": source_id, "b": band, "k": kind, "lo": lo, "hi": hi, "v": value,
            "vlo": None if value is None else value * 0.9,
            "vhi": None if value is None else value * 1.1}


def _rows(conn, source_id):
    return conn.execute(sa.text(
        "SELECT band, kind, band_lo_kev, band_hi_kev, value FROM livecat.xray_flux "
        "WHERE source_id = :s ORDER BY band, kind"), {"s": source_id}).all()


def test_view_insert_and_delete_edit_the_arrays(clean_tables):
    with clean_tables.begin() as conn:
        sid = _source(conn)
        conn.execute(INSERT, _band(sid, "s", lo=0.5, hi=1.2, value=2e-15))
        conn.execute(INSERT, _band(sid, "b", lo=0.5, hi=7.0, value=None))
        conn.execute(INSERT, _band(sid, "b", kind="count_rate", lo=0.5, hi=7.0, value=0.01))
        assert _rows(conn, sid) == [("b", "count_rate", 0.5, 7.0, 0.01),
                                    ("b", "energy_flux", 0.5, 7.0, None),
                                    ("s", "energy_flux", 0.5, 1.2, 2e-15)]
        stored = conn.execute(sa.text("SELECT band, kind FROM livecat.xray_source_flux "
                                      "WHERE source_id = :s"), {"s": sid}).one()
        assert stored == (["b", "b", "s"], ["count_rate", "energy_flux", "energy_flux"])

        conn.execute(sa.text("DELETE FROM livecat.xray_flux WHERE source_id = :s "
                             "AND band = 'b' AND kind = 'energy_flux'"), {"s": sid})
        assert [r[:2] for r in _rows(conn, sid)] == [("b", "count_rate"), ("s", "energy_flux")]
        conn.execute(sa.text("DELETE FROM livecat.xray_flux WHERE source_id = :s"), {"s": sid})
        assert conn.execute(sa.text("SELECT count(*) FROM livecat.xray_source_flux")).scalar() == 0


@pytest.mark.parametrize("bad, error", [
    (dict(band="s"), "already has band s energy_flux"),          # (source, band, kind) twice
    (dict(band="h", lo=7.0, hi=2.0), "xray_source_flux_valid"),  # lo >= hi
    (dict(band="h", kind="luminosity"), "xray_source_flux_valid"),
    (dict(band="h", lo=None), "are required"),
])
def test_view_insert_keeps_the_per_band_rules(clean_tables, bad, error):
    with clean_tables.begin() as conn:
        sid = _source(conn)
        conn.execute(INSERT, _band(sid, "s"))
    row = _band(sid, bad.pop("band"), **bad)
    with pytest.raises(sa.exc.DBAPIError, match=error), clean_tables.begin() as conn:
        conn.execute(INSERT, row)
    with clean_tables.connect() as conn:
        assert [r[0] for r in _rows(conn, sid)] == ["s"]


def test_storage_rules_hold_for_direct_writes(clean_tables):
    """The CHECK on xray_source_flux refuses what the view would refuse."""
    bad_rows = {
        "unequal lengths": "ARRAY['s','m'], ARRAY['energy_flux'], ARRAY[0.5,1.2], "
                           "ARRAY[1.2,2.0], ARRAY[1e-14,1e-14], ARRAY[NULL,NULL]::float8[], "
                           "ARRAY[NULL,NULL]::float8[]",
        "duplicate band": "ARRAY['s','s'], ARRAY['energy_flux','energy_flux'], ARRAY[0.5,0.5], "
                          "ARRAY[1.2,1.2], ARRAY[1,2]::float8[], ARRAY[1,2]::float8[], "
                          "ARRAY[1,2]::float8[]",
        "empty": "'{}'::text[], '{}'::text[], '{}'::float8[], '{}'::float8[], '{}'::float8[], "
                 "'{}'::float8[], '{}'::float8[]",
        "NULL edge": "ARRAY['s'], ARRAY['energy_flux'], ARRAY[NULL]::float8[], ARRAY[1.2], "
                     "ARRAY[1e-14], ARRAY[1e-14], ARRAY[1e-14]",
    }
    with clean_tables.begin() as conn:
        sid = _source(conn)
    for what, arrays in bad_rows.items():
        with pytest.raises(sa.exc.IntegrityError, match="xray_source_flux_valid"), \
                clean_tables.begin() as conn:
            conn.execute(sa.text(f"INSERT INTO livecat.xray_source_flux VALUES (:s, {arrays})"),
                         {"s": sid})


def test_foreign_key_and_cascade(clean_tables):
    with pytest.raises(sa.exc.IntegrityError, match="foreign key"), clean_tables.begin() as conn:
        conn.execute(INSERT, _band(987654321, "s"))
    with clean_tables.begin() as conn:
        sid = _source(conn)
        conn.execute(INSERT, _band(sid, "s"))
        conn.execute(sa.text("DELETE FROM livecat.xray_source WHERE id = :s"), {"s": sid})
        assert conn.execute(sa.text("SELECT count(*) FROM livecat.xray_flux")).scalar() == 0
