"""Associations between catalogs: multiwavelength counterparts of X-ray sources
(Bayesian cross-identification in the manner of NWAY), and one sky object across X-ray
missions (:mod:`associate.objects`, updated incrementally by :mod:`associate.regroup`).
Sits between ingest (which loads the catalogs) and curation (which shows the associations
to curators)."""
