"""Polygenic scores: many weight sets applied in one pass over the genotypes."""
from __future__ import annotations

import hail as hl


def score_samples(mt: hl.MatrixTable, weights: hl.Table, n_scores: int) -> hl.Table:
    """Sum over variants of weight x effect-allele dosage, for ``n_scores`` weight sets at once.

    ``weights`` is keyed by ``locus``, ``alleles`` (matching ``mt``; the effect allele is the
    alternate one) with an ``array<float64>`` field ``w`` of length ``n_scores``. Missing
    genotypes count as the mean dosage ``2 * alt_af`` (``mt`` must carry the row field
    ``alt_af``), as PLINK's --score does. Returns a Table keyed by ``s`` with ``scores``
    (array<float64>) and ``n_variants`` (variants scored).
    """
    mt = mt.annotate_rows(_w=weights[mt.row_key].w)
    mt = mt.filter_rows(hl.is_defined(mt._w))
    dosage = hl.or_else(hl.float64(mt.GT.n_alt_alleles()), 2.0 * mt.alt_af)
    zero = hl.range(n_scores).map(lambda _: 0.0)
    mt = mt.annotate_cols(scores=hl.or_else(hl.agg.array_sum(mt._w * dosage), zero),
                          n_variants=hl.agg.count())
    return mt.cols().select("scores", "n_variants")
