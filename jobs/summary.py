"""Summary job: what the run produced and where, from the stage outputs. Also printed by
``make run`` (``python -m jobs.summary --configfile ... --print``)."""
from __future__ import annotations

import json
import os
import sys

import pandas as pd

from jobs.runtime import base_parser, run_job


def build_parser():
    p = base_parser("Summarise a run: key figures and where the results are.")
    p.add_argument("--out", help="write the summary here")
    p.add_argument("--print", action="store_true", help="only print an existing summary")
    return p


def summary_text(config: dict, lake) -> str:
    r = config["results"]
    trait_names = [t["name"] for t in config["traits"]]
    lines = ["GenoLake run summary", "====================", ""]
    qc = os.path.join(r, "qc", "qc_summary.tsv")
    if os.path.exists(qc):
        lines.append("Genotype QC (removed / remaining):")
        for row in pd.read_csv(qc, sep="\t").itertuples():
            lines.append(f"  {row.step:<18} {row.unit:<8} {row.removed:>7} / {row.remaining}")
    if lake.exists("quarantine") and lake.exists("participants"):
        q = lake.read("quarantine", columns=["source"])["source"].map(os.path.basename).value_counts()
        lines.append(f"Phenotypes: {len(lake.read('participants', columns=['participant_id']))} participants; "
                     f"{len(lake.read('observations', columns=['name'])) if lake.exists('observations') else 0} "
                     f"observations; quarantined per source: "
                     + (", ".join(f"{k} {v}" for k, v in sorted(q.items())) or "none"))
        dup = (phenotype_job_details(lake).get("set_aside") or {}).get("repeated_sample_id") or {}
        if dup.get("rows"):
            lines.append(f"  {dup['rows']} rows with a repeated sample ID set aside ({dup['reason']})")
    t = os.path.join(r, "phenotypes", "trait_summary.tsv")
    if os.path.exists(t) and os.path.getsize(t):
        lines.append("Traits (all participants):")
        for row in pd.read_csv(t, sep="\t").to_dict("records"):
            if row["type"] == "binary":
                lines.append(f"  {row['trait']:<20} {int(row['cases'])} cases, {int(row['controls'])} controls, "
                             f"{int(row['missing'])} missing")
            else:
                lines.append(f"  {row['trait']:<20} n={int(row['n'])} mean {row['mean']:.3g} sd {row['sd']:.3g} "
                             f"(5-95%: {row['p05']:.3g}-{row['p95']:.3g})")
    if lake.exists("cohort"):
        c = lake.read("cohort", columns=["split"])["split"].value_counts()
        lines.append("Cohort: " + ", ".join(f"{k} {v}" for k, v in sorted(c.items())))
    g = os.path.join(r, "gwas", "summary.tsv")
    if os.path.exists(g):
        lines.append("GWAS:")
        for row in pd.read_csv(g, sep="\t").itertuples():
            loci = f" lead loci={row.n_loci}" if hasattr(row, "n_loci") else ""
            lines.append(f"  {row.trait:<10} n={row.n_max} lambda_GC={row.lambda_gc:.3f} "
                         f"genome-wide significant variants={row.n_significant}{loci}")
    m = os.path.join(r, "models", "summary.tsv")
    if os.path.exists(m):
        lines.append("Risk models (fitted on the validation split, evaluated on the test split):")
        rows = pd.read_csv(m, sep="\t").to_dict("records") if os.path.getsize(m) > 1 else []
        for name in trait_names:
            if name not in {row["trait"] for row in rows}:
                lines.append(f"  {name:<10} no polygenic score, so no risk model (see {r}/logs/prs.log)")
        for row in rows:
            if "n_validation" in row:
                lines.append(f"  {row['trait']:<10} fitted on {int(row['n_validation'])}, "
                             f"evaluated on {int(row['n_test'])} people")
            if "auc_full" in row and pd.notna(row.get("auc_full")):
                lines.append(f"  {row['trait']:<10} AUC {row['auc_full']:.3f} vs {row['auc_base']:.3f} "
                             f"without PRS (gain {row['auc_gain']:+.3f}); {row['model']} v{row['version']}")
            else:
                lines.append(f"  {row['trait']:<10} R2 {row['r2_full']:.3f} vs {row['r2_base']:.3f} without "
                             f"PRS (incremental {row['incremental_r2']:+.3f}); {row['model']} v{row['version']}")
    n_reports = len([f for f in os.listdir(os.path.join(r, "reports")) if f.endswith(".html")]) \
        if os.path.isdir(os.path.join(r, "reports")) else 0
    if lake.exists("participants"):
        lines.append(consent_line(config, lake, n_reports))
    tables = ", ".join(_tables(config["lake"])) or "none yet"
    lines += ["", "Where the results are:",
              f"  lake (Delta tables)   {config['lake']}/  (tables: {tables})",
              f"  genotypes (Hail)      {config['lake']}/genotypes/",
              f"  QC report and plots   {r}/qc/",
              "  GWAS, one folder per trait (Manhattan, QQ, lead loci; GWAS-SSF table):"]
    lines += [f"    {name:<19} {r}/gwas/{name}/gwas_summary.html , {r}/gwas/{name}/{name}.tsv.gz"
              for name in trait_names]
    lines += [f"  PRS                   {r}/prs/threshold_choice.tsv",
              f"  models and plots      " + " , ".join(f"{r}/models/{name}/" for name in trait_names)
              + f" ; MLflow store {r}/mlflow/",
              f"  reports               {r}/reports/  ({n_reports} participants)",
              f"  logs, benchmarks      {r}/logs/ , {r}/benchmarks/"]
    return "\n".join(lines) + "\n"


def consent_line(config: dict, lake, n_reports: int) -> str:
    """Which consent information (or documented default) applied, with the counts."""
    from phenotypes.consent import current_consent, describe_consent
    n_participants = len(lake.read("participants", columns=["participant_id"]))
    consent = lake.read("consent") if lake.exists("consent") else None
    n_records = 0 if consent is None else len(consent)
    n_research = int(current_consent(consent)["research"].sum()) if n_records else n_participants
    return describe_consent(n_records, n_participants, n_research, config.get("consent_feedback_column"), n_reports)


def phenotype_job_details(lake) -> dict:
    """``details`` of the last successful phenotype job (the lake's run log), or {}."""
    from jobs.lineage import RUNS_TABLE
    if not lake.exists(RUNS_TABLE):
        return {}
    runs = lake.read(RUNS_TABLE, columns=["job", "status", "finished_at", "details"])
    runs = runs[(runs["job"] == "phenotypes") & (runs["status"] == "succeeded")]
    if runs.empty:
        return {}
    return json.loads(runs.sort_values("finished_at")["details"].iloc[-1] or "{}")


def _tables(root: str) -> list[str]:
    if not os.path.isdir(root):
        return []
    return sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d, "_delta_log")))


def run(ctx, args):
    text = summary_text(ctx.config, ctx.lake)
    out = args.out or ctx.result_path("summary.txt")
    with open(out + ".tmp", "w") as fh:
        fh.write(text)
    os.replace(out + ".tmp", out)
    ctx.output_path(out)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.print:
        from jobs.config import load_config
        cfg = load_config(args.configfile)
        path = os.path.join(cfg["results"], "summary.txt")
        if not os.path.exists(path):
            print(f"no summary at {path}: has the run finished?", file=sys.stderr)
            return 1
        print(open(path).read())
        return 0
    return run_job("summary", run, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
