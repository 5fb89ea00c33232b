"""Shared fixtures: one Hail/Spark session per test session, one simulated cohort on disk."""
from __future__ import annotations

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
# Spark's Python workers run this interpreter (not whatever `python3` is first on PATH), whichever
# test starts the process's one SparkContext first (Hail's fixture or a job's session).
os.environ["PYSPARK_PYTHON"] = sys.executable
os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable

# The shared test cohort: big enough for GWAS to find the strongest causal loci, small
# enough that the whole suite stays within minutes on 2 cores.
COHORT_ARGS = ["--n-samples", "1500", "--sequence-length", "2500000", "--seed", "42"]


@pytest.fixture(scope="session")
def cohort_dir(tmp_path_factory):
    """The example cohort written by the simulate job (VCFs, phenotypes, truth tables)."""
    from jobs import simulate
    out = tmp_path_factory.mktemp("cohort")
    assert simulate.main(["--out", str(out), *COHORT_ARGS]) == 0
    return out


@pytest.fixture(scope="session")
def hl(tmp_path_factory):
    """Hail on local Spark, bound to loopback; one per test session."""
    import warnings
    warnings.filterwarnings("ignore", message="Hail was built and tested with Java 11")
    import hail
    tmp = tmp_path_factory.mktemp("hail")
    hail.init(master="local[2]", quiet=True, idempotent=True, default_reference="GRCh38",
              log=str(tmp / "hail.log"), tmp_dir=str(tmp), local_tmpdir=str(tmp),
              spark_conf={"spark.driver.memory": "4g", "spark.ui.enabled": "false",
                          "spark.ui.showConsoleProgress": "false",
                          "spark.driver.bindAddress": "127.0.0.1", "spark.driver.host": "127.0.0.1",
                          "spark.executorEnv.PYTHONPATH": ROOT,
                          "spark.executorEnv.PYSPARK_PYTHON": sys.executable})
    yield hail


def import_split_vcfs(hl, paths, reference_genome="GRCh38", min_partitions=4):
    """VCFs as Hail reads and splits them (a reference for the numpy reader, never a pipeline
    step): ``GT`` only, multi-allelics split and downcoded as ``split_multi_hts`` does, with
    ``old_locus``/``old_alleles``/``was_split``; star and symbolic ALT alleles dropped."""
    mt = hl.import_vcf(paths, reference_genome=reference_genome, min_partitions=min_partitions,
                       force_bgz=True, array_elements_required=False, skip_invalid_loci=True)
    mt = mt.select_entries("GT").select_rows("rsid")
    mt = hl.split_multi(mt, keep_star=False)
    mt = mt.annotate_entries(GT=hl.downcode(mt.GT, mt.a_index))
    return mt.filter_rows(~mt.alleles[1].startswith("<"))


@pytest.fixture(scope="session")
def cohort_mt(hl, cohort_dir, tmp_path_factory):
    """The cohort's genotypes read by Hail once (multi-allelics split), checkpointed: the
    reference some numpy kernels are compared with."""
    vcfs = sorted(str(p) for p in (cohort_dir / "genotypes").glob("*.vcf.gz"))
    return import_split_vcfs(hl, vcfs).checkpoint(str(tmp_path_factory.mktemp("mt") / "cohort.mt"))
