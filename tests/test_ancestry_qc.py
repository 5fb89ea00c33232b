"""Ancestry assignment, heterozygosity outliers and the unrelated set, on small known inputs."""
from __future__ import annotations

import numpy as np
import pandas as pd

from genomics.ancestry import assign_ancestry, hwe_normalized_pcs
from genomics.qc import heterozygosity_outliers, inbreeding_f


def three_groups(n=150, seed=0):
    rng = np.random.default_rng(seed)
    centres = {"AFR": (3, 0), "EUR": (-2, 2), "EAS": (-2, -2)}
    rows = []
    for pop, (a, b) in centres.items():
        for i in range(n):
            rows.append({"s": f"{pop}{i}", "PC1": a + rng.normal(0, .4), "PC2": b + rng.normal(0, .4),
                         "PC3": rng.normal(0, .3), "PC4": rng.normal(0, .3), "truth": pop})
    return pd.DataFrame(rows)


def test_reference_classifier_assigns_the_labelled_groups():
    pcs = three_groups()
    ref = pcs[pcs["s"].str.endswith(("0", "1", "2"))][["s", "truth"]].rename(columns={"truth": "population"})
    got = assign_ancestry(pcs, n_pcs=4, reference=ref, min_probability=0.6).merge(pcs[["s", "truth"]], on="s")
    assert (got["ancestry"] == got["truth"]).mean() > 0.98
    assert got["probability"].between(0, 1).all() and set(got["method"]) == {"random_forest"}


def test_without_reference_clusters_match_the_groups():
    pcs = three_groups()
    got = assign_ancestry(pcs, n_pcs=2).merge(pcs[["s", "truth"]], on="s")
    assert got["ancestry"].nunique() == 3
    # Each cluster is one true group.
    purity = got.groupby("ancestry")["truth"].agg(lambda t: t.value_counts(normalize=True).iloc[0])
    assert (purity > 0.98).all()


def test_heterozygosity_outliers_within_group():
    df = pd.DataFrame({"s": [f"s{i}" for i in range(40)], "ancestry": ["a"] * 20 + ["b"] * 20,
                       "het_f": [0.0] * 19 + [0.5] + [0.2] * 19 + [0.21]})
    df.loc[:18, "het_f"] = np.linspace(-0.02, 0.02, 19)
    df.loc[20:38, "het_f"] = 0.2 + np.linspace(-0.02, 0.02, 19)
    out = heterozygosity_outliers(df, n_sd=3)
    assert out.tolist() == [False] * 19 + [True] + [False] * 20


def test_inbreeding_f_by_hand():
    # Two variants with p = 0.5: expected het 0.5 each. Sample 0 is het at both (F = -1),
    # sample 1 hom at both (F = 1), sample 2 one het one hom (F = 0), sample 3 missing one.
    codes = np.array([[1, 1], [0, 2], [1, 2], [-1, 0]], dtype=np.int8)
    f = inbreeding_f(codes)
    p = np.array([(1 + 0 + 1 + 0) / 6, (1 + 2 + 2 + 0) / 8])
    e = 2 * p * (1 - p)
    exp_hom = 1 - e
    want0 = (0 - exp_hom.sum()) / (2 - exp_hom.sum())
    want1 = (2 - exp_hom.sum()) / (2 - exp_hom.sum())
    assert np.allclose(f[:2], [want0, want1])
    assert np.isclose(f[3], (1 - exp_hom[1]) / (1 - exp_hom[1]))


def test_projection_places_held_out_samples_like_fitted_ones():
    rng = np.random.default_rng(1)
    n, m = 300, 800
    pop = rng.integers(0, 2, n)
    p = np.where(pop[:, None] == 0, rng.uniform(.1, .5, m), rng.uniform(.5, .9, m))
    codes = rng.binomial(2, p).astype(np.int8)
    fit = rng.uniform(size=n) < 0.7
    scores, ev = hwe_normalized_pcs(codes, fit, 3)
    r_fit = abs(np.corrcoef(scores[fit, 0], pop[fit])[0, 1])
    r_proj = abs(np.corrcoef(scores[~fit, 0], pop[~fit])[0, 1])
    assert r_fit > 0.95 and r_proj > 0.95 and ev[0] > ev[1]
