"""``livecat export``: livecat's catalogs in formats other tools read (HATS for LSDB).

A thin typer layer over :mod:`classify.hats_export` (which composes the tables of every
layer, hence its place at the top).
"""

from __future__ import annotations

from pathlib import Path

import typer

from catalog.cli import handle_errors
from catalog.hats import DEFAULT_MARGIN_ARCSEC, DEFAULT_PIXEL_THRESHOLD

app = typer.Typer(help="Export livecat's catalogs for other tools (HATS for LSDB/Dask).",
                  no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Export livecat's catalogs for other tools."""


@app.command("hats")
@handle_errors
def hats_cmd(
        what: str = typer.Argument(..., help="An X-ray catalog held (csc, muwclass-csc, "
                                             "...), a survey (gaia_dr3, 2mass, allwise, "
                                             "catwise2020, gaia_dr3_dist) or "
                                             "classifications (the promoted run's labels)."),
        out: Path = typer.Option(..., "--out", help="Directory: the catalog is written as "
                                                    "OUT/WHAT (an earlier export there is "
                                                    "replaced)."),
        margin: float = typer.Option(DEFAULT_MARGIN_ARCSEC, "--margin-arcsec",
                                     help="Width of the margin cache (arcsec)."),
        pixel_rows: int = typer.Option(DEFAULT_PIXEL_THRESHOLD, "--pixel-rows",
                                       help="Most rows per HEALPix pixel file."),
) -> None:
    """Write a catalog as a HATS collection (catalog + margin cache) that LSDB reads, with
    livecat's provenance (releases or run, content hash, livecat version) in its
    properties. Unchanged data exports to byte-identical data files.

    Examples: livecat export hats csc --out hats/ ;
    livecat export hats gaia_dr3 --out hats/ ; livecat export hats classifications --out hats/
    """
    from catalog.engine import get_engine
    from classify.hats_export import export_hats

    res = export_hats(get_engine(), what, out, margin_arcsec=margin,
                      pixel_threshold=pixel_rows)
    typer.echo(f"wrote {res.path}: {res.rows} rows, margin {margin:g} arcsec, content hash "
               f"{res.content_hash}")
