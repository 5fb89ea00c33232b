"""The genotype block store (issue 13 item 1): the block plan, the .pgen blocks under
``<lake>/genotypes/<name>/``, withdrawal by a sample mask, checksums. Fast: tiny inline arrays."""
from __future__ import annotations

import json
import os
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from genomics.errors import InputDataError
from genomics.genotype_arrays import GenotypeArrays, ReadCounts
from genomics.genotype_blocks import plan_blocks
from jobs import genotype_store as gs

PLINK2 = shutil.which("plink2")
needs_plink = pytest.mark.skipif(PLINK2 is None, reason="plink2 is not installed (make test installs it as root)")
N_MALES, N_SAMPLES = 6, 12
CONTIGS = ["chr1"] * 7 + ["chrX"] * 5 + ["chr2"] * 3


def make_arrays(seed: int = 3) -> GenotypeArrays:
    """15 variants on chr1, chrX (non-PAR positions), chr2 x 12 samples; samples 0-5 male with
    haploid chrX calls (0/1 or missing), the rest diploid; ~10 % missing."""
    rng = np.random.default_rng(seed)
    m = len(CONTIGS)
    gt = rng.integers(0, 3, size=(m, N_SAMPLES)).astype(np.int8)
    x_rows = np.flatnonzero(np.array(CONTIGS) == "chrX")
    gt[np.ix_(x_rows, np.arange(N_MALES))] = rng.integers(0, 2, size=(len(x_rows), N_MALES))
    gt[rng.random(gt.shape) < 0.1] = -1
    gt[0, 0] = -1
    gt[x_rows[0], 0] = 1                                 # a haploid ALT call for sure
    hap = np.zeros((len(x_rows), N_SAMPLES), bool)
    hap[:, :N_MALES] = True
    pos = np.concatenate([np.arange(1, 8) * 1000, 5_000_000 + np.arange(5) * 1000, np.arange(1, 4) * 1000])
    variants = pd.DataFrame({"contig": CONTIGS, "position": pos, "ref": list("ACGTACGTACGTACG"),
                             "alt": list("GTACGTACGTACGTA"), "n_alleles": 2, "was_split": False,
                             "a_index": 1, "record": np.arange(m)})
    return GenotypeArrays(samples=[f"P{i:03d}" for i in range(N_SAMPLES)], variants=variants, gt=gt,
                          haploid_rows=x_rows.astype(np.int64), haploid=hap, counts=ReadCounts())


def dense_haploid(ga: GenotypeArrays) -> np.ndarray:
    out = np.zeros(ga.gt.shape, bool)
    out[ga.haploid_rows] = ga.haploid
    return out


@pytest.fixture
def store(tmp_path):
    ga = make_arrays()
    return ga, gs.write_store(ga, str(tmp_path / "lake"), "raw", target_variants=4)


def test_plan_cuts_each_contig_run_into_blocks_no_larger_than_target():
    plan = plan_blocks(make_arrays().variants, 4)
    # chr1: 7 rows -> 2 blocks (4, 3); chrX: 5 -> (2, 3); chr2: 3 -> (3); none spans a contig change
    assert plan["start"].tolist() == [0, 4, 7, 9, 12]
    assert plan["stop"].tolist() == [4, 7, 9, 12, 15]
    assert plan["contig"].tolist() == ["chr1", "chr1", "chrX", "chrX", "chr2"]
    assert plan["first_position"].tolist() == [1000, 5000, 5_000_000, 5_002_000, 1000]
    assert plan["last_position"].tolist() == [4000, 7000, 5_001_000, 5_004_000, 3000]
    with pytest.raises(ValueError, match="target_variants"):
        plan_blocks(make_arrays().variants, 0)


@pytest.mark.parametrize("target", [1, 3, 10, 1000])
def test_plan_covers_every_row_once_within_one_contig(target):
    rng = np.random.default_rng(target)
    runs = rng.integers(1, 40, size=6)
    contig = np.repeat(["c1", "c2", "c3", "c1", "c4", "c5"], runs)   # c1 twice: two runs
    plan = plan_blocks(pd.DataFrame({"contig": contig, "position": np.arange(len(contig))}), target)
    assert plan["start"].iloc[0] == 0 and plan["stop"].iloc[-1] == len(contig)
    assert (plan["start"].to_numpy()[1:] == plan["stop"].to_numpy()[:-1]).all()
    assert (plan["n_variants"] <= target).all() and (plan["n_variants"] >= 1).all()
    for b in plan.itertuples():
        assert set(contig[b.start:b.stop]) == {b.contig}
    # as few blocks as the target allows in each run
    assert len(plan) == sum(-(-int(r) // target) for r in runs)


def test_round_trip_equals_the_arrays(store):
    ga, path = store
    src = gs.BlockSource(path)
    assert src.samples == ga.samples and src.n_blocks == 5
    assert src.blocks["start"].tolist() == [0, 4, 7, 9, 12]
    parts = [src.read_block(k) for k in range(src.n_blocks)]
    gt = np.concatenate([p[1] for p in parts])
    assert gt.dtype == np.int8 and np.array_equal(gt, ga.gt)
    assert (gt == -1).sum() == (ga.gt == -1).sum() > 0
    hap = np.concatenate([np.zeros(p[1].shape, bool) if p[2] is None else p[2] for p in parts])
    assert np.array_equal(hap, dense_haploid(ga))
    assert [p[2] is None for p in parts] == [True, True, False, False, True]
    # the haploid ALT call counts 1, not 2 as the .pgen holds it
    assert gt[7, 0] == 1 and hap[7, 0]
    variants = pd.concat([p[0] for p in parts], ignore_index=True)
    pd.testing.assert_frame_equal(variants.astype({"contig": str}), ga.variants.astype({"contig": str}))
    # a subset of samples, in any order
    cols = [11, 0, 5]
    v, g, h = src.read_block(2, cols=cols)
    assert np.array_equal(g, ga.gt[7:9][:, cols])
    assert np.array_equal(h, dense_haploid(ga)[7:9][:, cols])


def _plink2_counts(path, k, out):
    entry = json.load(open(os.path.join(path, "manifest.json")))["blocks"][k]["files"]
    subprocess.run([PLINK2, "--pgen", os.path.join(path, entry["pgen"]), "--pvar", os.path.join(path, entry["pvar"]),
                    "--psam", os.path.join(path, "samples.psam"), "--freq", "counts", "--out", out,
                    "--threads", "1"], check=True, capture_output=True)
    return pd.read_csv(out + ".acount", sep="\t")


@needs_plink
@pytest.mark.parametrize("k", [0, 2, 3])
def test_plink2_reads_a_block_with_numpys_allele_counts(store, tmp_path, k):
    ga, path = store
    a, b = gs.BlockSource(path).blocks.loc[k, ["start", "stop"]]
    acount = _plink2_counts(path, k, str(tmp_path / f"b{k}"))
    g, hap = ga.gt[a:b], dense_haploid(ga)[a:b]
    called = g >= 0
    assert acount["ALT_CTS"].tolist() == np.where(called, g, 0).sum(1).tolist()
    # males' chrX calls are one allele each (PLINK 2 from the .psam sex), everyone else's two
    assert acount["OBS_CT"].tolist() == (called * np.where(hap, 1, 2)).sum(1).tolist()


def test_withdrawal_drops_the_sample_from_every_read_until_compaction(store):
    ga, path = store
    assert gs.withdraw_samples(path, ["P003", "P008"]) == 2
    assert gs.withdraw_samples(path, ["P003"]) == 0
    keep = [i for i in range(N_SAMPLES) if i not in (3, 8)]
    src = gs.BlockSource(path)
    assert src.samples == [ga.samples[i] for i in keep]
    hap = dense_haploid(ga)
    for k, (a, b) in enumerate(src.blocks[["start", "stop"]].itertuples(index=False)):
        _, g, h = src.read_block(k)
        assert g.shape == (b - a, 10) and np.array_equal(g, ga.gt[a:b][:, keep])
        _, g, _ = src.read_block(k, cols=[0, 3])           # indices into the kept samples
        assert np.array_equal(g, ga.gt[a:b][:, [keep[0], keep[3]]])
    assert gs.compact_store(path) == 2
    manifest = json.load(open(os.path.join(path, "manifest.json")))
    assert manifest["withdrawn"] == [] and manifest["n_samples"] == 10
    src = gs.BlockSource(path)
    assert src.n_raw == 10 and src.samples == [ga.samples[i] for i in keep]
    for k, (a, b) in enumerate(src.blocks[["start", "stop"]].itertuples(index=False)):
        _, g, h = src.read_block(k)
        assert np.array_equal(g, ga.gt[a:b][:, keep])
        assert np.array_equal(np.zeros(g.shape, bool) if h is None else h, hap[a:b][:, keep])
    with pytest.raises(ValueError, match="not samples of the store"):
        gs.withdraw_samples(path, ["NOBODY"])


def test_a_checksum_mismatch_is_refused_naming_the_file(store):
    ga, path = store
    target = os.path.join(path, "block_00002.pgen")
    data = bytearray(open(target, "rb").read())
    data[-1] ^= 0xFF
    open(target, "wb").write(bytes(data))
    src = gs.BlockSource(path)
    src.read_block(0)                                         # other blocks still read
    with pytest.raises(InputDataError, match="block_00002.pgen.*checksum") as e:
        src.read_block(2)
    assert e.value.path == target and e.value.field == "sha256"


def test_a_store_without_manifest_is_refused(tmp_path):
    with pytest.raises(InputDataError, match="manifest"):
        gs.BlockSource(str(tmp_path))


def test_round_trip_of_read_vcfs_arrays(tmp_path):
    """The arrays of a real VCF read (split multi-allelic rows, half-calls, mixed haploid and
    diploid chrX calls, chr1 again after chrX) come back call for call, ploidy included."""
    from genomics.genotype_arrays import read_vcfs
    from tests.test_genotype_arrays import RECORDS, S5, write_vcf
    ga = read_vcfs([write_vcf(tmp_path / "a", S5, RECORDS)])
    path = gs.write_store(ga, str(tmp_path / "lake"), "raw", target_variants=2)
    src = gs.BlockSource(path)
    assert src.blocks["contig"].tolist() == ["chr1", "chr1", "chr1", "chrX", "chr1"]
    parts = [src.read_block(k) for k in range(src.n_blocks)]
    assert np.array_equal(np.concatenate([p[1] for p in parts]), ga.gt)
    hap = np.concatenate([np.zeros(p[1].shape, bool) if p[2] is None else p[2] for p in parts])
    assert np.array_equal(hap, dense_haploid(ga))
    # chrX 400: S1 '0' and S2 '1' haploid, S5 '1|1' diploid (2 copies); chrX 500: S2 and S4 '1' haploid
    x = np.flatnonzero(ga.variants["contig"].astype(str) == "chrX")
    g = np.concatenate([p[1] for p in parts])[x]
    assert g.tolist() == [[0, 1, 1, -1, 2], [0, 1, -1, 1, 0]]
    assert hap[x].tolist() == [[True, True, False, False, False], [True, True, False, True, True]]


def test_encode_refuses_a_count_outside_0_to_2():
    from genomics.genotype_blocks import decode_hardcalls, encode_hardcalls
    g = np.array([[0, 1, 2, -1]], np.int8)
    hap = np.array([[True, True, False, False]])
    raw = encode_hardcalls(g, hap)
    assert raw.tolist() == [[0, 2, 2, -9]]                  # PLINK 2: haploid ALT as 1/1, missing -9
    assert decode_hardcalls(raw, hap).tolist() == g.tolist()
    with pytest.raises(ValueError, match="row 0, column 1 is 3"):
        encode_hardcalls(np.array([[0, 3]], np.int8))
