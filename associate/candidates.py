"""Candidate counterparts: the survey sources near each X-ray source, at the X-ray epoch.

Survey positions are moved to each X-ray source's epoch with their proper motion and
expressed as offsets in the tangent plane of the X-ray source (gnomonic projection
centred on it, x towards east, y towards north, arcsec). For offsets of at most a few
arcminutes the tangent-plane distance equals the great-circle separation to better than
1e-8 relative, so the offsets serve both the separations and the Bayes factors.

Proper motion (tangent-plane propagation): with ``dt = epoch_xray - epoch_survey`` in
years and the proper motion in mas/yr (``pmra`` = mu_alpha* including cos(dec)), the
survey source's offset from the X-ray source at the X-ray epoch is::

    x = xi(survey position at its epoch)  + pmra  * dt / 1000
    y = eta(survey position at its epoch) + pmdec * dt / 1000

where (xi, eta) is the gnomonic projection about the X-ray position. Parallax and the
proper-motion errors are neglected (a few mas against X-ray errors of arcseconds).

The search uses a k-d tree (scipy.spatial.cKDTree) on unit vectors: never N x M.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from associate.inputs import PrimaryArrays, SurveyArrays, covariance_major_axis
from catalog.errors import InputError

ARCSEC_PER_RAD = 180.0 * 3600.0 / np.pi

#: The search radius can never exceed this (arcsec): beyond it positional matching of
#: point sources is meaningless and the combinations explode.
MAX_RADIUS_CEILING_ARCSEC = 120.0

#: Proper-motion padding classes (arcsec): survey sources whose largest possible motion
#: between their epoch and any X-ray epoch falls in one class share one k-d tree,
#: searched with the class's largest motion added to the radius.
_PAD_CLASSES = (0.1, 1.0, 10.0, 100.0, np.inf)


@dataclass(frozen=True)
class SearchRule:
    """Which survey sources are candidates, and which pairs may share a combination.

    A survey source is a candidate of an X-ray source when its offset ``d`` at the X-ray
    epoch has ``d' (C_x + C_s)^-1 d < n_sigma^2`` (within ``n_sigma`` combined 1-sigma
    errors, the ellipses taken into account) and ``|d| < max_radius_arcsec``. Two survey
    sources may be in one combination when the same holds between them with
    ``n_sigma_pair``. With ``radius_arcsec`` set, the rule is NWAY's instead: every
    pairwise separation in a combination below that fixed radius.

    Parameters
    ----------
    n_sigma : float
        Radius in combined 1-sigma errors (default 5: a candidate beyond it weighs
        ~1e-5 against "no counterpart", so the probabilities change by ~1e-4 at most).
    max_radius_arcsec : float
        Hard maximum of the radius (default 30 arcsec; never above 120).
    n_sigma_pair : float
        The same between two survey sources (default 7: their errors are small, so the
        normalisation of a pair likelihood is large, so the cut must be looser to stay
        negligible).
    radius_arcsec : float, optional
        A fixed radius as in NWAY's ``--radius`` (replaces the rules above).
    """

    n_sigma: float = 5.0
    max_radius_arcsec: float = 30.0
    n_sigma_pair: float = 7.0
    radius_arcsec: float | None = None

    def check(self) -> None:
        """Raise InputError on a rule outside its sane range."""
        if self.radius_arcsec is not None:
            if not 0 < self.radius_arcsec <= MAX_RADIUS_CEILING_ARCSEC:
                raise InputError(f"radius_arcsec {self.radius_arcsec!r} is not in "
                                 f"(0, {MAX_RADIUS_CEILING_ARCSEC:g}]")
            return
        if not 0 < self.n_sigma <= 10 or not 0 < self.n_sigma_pair <= 10:
            raise InputError(f"n_sigma {self.n_sigma!r} and n_sigma_pair "
                             f"{self.n_sigma_pair!r} must be in (0, 10]")
        if not 0 < self.max_radius_arcsec <= MAX_RADIUS_CEILING_ARCSEC:
            raise InputError(f"max_radius_arcsec {self.max_radius_arcsec!r} is not in "
                             f"(0, {MAX_RADIUS_CEILING_ARCSEC:g}]")

    def query_radius(self, major_a: np.ndarray, major_b_max: float) -> np.ndarray:
        """Radius (arcsec) that contains every candidate of sources with major axis a."""
        if self.radius_arcsec is not None:
            return np.full(len(major_a), float(self.radius_arcsec))
        r = self.n_sigma * np.sqrt(major_a ** 2 + major_b_max ** 2)
        return np.minimum(r, self.max_radius_arcsec)

    def pair_ok(self, dx, dy, cov_a, cov_b, n_sigma) -> np.ndarray:
        """Whether offsets (dx, dy) between sources of covariances a and b pass."""
        d2 = dx * dx + dy * dy
        if self.radius_arcsec is not None:
            return d2 < self.radius_arcsec ** 2
        sxx, sxy, syy = cov_a[0] + cov_b[0], cov_a[1] + cov_b[1], cov_a[2] + cov_b[2]
        det = sxx * syy - sxy * sxy
        m2 = (syy * dx * dx - 2 * sxy * dx * dy + sxx * dy * dy) / det
        return (m2 < n_sigma ** 2) & (d2 < self.max_radius_arcsec ** 2)


@dataclass(frozen=True)
class Candidates:
    """Candidate pairs of one survey, sorted by (primary, separation, survey row).

    ``start[p]:start[p+1]`` are primary p's candidates. ``x``, ``y`` are the offsets
    (arcsec, east and north) at the X-ray epoch; ``sep`` their length; ``cov`` the survey
    source's covariance; ``radius`` the radius searched around each primary (arcsec).
    """

    survey: str
    prim: np.ndarray
    src: np.ndarray
    x: np.ndarray
    y: np.ndarray
    sep: np.ndarray
    cov: tuple[np.ndarray, np.ndarray, np.ndarray]
    start: np.ndarray
    radius: np.ndarray

    @property
    def counts(self) -> np.ndarray:
        """Number of candidates of each primary source."""
        return np.diff(self.start)


def unit_vectors(ra_deg, dec_deg) -> np.ndarray:
    """Unit vectors (N, 3) of positions in degrees."""
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    cd = np.cos(dec)
    return np.column_stack([cd * np.cos(ra), cd * np.sin(ra), np.sin(dec)])


def tangent_offsets_arcsec(ra0, dec0, ra, dec) -> tuple[np.ndarray, np.ndarray]:
    """Gnomonic offsets (east, north; arcsec) of (ra, dec) about centres (ra0, dec0)."""
    a0, d0 = np.radians(ra0), np.radians(dec0)
    a, d = np.radians(ra), np.radians(dec)
    da = a - a0
    sd0, cd0, sd, cd = np.sin(d0), np.cos(d0), np.sin(d), np.cos(d)
    cda = np.cos(da)
    cosc = sd0 * sd + cd0 * cd * cda
    x = cd * np.sin(da) / cosc
    y = (cd0 * sd - sd0 * cd * cda) / cosc
    return x * ARCSEC_PER_RAD, y * ARCSEC_PER_RAD


def offset_position(ra0, dec0, x_arcsec, y_arcsec) -> tuple[np.ndarray, np.ndarray]:
    """Inverse gnomonic projection: (ra, dec) in deg of offsets (east, north; arcsec)."""
    xi = np.asarray(x_arcsec, dtype=float) / ARCSEC_PER_RAD
    eta = np.asarray(y_arcsec, dtype=float) / ARCSEC_PER_RAD
    a0, d0 = np.radians(ra0), np.radians(dec0)
    denom = np.cos(d0) - eta * np.sin(d0)
    ra = np.degrees(a0 + np.arctan2(xi, denom)) % 360.0
    dec = np.degrees(np.arctan2(np.sin(d0) + eta * np.cos(d0), np.hypot(xi, denom)))
    return ra, dec


def _chord(arcsec: np.ndarray) -> np.ndarray:
    return 2.0 * np.sin(np.minimum(np.asarray(arcsec) / ARCSEC_PER_RAD, np.pi) / 2.0)


def _pairs_within(tree: cKDTree, xyz: np.ndarray, radius: np.ndarray,
                  chunk: int = 50_000) -> tuple[np.ndarray, np.ndarray]:
    """All (query row, tree row) pairs within a per-query radius (arcsec).

    One k-d tree ball query per block of queries (each with its own radius); the hit
    lists are joined by numpy, not by a Python loop over sources.
    """
    prims, srcs = [], []
    for lo in range(0, len(xyz), chunk):
        hits = tree.query_ball_point(xyz[lo:lo + chunk], _chord(radius[lo:lo + chunk]),
                                     return_sorted=False)
        n = np.fromiter(map(len, hits), dtype=np.int64, count=len(hits))
        if n.sum():
            prims.append(np.repeat(np.arange(lo, lo + len(hits)), n))
            srcs.append(np.concatenate(hits).astype(np.int64))
    if not prims:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(prims), np.concatenate(srcs)


def find_candidates(primary: PrimaryArrays, survey: SurveyArrays, rule: SearchRule
                    ) -> Candidates:
    """Survey sources that are candidate counterparts of each primary source.

    Parameters
    ----------
    primary : PrimaryArrays
    survey : SurveyArrays
    rule : SearchRule

    Returns
    -------
    Candidates
    """
    n_p = len(primary.ra)
    a_p = covariance_major_axis(primary.cov)
    a_s = covariance_major_axis(survey.cov)
    radius = rule.query_radius(a_p, float(a_s.max()) if len(a_s) else 0.0)
    xyz_p = unit_vectors(primary.ra, primary.dec)
    # the largest motion of each survey source towards any X-ray epoch
    if n_p and len(survey.ra):
        dt_max = np.maximum(np.abs(primary.epoch.max() - survey.epoch),
                            np.abs(primary.epoch.min() - survey.epoch))
    else:
        dt_max = np.zeros(len(survey.ra))
    pad = np.hypot(survey.pmra, survey.pmdec) / 1000.0 * dt_max
    klass = np.searchsorted(np.asarray(_PAD_CLASSES), pad)
    prim_parts, src_parts = [], []
    for k in np.unique(klass):
        rows = np.flatnonzero(klass == k)
        tree = cKDTree(unit_vectors(survey.ra[rows], survey.dec[rows]), balanced_tree=False)
        p, s = _pairs_within(tree, xyz_p, radius + pad[rows].max() * (1 + 1e-9) + 1e-6)
        prim_parts.append(p)
        src_parts.append(rows[s])
    prim = np.concatenate(prim_parts) if prim_parts else np.zeros(0, np.int64)
    src = np.concatenate(src_parts) if src_parts else np.zeros(0, np.int64)

    x, y = tangent_offsets_arcsec(primary.ra[prim], primary.dec[prim],
                                  survey.ra[src], survey.dec[src])
    dt = primary.epoch[prim] - survey.epoch[src]
    x = x + survey.pmra[src] * dt / 1000.0
    y = y + survey.pmdec[src] * dt / 1000.0
    cov_p = tuple(c[prim] for c in primary.cov)
    cov_s = tuple(c[src] for c in survey.cov)
    keep = rule.pair_ok(x, y, cov_p, cov_s, rule.n_sigma) & (np.hypot(x, y) < radius[prim])
    prim, src, x, y = prim[keep], src[keep], x[keep], y[keep]
    sep = np.hypot(x, y)
    order = np.lexsort((src, sep, prim))
    prim, src, x, y, sep = prim[order], src[order], x[order], y[order], sep[order]
    start = np.searchsorted(prim, np.arange(n_p + 1))
    return Candidates(survey=survey.name, prim=prim, src=src, x=x, y=y, sep=sep,
                      cov=tuple(c[src] for c in survey.cov), start=start, radius=radius)
