"""The MUWCLASS training pipeline as a scikit-learn compatible estimator.

Steps (reference: huiyang-astro/MUWCLASS_CSCv2, ``codes/muwclass_library.py``,
``loo_prepare``, ``oversampling``, ``scaling``):

1. ``StandardScaler`` -- scikit-learn scalers ignore NaN when fitting and keep it.
2. :class:`SentinelSMOTE` -- SMOTE (Chawla et al. 2002; imbalanced-learn) with
   ``k_neighbors=4`` raising every class to the largest class's count. Missing values are
   replaced by a very negative number for the neighbour search and interpolation, and any
   synthetic value below the smallest observed value of its feature becomes missing again,
   so a synthetic source never gets a value interpolated from "missing". As a sampler in
   an imbalanced-learn ``Pipeline`` it runs only in ``fit``, never when predicting.
3. :class:`SentinelFiller` -- NaN becomes the sentinel -100 (in units of standard
   deviations, far below any real value), as the reference does after scaling.
4. The estimator, given by import path (:func:`resolve_estimator` also takes the short
   names of :data:`ESTIMATORS`): :func:`build_pipeline`'s default is a random forest of
   100 trees with ``max_features='sqrt'`` (the reference's, :data:`DEFAULT_PARAMS`).
   livecat's evaluated configuration (:data:`LIVECAT_PARAMS`), which ``livecat classify
   train`` uses by default with the livecat features (:func:`default_params`), is a
   forest of 300 trees that considers half of the features at every split.

Seeds: the SMOTE and estimator seeds derive from one ``seed``; the same seed and data
give identical probabilities.

:func:`fit_model` computes the features of a training table and fits the pipeline
(optionally on Monte Carlo copies of the training sources, optionally wrapped in
``CalibratedClassifierCV`` whose inner cross-validation sees the training data only). The
fitted model classifies any number of Monte Carlo samples in one ``predict_proba`` call
(:func:`classify.montecarlo.classify_mc`): no retraining per sample or per source.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from imblearn.over_sampling import SMOTE
from imblearn.pipeline import Pipeline
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.preprocessing import StandardScaler

from classify.features import FeatureOptions, compute_features
from classify.montecarlo import SIGMA_SCALE, sample_measurements

DEFAULT_ESTIMATOR = "sklearn.ensemble.RandomForestClassifier"
DEFAULT_PARAMS: dict[str, Any] = {"n_estimators": 100, "max_features": "sqrt"}
#: livecat's forest (``scripts/eval_muwclass.py`` and ``livecat classify train`` default
#: with the livecat features). 300 trees give steadier Monte Carlo probabilities.
#: ``max_features=0.5`` instead of ``'sqrt'`` (7 of the livecat features): with most
#: optical/IR features missing for LMXB, NS, CV and many AGN, a split that sees more
#: candidates more often finds the X-ray or flag feature that separates the small classes.
#: 10-fold CV on TD_train.csv, chosen on seeds 0-1 (balanced 0.741 -> 0.756, confident
#: balanced 0.808 -> 0.831, same overall accuracy) and checked on fresh seeds 2-7 with 100
#: MC samples when the sample had no variability columns (59 features): overall 0.894, balanced
#: 0.746, confident balanced 0.806, confident fraction 0.827 (means of six; seed-to-seed
#: spread ~0.015). With the P_intra/P_inter the sample now has (61 features), seeds 2-4:
#: overall 0.901, balanced 0.751, confident overall 0.958, confident balanced 0.811,
#: confident fraction 0.849 (without them, the same seeds: 0.892, 0.743, 0.963, 0.801,
#: 0.826), so the variability features stay on. About 4x the training time of 'sqrt'.
LIVECAT_PARAMS: dict[str, Any] = {"n_estimators": 300, "max_features": 0.5}
SENTINEL = -100.0
_SMOTE_MISSING = -9999999.0
#: Estimators by short name (``livecat classify train --estimator NAME``); any other
#: scikit-learn classifier with ``predict_proba`` is given by its import path.
ESTIMATORS: dict[str, str] = {
    "random-forest": DEFAULT_ESTIMATOR,
    "extra-trees": "sklearn.ensemble.ExtraTreesClassifier",
    "hist-gradient-boosting": "sklearn.ensemble.HistGradientBoostingClassifier",
}


def _estimator_help() -> str:
    return (", ".join(ESTIMATORS) + ", or the import path of a scikit-learn classifier "
            "with predict_proba (e.g. sklearn.ensemble.ExtraTreesClassifier)")


def resolve_estimator(name: str, params: dict[str, Any] | None = None) -> str:
    """The import path of an estimator given by short name or import path, checked.

    The class must be a scikit-learn classifier that, built with ``params``, has
    ``predict_proba`` (the Monte Carlo needs probabilities).

    Raises
    ------
    catalog.errors.InputError
        Naming the allowed estimators when ``name`` is neither.
    """
    from sklearn.base import is_classifier

    from catalog.errors import InputError

    path = ESTIMATORS.get(name, name)
    module_name, _, cls_name = path.rpartition(".")
    cls = None
    if module_name and cls_name:
        try:
            cls = getattr(importlib.import_module(module_name), cls_name, None)
        except ImportError:
            cls = None
    if not isinstance(cls, type):
        raise InputError(f"--estimator {name!r}: not a known estimator; use "
                         f"{_estimator_help()}")
    try:
        est = cls(**(params or {}))
    except TypeError as exc:
        raise InputError(f"--estimator {name!r} with parameters {params}: {exc}") from None
    if not is_classifier(est) or not hasattr(est, "predict_proba"):
        raise InputError(f"--estimator {name!r} is not a scikit-learn classifier with "
                         f"predict_proba; use {_estimator_help()}")
    return path


def default_params(estimator: str, feature_set: str) -> dict[str, Any]:
    """The estimator parameters a run gets unless told otherwise: for the random forest,
    :data:`LIVECAT_PARAMS` with livecat's features (the configuration the evaluation
    chose) and :data:`DEFAULT_PARAMS` (the reference's) with the reference features;
    the estimator's own defaults for any other estimator."""
    if estimator != DEFAULT_ESTIMATOR:
        return {}
    return dict(DEFAULT_PARAMS if feature_set == "reference" else LIVECAT_PARAMS)


def load_estimator(path: str, params: dict[str, Any] | None = None, seed: int | None = None):
    """Instantiate a scikit-learn classifier from its import path.

    Parameters
    ----------
    path : str
        Dotted path, e.g. ``"sklearn.ensemble.RandomForestClassifier"``.
    params : dict, optional
        Constructor parameters.
    seed : int, optional
        Set as ``random_state`` when the estimator has that parameter and ``params``
        does not set it.

    Returns
    -------
    estimator
        An unfitted estimator.
    """
    module_name, _, cls_name = path.rpartition(".")
    if not module_name:
        raise ValueError(f"estimator {path!r} is not a dotted import path")
    cls = getattr(importlib.import_module(module_name), cls_name)
    est = cls(**(params or {}))
    if seed is not None and "random_state" in est.get_params() and "random_state" not in (params or {}):
        est.set_params(random_state=seed)
    return est


class SentinelSMOTE(BaseEstimator):
    """SMOTE that keeps missing values missing (the reference's ``oversampling``).

    Parameters
    ----------
    k_neighbors : int
        Neighbours used to interpolate (reference: 4).
    sampling_strategy : str, dict or float
        imbalanced-learn strategy; ``"not majority"`` (reference) raises every class to the
        largest class's count; a float r raises every smaller class to r times that count.
    random_state : int, optional
        Seed.
    """

    def __init__(self, k_neighbors: int = 4, sampling_strategy="not majority", random_state=None):
        self.k_neighbors = k_neighbors
        self.sampling_strategy = sampling_strategy
        self.random_state = random_state

    def fit(self, X, y):
        return self

    def fit_resample(self, X, y):
        """Oversample; return ``(X_resampled, y_resampled)`` with NaN for missing."""
        X = np.asarray(X, dtype=float)
        missing = np.isnan(X)
        col_min = np.min(np.where(missing, np.inf, X), axis=0)
        smallest = int(np.unique(np.asarray(y), return_counts=True)[1].min())
        if smallest < 2:
            raise ValueError("SMOTE needs at least 2 training sources in every class")
        # fewer neighbours than asked only when a class is too small for k (tiny subsets)
        strategy = self.sampling_strategy
        if isinstance(strategy, float):
            labels, counts = np.unique(np.asarray(y), return_counts=True)
            target = int(round(strategy * counts.max()))
            strategy = {c: max(int(n), target) for c, n in zip(labels, counts)}
        smote = SMOTE(
            sampling_strategy=strategy,
            k_neighbors=min(self.k_neighbors, smallest - 1),
            random_state=self.random_state,
        )
        X_res, y_res = smote.fit_resample(np.where(missing, _SMOTE_MISSING, X), y)
        X_res = np.asarray(X_res, dtype=float)
        X_res[X_res < col_min] = np.nan
        return X_res, y_res


class SentinelFiller(TransformerMixin, BaseEstimator):
    """Replace missing values (NaN) by a sentinel far outside the scaled data.

    Parameters
    ----------
    value : float
        Sentinel (reference: -100 after standard scaling).
    """

    def __init__(self, value: float = SENTINEL):
        self.value = value

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        X = np.asarray(X, dtype=float)
        return np.where(np.isnan(X), self.value, X)


def build_pipeline(
    estimator: str | BaseEstimator = DEFAULT_ESTIMATOR,
    params: dict[str, Any] | None = None,
    seed: int = 0,
    smote: bool = True,
    k_neighbors: int = 4,
    sampling_strategy="not majority",
    sentinel: float = SENTINEL,
) -> Pipeline:
    """Build the MUWCLASS pipeline: scaler, SMOTE (fit only), sentinel filler, estimator.

    Parameters
    ----------
    estimator : str or estimator
        Import path of a scikit-learn classifier, or an estimator instance (cloned).
    params : dict, optional
        Estimator parameters; defaults to the reference forest's when ``estimator`` is the
        default random forest.
    seed : int
        Seed for SMOTE and the estimator.
    smote : bool
        Oversample with :class:`SentinelSMOTE` when fitting.
    k_neighbors : int
        SMOTE neighbours.
    sampling_strategy : str, dict or float
        SMOTE sampling strategy (see :class:`SentinelSMOTE`).
    sentinel : float
        Value that stands for "missing" after scaling.

    Returns
    -------
    imblearn.pipeline.Pipeline
        Unfitted; ``fit(X, y)`` then ``predict_proba(X)`` with columns in ``classes_``.
    """
    if isinstance(estimator, str):
        if params is None and estimator == DEFAULT_ESTIMATOR:
            params = dict(DEFAULT_PARAMS)
        est = load_estimator(estimator, params, seed)
    else:
        est = clone(estimator)
        if params:
            est.set_params(**params)
        if "random_state" in est.get_params():
            est.set_params(random_state=seed)
    steps: list[tuple[str, Any]] = [("scale", StandardScaler())]
    if smote:
        steps.append(("smote", SentinelSMOTE(k_neighbors, sampling_strategy, random_state=seed)))
    steps += [("fill", SentinelFiller(sentinel)), ("model", est)]
    return Pipeline(steps)


@dataclass
class TrainConfig:
    """How to train one model (everything but the data).

    Attributes
    ----------
    estimator : str
        Import path of the classifier.
    params : dict or None
        Its parameters (None: the reference forest's).
    seed : int
        Seed for SMOTE, estimator and Monte Carlo.
    smote : bool
        Oversample with SMOTE when fitting.
    k_neighbors : int
        SMOTE neighbours.
    smote_strategy : str or float
        SMOTE target counts: ``"not majority"`` (reference) or a fraction of the largest
        class (see :class:`SentinelSMOTE`).
    options : FeatureOptions
        Feature groups.
    train_samples : int
        0: train on the measured values; n > 0: train on n Monte Carlo copies of every
        training source (the reference trains on a resampled training set per sample).
    calibration : str or None
        ``"isotonic"`` or ``"sigmoid"``: calibrate probabilities with an inner 3-fold CV
        on the training part only.
    sigma_scale : float
        Monte Carlo error scale.
    missing_error : str
        Monte Carlo treatment of magnitudes without error.
    """

    estimator: str = DEFAULT_ESTIMATOR
    params: dict[str, Any] | None = None
    seed: int = 0
    smote: bool = True
    k_neighbors: int = 4
    smote_strategy: str | float = "not majority"
    options: FeatureOptions = field(default_factory=FeatureOptions)
    train_samples: int = 0
    calibration: str | None = None
    sigma_scale: float = SIGMA_SCALE
    missing_error: str = "missing"


def fit_model(table: pd.DataFrame, labels: np.ndarray, config: TrainConfig):
    """Fit the pipeline on a training table.

    Parameters
    ----------
    table : pandas.DataFrame
        Training sources (measurements and errors).
    labels : array_like
        Their classes.
    config : TrainConfig
        Training choices.

    Returns
    -------
    estimator
        Fitted, with ``predict_proba`` and ``classes_``.
    """
    labels = np.asarray(labels)
    if config.train_samples > 0:
        samples = sample_measurements(
            table, config.train_samples, np.random.default_rng([config.seed, 7919]),
            config.sigma_scale, config.missing_error,
        )
        X = compute_features(samples, config.options).to_numpy(float)
        y = labels[samples["source"].to_numpy()]
    else:
        X = compute_features(table, config.options).to_numpy(float)
        y = labels
    pipe = build_pipeline(
        config.estimator, config.params, seed=config.seed, smote=config.smote,
        k_neighbors=config.k_neighbors, sampling_strategy=config.smote_strategy,
    )
    if config.calibration:
        model = CalibratedClassifierCV(pipe, method=config.calibration, cv=3)
    else:
        model = pipe
    return model.fit(X, y)
