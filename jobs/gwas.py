"""GWAS job: every configured trait on the training split -> Delta ``gwas_results``, plus a
Manhattan and a QQ plot per trait and a summary with lambda GC."""
from __future__ import annotations

import sys

import numpy as np
import pandas as pd

from jobs.runtime import base_parser, run_job


def build_parser():
    return base_parser("Genome-wide association for every configured trait.")


def gwas_covariates(config: dict, cohort: pd.DataFrame) -> list[str]:
    n_pcs = min(config["gwas"]["n_pcs"], sum(c.startswith("PC") for c in cohort.columns))
    return list(config["covariates"]) + [f"PC{i + 1}" for i in range(n_pcs)]


def gwas_samples(config: dict, cohort: pd.DataFrame) -> pd.DataFrame:
    """The GWAS's people: the training split, the unrelated set only when configured."""
    train = cohort[cohort["split"] == "train"].copy()
    if config["gwas"]["unrelated_only"] and "unrelated" in train:
        train = train[train["unrelated"].astype(bool)]
    return train


def run(ctx, args):
    from jobs.genotypes import mt_paths
    from jobs.session import start_hail
    cfg = ctx.config
    cohort = ctx.read_table("cohort")
    train = gwas_samples(cfg, cohort)
    covariates = gwas_covariates(cfg, cohort)
    cols = ["participant_id", *covariates, *{t["column"] for t in cfg["traits"]}]
    pheno = train[cols].copy()
    for c in pheno.columns[1:]:
        pheno[c] = pd.to_numeric(pheno[c], errors="coerce").astype("float64")
    ctx.log(f"GWAS on the training split: {len(pheno)} participants"
            f"{' (unrelated set)' if cfg['gwas']['unrelated_only'] else ''}, covariates {covariates}")

    hl = start_hail(cfg, ctx.job)
    from genomics.association import Trait, annotate_phenotypes, run_gwas
    _, qc_path = mt_paths(cfg)
    mt = hl.read_matrix_table(ctx.input_path(qc_path, "matrixtable"))
    pheno_ht = hl.Table.from_pandas(pheno, key="participant_id")
    mt = annotate_phenotypes(mt, pheno_ht)
    traits = [Trait(t["name"], t["type"], t["column"]) for t in cfg["traits"]]
    res = run_gwas(mt, traits, covariates)
    res = res.annotate(run_id=ctx.run_id)
    ctx.write_spark_table("gwas_results", res.to_spark())
    ctx.log("gwas_results written")

    df = ctx.lake.read("gwas_results", columns=["trait", "chromosome", "base_pair_location", "p_value", "n"])
    ctx.details["summary"] = _summaries(ctx, df, cfg["gwas"]["significance"])


def _summaries(ctx, df: pd.DataFrame, significance: float) -> list[dict]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from genomics.plots import lambda_gc, manhattan_figure, qq_figure
    rows = []
    for trait, d in df.groupby("trait"):
        lam = lambda_gc(d["p_value"].to_numpy())
        n_sig = int((d["p_value"] < significance).sum())
        rows.append({"trait": trait, "n_variants": len(d), "n_max": int(d["n"].max()),
                     "lambda_gc": round(float(lam), 4), "n_significant": n_sig,
                     "min_p": float(np.nanmin(d["p_value"]))})
        ctx.log(f"{trait}: lambda GC {lam:.3f}, {n_sig} variants with p < {significance:g}")
        for name, fig in [("manhattan", manhattan_figure(d, title=f"{trait}: GWAS", significance=significance)),
                          ("qq", qq_figure(d["p_value"].to_numpy(), title=f"{trait}: QQ"))]:
            fig.savefig(ctx.output_path(ctx.result_path("gwas", trait, f"{name}.png")), dpi=110)
            plt.close(fig)
    pd.DataFrame(rows).to_csv(ctx.output_path(ctx.result_path("gwas", "summary.tsv")), sep="\t", index=False)
    return rows


def main(argv=None) -> int:
    return run_job("gwas", run, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
