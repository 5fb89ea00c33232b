"""Merge genotype arrays of files with disjoint sample sets by variant, as ``bcftools merge`` does.

Batch-split cohorts come as several VCFs per chromosome, each holding a disjoint subset of the
samples. ``group_by_samples`` sorts the files into groups of one sample set (any order);
``merge_by_variant`` joins the groups' arrays (each group already concatenated row-wise by
``genotype_arrays.concat_arrays``) on the split rows' key (contig, position, ref, alt):

* rows: the union of the keys. The first group's rows keep their order; a row only in a later
  group goes right after the preceding row of its own group that is already placed (at the
  start when there is none). When every group's rows are sorted (each contig one run, by
  position, as ``bcftools merge`` needs them), the result is then sorted stably by contig (in
  order of first appearance) and position, as ``bcftools merge`` writes it: per-contig runs
  stay contiguous and sorted. A key repeated within a group is matched occurrence by occurrence.
* columns: the first group's samples, then the next group's, ... (in config order).
* calls: each group's in its own columns; missing (-1) for the samples of a group whose files
  lack the row (``bcftools merge`` writes ``./.``). Two groups with other ALT alleles at one
  position give two rows, each missing for the other group (``bcftools merge -m none``; its
  default joins them into one multi-allelic record and calls the other group REF for each).
* haploid and phase bits move with their rows and samples; an absent call is neither.
* variant metadata (n_alleles, a_index, record, was_split) from the first group that has the
  row (``record`` numbered over all files, group by group); counts summed, ``n_rows`` the
  result's rows.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from genomics.errors import InputDataError
from genomics.genotype_arrays import GenotypeArrays, ReadCounts

KEY = ["contig", "position", "ref", "alt"]


def group_by_samples(sample_lists: list[list[str]], sources: list[str]) -> list[list[int]]:
    """Indices of the files grouped by sample set (the same set in any order is one group),
    groups in order of their first file. Raises ``InputDataError`` naming the file when its set
    overlaps an earlier group's without being equal: "<N> shared, <X> only in this file, <Y>
    only in the first" (the first file of that group)."""
    groups: list[list[int]] = []
    sets: list[frozenset] = []
    for i, s in enumerate(sample_lists):
        own = frozenset(s)
        for g, other in zip(groups, sets):
            if own == other:
                g.append(i)
                break
            shared = len(own & other)
            if shared:
                raise InputDataError(sources[i], f"its samples differ from {sources[g[0]]}: {shared} shared, "
                                                 f"{len(own) - shared} only in this file, {len(other) - shared} "
                                                 "only in the first (files must hold the same samples or "
                                                 "disjoint sets)")
        else:
            groups.append([i])
            sets.append(own)
    return groups


def merge_by_variant(groups: list[GenotypeArrays]) -> GenotypeArrays:
    """The groups' arrays (pairwise disjoint samples) as one, merged by variant (see the module
    docstring): ``variants`` has the columns of the inputs (contig, position, ref, alt,
    n_alleles, a_index, record, was_split), one row per merged row."""
    if not groups:
        raise ValueError("merge_by_variant: no groups")
    samples = [x for g in groups for x in g.samples]
    if len(set(samples)) != len(samples):
        raise ValueError("merge_by_variant: the groups' sample sets overlap")
    if len(groups) == 1:
        return groups[0]
    ids, order, sources = _merged_rows(groups)
    final_of = np.empty(len(order), np.int64)
    final_of[order] = np.arange(len(order))
    rows_of = [final_of[i] for i in ids]                 # each group's rows in the result
    col0 = np.cumsum([0] + [len(g.samples) for g in groups])
    cols_of = [np.arange(a, b) for a, b in zip(col0[:-1], col0[1:])]

    n_rows, n = len(order), len(samples)
    gt = np.full((n_rows, n), -1, np.int8)
    for g, r, c in zip(groups, rows_of, cols_of):
        gt[r, c[0]:c[-1] + 1] = g.gt
    haploid_rows, haploid = _sparse_union(
        [(g.haploid_rows, g.haploid.reshape(-1, len(g.samples))) for g in groups], rows_of, cols_of, n)
    phase = {}
    if all(g.phased_rows is not None for g in groups):
        ph_rows, ph = _sparse_union([(g.phased_rows, _unpack(g.phased, len(g.samples))) for g in groups],
                                    rows_of, cols_of, n)
        _, af = _sparse_union([(g.phased_rows, _unpack(g.alt_first, len(g.samples))) for g in groups],
                              rows_of, cols_of, n, rows=ph_rows)
        phase = dict(phased_rows=ph_rows, phased=np.packbits(ph, axis=1, bitorder="little"),
                     alt_first=np.packbits(af, axis=1, bitorder="little"))

    rec0 = np.cumsum([0] + [g.counts.n_records for g in groups[:-1]])
    pieces = [g.variants.iloc[np.flatnonzero(src)].assign(record=g.variants["record"].to_numpy()[src] + r0)
              for g, src, r0 in zip(groups, sources, rec0)]
    variants = pd.concat([p.astype({"contig": str}) for p in pieces], ignore_index=True)
    variants = variants.iloc[order].reset_index(drop=True)
    variants["contig"] = variants["contig"].astype("category")
    counts = ReadCounts()
    for g in groups:
        for k, v in g.counts.as_dict().items():
            setattr(counts, k, getattr(counts, k) + v)
    counts.n_rows = n_rows
    return GenotypeArrays(samples=samples, variants=variants, gt=gt, haploid_rows=haploid_rows,
                          haploid=haploid, counts=counts, **phase)


def _row_keys(variants: pd.DataFrame) -> pd.MultiIndex:
    """(contig, position, ref, alt, occurrence of that key so far) per row."""
    key = variants[KEY].astype({"contig": str}).reset_index(drop=True)
    key["occurrence"] = key.groupby(KEY, sort=False).cumcount()
    return pd.MultiIndex.from_frame(key)


def _merged_rows(groups):
    """Per group its rows' merged ids; the merged ids in result order; per group a bool mask of
    the rows it adds (merged ids are numbered group by group, new rows in group order)."""
    known = _row_keys(groups[0].variants)
    ids = [np.arange(len(known), dtype=np.int64)]
    sources = [np.ones(len(known), bool)]
    order = ids[0].copy()                               # merged ids in result order
    for g in groups[1:]:
        keys = _row_keys(g.variants)
        hit = known.get_indexer(keys) if len(known) and len(keys) else np.full(len(keys), -1)
        new = hit < 0
        own = hit.astype(np.int64)
        own[new] = len(known) + np.arange(int(new.sum()))
        place = np.empty(len(known), np.int64)
        place[order] = np.arange(len(order))
        # each new row's anchor: the place of this group's nearest preceding matched row (-1:
        # none, the row goes first); new rows after one anchor keep this group's order
        last = np.maximum.accumulate(np.where(new, -1, np.arange(len(keys)))) if len(keys) else np.zeros(0, np.int64)
        anchor = np.full(len(keys), -1, np.int64)
        after = last >= 0
        anchor[after] = place[hit[last[after]]]
        old_key = np.arange(len(order))                 # existing rows: (place, 0, 0)
        new_at = np.flatnonzero(new)
        k1 = np.concatenate([old_key, anchor[new_at]])
        k2 = np.concatenate([np.zeros(len(order), np.int64), np.ones(len(new_at), np.int64)])
        k3 = np.concatenate([np.zeros(len(order), np.int64), new_at])
        merged = np.concatenate([order, own[new_at]])
        order = merged[np.lexsort((k3, k2, k1))]
        ids.append(own)
        sources.append(new)
        known = known.append(keys[new]) if new.any() else known
    if all(_runs_sorted(g.variants) for g in groups):
        order = _sort_by_position(known, order)
    return ids, order, sources


def _runs_sorted(variants: pd.DataFrame) -> bool:
    """True when each contig's rows are one run, by position (the order bcftools merge needs)."""
    if len(variants) < 2:
        return True
    contig = pd.factorize(variants["contig"].astype(str).to_numpy())[0]
    change = contig[1:] != contig[:-1]
    if int(change.sum()) != contig.max():
        return False
    return bool((np.diff(variants["position"].to_numpy())[~change] >= 0).all())


def _sort_by_position(known: pd.MultiIndex, order: np.ndarray) -> np.ndarray:
    """``order`` stably sorted by (contig in order of first appearance, position)."""
    contig = np.asarray(known.get_level_values(0), dtype=object)[order]
    rank = pd.factorize(contig)[0]
    position = np.asarray(known.get_level_values(1), dtype=np.int64)[order]
    return order[np.lexsort((position, rank))]


def _unpack(packed: np.ndarray, n: int) -> np.ndarray:
    return np.unpackbits(packed.reshape(-1, (n + 7) // 8), axis=1, count=n, bitorder="little").astype(bool)


def _sparse_union(parts, rows_of, cols_of, n, rows=None):
    """Sparse per-row bool masks (``haploid_rows``/``haploid`` style) of the groups, on the
    result's rows and columns: the sorted result rows that have any, and their (rows, n) mask."""
    placed = [r[np.asarray(sub, np.int64)] for (sub, _), r in zip(parts, rows_of)]
    if rows is None:
        rows = np.unique(np.concatenate(placed)) if placed else np.empty(0, np.int64)
    out = np.zeros((len(rows), n), bool)
    for (_, mask), at, c in zip(parts, placed, cols_of):
        if len(at):
            out[np.searchsorted(rows, at), c[0]:c[-1] + 1] = mask
    return rows.astype(np.int64), out
