"""One ingest, for every catalog: checks, lock, run record, then fetch -> read -> load.

:func:`run` is the only orchestrator. It

1. checks the arguments against the catalog (:meth:`ingest.spec.IngestArgs.checked`);
2. for a TAP-served release the nightly job already holds, records a skipped run
   without querying the service;
3. fetches (``--file``, ``--mirror`` or the catalog's home);
4. skips - recording a skipped run - when this exact input (same SHA-256) is held as the
   current complete release, unless ``--force``;
5. fails early, before minutes of parsing, when another ingest holds the catalog's lock
   (unless ``--wait``);
6. reads (parse + normalize, lazily in chunks);
7. refuses a release older than the one held (``--allow-older``);
8. decides the footprint - the sky the input speaks for, the only place its absent
   sources may be retired (:mod:`ingest.footprint`);
9. loads (:func:`ingest.load.load_catalog`, or the catalog's own load).

A load that fails is recorded as a failed run (so is a refused lock); a mistake found
before the load (unreadable input, wrong options) writes nothing at all.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from catalog.errors import ConflictError

from ingest.footprint import Footprint
from ingest.load import load_catalog
from ingest.progress import Reporter, log_to
from ingest.runs import (LoadResult, check_not_locked, current_release, held_release,
                         is_older, record_failed_run, record_skipped_run)
from ingest.spec import CatalogSpec, IngestArgs


def run(engine: Engine, spec: CatalogSpec, args: IngestArgs | None = None,
        reporter: Reporter | None = None) -> LoadResult:
    """Ingest one catalog release (see the module docstring).

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
    spec : ingest.spec.CatalogSpec
        From :data:`ingest.registry.REGISTRY`.
    args : ingest.spec.IngestArgs, optional
    reporter : ingest.progress.Reporter, optional

    Returns
    -------
    ingest.runs.LoadResult
        ``status == "skipped"`` when there was nothing to do; the MUWCLASS training set
        returns its own result type.
    """
    args = (args or IngestArgs()).checked(spec)
    report = log_to(reporter)
    version = args.release or (spec.default_release if args.file is None else None)
    if skip := _held_tap_release(engine, spec, args, version):
        report(skip.note)
        return skip
    fetched = spec.fetch(args, reporter)
    if skip := _held_input(engine, spec, args, fetched):
        report(skip.note)
        return skip
    if not args.wait:
        try:
            check_not_locked(engine, spec.name)  # before minutes of parsing, not after
        except ConflictError as exc:
            record_failed_run(engine, spec.name, version or "", exc)
            raise
    report(f"{spec.name}: reading {fetched.result.origin}")
    reading = spec.read(fetched, args, reporter)
    version = (args.release or (spec.default_release if args.file is None else None)
               or reading.version or f"sha256:{fetched.result.sha256[:12]}")
    _refuse_older(engine, spec, version, args)
    footprint = _footprint(spec, args, fetched, reading)
    report(f"{spec.name} {version}: loading; it speaks for {footprint.summary()}")
    if spec.load is not None:
        return spec.load(engine, spec, fetched, reading, version, footprint, args, reporter)
    return load_catalog(
        engine, spec.name, reading.chunks, version=version, origin=fetched.result.origin,
        checksum=fetched.result.sha256, remote_meta=fetched.result.remote_meta(),
        footprint=footprint, wait=args.wait, allow_mass_retire=args.allow_mass_retire,
        progress=reporter.update if reporter else None)


def _held_tap_release(engine: Engine, spec: CatalogSpec, args: IngestArgs,
                      version: str | None) -> LoadResult | None:
    """A skipped run when the nightly job asks for a TAP release already held complete."""
    if not (args.skip_held_tap_release and args.file is None and not args.force
            and spec.over_tap is not None and version and spec.over_tap(version)):
        return None
    if current_release(engine, spec.name) != version:
        return None
    return record_skipped_run(engine, spec.name, version,
                              f"{spec.name} {version} is already held complete; its TAP "
                              "service publishes no newer release name here (nothing "
                              "fetched)")


def _held_input(engine: Engine, spec: CatalogSpec, args: IngestArgs,
                fetched) -> LoadResult | None:
    """A skipped run when this exact input is the current complete release."""
    if args.force or args.region is not None:
        return None
    result = fetched.result
    held = held_release(engine, spec.name, result.sha256)
    if held is None:
        return None
    why = (f"{spec.name} {held} is already held with the same content (sha256 "
           f"{result.sha256[:12]})"
           + ("; the remote answered 304 Not Modified" if result.not_modified else "")
           + "; nothing to do (use --force to reload)")
    return record_skipped_run(engine, spec.name, held, why)


def _refuse_older(engine: Engine, spec: CatalogSpec, version: str, args: IngestArgs) -> None:
    newer = current_release(engine, spec.name)
    if not args.allow_older and is_older(version, newer):
        raise ConflictError(f"{spec.name} {version} is older than the release held ({newer}); "
                            "loading it would supersede the newer one. Pass --allow-older "
                            "if that is what you want; nothing was written")


def _footprint(spec: CatalogSpec, args: IngestArgs, fetched, reading) -> Footprint:
    """The sky the input speaks for (see :mod:`ingest.footprint`)."""
    if spec.kind == "survey":
        return Footprint.nothing()  # fetched around X-ray sources: increments, never a sky
    if reading.speaks_for_ids is not None:
        return Footprint.ids(reading.speaks_for_ids)
    if args.region is not None:
        return Footprint.cone(args.region)
    if args.file is None or args.complete_release or spec.whole_catalogue_files:
        return Footprint.whole_sky()
    return Footprint.input_rows()


def ingest(engine: Engine, catalog: str, *, reporter: Reporter | None = None, **arguments):
    """:func:`run` by catalog name with :class:`~ingest.spec.IngestArgs` as keywords: the
    library call of ``livecat ingest CATALOG`` (``ingest(engine, "xmm", file=path,
    release="4XMM-DR14", complete_release=True)``). Unknown keywords go to
    ``IngestArgs.options`` (TAP ``tables``, ``cache_dir``, tile sizes)."""
    from dataclasses import fields

    from ingest.registry import get_spec

    known = {f.name for f in fields(IngestArgs)}
    options = {k: v for k, v in arguments.items() if k not in known}
    args = IngestArgs(**{k: v for k, v in arguments.items() if k in known},
                      options={**arguments.get("options", {}), **options})
    return run(engine, get_spec(catalog), args, reporter)
