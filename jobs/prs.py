"""PRS job: clumping + thresholding from the training-split GWAS, scores for every cohort
participant at every threshold in one pass, the threshold chosen on the validation split.
Writes Delta ``prs_weights`` and ``prs_scores`` (``selected`` marks the chosen threshold).

No JVM: the QC-passed genotypes are read from the genotype job's PLINK .bed, as the GWAS reads
them. Clumping as PLINK 1.9 --clump (EM haplotype r2 over the GWAS samples, every variant with
p at or below the largest threshold a candidate); scoring as PLINK --score (missing calls count
as twice the ALT frequency; male non-PAR chrX coded 0/2, the coding the GWAS betas are per)."""
from __future__ import annotations

import sys

import numpy as np
import pandas as pd

from genomics.errors import GenoLakeError
from jobs.runtime import base_parser, run_job


def build_parser():
    return base_parser("Clumping + thresholding PRS; threshold chosen on the validation split.")


def run(ctx, args):
    from genomics.clumping import clump_assign, r2_from_calls
    from genomics.plink_bed import read_bed_selected
    from genomics.scoring import score_blocks
    from jobs.gwas_inputs import gwas_inputs
    from models.prs import choose_threshold, threshold_weights
    cfg, pcfg = ctx.config, ctx.config["prs"]
    check_gwas_held_out(cfg)
    gwas = ctx.read_table("gwas_results")
    cohort = ctx.read_table("cohort")
    max_t = max(pcfg["p_thresholds"])
    # the genotypes as the GWAS read them (QC-passed .bed, no JVM); LD from the GWAS samples
    inp = gwas_inputs(ctx)
    ids = pd.Index(inp.variant_ids)
    row_of = pd.Series(np.arange(len(ids)), index=ids)[~ids.duplicated()]    # a repeated record: its first

    weights, no_score = [], {}
    for t in cfg["traits"]:
        d = gwas[(gwas["trait"] == t["name"]) & (gwas["p_value"] <= max_t)
                 & gwas["variant_id"].isin(row_of.index)].drop_duplicates("variant_id").reset_index(drop=True)
        rows = row_of.loc[d["variant_id"]].to_numpy()
        calls = read_bed_selected(inp.prefix, inp.n_fam, rows, inp.cols)
        assign = clump_assign(d["chromosome"].to_numpy(), d["base_pair_location"].to_numpy(), d["p_value"].to_numpy(),
                              r2_from_calls(calls, inp.haploid(d, cfg["reference_genome"])), r2=pcfg["clump_r2"],
                              window_bp=pcfg["clump_kb"] * 1000, p1=max_t, p2=max_t)
        mask = assign == np.arange(len(d))
        del calls
        w = threshold_weights(d, mask, pcfg["p_thresholds"])
        ctx.log(f"{t['name']}: {len(d)} candidate variants, {int(mask.sum())} index variants; per threshold "
                + ", ".join(f"{p:g}:{n}" for p, n in w.groupby("p_threshold").size().items()))
        if w.empty:
            # nothing to score: no PRS (and no risk model) for this trait; the others go on
            no_score[t["name"]] = f"no GWAS variant with p <= {max_t:g}"
            ctx.log(f"WARNING: {t['name']}: no GWAS variant with p <= {max_t:g} (the largest prs.p_thresholds): "
                    "no polygenic score for this trait")
            continue
        weights.append(w)
    if not weights:
        raise GenoLakeError(f"no trait has a GWAS variant with p <= {max_t:g} (the largest prs.p_thresholds): "
                         f"no polygenic score can be built; see {ctx.result_path('gwas')}")
    weights = pd.concat(weights, ignore_index=True)

    # One pass over the genotypes for every (trait, threshold) weight set.
    sets = (weights[["trait", "p_threshold"]].drop_duplicates().sort_values(["trait", "p_threshold"])
            .reset_index(drop=True))
    sets["k"] = np.arange(len(sets))
    wk = weights.merge(sets, on=["trait", "p_threshold"])
    vids = pd.Index(wk["variant_id"].unique())
    order = np.argsort(row_of.loc[vids].to_numpy(), kind="stable")        # file order: sequential reads
    vids = vids[order]
    wide = np.zeros((len(vids), len(sets)))
    wide[vids.get_indexer(wk["variant_id"]), wk["k"].to_numpy()] = wk["weight"].to_numpy()
    fam_pos = {s: i for i, s in enumerate(inp.samples)}
    people = cohort.loc[cohort["participant_id"].isin(fam_pos), "participant_id"].to_numpy()
    rows = row_of.loc[vids].to_numpy()
    if cfg["gwas"]["engine"] == "spark":
        scores = _score_on_blocks(ctx, rows, wide, np.array([fam_pos[s] for s in people], np.int64), len(sets))
    else:
        scores = score_blocks(lambda a, b: read_bed_selected(inp.prefix, inp.n_fam, rows[a:b]), len(rows), wide,
                              [fam_pos[s] for s in people])
    ctx.log(f"scored {len(people)} participants x {len(sets)} weight sets over {len(rows)} variants")

    long = pd.DataFrame({
        "participant_id": np.repeat(people, len(sets)),
        "k": np.tile(np.arange(len(sets)), len(people)),
        "score": scores.ravel(),
    }).merge(sets, on="k").drop(columns="k")

    covs = list(cfg["covariates"])
    val = cohort[cohort["split"] == "validation"]
    chosen, tables = {}, []
    for t in cfg["traits"]:
        if t["name"] in no_score:
            continue
        try:
            best, table = choose_threshold(long[long["trait"] == t["name"]], val, t["column"], covs, t["type"])
        except ValueError:
            no_score[t["name"]] = "no p-value threshold could be evaluated on the validation split"
            ctx.log(f"WARNING: {t['name']}: no p-value threshold could be evaluated on the validation split "
                    "(too few people with the trait and a score): no polygenic score for this trait")
            continue
        chosen[t["name"]] = best
        tables.append(table.assign(trait=t["name"], selected=table["p_threshold"] == best))
        ctx.log(f"{t['name']}: chosen p-value threshold {best:g} on the validation split")
    if not chosen:
        raise GenoLakeError("no trait's polygenic score could be evaluated on the validation split: "
                         + "; ".join(f"{k}: {v}" for k, v in no_score.items()))
    long["selected"] = [chosen.get(tr) == p for tr, p in zip(long["trait"], long["p_threshold"])]
    weights["selected"] = [chosen.get(tr) == p for tr, p in zip(weights["trait"], weights["p_threshold"])]
    long["run_id"] = weights["run_id"] = ctx.run_id
    ctx.write_table("prs_weights", weights)
    ctx.write_table("prs_scores", long[["participant_id", "trait", "p_threshold", "score", "selected", "run_id"]])
    pd.concat(tables).to_csv(ctx.output_path(ctx.result_path("prs", "threshold_choice.tsv")), sep="\t", index=False)
    ctx.details["chosen_thresholds"] = chosen
    ctx.details["no_score"] = no_score


def _score_on_blocks(ctx, rows: np.ndarray, wide: np.ndarray, cols: np.ndarray, n_sets: int) -> np.ndarray:
    """The scores as Spark tasks over the blocks of the QC-passed genotype store that hold a
    weighted variant: each task's (people x weight sets) partial sums, added by Spark."""
    from jobs.block_tasks import rows_by_block, score_block_task
    from jobs.genotype_store import BlockSource, store_path
    from jobs.genotypes import qc_store_name
    store = store_path(ctx.config["lake"], qc_store_name(ctx.config))
    src = BlockSource(ctx.input_path(store, "genotype-store"))
    starts, stops = src.blocks["start"].to_numpy(), src.blocks["stop"].to_numpy()
    local = rows_by_block(starts, stops, rows)
    offset = {k: int(np.searchsorted(rows, starts[k] + v[0])) for k, v in local.items()}
    plan = {k: (v, wide[offset[k]:offset[k] + len(v)]) for k, v in local.items()}
    assert all(np.array_equal(rows[offset[k]:offset[k] + len(v)] - starts[k], v) for k, v in local.items())
    rt = ctx.blocks()
    bc = rt.sc.broadcast(plan)
    scores = rt.sum(f"scoring {n_sets} weight set(s) over {len(plan)} genotype blocks", sorted(plan),
                    score_block_task(store, bc, cols))
    bc.unpersist()
    return np.zeros((len(cols), n_sets)) if scores is None else scores


class GwasNotHeldOutError(GenoLakeError):
    """The configuration asks for a PRS on a GWAS that saw the validation and test people."""

    exit_code = 2


def check_gwas_held_out(config: dict) -> None:
    """Stop unless the GWAS left the validation and test people out (``gwas.samples: train``):
    a threshold chosen, and a score tested, on people the GWAS saw would look better than it is."""
    if config["gwas"].get("samples", "train") != "train":
        raise GwasNotHeldOutError(
            f"gwas.samples is {config['gwas']['samples']!r}: the GWAS used the validation and test people, so the "
            "PRS cannot be chosen or evaluated on them. Set gwas.samples: train to run the PRS, risk and report "
            "stages, or run the workflow up to the GWAS only (snakemake ... gwas) for a discovery GWAS")


def main(argv=None) -> int:
    return run_job("prs", run, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
