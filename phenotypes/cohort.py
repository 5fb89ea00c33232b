"""Cohort assembly: genotyped, QC-passed participants with phenotypes and PCs, and a
deterministic train / validation / test split."""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

SPLITS = ("train", "validation", "test")


def assign_split(ids: pd.Series, seed: int, test: float, validation: float) -> pd.Series:
    """Split by a keyed hash of each ID: stable across runs and when people are added.

    ``test`` is the share held out for testing; ``validation`` is the share of the rest (the
    training part) kept for choosing PRS settings and fitting risk models. GWAS uses ``train``.
    """
    def u(x: str) -> float:
        h = hashlib.sha256(f"{seed}:{x}".encode()).digest()
        return int.from_bytes(h[:8], "big") / 2**64

    r = ids.map(u).to_numpy()
    cut_val = test + (1 - test) * validation
    split = np.where(r < test, "test", np.where(r < cut_val, "validation", "train"))
    return pd.Series(split, index=ids.index, name="split")


def assemble_cohort(participants: pd.DataFrame, sample_qc: pd.DataFrame, pcs: pd.DataFrame,
                    seed: int, test: float, validation: float) -> pd.DataFrame:
    """Inner join of participants (``participant_id``) with QC-passed samples (``s``,
    ``qc_pass``, and ``unrelated``/``ancestry`` when present) and PCs (``s``, ``PC1``…).
    Columns: participant_id, the phenotype columns, unrelated, ancestry, PC1…, split."""
    extra = [c for c in ("unrelated", "ancestry") if c in sample_qc.columns]
    passed = sample_qc.loc[sample_qc["qc_pass"].astype(bool), ["s", *extra]]
    df = (participants.merge(passed, left_on="participant_id", right_on="s", how="inner")
          .merge(pcs.drop(columns=["projected"], errors="ignore"), on="s", how="inner").drop(columns=["s"]))
    df = df.sort_values("participant_id").reset_index(drop=True)
    df["split"] = assign_split(df["participant_id"], seed, test, validation)
    return df
