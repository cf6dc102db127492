"""Stratified k-fold cross-validation of the MUWCLASS pipeline with Monte Carlo.

The reference (Yang et al. 2022, arXiv:2206.13656, Sect. 4; huiyang-astro/MUWCLASS_CSCv2,
``codes/Evaluation/``) evaluated by leave-one-out; livecat uses stratified k-fold (default
10). In every fold the model, its scaler, SMOTE and any calibration are fitted on the
training part only; the held-out sources are classified through their Monte Carlo samples
(:func:`classify.montecarlo.classify_mc`) and scored on the aggregated prediction. Reported
for all sources and for the confident subset: overall accuracy, balanced (class-averaged)
accuracy, per-class precision and recall, and the confusion matrix (text and PNG).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix
from sklearn.model_selection import StratifiedKFold

from classify.model import TrainConfig, fit_model
from classify.montecarlo import classify_mc
from classify.reddening import EBV_BIN_EDGES, ebv_bins, reddened_training


def cross_validate_mc(
    table: pd.DataFrame,
    labels: np.ndarray,
    config: TrainConfig = TrainConfig(),
    n_splits: int = 10,
    n_samples: int = 100,
    ebv: np.ndarray | None = None,
    ebv_edges: tuple[float, ...] = EBV_BIN_EDGES,
) -> pd.DataFrame:
    """Stratified k-fold cross-validation with Monte Carlo classification of held-out sources.

    Parameters
    ----------
    table : pandas.DataFrame
        Sources with measurements and errors.
    labels : array_like
        True classes.
    config : TrainConfig
        Training choices (fitted per fold on the training part only).
    n_splits : int
        Number of folds.
    n_samples : int
        Monte Carlo samples per held-out source.
    ebv : array_like, optional
        Line-of-sight E(B-V) of every source. When given, AGN reddening is on, exactly as
        ``classify run`` of a ``--redden-agn`` run does it: held-out sources are grouped
        in the E(B-V) bins of ``ebv_edges`` (:func:`classify.reddening.ebv_bins`) and
        each bin is classified by a model whose training AGN are reddened to the bin's
        fixed E(B-V) (:func:`classify.reddening.reddened_training`; bin 0 unreddened) --
        one model per bin, not per source.
    ebv_edges : tuple of float
        Bin edges of E(B-V) (default :data:`classify.reddening.EBV_BIN_EDGES`, as
        classification).

    Returns
    -------
    pandas.DataFrame
        Per source (index of ``table``): ``true_Class``, ``fold``, ``ebv_model`` (E(B-V)
        the training AGN were reddened to: 0 in bin 0, NaN without reddening) and the
        columns of :func:`classify.montecarlo.aggregate_probabilities`.
    """
    labels = np.asarray(labels)
    bins = None if ebv is None else ebv_bins(np.asarray(ebv, dtype=float), ebv_edges)
    folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=config.seed)
    parts = []
    for k, (train, test) in enumerate(folds.split(np.zeros(len(labels)), labels)):
        groups = [(test, None)] if bins is None else [(test[bins[test] == b], b)
                                                      for b in np.unique(bins[test])]
        for idx, ebv_bin in groups:
            train_table, ebv_model = table.iloc[train], np.nan
            if ebv_bin is not None:
                train_table, ebv_model = reddened_training(train_table, labels[train],
                                                           ebv_bin, ebv_edges)
            model = fit_model(train_table, labels[train], config)
            res = classify_mc(
                model, table.iloc[idx], n_samples, seed=config.seed * 1000 + k,
                options=config.options, sigma_scale=config.sigma_scale,
                missing_error=config.missing_error,
            )
            res.insert(0, "ebv_model", ebv_model)
            res.insert(0, "fold", k)
            res.insert(0, "true_Class", labels[idx])
            parts.append(res)
    return pd.concat(parts).loc[table.index]


def reliability(result: pd.DataFrame, n_bins: int = 10) -> tuple[pd.DataFrame, float, float]:
    """Reliability curve of the predicted-class probability, ECE and Brier score.

    Parameters
    ----------
    result : pandas.DataFrame
        Output of :func:`cross_validate_mc`.
    n_bins : int
        Equal-width probability bins.

    Returns
    -------
    (pandas.DataFrame, float, float)
        Per bin: count, mean predicted probability, observed accuracy; the expected
        calibration error (count-weighted mean |accuracy - probability|); the multi-class
        Brier score of the mean probabilities.
    """
    prob = result["Class_prob"].to_numpy(float)
    hit = (result["Class"] == result["true_Class"]).to_numpy(float)
    edges = np.linspace(0, 1, n_bins + 1)
    which = np.clip(np.digitize(prob, edges) - 1, 0, n_bins - 1)
    rows = []
    for b in range(n_bins):
        m = which == b
        if m.any():
            rows.append({"lo": edges[b], "hi": edges[b + 1], "n": int(m.sum()),
                         "mean_prob": prob[m].mean(), "accuracy": hit[m].mean()})
    curve = pd.DataFrame(rows)
    ece = float((curve["n"] * (curve["accuracy"] - curve["mean_prob"]).abs()).sum() / len(prob))
    classes = [c[2:] for c in result.columns if c.startswith("P_") and not c.startswith(("P_med_", "P_lo_", "P_hi_"))]
    p = result[[f"P_{c}" for c in classes]].to_numpy(float)
    onehot = (result["true_Class"].to_numpy()[:, None] == np.array(classes)[None, :]).astype(float)
    brier = float(((p - onehot) ** 2).sum(axis=1).mean())
    return curve, ece, brier


def classification_metrics(true: np.ndarray, pred: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """Overall and balanced accuracy, per-class precision and recall, confusion matrix.

    Parameters
    ----------
    true, pred : array_like
        True and predicted classes.
    classes : list of str
        Class order of the confusion matrix and per-class figures.

    Returns
    -------
    dict
        ``n``, ``overall``, ``balanced`` (mean recall over classes with true members),
        ``precision`` and ``recall`` (dicts, NaN when undefined), ``support`` and
        ``confusion`` (rows true, columns predicted).
    """
    true, pred = np.asarray(true), np.asarray(pred)
    cm = confusion_matrix(true, pred, labels=classes)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    diag = np.diag(cm).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(support > 0, diag / support, np.nan)
        precision = np.where(predicted > 0, diag / predicted, np.nan)
    return {
        "n": int(len(true)),
        "overall": float(diag.sum() / max(len(true), 1)),
        "balanced": float(np.nanmean(recall)) if np.any(support > 0) else float("nan"),
        "precision": dict(zip(classes, precision.tolist())),
        "recall": dict(zip(classes, recall.tolist())),
        "support": dict(zip(classes, support.tolist())),
        "confusion": cm,
    }


def evaluate(result: pd.DataFrame, classes: list[str] | None = None) -> dict[str, Any]:
    """Metrics of a cross-validation result for all sources and the confident subset.

    Parameters
    ----------
    result : pandas.DataFrame
        Output of :func:`cross_validate_mc`.
    classes : list of str, optional
        Class order (default: sorted true classes).

    Returns
    -------
    dict
        ``all`` and ``confident`` metrics and ``confident_fraction``.
    """
    classes = classes or sorted(result["true_Class"].unique())
    conf = result[result["confident"]]
    return {
        "classes": classes,
        "all": classification_metrics(result["true_Class"], result["Class"], classes),
        "confident": classification_metrics(conf["true_Class"], conf["Class"], classes),
        "confident_fraction": float(result["confident"].mean()),
    }


def format_confusion(cm: np.ndarray, classes: list[str]) -> str:
    """Confusion matrix as text: rows true class, columns predicted class."""
    width = max(8, max(len(c) for c in classes) + 1)
    head = "true\\pred".ljust(width) + "".join(c.rjust(width) for c in classes)
    lines = [head]
    for c, row in zip(classes, cm):
        lines.append(c.ljust(width) + "".join(str(v).rjust(width) for v in row))
    return "\n".join(lines)


def format_report(report: dict[str, Any]) -> str:
    """Human-readable text of :func:`evaluate` output."""
    classes = report["classes"]
    out = []
    for key, title in (("all", "All sources"), ("confident", "Confident subset")):
        m = report[key]
        out.append(f"{title}: n={m['n']}  overall={m['overall']:.3f}  balanced={m['balanced']:.3f}")
        out.append("  class      support  precision  recall")
        for c in classes:
            out.append(
                f"  {c:<10} {m['support'][c]:>7}  {m['precision'][c]:>9.3f}  {m['recall'][c]:>6.3f}"
            )
        out.append(format_confusion(m["confusion"], classes))
        out.append("")
    out.append(f"Confident fraction: {report['confident_fraction']:.3f}")
    return "\n".join(out)


def plot_confusion(cm: np.ndarray, classes: list[str], path: str | Path, title: str = "") -> Path:
    """Write a recall-normalised confusion matrix (counts annotated) as a PNG.

    Parameters
    ----------
    cm : numpy.ndarray
        Confusion matrix, rows true, columns predicted.
    classes : list of str
        Class labels.
    path : str or Path
        Output PNG.
    title : str
        Figure title.

    Returns
    -------
    Path
        The written file.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(cm)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.nan_to_num(cm / cm.sum(axis=1, keepdims=True))
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), [f"{c} ({n})" for c, n in zip(classes, cm.sum(axis=1))])
    ax.set_xlabel("Predicted class")
    ax.set_ylabel("True class")
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, f"{frac[i, j]:.2f}\n{cm[i, j]}", ha="center", va="center",
                    color="white" if frac[i, j] > 0.5 else "black", fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
