"""The GWAS jobs' pure parts: the genome's chunks for scatter/gather and the study samples."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genomics.chunks import genome_chunks
from jobs.gwas_inputs import gwas_samples


def test_chunks_cover_every_variant_once_as_contig_ranges():
    chrom = np.array(["chr1"] * 7 + ["chr2"] * 3 + ["chrX"] * 5)
    pos = np.r_[np.arange(7) * 100 + 10, np.arange(3) * 50 + 5, np.arange(5) * 10 + 1]
    for n in (1, 2, 3, 4, 15, 20):
        chunks = genome_chunks(chrom, pos, n)
        assert len(chunks) == n and [c.index for c in chunks] == list(range(n))
        assert chunks[0].start == 0 and chunks[-1].stop == len(chrom)
        assert all(a.stop == b.start for a, b in zip(chunks, chunks[1:]))          # contiguous, no overlap
        sizes = [c.stop - c.start for c in chunks]
        assert max(sizes) - min(sizes) <= 1                                        # balanced
    three = genome_chunks(chrom, pos, 3)
    assert [c.label() for c in three] == ["chr1:10-410", "chr1:510-610,chr2:5-105", "chrX:1-41"]
    assert genome_chunks(chrom, pos, 20)[-1].label() in ("", "chrX:41-41")
    with pytest.raises(ValueError):
        genome_chunks(chrom, pos, 0)


def test_gwas_samples_follow_split_relatedness_and_ancestry():
    cohort = pd.DataFrame({"participant_id": [f"P{i}" for i in range(8)],
                           "split": ["train"] * 6 + ["test"] * 2,
                           "unrelated": [True, True, False, True, True, True, True, True],
                           "ancestry": ["EUR", "AFR", "EUR", "EUR", "AFR", "SAS", "EUR", "EUR"]})
    cfg = {"gwas": {"unrelated_only": True, "ancestry_groups": None}}
    assert gwas_samples(cfg, cohort)["participant_id"].tolist() == ["P0", "P1", "P3", "P4", "P5"]
    cfg["gwas"]["ancestry_groups"] = ["EUR", "SAS"]
    assert gwas_samples(cfg, cohort)["participant_id"].tolist() == ["P0", "P3", "P5"]
    cfg["gwas"]["unrelated_only"] = False
    assert gwas_samples(cfg, cohort)["participant_id"].tolist() == ["P0", "P2", "P3", "P5"]
