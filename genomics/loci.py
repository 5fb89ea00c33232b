"""Lead loci of a GWAS: LD clumping of the significant hits (PLINK 1.9 ``--clump``), one row per
index variant with the extent and size of its clump. Library only: the caller reads the
candidate variants' genotypes."""
from __future__ import annotations

import numpy as np
import pandas as pd

from genomics.clumping import clump_assign, r2_from_calls

LOCI_COLUMNS = ["trait", "locus", "chromosome", "base_pair_location", "variant_id", "effect_allele",
                "other_allele", "beta", "standard_error", "p_value", "test", "n_clumped", "n_significant",
                "start", "end"]


def lead_loci(results: pd.DataFrame, calls: np.ndarray, p1: float, p2: float, r2: float, kb: int,
              haploid: np.ndarray | None = None) -> pd.DataFrame:
    """``results``: one trait's rows of ``gwas_results`` with p <= ``p2`` (the clumping
    candidates); ``calls``: their alt-allele counts over the GWAS samples (int8, -1 missing),
    row for row; ``haploid``: which of those calls are haploid (``r2_from_calls``). A locus per index variant, by increasing p: ``locus`` 1, 2, ...;
    ``n_clumped`` the variants in its clump (index included), ``n_significant`` those with
    p <= ``p1``, ``start``/``end`` the clump's first and last position."""
    d = results.reset_index(drop=True)
    if not len(d) or not (d["p_value"] <= p1).any():
        return pd.DataFrame(columns=LOCI_COLUMNS)
    assign = clump_assign(d["chromosome"].to_numpy(), d["base_pair_location"].to_numpy(),
                          d["p_value"].to_numpy(), r2_from_calls(calls, haploid), r2=r2, window_bp=kb * 1000, p1=p1, p2=p2)
    members = d.assign(index_row=assign)[assign >= 0]
    agg = members.groupby("index_row").agg(
        n_clumped=("p_value", "size"), n_significant=("p_value", lambda p: int((p <= p1).sum())),
        start=("base_pair_location", "min"), end=("base_pair_location", "max"))
    loci = d.loc[agg.index].join(agg).sort_values(["p_value", "chromosome", "base_pair_location"], kind="stable")
    loci["locus"] = np.arange(1, len(loci) + 1)
    return loci[LOCI_COLUMNS].reset_index(drop=True)
