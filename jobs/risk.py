"""Risk-model job: per trait, PRS + covariates vs covariates alone, fitted on the validation
split (people the GWAS did not see) and evaluated on the test split; logged to MLflow and
registered; predictions for every cohort participant -> Delta ``risk_predictions``."""
from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd

from jobs.runtime import base_parser, run_job


def build_parser():
    return base_parser("Fit, evaluate, log and register a risk model per trait.")


def model_frame(cohort: pd.DataFrame, scores: pd.DataFrame, trait: str) -> pd.DataFrame:
    s = scores[(scores["trait"] == trait) & scores["selected"]][["participant_id", "score", "p_threshold"]]
    return cohort.merge(s.rename(columns={"score": "prs"}), on="participant_id", how="inner")


def run(ctx, args):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from jobs.mlflow_store import settle_unfinished, tracking
    from models.plots import calibration_figure, predicted_vs_observed_figure, roc_figure
    from models.risk import fit_and_evaluate, predict_risk
    from models.tracking import log_risk_model, make_input_example
    cfg = ctx.config
    cohort = ctx.read_table("cohort")
    scores = ctx.read_table("prs_scores")
    versions = {i["name"]: i["version"] for i in ctx.inputs if i["kind"] == "delta"}
    uri, experiment, artifacts = tracking(cfg)
    # an earlier risk job killed or failed part-way: its runs end as KILLED, its versions go
    runs = ctx.lake.read("runs", columns=["run_id", "job", "status"]) if ctx.lake.exists("runs") else None
    done = set() if runs is None else set(runs.loc[(runs["job"] == "risk") & (runs["status"] == "succeeded"), "run_id"])
    ctx.details["mlflow_settled"] = settle_unfinished(experiment, done)
    if ctx.details["mlflow_settled"]["runs_orphaned"]:
        ctx.log(f"MLflow: settled an interrupted earlier risk job: {ctx.details['mlflow_settled']}")
    covs = list(cfg["covariates"])
    preds, summary, mlflow_runs = [], [], []
    no_score = {}
    for t in cfg["traits"]:
        df = model_frame(cohort, scores, t["name"])
        if df.empty:
            # the prs job built no score for this trait (its log says why): no model either
            no_score[t["name"]] = "no polygenic score"
            ctx.log(f"WARNING: {t['name']}: no polygenic score, so no risk model and no report section")
            continue
        for c in [t["column"], *covs, "prs"]:
            df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
        res = fit_and_evaluate(df, t["column"], t["type"], covs, prs_column="prs",
                               train_mask=(df["split"] == "validation").to_numpy(),
                               test_mask=(df["split"] == "test").to_numpy())
        tp = res.test_predictions
        if t["type"] == "binary":
            figs = {"roc.png": roc_figure(tp["y_true"], tp["pred_full"], tp["pred_base"], f"{t['name']}: ROC (test)"),
                    "calibration.png": calibration_figure(tp["y_true"], tp["pred_full"], f"{t['name']}: calibration (test)")}
        else:
            figs = {"calibration.png": predicted_vs_observed_figure(tp["y_true"], tp["pred_full"], tp["pred_base"],
                                                                    f"{t['name']}: predicted vs observed (test)")}
        name = f"genolake_{cfg['cohort']}_{t['name']}_risk"
        tracked = log_risk_model(
            res, experiment_name=experiment, registered_model_name=name,
            params={"trait": t["name"], "trait_type": t["type"], "covariates": ",".join(covs),
                    "prs_p_threshold": float(df["p_threshold"].iloc[0]), "fit_split": "validation",
                    "eval_split": "test"},
            tags={"genolake_run_id": ctx.run_id, "data_versions": json.dumps(versions, sort_keys=True)},
            input_example=make_input_example(df, res.feature_names), figures=figs,
            artifact_location=artifacts)
        for name_, fig in figs.items():
            fig.savefig(ctx.output_path(ctx.result_path("models", t["name"], name_)), dpi=110)
            plt.close(fig)
        metrics = {k: float(v) for k, v in res.metrics.items()}
        with open(ctx.output_path(ctx.result_path("models", t["name"], "metrics.json")), "w") as fh:
            json.dump({"model": name, "version": tracked.model_version, "mlflow_run_id": tracked.run_id,
                       "metrics": metrics}, fh, indent=1, sort_keys=True)
        key = ["auc_full", "auc_base", "auc_gain", "auc_gain_ci_low"] if t["type"] == "binary" \
            else ["r2_full", "r2_base", "incremental_r2", "incremental_r2_ci_low"]
        ctx.log(f"{t['name']}: " + ", ".join(f"{k} {metrics[k]:.4f}" for k in key if k in metrics)
                + f"; registered {name} v{tracked.model_version}")
        pred = predict_risk(res.full_model, df, res.feature_names)
        preds.append(pd.DataFrame({
            "participant_id": df["participant_id"], "trait": t["name"], "trait_type": t["type"],
            "prs": df["prs"], "predicted": pred, "split": df["split"], "model_name": name,
            "model_version": str(tracked.model_version), "mlflow_run_id": tracked.run_id}))
        summary.append(summary_row(t["name"], name, tracked.model_version, metrics))
        mlflow_runs.append(tracked.run_id)
    out = pd.concat(preds, ignore_index=True)
    out["run_id"] = ctx.run_id
    ctx.write_table("risk_predictions", out)
    pd.DataFrame(summary).to_csv(ctx.output_path(ctx.result_path("models", "summary.tsv")), sep="\t", index=False)
    ctx.mlflow_run_id = ",".join(mlflow_runs)
    ctx.details["models"] = summary
    ctx.details["no_model"] = no_score
    ctx.details["tracking_uri"] = uri


def summary_row(trait: str, model: str, version, metrics: dict) -> dict:
    """One row of ``results/models/summary.tsv``: trait, model, version, then the metrics with the
    fit set named for the split it is (models are fitted on ``validation``, evaluated on ``test``:
    ``n_train`` -> ``n_validation``, ``*_train`` -> ``*_validation``) and counts (``n_*``) as integers."""
    row = {"trait": trait, "model": model, "version": int(version) if str(version).isdigit() else version}
    for k, v in metrics.items():
        name = k[:-len("_train")] + "_validation" if k.endswith("_train") else k
        if name.startswith("n_") and v == v:  # not NaN
            v = int(round(v))
        row[name] = v
    return row


def main(argv=None) -> int:
    return run_job("risk", run, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
