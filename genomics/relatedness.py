"""Relatedness: KING's degree names, and a maximal unrelated set (pure Python, no Hail)."""
from __future__ import annotations

import heapq

import numpy as np
import pandas as pd

# KING's kinship cut-offs (Manichaikul et al. 2010): > 0.354 duplicate / MZ twin,
# 0.177-0.354 first degree, 0.0884-0.177 second, 0.0442-0.0884 third.
KING_DEGREES = [(0.354, "duplicate"), (0.177, "first"), (0.0884, "second"), (0.0442, "third")]


def king_degree(kinship: pd.Series) -> pd.Series:
    """KING's degree for each kinship value."""
    out = np.full(len(kinship), "unrelated", dtype=object)
    for cut, name in reversed(KING_DEGREES):
        out[kinship.to_numpy() > cut] = name
    return pd.Series(out, index=kinship.index)


def related_to_drop(pairs: pd.DataFrame, max_kinship: float, preferred: set[str]) -> set[str]:
    """Samples to drop so that no pair with kinship > ``max_kinship`` remains: the complement of
    a maximal independent set, greedy by degree as Hail's ``hl.maximal_independent_set`` (with
    ``keep=False``): while an edge remains, drop a sample of highest degree; among equal degrees
    a sample not in ``preferred`` (e.g. not phenotyped) goes first, then the greatest ID.

    ``pairs``: columns ``i``, ``j`` (sample IDs) and ``kinship``."""
    close = pairs.loc[pairs["kinship"] > max_kinship, ["i", "j"]]
    neighbours: dict[str, set[str]] = {}
    for a, b in zip(close["i"].astype(str), close["j"].astype(str)):
        if a != b:
            neighbours.setdefault(a, set()).add(b)
            neighbours.setdefault(b, set()).add(a)
    # max-heap on (degree, not preferred, ID); stale entries are skipped when popped
    heap = [_heap_key(s, len(n), preferred) for s, n in neighbours.items()]
    heapq.heapify(heap)
    drop: set[str] = set()
    while heap:
        key = heapq.heappop(heap)
        s, degree = key[3], -key[0]
        if s in drop or degree != len(neighbours[s]):
            continue                       # dropped already, or its degree fell since
        if degree == 0:
            break
        drop.add(s)
        for other in neighbours.pop(s):
            neighbours[other].discard(s)
            heapq.heappush(heap, _heap_key(other, len(neighbours[other]), preferred))
        neighbours[s] = set()
    return drop


class _Desc(str):
    """A string that sorts in reverse (so the greatest ID pops first from a min-heap)."""

    def __lt__(self, other):
        return str.__gt__(self, other)


def _heap_key(s: str, degree: int, preferred: set[str]):
    return (-degree, s in preferred, _Desc(s), s)
