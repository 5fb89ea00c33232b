"""PRS job: clumping + thresholding from the training-split GWAS, scores for every cohort
participant at every threshold in one pass, the threshold chosen on the validation split.
Writes Delta ``prs_weights`` and ``prs_scores`` (``selected`` marks the chosen threshold)."""
from __future__ import annotations

import sys

import numpy as np
import pandas as pd

from jobs.runtime import base_parser, run_job


def build_parser():
    return base_parser("Clumping + thresholding PRS; threshold chosen on the validation split.")


def run(ctx, args):
    from jobs.genotypes import mt_paths
    from jobs.gwas_inputs import gwas_covariates
    from jobs.session import start_hail
    from models.prs import choose_threshold, threshold_weights
    cfg, pcfg = ctx.config, ctx.config["prs"]
    gwas = ctx.read_table("gwas_results")
    cohort = ctx.read_table("cohort")
    max_t = max(pcfg["p_thresholds"])
    cand = gwas[gwas["p_value"] <= max_t]
    cand_keys = cand[["chromosome", "base_pair_location", "other_allele", "effect_allele"]].drop_duplicates()

    hl = start_hail(cfg, ctx.job)
    from genomics.clumping import clump, standardized_genotypes
    from genomics.scoring import score_samples
    _, qc_path = mt_paths(cfg)
    mt = hl.read_matrix_table(ctx.input_path(qc_path, "matrixtable"))

    # LD reference: the GWAS (train) samples; candidate variants only.
    keys_ht = hl.Table.from_pandas(cand_keys.rename(columns={"base_pair_location": "position"}))
    keys_ht = keys_ht.key_by(locus=hl.locus(keys_ht.chromosome, hl.int32(keys_ht.position)),
                             alleles=[keys_ht.other_allele, keys_ht.effect_allele])
    train_ids = hl.literal(set(cohort.loc[cohort["split"] == "train", "participant_id"]))
    ld_mt = mt.filter_cols(train_ids.contains(mt.s)).semi_join_rows(keys_ht)
    g, keys = standardized_genotypes(ld_mt)
    ctx.log(f"LD reference: {g.shape[0]} candidate variants x {g.shape[1]} training samples")
    keys = keys.rename(columns={"position": "base_pair_location", "ref": "other_allele", "alt": "effect_allele"})
    keys["row"] = np.arange(len(keys))

    weights = []
    for t in cfg["traits"]:
        d = cand[cand["trait"] == t["name"]].merge(
            keys, on=["chromosome", "base_pair_location", "other_allele", "effect_allele"])
        mask = clump(d["chromosome"].to_numpy(), d["base_pair_location"].to_numpy(), d["p_value"].to_numpy(),
                     g[d["row"].to_numpy()], r2=pcfg["clump_r2"], window_bp=pcfg["clump_kb"] * 1000)
        w = threshold_weights(d, mask, pcfg["p_thresholds"])
        ctx.log(f"{t['name']}: {int(mask.sum())} index variants; per threshold "
                + ", ".join(f"{p:g}:{n}" for p, n in w.groupby("p_threshold").size().items()))
        weights.append(w)
    weights = pd.concat(weights, ignore_index=True)
    del g

    # One pass over the genotypes for every (trait, threshold) weight set.
    sets = (weights[["trait", "p_threshold"]].drop_duplicates().sort_values(["trait", "p_threshold"])
            .reset_index(drop=True))
    sets["k"] = np.arange(len(sets))
    wk = weights.merge(sets, on=["trait", "p_threshold"])
    vkeys = wk[["chromosome", "base_pair_location", "other_allele", "effect_allele"]].drop_duplicates().reset_index(drop=True)
    vkeys["v"] = np.arange(len(vkeys))
    wk = wk.merge(vkeys, on=["chromosome", "base_pair_location", "other_allele", "effect_allele"])
    wide = np.zeros((len(vkeys), len(sets)))
    wide[wk["v"].to_numpy(), wk["k"].to_numpy()] = wk["weight"].to_numpy()
    wdf = vkeys.rename(columns={"base_pair_location": "position"}).copy()
    wdf["w"] = list(wide)
    w_ht = hl.Table.from_pandas(wdf[["chromosome", "position", "other_allele", "effect_allele", "w"]])
    w_ht = w_ht.key_by(locus=hl.locus(w_ht.chromosome, hl.int32(w_ht.position)),
                       alleles=[w_ht.other_allele, w_ht.effect_allele]).select("w")
    score_mt = mt.filter_cols(hl.literal(set(cohort["participant_id"])).contains(mt.s))
    scores = score_samples(score_mt, w_ht, len(sets)).to_pandas()
    ctx.log(f"scored {len(scores)} participants x {len(sets)} weight sets")

    long = pd.DataFrame({
        "participant_id": np.repeat(scores["s"].to_numpy(), len(sets)),
        "k": np.tile(np.arange(len(sets)), len(scores)),
        "score": np.concatenate(scores["scores"].map(np.asarray).to_list()) if len(scores) else [],
    }).merge(sets, on="k").drop(columns="k")

    covs = list(cfg["covariates"])
    val = cohort[cohort["split"] == "validation"]
    chosen, tables = {}, []
    for t in cfg["traits"]:
        best, table = choose_threshold(long[long["trait"] == t["name"]], val, t["column"], covs, t["type"])
        chosen[t["name"]] = best
        tables.append(table.assign(trait=t["name"], selected=table["p_threshold"] == best))
        ctx.log(f"{t['name']}: chosen p-value threshold {best:g} on the validation split")
    long["selected"] = [chosen[tr] == p for tr, p in zip(long["trait"], long["p_threshold"])]
    weights["selected"] = [chosen[tr] == p for tr, p in zip(weights["trait"], weights["p_threshold"])]
    long["run_id"] = weights["run_id"] = ctx.run_id
    ctx.write_table("prs_weights", weights)
    ctx.write_table("prs_scores", long[["participant_id", "trait", "p_threshold", "score", "selected", "run_id"]])
    pd.concat(tables).to_csv(ctx.output_path(ctx.result_path("prs", "threshold_choice.tsv")), sep="\t", index=False)
    ctx.details["chosen_thresholds"] = chosen


def main(argv=None) -> int:
    return run_job("prs", run, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
