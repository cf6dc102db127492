"""The sky an ingest covers: the only place where its absent sources may be retired.

A living catalog must not lose the rest of the sky because one input covered part of it.
Every load carries a :class:`Footprint`; the loader marks not current only the held rows
of the catalog that lie inside it and are absent from the input:

``whole sky``
    a complete release: a whole-catalogue download, a whole-sky TAP fetch, a file the
    user declares complete (``--complete-release``), or a format that always holds the
    whole catalogue (psrcat.db, the IP catalogue page);
``cone``
    ``--region RA DEC RADIUS`` (also a TAP fetch restricted to a region);
``pixels``
    a file of part of the sky: the HEALPix pixels its rows fill (:meth:`Footprint.from_rows`;
    the loader resolves :meth:`Footprint.input_rows` this way once the rows are staged);
``native ids``
    an input that speaks for a list of identifiers only (the MUWCLASS training set's
    objects are keyed by the X-ray sources the file lists);
``nothing``
    an increment: retires nothing.

Only a whole-sky footprint makes a release ``complete`` (and supersedes the others).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import healpy as hp
import numpy as np

from catalog.coords import Region
from catalog.healpix import MAX_ORDER, radec_to_hpx

#: A file's footprint is built at the finest order whose occupied pixels hold at least
#: this many of its rows (median), so that an empty pixel means "no source here", not
#: "the file is sparse".
ROWS_PER_PIXEL = 4
#: Finest and coarsest orders considered for a file's footprint (order 14 ~ 13 arcsec,
#: order 3 ~ 7 deg pixels).
FINEST_ORDER, COARSEST_ORDER = 14, 3


@dataclass(frozen=True)
class Footprint:
    """Where an ingest speaks for the catalog.

    Build one with :meth:`whole_sky`, :meth:`cone`, :meth:`from_rows`, :meth:`ids` or
    :meth:`nothing`.
    """

    kind: str
    region: Region | None = None
    order: int | None = None
    pixels: tuple[int, ...] = field(default=(), repr=False)
    native_ids: tuple[str, ...] = field(default=(), repr=False)

    # -- constructors -------------------------------------------------------------------
    @classmethod
    def whole_sky(cls) -> "Footprint":
        """The whole catalogue: a complete release."""
        return cls("whole sky")

    @classmethod
    def nothing(cls) -> "Footprint":
        """An increment: nothing is retired."""
        return cls("nothing")

    @classmethod
    def input_rows(cls) -> "Footprint":
        """The sky the input's own rows fill, resolved by the loader from the staged rows
        (:meth:`from_rows`)."""
        return cls("input rows")

    @classmethod
    def cone(cls, region: Region) -> "Footprint":
        """The cone of ``--region``."""
        return cls("cone", region=region)

    @classmethod
    def ids(cls, native_ids) -> "Footprint":
        """Exactly these native ids (an input that speaks for a list of identifiers)."""
        return cls("native ids", native_ids=tuple(sorted({str(i) for i in native_ids})))

    @classmethod
    def from_rows(cls, ra, dec) -> "Footprint":
        """The part of the sky a file of sources fills.

        The rows' HEALPix pixels at the finest order (between :data:`COARSEST_ORDER` and
        :data:`FINEST_ORDER`) whose occupied pixels hold at least :data:`ROWS_PER_PIXEL`
        rows (median), less every pixel with an empty neighbour: the edge of a cone or
        a field is not claimed, so a source just outside what the file covered is
        never retired by it.
        """
        ra = np.asarray(ra, dtype=float)
        dec = np.asarray(dec, dtype=float)
        good = np.isfinite(ra) & np.isfinite(dec) & (np.abs(dec) <= 90)
        ra, dec = np.mod(ra[good], 360.0), dec[good]
        if len(ra) == 0:
            return cls.nothing()
        hpx = radec_to_hpx(ra, dec)
        order = COARSEST_ORDER
        for k in range(FINEST_ORDER, COARSEST_ORDER - 1, -1):
            _, counts = np.unique(hpx >> (2 * (MAX_ORDER - k)), return_counts=True)
            if np.median(counts) >= ROWS_PER_PIXEL:
                order = k
                break
        occupied = np.unique(hpx >> (2 * (MAX_ORDER - order)))
        neighbours = hp.get_all_neighbours(1 << order, occupied, nest=True)  # (8, n), -1 none
        inner = np.isin(neighbours, occupied) | (neighbours < 0)
        kept = occupied[inner.all(axis=0)]
        if len(kept) == 0:
            return cls.nothing()
        return cls("pixels", order=order, pixels=tuple(int(p) for p in kept))

    # -- use ----------------------------------------------------------------------------
    @property
    def is_whole_sky(self) -> bool:
        """True for a complete release."""
        return self.kind == "whole sky"

    @property
    def retires_nothing(self) -> bool:
        """True when no held row can be retired by this footprint."""
        return self.kind == "nothing"

    def sql(self, alias: str = "t") -> tuple[str, dict]:
        """A SQL condition on ``alias``'s ``ra``/``dec``/``hpx``/``native_id`` that is true
        inside the footprint, and its parameters (psycopg ``%(name)s`` style)."""
        if self.kind == "whole sky":
            return "true", {}
        if self.kind == "nothing":
            return "false", {}
        if self.kind == "cone":
            r = self.region
            return (f"livecat.ang_sep_deg(%(fp_ra)s, %(fp_dec)s, {alias}.ra, {alias}.dec) "
                    "<= %(fp_radius)s",
                    {"fp_ra": r.ra, "fp_dec": r.dec, "fp_radius": r.radius_deg})
        if self.kind == "pixels":
            shift = 2 * (MAX_ORDER - self.order)
            # IN (SELECT unnest(..)): a hashed lookup; "= ANY(array)" scans the whole
            # array for every row (12 minutes for 1M rows of a sky-wide file)
            return (f"({alias}.hpx >> {shift}) IN (SELECT unnest(%(fp_pixels)s::bigint[]))",
                    {"fp_pixels": list(self.pixels)})
        if self.kind == "native ids":
            return (f"{alias}.native_id IN (SELECT unnest(%(fp_ids)s::text[]))",
                    {"fp_ids": list(self.native_ids)})
        raise ValueError(f"footprint {self.kind!r} has no SQL form (resolve it first)")

    def describe(self) -> dict:
        """A JSON-serialisable description, kept on the release row."""
        out: dict = {"kind": self.kind}
        if self.region is not None:
            out.update(ra=self.region.ra, dec=self.region.dec,
                       radius_arcsec=self.region.radius_arcsec)
        if self.kind == "pixels":
            out.update(order=self.order, n_pixels=len(self.pixels),
                       area_deg2=round(len(self.pixels) * hp.nside2pixarea(
                           1 << self.order, degrees=True), 6))
        if self.kind == "native ids":
            out.update(n_ids=len(self.native_ids))
        return out

    def summary(self) -> str:
        """One line for the progress log."""
        d = self.describe()
        if self.kind == "cone":
            return f"cone {self.region.describe()}"
        if self.kind == "pixels":
            return (f"{d['n_pixels']} HEALPix pixels of order {d['order']} "
                    f"({d['area_deg2']:.4g} deg2) filled by the file's rows")
        if self.kind == "native ids":
            return f"{d['n_ids']} native ids"
        return self.kind
