"""A run's training configuration: named feature sets, JSON round trip, ``k=v`` params."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from catalog.errors import InputError
from classify.features import REFERENCE_COLOURS, FeatureOptions, all_colours
from classify.model import TrainConfig

#: Feature sets selectable by name: the reference's, and livecat's (reference plus Gaia
#: astrometry, all 36 colours and the CSC flags; ``scripts/eval_muwclass.py`` default).
FEATURE_SETS = ("reference", "livecat")


def feature_options(feature_set: str, variability: bool,
                    cross_mission_variability: bool = False) -> FeatureOptions:
    """Feature options of a named feature set.

    Parameters
    ----------
    feature_set : {"reference", "livecat"}
        ``reference``: the features of Yang et al. (2022); ``livecat``: plus Gaia
        astrometry, all 36 colours and the CSC flags.
    variability : bool
        Whether the training data has ``P_intra``/``P_inter``.
    cross_mission_variability : bool
        Add the variability of the source's object across missions
        (:func:`classify.features.cross_mission_features`; off by default: not measured).
    """
    xvar = bool(cross_mission_variability)
    if feature_set == "reference":
        return FeatureOptions(variability=variability, cross_mission_variability=xvar)
    if feature_set == "livecat":
        return FeatureOptions(variability=variability, colour_names=all_colours(),
                              astrometry=True, flags=True, cross_mission_variability=xvar)
    raise InputError(f"unknown feature set {feature_set!r}: choose one of "
                     f"{', '.join(FEATURE_SETS)}")


def config_to_json(config: TrainConfig) -> dict[str, Any]:
    """A JSON-serialisable dict of a :class:`TrainConfig` (inverse: :func:`config_from_json`)."""
    out = dataclasses.asdict(config)
    out["options"]["colour_names"] = list(config.options.colour_names)
    return out


def config_from_json(data: dict[str, Any]) -> TrainConfig:
    """Rebuild a :class:`TrainConfig` from :func:`config_to_json` output."""
    data = dict(data)
    data.pop("redden_agn", None)  # a run option, not a TrainConfig field (see train_run)
    opts = dict(data.pop("options"))
    opts["colour_names"] = tuple(opts.get("colour_names", REFERENCE_COLOURS))
    return TrainConfig(options=FeatureOptions(**opts), **data)


def parse_params(items: list[str] | None) -> dict[str, Any]:
    """Parse ``k=v`` estimator parameters; values are read as JSON when they parse, else text.

    Examples: ``n_estimators=300``, ``max_features=sqrt``, ``class_weight=null``,
    ``max_depth=12``.
    """
    params: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(f"estimator parameter {item!r} is not of the form key=value "
                             f"(e.g. n_estimators=300)")
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    return params
