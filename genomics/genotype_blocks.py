"""Genotypes in blocks of variants (all samples per block): the block plan and the encoding of
one block as PLINK 2 stores hard calls. No paths: ``jobs/genotype_store.py`` does the I/O.

A block is a run of consecutive variant rows of one contig. Its hard calls are held as PLINK 2
does (``.pgen``, written with ``pgenlib``): int8 0/1/2 ALT-allele counts, missing -9, and a
haploid call (male chrX outside the PARs) written homozygous, so that PLINK 2 reading the block
with the samples' sex counts it once (``--freq``: ALT_CTS). Which calls are haploid is kept per
block as a mask (the rows that have any haploid call, and their bits packed along the samples),
so that ``decode_hardcalls`` gives back the matrix exactly: a haploid ALT call counts 1.
Dosages (imputed data, BGEN) fit the same files later: ``.pgen`` holds dosages beside the hard
calls (``pgenlib.PgenWriter(..., dosage_present=True)``); the manifest says which blocks have them.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

PGEN_MISSING = -9

__all__ = ["plan_blocks", "encode_hardcalls", "decode_hardcalls", "pack_haploid", "unpack_haploid",
           "PGEN_MISSING"]


def plan_blocks(variants: pd.DataFrame, target_variants: int) -> pd.DataFrame:
    """Which variant rows form each block: every run of rows of one contig is cut into
    ceil(run / ``target_variants``) blocks of near-equal size (sizes differ by at most one), so
    a block never spans a contig change and is never larger than the target.

    Columns: ``block`` (0, 1, ...), ``contig``, ``start`` / ``stop`` (the rows [start, stop) of
    ``variants``), ``n_variants``, ``first_position`` / ``last_position`` (of the block's first
    and last row)."""
    if not isinstance(target_variants, (int, np.integer)) or target_variants < 1:
        raise ValueError(f"plan_blocks: target_variants must be a positive integer, found {target_variants!r}")
    cols = ["block", "contig", "start", "stop", "n_variants", "first_position", "last_position"]
    m = len(variants)
    if m == 0:
        return pd.DataFrame({c: pd.Series(dtype=object if c == "contig" else np.int64) for c in cols})
    contig = variants["contig"].astype(str).to_numpy()
    pos = variants["position"].to_numpy(np.int64)
    change = np.flatnonzero(contig[1:] != contig[:-1]) + 1
    run_starts = np.concatenate([[0], change])
    run_stops = np.concatenate([change, [m]])
    starts, stops = [], []
    for a, b in zip(run_starts, run_stops):
        k = -(-(b - a) // target_variants)
        edges = a + np.round(np.linspace(0, b - a, k + 1)).astype(np.int64)
        starts += list(edges[:-1])
        stops += list(edges[1:])
    starts, stops = np.asarray(starts, np.int64), np.asarray(stops, np.int64)
    return pd.DataFrame({"block": np.arange(len(starts)), "contig": contig[starts], "start": starts,
                         "stop": stops, "n_variants": stops - starts, "first_position": pos[starts],
                         "last_position": pos[stops - 1]})


def encode_hardcalls(gt: np.ndarray, haploid: np.ndarray | None = None) -> np.ndarray:
    """The ``.pgen`` hard calls of one block: int8 C-contiguous (rows, samples), ALT-allele count
    0/1/2, missing -9, a haploid ALT call (``haploid`` True and count 1) as 2. ``gt``: int8
    ALT-allele counts, -1 missing; ``haploid``: bool of ``gt``'s shape, or None."""
    gt = np.asarray(gt)
    if gt.ndim != 2 or gt.dtype != np.int8:
        raise ValueError(f"encode_hardcalls: gt must be a 2-d int8 array, found {gt.dtype} with shape {gt.shape}")
    bad = (gt < -1) | (gt > 2)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise ValueError(f"encode_hardcalls: ALT-allele counts must be -1, 0, 1 or 2; "
                         f"row {r}, column {c} is {gt[r, c]}")
    out = np.where(gt < 0, np.int8(PGEN_MISSING), gt).astype(np.int8, copy=False)
    if haploid is not None:
        if haploid.shape != gt.shape:
            raise ValueError(f"encode_hardcalls: haploid mask shape {haploid.shape} is not gt's {gt.shape}")
        out[haploid & (gt == 1)] = 2
    return np.ascontiguousarray(out)


def decode_hardcalls(raw: np.ndarray, haploid: np.ndarray | None = None) -> np.ndarray:
    """``encode_hardcalls`` undone: int8 ALT-allele counts with -1 missing, a haploid call of 2
    counted 1. ``raw``: int8 as read from a ``.pgen`` (missing -9); ``haploid``: bool of its
    shape, or None. ``raw`` is changed in place and returned."""
    raw[raw < 0] = -1
    if haploid is not None:
        raw[haploid & (raw == 2)] = 1
    return raw


def pack_haploid(haploid: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """A block's dense bool haploid mask (rows, samples) as (int32 rows that have a haploid
    call, uint8 their bits packed along the samples, little bit order). None or no haploid call
    gives empty arrays."""
    if haploid is None or not haploid.any():
        return np.zeros(0, np.int32), np.zeros((0, 0), np.uint8)
    rows = np.flatnonzero(haploid.any(1)).astype(np.int32)
    return rows, np.packbits(haploid[rows], axis=1, bitorder="little")


def unpack_haploid(rows: np.ndarray, packed: np.ndarray, n_rows: int, n_samples: int,
                   cols: np.ndarray | None = None) -> np.ndarray | None:
    """``pack_haploid`` undone: dense bool (n_rows, len(cols) or n_samples), or None when the
    block has no haploid call. ``cols``: sample indices to keep, in that order."""
    if len(rows) == 0:
        return None
    bits = np.unpackbits(packed, axis=1, count=n_samples, bitorder="little").view(bool)
    if cols is not None:
        bits = bits[:, cols]
    out = np.zeros((n_rows, bits.shape[1]), bool)
    out[rows] = bits
    return out
