"""The livecat command line: help, errors as one line, cone output formats."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from helpers import invoke

from catalog.cli import GROUPS


@pytest.fixture
def crab(engine, clean_tables):
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO livecat.literature_object (catalog, native_id, name, ra, dec, "
            "livecat_class) VALUES ('atnf', 'J0534+2200', 'J0534+2200', 83.633218, "
            "22.014464, 'NS'), ('atnf', 'far', 'far', 83.8, 22.0, 'NS')"))
    return engine


def test_help_lists_every_group(monkeypatch):
    res = invoke(["--help"], monkeypatch)
    assert res.exit_code == 0
    for group in ["db", "cone", *GROUPS]:
        assert group in res.output


def test_help_does_not_import_higher_layers(monkeypatch):
    import subprocess
    import sys

    code = ("import sys; from catalog.cli import build_app; from typer.testing import CliRunner;"
            " CliRunner().invoke(build_app(['--help']), ['--help']);"
            " bad = [m for m in sys.modules if m.split('.')[0] in "
            "('ingest', 'curation', 'classify') and m.count('.') > 0];"
            " print(bad); sys.exit(1 if bad else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_cone_formats(crab, db_url, monkeypatch):
    res = invoke(["cone", "05:34:31.97", "+22:00:52.1", "10", "--table",
                  "literature_object", "--format", "json"], monkeypatch, db_url)
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert [r["native_id"] for r in rows] == ["J0534+2200"]
    assert rows[0]["separation_arcsec"] < 1.0
    res = invoke(["cone", "83.633218", "22.014464", "1000", "-t", "literature_object",
                  "-f", "csv"], monkeypatch, db_url)
    lines = res.output.strip().splitlines()
    assert lines[0].startswith("id,catalog,native_id") and len(lines) == 3
    res = invoke(["cone", "83.633218", "22.014464", "5", "-t", "literature_object"],
                 monkeypatch, db_url)
    assert res.exit_code == 0 and "J0534+2200" in res.output



def test_cone_reads_any_sexagesimal_ra_as_hours_and_radius_units(crab, db_url, monkeypatch):
    # blank-separated sexagesimal used to be read as degrees and found nothing
    for ra, dec in (("05 34 31.97", "+22 00 52.1"), ("5h34m31.97s", "22d00m52.1s")):
        res = invoke(["cone", ra, dec, "10", "-t", "literature_object", "-f", "json"],
                     monkeypatch, db_url)
        assert res.exit_code == 0, res.output
        assert [r["native_id"] for r in json.loads(res.output)] == ["J0534+2200"]
    res = invoke(["cone", "83.633218", "22.014464", "0.2deg", "-t", "literature_object",
                  "-f", "json"], monkeypatch, db_url)
    assert sorted(r["native_id"] for r in json.loads(res.output)) == ["J0534+2200", "far"]

def test_negative_declination_is_an_argument(crab, db_url, monkeypatch):
    res = invoke(["cone", "10", "-45.5", "5", "-t", "literature_object"], monkeypatch, db_url)
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize("args,message", [
    (["cone", "10", "95", "5"], "Error: declination 95.0 is outside [-90, 90] degrees"),
    (["cone", "10", "20", "0"], "Error: radius 0.0 arcsec must be > 0 and <= 648000 (180 degrees)"),
    (["cone", "10", "20", "5", "--table", "nope"],
     "Error: unknown table 'nope': positional tables are literature_object, "),
    (["cone", "ten", "20", "5"], "Error: RA 'ten' is not an angle"),
    (["cone", "400", "10", "10"], "Error: RA 400.0 is outside [0, 360) degrees"),
    (["cone", "10", "20", "5 furlongs"], "Error: radius '5 furlongs' is not an angle"),
    (["cone", "10", "20", "5", "--format", "xml"], "Error: unknown format 'xml'"),
    (["db", "downgrade", "nonexistent"], "Error: unknown revision 'nonexistent'"),
])
def test_user_mistakes_are_one_line(engine, db_url, monkeypatch, args, message):
    res = invoke(args, monkeypatch, db_url)
    assert res.exit_code == 1
    assert res.output.strip().splitlines()[0].startswith(message)
    assert "Traceback" not in res.output


def test_unknown_table_lists_every_positional_table(engine, db_url, monkeypatch):
    from catalog.sky import positional_tables

    with engine.connect() as conn:
        tables = positional_tables(conn)
    assert {"literature_object", "xray_source"} <= set(tables)
    res = invoke(["cone", "10", "20", "5", "--table", "nope"], monkeypatch, db_url)
    assert res.output.strip() == ("Error: unknown table 'nope': positional tables are "
                                  + ", ".join(tables))


def test_unreachable_database(monkeypatch):
    res = invoke(["db", "status"], monkeypatch,
                 "postgresql://postgres@127.0.0.1:1/nowhere")
    assert res.exit_code == 1
    line = res.output.strip()
    assert line.startswith("Error: cannot reach the database at "
                           "postgresql+psycopg://postgres@127.0.0.1:1/nowhere")
    assert "\n" not in line


def test_db_status_and_url(engine, db_url, monkeypatch):
    res = invoke(["db", "status", "--format", "json"], monkeypatch, db_url)
    assert res.exit_code == 0
    status = json.loads(res.output)
    assert status["revision"] == status["head"] and status["pending"] == []
    assert set(status["table_rows"]) >= {"xray_source", "literature_object"}
    res = invoke(["db", "status"], monkeypatch, db_url)
    assert f"revision: {status['head']} (newest: {status['head']})" in res.output
    assert "pending migrations: none" in res.output
    res = invoke(["db", "url"], monkeypatch, db_url)
    assert res.output.strip().startswith("postgresql://")
