"""The genotype job without Hail: the unrelated set and the reference-genome facts it used Hail
for, each checked against Hail on small cases, and the MatrixTable export only on request."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from genomics.relatedness import related_to_drop

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _hail_related_to_drop(hl, pairs: pd.DataFrame, max_kinship: float, preferred: set[str]) -> set[str]:
    """What the genotype job ran before (``hl.maximal_independent_set``, phenotyped preferred)."""
    close = hl.Table.from_pandas(pairs)
    close = close.filter(close.kinship > max_kinship)
    if close.count() == 0:
        return set()
    pref = hl.literal(preferred, dtype=hl.tset(hl.tstr))
    close = close.key_by(i=hl.struct(id=close.i, keep=pref.contains(close.i)),
                         j=hl.struct(id=close.j, keep=pref.contains(close.j)))

    def tie_breaker(l, r):
        return hl.if_else(l.keep & ~r.keep, -1, hl.if_else(~l.keep & r.keep, 1, 0))

    drop = hl.maximal_independent_set(close.i, close.j, keep=False, tie_breaker=tie_breaker)
    return set(drop.node.id.collect())


def _pairs(edges, kinship=0.25):
    return pd.DataFrame({"i": [a for a, _ in edges], "j": [b for _, b in edges],
                         "kinship": [kinship] * len(edges)})


# graphs whose greedy answer is fixed by degree and preference (no tie left to chance)
CASES = {
    "star": ([("c", "a"), ("c", "b"), ("c", "d"), ("c", "e")], set()),
    "path": ([("a", "b"), ("b", "c")], set()),
    "pairs, one phenotyped": ([("a", "b"), ("c", "d"), ("e", "f")], {"a", "d", "f"}),
    "trio, parents phenotyped": ([("kid", "mum"), ("kid", "dad")], {"mum", "dad"}),
    "two stars joined": ([("h1", "a"), ("h1", "b"), ("h1", "c"), ("h2", "d"), ("h2", "e"), ("h2", "f"),
                          ("h1", "h2")], {"a", "b", "c", "d", "e", "f"}),
    "triangle, one phenotyped": ([("a", "b"), ("b", "c"), ("a", "c")], {"b"}),
}


@pytest.mark.parametrize("name", list(CASES))
def test_related_to_drop_equals_hails_maximal_independent_set(hl, name):
    edges, preferred = CASES[name]
    pairs = _pairs(edges)
    got = related_to_drop(pairs, 0.177, preferred)
    assert got == _hail_related_to_drop(hl, pairs, 0.177, preferred), name
    kept = {s for e in edges for s in e} - got
    assert not any(a in kept and b in kept for a, b in edges)        # independent


def test_related_to_drop_by_hand():
    # below the threshold nothing is dropped; equal degree and preference: the greatest ID goes
    assert related_to_drop(_pairs([("a", "b")], 0.1), 0.177, set()) == set()
    assert related_to_drop(_pairs([]), 0.177, set()) == set()
    assert related_to_drop(_pairs([("a", "b")]), 0.177, set()) == {"b"}
    assert related_to_drop(_pairs([("a", "b")]), 0.177, {"b"}) == {"a"}
    # a chain a-b-c-d: b and c have degree 2, c (the greater ID) goes; then a-b is left, b goes
    assert related_to_drop(_pairs([("a", "b"), ("b", "c"), ("c", "d")]), 0.177, set()) == {"b", "c"}


def test_loci_equal_hails_reference_genomes(hl):
    """Valid locus, autosome, chrX non-PAR, chrY, MT per row: as Hail's reference genomes say."""
    from jobs.genotypes import _Loci
    for build, (x, y, mt, alt) in {"GRCh38": ("chrX", "chrY", "chrM", "chr1_KI270706v1_random"),
                                   "GRCh37": ("X", "Y", "MT", "GL000192.1")}.items():
        ref = hl.get_reference(build)
        first = ref.contigs[0]
        rows = [(first, 1), (first, ref.lengths[first]), (first, ref.lengths[first] + 1), (first, 0),
                (x, 10_000), (x, 2_700_000), (x, 60_000_000), (x, 155_000_000), (x, 156_030_000),
                (y, 3_000_000), (mt, 100), (mt, 20_000), (alt, 1000), ("nonsense", 5), ("22", 1000)]
        v = pd.DataFrame(rows, columns=["contig", "position"])
        loci = _Loci(v, build)
        lengths = ref.lengths
        valid = np.array([c in lengths and 1 <= p <= lengths[c] for c, p in rows])
        assert (loci.valid == valid).all(), build
        kind = {c: ("x" if c in ref.x_contigs else "y" if c in ref.y_contigs else "mt" if c in ref.mt_contigs
                    else "auto") for c, _ in rows}
        assert (loci.autosome == (valid & np.array([kind[c] == "auto" for c, _ in rows]))).all(), build
        assert (loci.y == np.array([kind[c] == "y" for c, _ in rows])).all(), build
        assert (loci.mt == np.array([kind[c] == "mt" for c, _ in rows])).all(), build
        x_nonpar = [hl.eval(hl.locus(c, p, build).in_x_nonpar()) if valid[k] else False
                    for k, (c, p) in enumerate(rows)]
        assert (loci.x_nonpar[valid] == np.array(x_nonpar)[valid]).all(), build


_RUN = """
import json, sys
from jobs import genotypes
rc = genotypes.main(["--configfile", sys.argv[1]])
print(json.dumps({"rc": rc, "hail": "hail" in sys.modules, "pyspark": "pyspark" in sys.modules}))
"""


def _run_job(path) -> dict:
    out = subprocess.run([sys.executable, "-c", _RUN, str(path)], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": ROOT})
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_matrix_table_export_only_when_asked(hl, tmp_path):
    """Off (the default): the job imports neither Hail nor Spark, writes the QC-passed .bed and
    no MatrixTable. On: the MatrixTable holds the .bed's samples and variants, with calls whose
    allele frequencies are the job's. Off again: the stale MatrixTable is removed."""
    from jobs.lake import open_lake
    from test_qc_evidence import cohort, config, write_participants
    vcf = cohort(tmp_path, 1200, "diploid_males")
    path, cfg = config(tmp_path, vcf)
    write_participants(cfg)
    mt_dir = os.path.join(cfg["lake"], "genotypes", "tiny.qc.mt")
    prefix = os.path.join(cfg["results"], "genotypes", "tiny.qc")

    assert _run_job(path) == {"rc": 0, "hail": False, "pyspark": False}
    assert not os.path.exists(mt_dir)
    bim = pd.read_csv(prefix + ".bim", sep="\t", header=None)
    fam = pd.read_csv(prefix + ".fam", sep=r"\s+", header=None)
    vqc = open_lake(cfg["lake"]).read("variant_qc")
    vqc = vqc[vqc["qc_pass"]]
    assert bim[1].tolist() == vqc["variant_id"].tolist() and len(bim) > 1000 and len(fam) == 40

    cfg["genotypes"] = {"export_matrix_table": True}
    path.write_text(yaml.safe_dump(cfg))
    assert _run_job(path) == {"rc": 0, "hail": True, "pyspark": True}
    mt = hl.read_matrix_table(mt_dir)
    assert mt.s.collect() == fam[1].astype(str).tolist()
    mt = mt.annotate_rows(af=hl.agg.call_stats(mt.GT, mt.alleles).AF[1])
    rows = mt.rows().to_pandas()
    assert [f"{l.contig}:{l.position}:{a[0]}:{a[1]}" for l, a in zip(rows["locus"], rows["alleles"])] \
        == bim[1].tolist()
    assert np.allclose(rows["af"], vqc["alt_af"]) and np.allclose(rows["alt_af"], vqc["alt_af"])

    cfg["genotypes"] = {"export_matrix_table": False}
    path.write_text(yaml.safe_dump(cfg))
    assert _run_job(path)["rc"] == 0 and not os.path.exists(mt_dir)


def test_export_setting_defaults_off_and_reruns_only_the_genotype_job():
    import copy
    from jobs.config import load_config
    from jobs.settings import JOB_SETTINGS, settings_for
    before = load_config(os.path.join(ROOT, "conf", "config.yaml"))
    assert before["genotypes"]["export_matrix_table"] is False
    after = copy.deepcopy(before)
    after["genotypes"]["export_matrix_table"] = True
    assert {j for j in JOB_SETTINGS if settings_for(j, before) != settings_for(j, after)} == {"genotypes"}
