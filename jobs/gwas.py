"""GWAS gather job: the scatter chunks' parts (``jobs/gwas_chunk.py``) -> the Delta table
``gwas_results``; then per trait lambda GC, lead loci by LD clumping (Delta ``gwas_loci``),
Manhattan and QQ plots, a summary page, and the GWAS-SSF export."""
from __future__ import annotations

import os
import sys

import numpy as np
import pandas as pd

from jobs.runtime import base_parser, run_job


def build_parser():
    return base_parser("Gather the GWAS chunks into gwas_results; loci, plots, summary pages, GWAS-SSF.")


def run(ctx, args):
    from jobs.gwas_inputs import gwas_inputs
    cfg = ctx.config
    inp = gwas_inputs(ctx)
    if cfg["gwas"]["engine"] == "spark":
        res = _gwas_on_blocks(ctx, inp)
    else:
        res = _gather_chunks(ctx, inp)
    traits = [t["name"] for t in cfg["traits"]]
    loci = _loci(ctx, res, inp)
    ctx.write_table("gwas_loci", loci.assign(run_id=ctx.run_id))
    ctx.log(f"gwas_loci written: " + ", ".join(f"{t} {int((loci['trait'] == t).sum())}" for t in traits))
    ctx.details["samples"] = {"sample_set": inp.sample_set, "covariates": list(inp.covariates), **inp.counts}
    ctx.details["summary"] = _summaries(ctx, res, loci, inp)
    _export_ssf(ctx, res, inp.pheno)


def _gwas_on_blocks(ctx, inp) -> pd.DataFrame:
    """Every trait on each block of the QC-passed genotype store, one Spark task per block;
    the tasks write gwas_results' Parquet files, committed here as one version. Returns the
    table's rows, per trait in the genotypes' variant order (for loci, plots and export)."""
    import pyarrow as pa
    from jobs.block_tasks import gwas_block_task
    from jobs.genotype_store import BlockSource, store_path
    from jobs.genotypes import qc_store_name
    from jobs.schemas import declared_schema
    cfg = ctx.config
    store = store_path(cfg["lake"], qc_store_name(cfg))
    src = BlockSource(ctx.input_path(store, "genotype-store"))
    if list(src.samples) != list(inp.samples):
        raise ValueError(f"{store}: its samples are not the QC-passed .fam's; rerun the genotypes job")
    rt = ctx.blocks()
    pheno = rt.sc.broadcast(inp.pheno)
    task = gwas_block_task(store, inp.cols, cfg["traits"], pheno, inp.covariates,
                           {k: cfg["gwas"][k] for k in ("block_variants", "firth_fallback", "binary_test")}, ctx.run_id)
    schema = declared_schema("gwas_results")
    counts, adds = rt.write_parts(f"GWAS of {len(cfg['traits'])} trait(s) over {src.n_blocks} genotype blocks",
                                  list(range(src.n_blocks)), task, ctx.lake.path("gwas_results"), schema)
    pheno.unpersist()
    version = ctx.lake.commit_parts("gwas_results", adds, schema)
    ctx.outputs.append({"kind": "delta", "name": "gwas_results", "version": version})
    ctx.log(f"gwas_results written: {sum(counts)} rows in {len(adds)} files, one commit (version {version})")
    res = ctx.lake.read("gwas_results", version=version)
    order = pd.Series(np.arange(len(inp.variant_ids)), index=inp.variant_ids)
    order = order[~order.index.duplicated()]
    res["_row"] = order.reindex(res["variant_id"]).to_numpy()
    trait_rank = {t["name"]: i for i, t in enumerate(cfg["traits"])}
    res["_trait"] = res["trait"].map(trait_rank)
    return (res.sort_values(["_trait", "_row"], kind="stable").drop(columns=["_row", "_trait"])
            .reset_index(drop=True))


def _gather_chunks(ctx, inp) -> pd.DataFrame:
    """The scatter chunks' parts (gwas.engine: chunks) -> gwas_results."""
    from genomics.chunks import genome_chunks
    from jobs.gwas_inputs import part_path
    cfg = ctx.config
    n_chunks = cfg["gwas"]["chunks"]
    chunks = genome_chunks(inp.bim["chromosome"], inp.bim["position"], n_chunks)
    traits = [t["name"] for t in cfg["traits"]]
    vids = inp.variant_ids
    parts = []
    for c in chunks:
        path = ctx.input_file(part_path(ctx, c.index, n_chunks))
        part = pd.read_parquet(path)
        want = (c.stop - c.start) * len(traits)
        ids = vids[[c.start, c.stop - 1]].tolist() if c.stop > c.start else []
        got = part["variant_id"].iloc[[0, -1]].tolist() if len(part) else []
        if len(part) != want or (want and got != ids) or set(part["trait"]) - set(traits):
            raise ValueError(f"{path}: not chunk {c.index + 1}/{n_chunks} of the current genotypes and traits "
                             f"({len(part)} rows, expected {want}); rerun its gwas_chunk job")
        parts.append(part)
    res = pd.concat(parts, ignore_index=True)
    res["run_id"] = ctx.run_id
    ctx.log(f"gathered {n_chunks} chunk(s): {len(res)} rows")
    ctx.write_table("gwas_results", res)
    ctx.log("gwas_results written")
    return res


def _loci(ctx, res: pd.DataFrame, inp) -> pd.DataFrame:
    """Clump each trait's hits over the GWAS samples' genotypes (PLINK 1.9 --clump semantics)."""
    from genomics.loci import LOCI_COLUMNS, lead_loci
    from genomics.plink_bed import read_bed_selected
    lc = ctx.config["gwas"]["loci"]
    p1 = lc["p1"] if lc["p1"] is not None else ctx.config["gwas"]["significance"]
    out = []
    for trait, d in res.groupby("trait", sort=False):
        # a trait's rows are in the genotype file's order (chunks gathered in order), one per variant
        rows = np.flatnonzero((d["p_value"] <= lc["p2"]).to_numpy())
        cand = d.iloc[rows]
        if not (cand["p_value"] <= p1).any():
            continue
        calls = read_bed_selected(inp.prefix, inp.n_fam, rows, inp.cols)
        out.append(lead_loci(cand, calls, p1=p1, p2=lc["p2"], r2=lc["r2"], kb=lc["kb"],
                             haploid=inp.haploid(cand, ctx.config["reference_genome"])))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=LOCI_COLUMNS)


def _export_ssf(ctx, res: pd.DataFrame, pheno: pd.DataFrame) -> None:
    """Per trait: results/gwas/<trait>/<trait>.tsv.gz (GWAS-SSF) and its -meta.yaml."""
    import gzip
    import hashlib
    import yaml
    from genomics.gwas_ssf import ssf_metadata, to_gwas_ssf
    cfg = ctx.config
    for t in cfg["traits"]:
        d = to_gwas_ssf(res[res["trait"] == t["name"]])
        path = ctx.result_path("gwas", t["name"], f"{t['name']}.tsv.gz")
        tmp = path + ".tmp"
        try:
            with gzip.open(tmp, "wt", compresslevel=6) as fh:
                d.to_csv(fh, sep="\t", index=False, na_rep="NA", float_format="%.6g")
            os.replace(tmp, path)
        except OSError as e:          # a full disk: no truncated .tmp left, the path and cause named
            if os.path.exists(tmp):
                os.remove(tmp)
            raise OSError(e.errno, f"could not write {path}: {e.strerror}") from e
        md5 = hashlib.md5(open(path, "rb").read()).hexdigest()
        y = pd.to_numeric(pheno[t["column"]], errors="coerce")
        meta = ssf_metadata(t, os.path.basename(path), md5, int(y.notna().sum()), cfg["reference_genome"],
                            n_cases=int((y == 1).sum()) if t["type"] == "binary" else None)
        with open(path + "-meta.yaml", "w") as fh:
            yaml.safe_dump(meta, fh, sort_keys=False)
        ctx.output_path(path)
    ctx.log("GWAS-SSF files written: results/gwas/<trait>/<trait>.tsv.gz (+ -meta.yaml)")


def _summaries(ctx, res: pd.DataFrame, loci: pd.DataFrame, inp) -> list[dict]:
    """Per trait: the sample set with its counts (QC-passed participants -> in the sample set ->
    unrelated -> with the phenotype) and covariates, lambda GC, counts, the Manhattan (loci labelled) and QQ plots and the summary
    page results/gwas/<trait>/gwas_summary.html; results/gwas/summary.tsv over all traits."""
    from genomics.plots import lambda_gc
    from jobs.gwas_report import write_trait_page
    cfg = ctx.config
    significance = cfg["gwas"]["significance"]
    rows = []
    for t in cfg["traits"]:
        d = res[res["trait"] == t["name"]]
        lam = lambda_gc(d["p_value"].to_numpy())
        n_sig = int((d["p_value"] < significance).sum())
        y = inp.pheno[t["column"]].dropna()
        c = inp.counts
        row = {"trait": t["name"], "sample_set": inp.sample_set, "covariates": ",".join(inp.covariates),
               "n_qc_passed": c["cohort"], "n_in_sample_set": c["sample_set"], "n_unrelated": c["unrelated"],
               "n_with_phenotype": int(len(y)), "n_variants": len(d), "n_max": int(d["n"].max()) if len(d) else 0,
               "lambda_gc": round(float(lam), 4), "n_significant": n_sig,
               "n_loci": int((loci["trait"] == t["name"]).sum()),
               "min_p": float(np.nanmin(d["p_value"])) if d["p_value"].notna().any() else float("nan")}
        rows.append(row)
        ctx.log(f"{t['name']}: lambda GC {lam:.3f}, {n_sig} variants with p < {significance:g}, "
                f"{row['n_loci']} loci")
        samples = {"sample set": inp.sample_set, "covariates": ", ".join(inp.covariates) or "none",
                   "QC-passed participants": c["cohort"], "in the sample set": c["sample_set"],
                   "after the unrelated filter": c["unrelated"], "with genotypes and this phenotype": int(len(y))}
        samples.update({"cases": int((y == 1).sum()), "controls": int((y == 0).sum())} if t["type"] == "binary"
                       else {"samples": int(len(y))})
        for path in write_trait_page(ctx, t, d, loci[loci["trait"] == t["name"]], row, samples, cfg):
            ctx.output_path(path)
    pd.DataFrame(rows).to_csv(ctx.output_path(ctx.result_path("gwas", "summary.tsv")), sep="\t", index=False)
    return rows


def main(argv=None) -> int:
    return run_job("gwas", run, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
