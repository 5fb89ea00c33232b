"""Split a genome's variants into chunks for scatter/gather: each chunk is a run of consecutive
variants in the genotype file's order, described by the contig ranges it covers, so a chunk is
read with one contiguous block read and chunks never overlap or leave a variant out."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Chunk:
    index: int          # 0-based
    start: int          # first variant (row of the genotype file)
    stop: int           # one past the last
    ranges: tuple       # ((contig, first position, last position), ...)

    def label(self) -> str:
        return ",".join(f"{c}:{a}-{b}" for c, a, b in self.ranges)


def genome_chunks(chromosomes, positions, n_chunks: int) -> list[Chunk]:
    """Exactly ``n_chunks`` chunks of as equal a variant count as can be (some empty when there
    are fewer variants than chunks). ``chromosomes``/``positions``: per variant in file order."""
    if n_chunks < 1:
        raise ValueError(f"the number of chunks must be at least 1, not {n_chunks}")
    chromosomes = np.asarray(chromosomes).astype(str)
    positions = np.asarray(positions, dtype=np.int64)
    n = len(chromosomes)
    bounds = np.linspace(0, n, n_chunks + 1).round().astype(np.int64)
    chunks = []
    for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        if a == b:
            chunks.append(Chunk(i, int(a), int(b), ()))
            continue
        c, p = chromosomes[a:b], positions[a:b]
        starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
        stops = np.r_[starts[1:], len(c)]
        ranges = tuple((str(c[s]), int(p[s:e].min()), int(p[s:e].max())) for s, e in zip(starts, stops))
        chunks.append(Chunk(i, int(a), int(b), ranges))
    return chunks
