"""Cohort assembly: genotyped, QC-passed participants with phenotypes and PCs, and a
deterministic train / validation / test split assigned by family (relatives share a split)."""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

SPLITS = ("train", "validation", "test")


def find_families(ids: pd.Series, pairs: pd.DataFrame | None) -> pd.Series:
    """Family of each ID: the smallest ID of its connected group in the pairs' graph (an ID in
    no pair is its own family). ``pairs``: columns ``i``, ``j`` (pairs naming an ID not in
    ``ids`` are ignored). Returns a Series aligned with ``ids``."""
    ids_list = ids.astype(str).tolist()
    parent = {x: x for x in ids_list}

    def root(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    if pairs is not None and len(pairs):
        for a, b in zip(pairs["i"].astype(str), pairs["j"].astype(str)):
            if a in parent and b in parent:
                ra, rb = root(a), root(b)
                if ra != rb:
                    # the smaller ID becomes the root, so the family is named by its smallest ID
                    parent[max(ra, rb)] = min(ra, rb)
    return pd.Series([root(x) for x in ids_list], index=ids.index, name="family")


def assign_split(ids: pd.Series, seed: int, test: float, validation: float,
                 pairs: pd.DataFrame | None = None) -> pd.Series:
    """Split by a keyed hash: stable across runs and when people are added.

    Without ``pairs`` each ID is hashed. With ``pairs`` (columns ``i``, ``j``: related people,
    e.g. the ``relatedness`` table), every family (connected group of related people) takes the
    split of its smallest ID, so no one in validation or test has a relative in train; people
    without relatives keep the split they had without ``pairs``.

    ``test`` is the share held out for testing; ``validation`` is the share of the rest (the
    training part) kept for choosing PRS settings and fitting risk models. GWAS uses ``train``.
    """
    def u(x: str) -> float:
        h = hashlib.sha256(f"{seed}:{x}".encode()).digest()
        return int.from_bytes(h[:8], "big") / 2**64

    keys = find_families(ids, pairs) if pairs is not None else ids
    r = keys.map(u).to_numpy()
    cut_val = test + (1 - test) * validation
    split = np.where(r < test, "test", np.where(r < cut_val, "validation", "train"))
    return pd.Series(split, index=ids.index, name="split")


def assemble_cohort(participants: pd.DataFrame, sample_qc: pd.DataFrame, pcs: pd.DataFrame,
                    seed: int, test: float, validation: float,
                    pairs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Inner join of participants (``participant_id``) with QC-passed samples (``s``,
    ``qc_pass``, and ``unrelated``/``ancestry`` when present) and PCs (``s``, ``PC1``…; a
    frame with ``s`` only when PCA was skipped), split by family over ``pairs`` (``i``, ``j``).
    Columns: participant_id, the phenotype columns, unrelated, ancestry, PC1…, family, split
    (``family``: the smallest participant_id of the person's related group)."""
    extra = [c for c in ("unrelated", "ancestry") if c in sample_qc.columns]
    passed = sample_qc.loc[sample_qc["qc_pass"].astype(bool), ["s", *extra]]
    df = (participants.merge(passed, left_on="participant_id", right_on="s", how="inner")
          .merge(pcs.drop(columns=["projected"], errors="ignore"), on="s", how="inner").drop(columns=["s"]))
    df = df.sort_values("participant_id").reset_index(drop=True)
    df["family"] = find_families(df["participant_id"], pairs)
    df["split"] = assign_split(df["participant_id"], seed, test, validation, pairs)
    return df
