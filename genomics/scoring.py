"""Polygenic scores: many weight sets applied in one pass over the genotypes (numpy, blocks of
variants read once for every weight set)."""
from __future__ import annotations

import numpy as np


def score_blocks(read_block, n_variants: int, weights: np.ndarray, cols, block: int = 4096) -> np.ndarray:
    """Sum over variants of weight x effect-allele dosage, for every column of ``weights``.

    ``read_block(start, stop)``: int8 (variants x samples) alt-allele counts, -1 missing, of
    variants [start, stop) over every sample of the genotype file; ``weights``: (n_variants, K)
    per alternate (effect) allele; ``cols``: the samples to score. A missing call counts as
    twice the ALT frequency among the file's called samples (PLINK --score's mean imputation).
    Returns the scores, (len(cols), K).
    """
    weights = np.asarray(weights, dtype=np.float64).reshape(n_variants, -1)
    cols = np.asarray(cols)
    scores = np.zeros((len(cols), weights.shape[1]))
    for a in range(0, n_variants, block):
        b = min(a + block, n_variants)
        g = read_block(a, b)
        called = g >= 0
        n_called = called.sum(1)
        af = np.where(called, g, 0).sum(1) / np.maximum(2 * n_called, 1)
        d = np.where(called, g, (2 * af)[:, None]).astype(np.float64)[:, cols]
        scores += d.T @ weights[a:b]
    return scores
