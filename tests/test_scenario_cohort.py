"""The scenario generator (tests/scenarios/cohort.py): deterministic, and its VCFs read back by
bcftools as the truth it returns."""
import shutil
import subprocess

import numpy as np
import pytest

from tests.scenarios.cohort import CohortOptions, make_cohort


def test_generator_is_deterministic_and_vcfs_match_truth(tmp_path):
    o = CohortOptions(n=60, contigs=("1",), variants_per_contig=80, x_variants=40, families=2)
    a, b = make_cohort(o, str(tmp_path / "a")), make_cohort(o, str(tmp_path / "b"))
    assert np.array_equal(a.dosage, b.dosage) and a.low_call == b.low_call
    assert len(a.first_degree_pairs()) == 10
    if not shutil.which("bcftools"):
        pytest.skip("bcftools not installed")
    out = subprocess.run(["bcftools", "query", "-f", "[%GT\t]\n", a.vcfs[0]], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    got = np.array([[-1 if "." in g else sum(int(x) for x in g.replace("|", "/").split("/"))
                     for g in line.rstrip("\t").split("\t")] for line in out])
    assert np.array_equal(got, a.dosage[:80])
