"""The fetch and read stages of the survey catalogs (Gaia DR3, 2MASS, AllWISE, CatWISE2020).

A survey is never fetched whole: :mod:`associate.fetch` hands the positions of the X-ray
sources to search around (``IngestArgs.options["positions"]``, ``["radius_arcsec"]``) and
the fetch stage asks CDS XMatch for the survey sources within the radius, in cached,
resumable chunks (:mod:`ingest.xmatch`). ``--file`` reads a table already fetched instead
(CSV, VOTable or FITS in the survey's VizieR column names, with or without a
``_<survey>`` suffix). Either way the read stage normalizes to the survey-source contract
(:mod:`ingest.surveys`).
"""

from __future__ import annotations

from hashlib import sha256
from pathlib import Path

from catalog.errors import InputError
from catalog.files import sha256_file
from ingest.fetch import FetchResult, fetch_file
from ingest.spec import Fetched, IngestArgs, Reading
from ingest.surveys import iter_normalize_survey, parse_survey
from ingest.xmatch import XMATCH_URL, default_cache_dir, fetch_around, read_answers


def fetch_survey(survey, args: IngestArgs, reporter=None) -> Fetched:
    """The fetch stage of a survey (see the module docstring)."""
    if args.file is not None:
        result = fetch_file(args.file)
        return Fetched(result=result, paths=[result.path])
    positions = args.options.get("positions")
    if positions is None or "radius_arcsec" not in args.options:
        raise InputError(f"{survey.key} is fetched around X-ray sources, never whole: use "
                         f"`livecat counterparts fetch {survey.key}`")
    cache = Path(args.options.get("cache_dir") or default_cache_dir() / survey.key)
    done = [0]

    def chunk_done(chunk, event) -> None:  # "cached", "fetched" or "mirror"
        done[0] += 1
        reporter.update(f"{survey.key} XMatch chunks", done[0], None)

    paths = fetch_around(positions, survey, float(args.options["radius_arcsec"]),
                         cache_dir=cache, mirror=args.mirror,
                         chunk_rows=int(args.options.get("chunk_rows", 5000)), url=args.url,
                         progress=chunk_done if reporter else None)
    digest, size = sha256(), 0
    for path in paths:
        digest.update(sha256_file(path).encode())
        size += Path(path).stat().st_size
    result = FetchResult(url=args.url or XMATCH_URL, path=cache, sha256=digest.hexdigest(),
                         size=size, mode="mirror" if args.mirror else "remote")
    return Fetched(result=result, paths=[Path(p) for p in paths], tap_format="xmatch")


def read_survey(survey, fetched: Fetched, args: IngestArgs, reporter=None) -> Reading:
    """The read stage: XMatch answers or a survey table -> survey-source chunks."""
    if fetched.tap_format == "xmatch":
        df = read_answers(fetched.paths, survey)
    else:
        df = parse_survey(fetched.paths[0], survey)
    if reporter:
        reporter.log(f"{survey.key}: {len(df)} rows read")
    return Reading(chunks=iter_normalize_survey(df, survey, args.chunk_rows))
