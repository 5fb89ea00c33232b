"""genotype_calls: the non-reference calls as a Delta table (written as the genotype job writes
it: ``calls_table`` per chromosome, ``write_calls_tables``), and the carrier queries on it,
checked against the calls themselves on a slice of the shared test cohort (every chromosome).
``calls_table`` itself is checked against Hail's calls in tests/test_genotype_arrays.py."""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from genomics.carriers import carriers_of, variants_of
from jobs.carriers_io import (commit_staged_calls, layout_summary, open_calls_dataset, write_calls_by_participant,
                              write_calls_tables)
from jobs.lake import open_lake

ENGINES = ["polars", "duckdb"]
PER_CONTIG = 1000     # variants kept per chromosome (3 in the cohort: 3,000 variants)
ROW_GROUP = 4096      # small row groups so that pruning has something to prune


@pytest.fixture(scope="module")
def small(cohort_dir):
    """The first PER_CONTIG variants of each chromosome, with phase, as the genotype job reads
    them; and their non-reference calls (``calls_table``) as one pandas frame."""
    from genomics.genotype_arrays import calls_table, read_vcfs
    ga = read_vcfs(sorted(str(p) for p in (cohort_dir / "genotypes").glob("*.vcf.gz")), workers=2,
                   keep_phase=True)
    contig = ga.variants["contig"].astype(str).to_numpy()
    rows = np.concatenate([np.flatnonzero(contig == c)[:PER_CONTIG] for c in pd.unique(contig)])
    calls = calls_table(ga, rows).to_pandas()
    return ga, rows, calls


def _write(lake, small):
    from genomics.genotype_arrays import calls_table
    ga, rows, _ = small
    contig = ga.variants["contig"].astype(str).to_numpy()
    by_contig = (calls_table(ga, rows[contig[rows] == c]) for c in pd.unique(contig[rows]))
    return write_calls_tables(lake, by_contig, row_group_size=ROW_GROUP)


@pytest.fixture(scope="module")
def calls_lake(small, tmp_path_factory):
    lake = open_lake(str(tmp_path_factory.mktemp("carrier_lake")))
    return lake, _write(lake, small)


@pytest.fixture(scope="module")
def per_variant(small):
    """Carriers (and hom-alt carriers) per variant, counted on the matrix."""
    ga, rows, _ = small
    g = ga.gt[rows]
    v = ga.variants.iloc[rows]
    return pd.DataFrame({"chromosome": v["contig"].astype(str).to_numpy(), "position": v["position"].to_numpy(),
                         "ref": v["ref"].astype(str).to_numpy(), "alt": v["alt"].astype(str).to_numpy(),
                         "n": (g > 0).sum(1), "hom": (g == 2).sum(1)})


def test_table_holds_exactly_the_non_ref_calls(small, calls_lake, per_variant):
    lake, version = calls_lake
    assert version == 0
    ds = open_calls_dataset(lake)
    ga, rows, calls = small
    assert ds.count_rows() == int((ga.gt[rows] > 0).sum()) == len(calls) > 0
    # Every variant has exactly the matrix's carriers and hom-alt carriers.
    import polars as pl
    got = (pl.from_arrow(ds.to_table(columns=["chromosome", "position", "ref", "alt", "n_alt"]))
           .with_columns(pl.col(c).cast(pl.String) for c in ["ref", "alt"])
           .group_by("chromosome", "position", "ref", "alt")
           .agg(n=pl.len(), hom=(pl.col("n_alt") == 2).sum()))
    want = per_variant[per_variant["n"] > 0]
    assert {tuple(r) for r in got.select("chromosome", "position", "ref", "alt", "n", "hom").iter_rows()} == \
        {(r.chromosome, r.position, r.ref, r.alt, r.n, r.hom) for r in want.itertuples()}
    # Hand check: the first 40 called entries, present (or absent) with the right genotype.
    samples = np.asarray(ga.samples)
    checked = 0
    for k, i in enumerate(rows[:40]):
        v = ga.variants.iloc[i]
        for j in (0, 1, 7):
            n_alt = int(ga.gt[i, j])
            if n_alt < 0:
                continue
            f = ((pads.field("chromosome") == str(v["contig"])) & (pads.field("position") == int(v["position"]))
                 & (pads.field("participant") == samples[j]))
            got_rows = ds.to_table(filter=f, columns=["ref", "alt", "genotype", "n_alt"]).to_pylist()
            got_rows = [x for x in got_rows if (x["ref"], x["alt"]) == (str(v["ref"]), str(v["alt"]))]
            checked += 1
            if n_alt == 0:
                assert got_rows == []
            else:
                assert len(got_rows) == 1 and got_rows[0]["n_alt"] == n_alt
                assert got_rows[0]["genotype"] in ({"0/1", "0|1", "1|0", "1"} if n_alt == 1 else {"1/1", "1|1"})
    assert checked > 50


def test_layout_partitions_and_sorts(calls_lake, per_variant):
    lake, _ = calls_lake
    ds = open_calls_dataset(lake)
    contigs = sorted(per_variant["chromosome"].unique())
    summary = layout_summary(ds)
    assert len(contigs) >= 2 and summary["chromosomes"] == contigs
    assert summary["files"] == len(contigs)                       # one file per chromosome here
    assert summary["row_groups"] > 10 and summary["max_overlap"] <= 3
    for frag in ds.get_fragments():
        keys = pads.get_partition_keys(frag.partition_expression)
        assert keys["chromosome"] in contigs and f"chromosome={keys['chromosome']}" in frag.path
        pos = frag.to_table(columns=["position"])["position"].to_numpy()
        assert np.all(np.diff(pos) >= 0)                         # sorted by position in the file
        assert frag.metadata.num_row_groups > 1
        assert frag.metadata.row_group(0).num_rows == ROW_GROUP
    assert not os.listdir(os.path.join(lake.root, "_staging"))    # staging cleaned up
    # Partition pruning: one chromosome's filter keeps only its files ...
    c = contigs[1]
    kept = list(ds.get_fragments(filter=pads.field("chromosome") == c))
    assert kept and all(pads.get_partition_keys(f.partition_expression)["chromosome"] == c for f in kept)
    # ... and a point lookup keeps one to three row groups of the partition's many.
    v = per_variant[(per_variant["chromosome"] == c) & (per_variant["n"] > 0)].iloc[len(per_variant) // 4]
    f = (pads.field("chromosome") == c) & (pads.field("position") == int(v.position))
    rgs = [rg for frag in ds.get_fragments(filter=f) for rg in frag.split_by_row_group(f, schema=ds.schema)]
    total = sum(fr.metadata.num_row_groups for fr in kept)
    assert 1 <= len(rgs) <= 3 < total


@pytest.fixture(scope="module")
def carrier_cases(small, per_variant):
    """The carriers, as {(participant, genotype)}, of three variants (incl. the commonest)."""
    calls = small[2]
    some = per_variant[per_variant["n"] > 0]
    cases = []
    for v in (some.iloc[0], some.iloc[len(some) // 2], some.sort_values("n").iloc[-1]):
        c = calls[(calls["chromosome"] == v.chromosome) & (calls["position"] == v.position)
                  & (calls["ref"] == v.ref) & (calls["alt"] == v.alt)]
        cases.append((v, set(zip(c["participant"], c["genotype"]))))
    return cases


@pytest.fixture(scope="module")
def region_cases(small, per_variant):
    """The calls, as {(position, ref, alt, genotype)}, of two participants in the middle half of
    each chromosome."""
    ga, _, calls = small
    who = [ga.samples[7], ga.samples[-1]]
    out = []
    for s_ in who:
        for c in sorted(per_variant["chromosome"].unique()):
            pos = per_variant.loc[per_variant["chromosome"] == c, "position"]
            a, b = int(pos.quantile(0.25)), int(pos.quantile(0.75))
            sel = calls[(calls["participant"] == s_) & (calls["chromosome"] == c) & calls["position"].between(a, b)]
            out.append(((s_, c, a, b), set(zip(sel["position"], sel["ref"], sel["alt"], sel["genotype"]))))
    return out


@pytest.mark.parametrize("engine", ENGINES)
def test_carriers_of_matches_the_calls(calls_lake, per_variant, carrier_cases, engine):
    lake, _ = calls_lake
    ds = open_calls_dataset(lake)
    for v, want in carrier_cases:
        got = carriers_of(ds, v.chromosome, int(v.position), v.ref, v.alt, engine=engine)
        assert {(r["participant"], r["genotype"]) for r in got.iter_rows(named=True)} == want
        assert got.height == len(want) == v.n
        assert set(got["n_alt"].to_list()) <= {1, 2} and got["participant"].is_sorted()
    # Without alleles: every alt allele at the position.
    v = carrier_cases[1][0]
    all_alts = per_variant[(per_variant["chromosome"] == v.chromosome) & (per_variant["position"] == v.position)]
    assert carriers_of(ds, v.chromosome, int(v.position), engine=engine).height == all_alts["n"].sum()
    assert carriers_of(ds, v.chromosome, 1, engine=engine).height == 0


@pytest.mark.parametrize("engine", ENGINES)
def test_variants_of_matches_the_calls(calls_lake, region_cases, engine):
    lake, _ = calls_lake
    ds = open_calls_dataset(lake)
    for (s, c, start, end), want in region_cases:
        got = variants_of(ds, s, c, start, end, engine=engine)
        assert want and {(r["position"], r["ref"], r["alt"], r["genotype"]) for r in got.iter_rows(named=True)} == want
        assert got.height == len(want) and got["position"].is_sorted()
        assert set(got["participant"].to_list()) == {s} and set(got["chromosome"].to_list()) == {c}
    assert variants_of(ds, "nobody", c, start, end, engine=engine).height == 0


def test_participant_major_companion(hl, calls_lake, region_cases):
    """The optional companion: same rows, participant-major (re-sorted by Spark, here Hail's
    session, as the genotype job starts it); variants_of gives the same answers while reading
    one or two row groups per chromosome."""
    lake, version = calls_lake
    assert write_calls_by_participant(lake, version=version, row_group_size=ROW_GROUP) == 0
    ds = open_calls_dataset(lake, "genotype_calls_by_participant")
    assert ds.count_rows() == open_calls_dataset(lake, version=version).count_rows()
    assert layout_summary(ds, "participant")["max_overlap"] <= 2
    for engine in ENGINES:
        for (s, c, start, end), want in region_cases:
            got = variants_of(ds, s, c, start, end, engine=engine)
            assert {(r["position"], r["ref"], r["alt"], r["genotype"]) for r in got.iter_rows(named=True)} == want
    (s, c, start, end), _ = region_cases[0]
    f = (pads.field("chromosome") == c) & (pads.field("participant") == s)
    assert len([rg for fr in ds.get_fragments(filter=f) for rg in fr.split_by_row_group(f, schema=ds.schema)]) <= 2


def test_rerun_overwrites_without_duplicates(small, calls_lake):
    lake, version = calls_lake
    before = open_calls_dataset(lake).count_rows()
    files_before = set(DeltaTable(lake.path("genotype_calls")).file_uris())
    assert _write(lake, small) == version + 1
    ds = open_calls_dataset(lake)
    assert ds.count_rows() == before
    dt = DeltaTable(lake.path("genotype_calls"))
    assert not files_before & set(dt.file_uris())                 # the new version replaced every file
    assert len(dt.history()) == 2
    # The previous version is still readable (time travel), with the same rows.
    assert open_calls_dataset(lake, version=version).count_rows() == before


def _stage(folder, chrom, name, positions, participant="P1"):
    """A file as Spark's partitioned write leaves it (no chromosome column)."""
    d = folder / f"chromosome={chrom}"
    d.mkdir(parents=True, exist_ok=True)
    n = len(positions)
    pq.write_table(pa.table({"participant": [participant] * n, "position": pa.array(positions, pa.int32()),
                             "ref": ["A"] * n, "alt": ["G"] * n, "genotype": ["0/1"] * n,
                             "n_alt": pa.array([1] * n, pa.int8())}), d / name)


def test_commit_lays_out_exact_row_groups_and_fails_cleanly(tmp_path):
    """Staged files (named out of position order, odd sizes) become exact, sorted
    row groups; a failing rewrite leaves the table at its version and no stray files."""
    staging, table = tmp_path / "staging", str(tmp_path / "lake" / "genotype_calls")
    _stage(staging, "chr1", "part-00000.parquet", list(range(5000, 7000)))
    _stage(staging, "chr1", "part-00001.parquet", list(range(1, 5000)))     # comes first by position
    _stage(staging, "chr2", "part-00002.parquet", list(range(100, 1100)))
    assert commit_staged_calls(table, str(staging), row_group_size=1000) == 0
    ds = open_calls_dataset(str(tmp_path / "lake"))
    assert ds.count_rows() == 7999
    for frag in ds.get_fragments():
        md = frag.metadata
        assert [md.row_group(i).num_rows for i in range(md.num_row_groups)][:-1] == [1000] * (md.num_row_groups - 1)
        assert np.all(np.diff(frag.to_table(columns=["position"])["position"].to_numpy()) > 0)
    assert layout_summary(ds)["max_overlap"] == 1
    files = {str(p) for p in (tmp_path / "lake").rglob("*.parquet")}
    # A rewrite that fails half-way (chr2's positions do not parse) commits nothing.
    bad = tmp_path / "bad"
    _stage(bad, "chr1", "part-00000.parquet", list(range(1, 3000)))
    (bad / "chromosome=chr2").mkdir()
    pq.write_table(pa.table({"participant": ["P1"], "position": ["x"], "ref": ["A"], "alt": ["G"],
                             "genotype": ["0/1"], "n_alt": pa.array([1], pa.int8())}),
                   bad / "chromosome=chr2" / "part-00001.parquet")
    with pytest.raises(Exception):
        commit_staged_calls(table, str(bad), row_group_size=1000)
    assert DeltaTable(table).version() == 0
    assert {str(p) for p in (tmp_path / "lake").rglob("*.parquet")} == files
