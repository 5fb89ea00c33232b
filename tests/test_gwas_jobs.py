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


def test_gwas_sample_set_train_or_all_with_counts():
    from jobs.gwas_inputs import describe_sample_set, select_gwas_samples
    cohort = pd.DataFrame({"participant_id": [f"P{i}" for i in range(8)],
                           "split": ["train"] * 4 + ["validation"] * 2 + ["test"] * 2,
                           "unrelated": [True, False, True, True, True, False, True, True]})
    cfg = {"gwas": {"samples": "train", "unrelated_only": True, "ancestry_groups": None}}
    df, counts = select_gwas_samples(cfg, cohort)
    assert df["participant_id"].tolist() == ["P0", "P2", "P3"]
    assert counts == {"cohort": 8, "sample_set": 4, "unrelated": 3, "ancestry": 3}
    assert describe_sample_set(cfg) == "training split, unrelated set"
    cfg["gwas"]["samples"] = "all"            # discovery GWAS: every QC-passed unrelated person
    df, counts = select_gwas_samples(cfg, cohort)
    assert df["participant_id"].tolist() == ["P0", "P2", "P3", "P4", "P6", "P7"]
    assert counts == {"cohort": 8, "sample_set": 8, "unrelated": 6, "ancestry": 6}
    assert describe_sample_set(cfg) == "all QC-passed participants, unrelated set"
    cfg["gwas"]["samples"] = "everyone"
    with pytest.raises(ValueError, match="gwas.samples"):
        select_gwas_samples(cfg, cohort)


def test_prs_refuses_a_gwas_that_saw_its_validation_and_test_people():
    from jobs.prs import GwasNotHeldOutError, check_gwas_held_out
    check_gwas_held_out({"gwas": {"samples": "train"}})
    with pytest.raises(GwasNotHeldOutError, match="gwas.samples is 'all'.*gwas.samples: train") as e:
        check_gwas_held_out({"gwas": {"samples": "all"}})
    assert e.value.exit_code == 2


def test_gwas_page_states_sample_set_covariates_and_counts():
    from jobs.gwas_report import render_trait_page
    samples = {"sample set": "training split, unrelated set", "covariates": "age, sex, PC1",
               "QC-passed participants": 3198, "in the sample set": 1600, "after the unrelated filter": 1433,
               "with genotypes and this phenotype": 1400, "samples": 1400}
    summary = {"n_variants": 10, "lambda_gc": 1.01, "n_significant": 0, "n_loci": 0}
    page = render_trait_page({"name": "ldl_c", "type": "quantitative"}, summary, samples, {"linear": 10},
                             pd.DataFrame(columns=["locus"]), {}, {"significance": 5e-8,
                                                                  "loci": {"p1": 5e-8, "p2": 0.01, "r2": 0.1, "kb": 250}})
    for text in ("training split, unrelated set", "age, sex, PC1", "<td>3198</td>", "<td>1433</td>",
                 "gwas.samples: train", "gwas.samples: all"):
        assert text in page, text
