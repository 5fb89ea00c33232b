"""The executor side of the block stages: each function here builds the task a Spark executor
runs for one block of a genotype store (``jobs.genotype_store``): open the store from its path,
read the block (only the samples the stage uses), call the library kernel, return a small
partial result or rows to write. The kernels (``genomics.*``) know nothing of Spark; the
drivers (``jobs/<stage>.py``) plan the blocks and combine what the tasks return
(``jobs.spark_blocks``). Large per-task inputs (the phenotype frame, score weights) come as
Spark broadcasts: ``.value`` on the executor."""
from __future__ import annotations

import numpy as np
import pandas as pd


def plink_coded(gt: np.ndarray, hap: np.ndarray | None) -> np.ndarray:
    """A block's calls as the GWAS and scoring count them: haploid calls (males on non-PAR
    chrX) as 0/2, as PLINK's --xchr-model 2 and the QC-passed .bed code them."""
    if hap is None:
        return gt
    return np.where(hap & (gt > 0), gt * 2, gt).astype(np.int8)


def gwas_block_task(store: str, cols: np.ndarray, traits: list[dict], pheno, covariates: list[str],
                    settings: dict, run_id: str):
    """The task of one store block: every trait tested on its variants (``gwas_blocks``, the
    same kernel as the chunk jobs) -> (row count, the ``gwas_results`` rows). ``pheno``: a
    broadcast of the GWAS samples' frame, rows in ``cols`` order."""
    def run(k: int):
        from genomics.glm_arrays import gwas_blocks
        from jobs.genotype_store import BlockSource
        variants, gt, hap = BlockSource(store).read_block(k, cols)
        g = plink_coded(gt, hap)
        v = variants.rename(columns={"contig": "chromosome"})[["chromosome", "position", "ref", "alt"]]
        frames = list(gwas_blocks(lambda a, b: g[a:b], len(v), v, traits, pheno.value, covariates,
                                  block=settings["block_variants"], firth_fallback=settings["firth_fallback"],
                                  binary_test=settings["binary_test"]))
        res = pd.concat(frames, ignore_index=True) if frames else None
        if res is None:
            return 0, pd.DataFrame()
        res["run_id"] = run_id
        return len(res), res
    return run


def rows_by_block(starts: np.ndarray, stops: np.ndarray, rows: np.ndarray) -> dict[int, np.ndarray]:
    """Store rows (indices over the whole store, in store order) -> {block: its rows, local to
    the block}, for blocks with at least one row."""
    rows = np.asarray(rows, np.int64)
    k = np.searchsorted(np.asarray(stops, np.int64), rows, side="right")
    out: dict[int, np.ndarray] = {}
    for b in np.unique(k):
        sel = k == b
        out[int(b)] = rows[sel] - int(starts[b])
    return out


def score_block_task(store: str, plan, cols):
    """The task of one store block: its share of the polygenic scores (``score_blocks``, PLINK
    --score's missing-call imputation over all the store's samples) -> (len(cols), K) partial
    sums. ``plan``: a broadcast of {block: (local rows, their (rows x K) weights)}."""
    def run(k: int):
        from genomics.scoring import score_blocks
        from jobs.genotype_store import BlockSource
        local, w = plan.value[k]
        _, gt, hap = BlockSource(store).read_block(k)
        g = plink_coded(gt, hap)[local]
        return score_blocks(lambda a, b: g[a:b], len(local), w, cols)
    return run
