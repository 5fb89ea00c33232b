"""Report job: one HTML and one JSON report per participant who consented to individual
feedback, from ``risk_predictions``; stale reports (people no longer consented) are removed.
Reports are personal: the folder is 0700 and every report file 0600."""
from __future__ import annotations

import json
import os
import sys

import numpy as np
import pandas as pd

from jobs.runtime import base_parser, run_job

YES = {"yes", "y", "true", "1"}


def build_parser():
    return base_parser("Write the per-participant risk reports.")


def consented(cohort: pd.DataFrame, column: str | None) -> pd.Series:
    """True where ``column`` says yes; with no feedback column nobody consented (no report)."""
    if column is None or column not in cohort:
        return pd.Series(False, index=cohort.index)
    return cohort[column].astype("string").str.strip().str.lower().isin(YES).fillna(False)


def _write_atomic(path: str, text: str) -> None:
    """Write ``path`` whole (via a temporary file), owner-only (0600)."""
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)              # a leftover .tmp keeps its old mode otherwise
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def make_reports_dir(path: str) -> str:
    """The reports folder, owner-only (0700, also when an older run left it 0755)."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def run(ctx, args):
    from jobs.atomic import fresh_dir, replace_dir
    from models.reports import build_report, render_report_html, safe_filename
    from models.risk import percentile_of, risk_categories
    cfg = ctx.config
    preds = ctx.read_table("risk_predictions")
    cohort = ctx.read_table("cohort")
    for name in ("prs_scores", "gwas_results", "participants"):
        ctx.table_version_in(name)
    versions = {i["name"]: i["version"] for i in ctx.inputs if i["kind"] == "delta"}
    generated_at = ctx.started_at
    from phenotypes.consent import feedback_column
    has_records = ctx.lake.exists("consent") and len(ctx.read_table("consent", columns=["record_id"])) > 0
    column = feedback_column(has_records, cfg["consent_feedback_column"])
    keep = set(cohort.loc[consented(cohort, column).to_numpy(), "participant_id"])
    if column is None:
        ctx.log("no feedback consent information (no consent_feedback_column, no Consent records): no reports")
    else:
        ctx.log(f"{len(keep)} of {len(cohort)} cohort participants consented to individual feedback")
    ctx.details["feedback_consent"] = column or "none"

    per_trait = []
    for trait, d in preds.groupby("trait"):
        d = d.copy()
        ttype = d["trait_type"].iat[0]
        ref = d["predicted"].dropna().to_numpy()
        d["prs_percentile"] = percentile_of(d["prs"].to_numpy(), d["prs"].dropna().to_numpy())
        bands = cfg["reports"]["binary_bands" if ttype == "binary" else "quantitative_bands"]
        d["category"] = risk_categories(d["predicted"].to_numpy(), ref, ttype, bands)
        d["reference_mean"] = float(np.mean(ref))
        per_trait.append(d)
    allp = pd.concat(per_trait, ignore_index=True)
    allp = allp[allp["participant_id"].isin(keep)]

    # all or nothing: the reports are written into a fresh folder that replaces the old one at
    # the end, so a killed job never leaves old and new reports mixed
    final_dir = make_reports_dir(os.path.join(ctx.results, "reports"))
    out_dir = make_reports_dir(fresh_dir(final_dir))
    old_stems = {os.path.splitext(f)[0] for f in os.listdir(final_dir) if f.endswith((".json", ".html"))}
    written = set()
    for pid, d in allp.groupby("participant_id"):
        traits = [{
            "trait": r.trait, "trait_type": r.trait_type, "prs": _num(r.prs),
            "prs_percentile": _num(r.prs_percentile), "predicted": _num(r.predicted), "category": r.category,
            "reference_mean": _num(r.reference_mean), "model_name": r.model_name,
            "model_version": r.model_version, "mlflow_run_id": r.mlflow_run_id,
        } for r in d.itertuples()]
        report = build_report({"participant_id": pid, "traits": traits, "data_versions": versions,
                               "run_id": ctx.run_id, "generated_at": generated_at})
        stem = safe_filename(pid)
        _write_atomic(os.path.join(out_dir, f"{stem}.json"), json.dumps(report, indent=1, sort_keys=True))
        _write_atomic(os.path.join(out_dir, f"{stem}.html"), render_report_html(report))
        written.add(stem)
    removed = len(old_stems - written) * 2
    replace_dir(out_dir, final_dir)
    out_dir = final_dir
    ctx.output_path(out_dir, "reports")
    ctx.log(f"wrote {len(written)} reports (HTML + JSON); removed {removed} stale report files")
    cats = allp.groupby(["trait", "category"]).size()
    ctx.details.update({"reports": len(written), "removed": removed,
                        "categories": {f"{a}:{b}": int(n) for (a, b), n in cats.items()}})


def _num(x):
    return None if x is None or (isinstance(x, float) and np.isnan(x)) else float(x)


def main(argv=None) -> int:
    return run_job("reports", run, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
