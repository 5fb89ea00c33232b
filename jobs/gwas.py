"""GWAS job: every configured trait on the training split -> Delta ``gwas_results``, plus a
Manhattan and a QQ plot per trait and a summary with lambda GC.

No JVM: the QC-passed genotypes are read from the genotype job's PLINK .bed in blocks and
tested with the vectorised kernels of ``genomics/glm_arrays.py`` (PLINK 2 --glm semantics:
linear; logistic Wald with Firth fallback; missing genotypes dropped per variant)."""
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
    from jobs.genotypes import bed_prefix
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

    # the QC-passed genotypes as the genotype job left them (.bed; male non-PAR chrX calls 0/2,
    # PLINK's --xchr-model 2), read in blocks, each block once for all traits
    from genomics.glm_arrays import gwas_blocks
    from genomics.plink_bed import read_bed_rows, read_bim_fam
    prefix = bed_prefix(cfg)
    ctx.input_path(prefix + ".bed", "plink-bed")
    bim, fam = read_bim_fam(prefix)
    pos = {s: i for i, s in enumerate(fam["iid"])}
    pheno = pheno[pheno["participant_id"].isin(pos)].reset_index(drop=True)
    cols = np.array([pos[s] for s in pheno["participant_id"]], dtype=np.int64)
    variants = bim[["chromosome", "position", "ref", "alt"]]
    n_fam, n_var = len(fam), len(bim)

    def progress(done, total):
        ctx.log(f"  {done}/{total} variants")
    frames = list(gwas_blocks(lambda a, b: read_bed_rows(prefix, n_fam, a, b, cols), n_var, variants,
                              cfg["traits"], pheno, covariates, block=cfg["gwas"]["block_variants"],
                              firth_fallback=cfg["gwas"]["firth_fallback"], progress=progress))
    res = pd.concat(frames, ignore_index=True)
    res["run_id"] = ctx.run_id
    for t, d in res.groupby("trait"):
        ctx.log(f"{t}: " + ", ".join(f"{k} {v}" for k, v in d["test"].value_counts().items()))
    ctx.write_table("gwas_results", res)
    ctx.log("gwas_results written")

    df = ctx.lake.read("gwas_results", columns=["trait", "chromosome", "base_pair_location", "p_value", "n"])
    ctx.details["summary"] = _summaries(ctx, df, cfg["gwas"]["significance"])
    _export_ssf(ctx, res, pheno)


def _export_ssf(ctx, res: pd.DataFrame, pheno: pd.DataFrame) -> None:
    """Per trait: results/gwas/<trait>/<trait>.tsv.gz (GWAS-SSF) and its -meta.yaml."""
    import gzip
    import hashlib
    import os
    import yaml
    from genomics.gwas_ssf import ssf_metadata, to_gwas_ssf
    cfg = ctx.config
    for t in cfg["traits"]:
        d = to_gwas_ssf(res[res["trait"] == t["name"]])
        path = ctx.result_path("gwas", t["name"], f"{t['name']}.tsv.gz")
        tmp = path + ".tmp"
        with gzip.open(tmp, "wt", compresslevel=6) as fh:
            d.to_csv(fh, sep="\t", index=False, na_rep="NA", float_format="%.6g")
        os.replace(tmp, path)
        md5 = hashlib.md5(open(path, "rb").read()).hexdigest()
        y = pd.to_numeric(pheno[t["column"]], errors="coerce")
        meta = ssf_metadata(t, os.path.basename(path), md5, int(y.notna().sum()), cfg["reference_genome"],
                            n_cases=int((y == 1).sum()) if t["type"] == "binary" else None)
        with open(path + "-meta.yaml", "w") as fh:
            yaml.safe_dump(meta, fh, sort_keys=False)
        ctx.output_path(path)
    ctx.log("GWAS-SSF files written: results/gwas/<trait>/<trait>.tsv.gz (+ -meta.yaml)")


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
