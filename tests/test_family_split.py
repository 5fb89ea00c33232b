"""The split by family: relatives (every pair the genotype job reports, KING kinship >= 0.0442)
share one split; people without relatives keep the split their own ID's hash gives."""
from __future__ import annotations

import pandas as pd

from phenotypes.cohort import assemble_cohort, assign_split, find_families


def test_families_are_connected_groups_named_by_their_smallest_id():
    ids = pd.Series(["P5", "P1", "P3", "P2", "P4", "P9"])
    pairs = pd.DataFrame({"i": ["P5", "P3", "P2", "Q0"], "j": ["P3", "P1", "P4", "P9"]})   # Q0 not in ids
    fam = find_families(ids, pairs)
    assert fam.tolist() == ["P1", "P1", "P1", "P2", "P2", "P9"]


def test_every_family_in_one_split_singletons_unchanged():
    ids = pd.Series([f"S{i:04d}" for i in range(3000)])
    # hand-built families: chains of 3 (i, i+1, i+2) for i = 0, 10, 20, ... and pairs (i, i+5)
    chains = [(f"S{i:04d}", f"S{i + 1:04d}") for i in range(0, 3000, 10)] + \
             [(f"S{i + 1:04d}", f"S{i + 2:04d}") for i in range(0, 3000, 10)]
    pairs5 = [(f"S{i + 5:04d}", f"S{i + 6:04d}") for i in range(0, 3000, 10)]
    pairs = pd.DataFrame(chains + pairs5, columns=["i", "j"])
    plain = assign_split(ids, 7, 0.25, 0.25)
    fam = assign_split(ids, 7, 0.25, 0.25, pairs)
    family = find_families(ids, pairs)
    per_family = fam.groupby(family).nunique()
    assert (per_family == 1).all()                                  # nobody straddles the split
    assert (family.value_counts() > 1).sum() == 600                 # 300 chains + 300 pairs
    # the family's split is the one its smallest member would get alone
    assert (fam == plain[family.map(dict(zip(ids, ids.index))).to_numpy()].to_numpy()).all()
    single = family.map(family.value_counts()) == 1
    assert single.sum() == 3000 - 300 * 5 and fam[single].equals(plain[single])
    # without relatives the split would straddle some families (the case this fixes)
    assert (plain.groupby(family).nunique() > 1).any()
    # train ∩ validation/test relatives: none
    split_of = dict(zip(ids, fam))
    assert all(split_of[a] == split_of[b] for a, b in pairs.itertuples(index=False))


def test_assemble_cohort_splits_by_family_and_records_it():
    participants = pd.DataFrame({"participant_id": [f"P{i}" for i in range(6)], "sex": [0, 1] * 3})
    sqc = pd.DataFrame({"s": [f"P{i}" for i in range(6)], "qc_pass": True, "unrelated": True})
    pcs = pd.DataFrame({"s": [f"P{i}" for i in range(6)], "PC1": range(6)})
    pairs = pd.DataFrame({"i": ["P4", "P1"], "j": ["P5", "P4"], "kinship": [0.25, 0.06]})
    c = assemble_cohort(participants, sqc, pcs, 3, 0.3, 0.3, pairs)
    assert c.set_index("participant_id")["family"].to_dict() == {"P0": "P0", "P1": "P1", "P2": "P2", "P3": "P3",
                                                                 "P4": "P1", "P5": "P1"}
    fam = c[c["family"] == "P1"]
    assert fam["split"].nunique() == 1
    alone = assign_split(pd.Series(["P1"]), 3, 0.3, 0.3).iloc[0]
    assert fam["split"].iloc[0] == alone
    # PCA skipped: pcs has no PC columns; the cohort is still everyone
    c2 = assemble_cohort(participants, sqc, pcs[["s"]], 3, 0.3, 0.3, None)
    assert len(c2) == 6 and not any(col.startswith("PC") for col in c2.columns)
