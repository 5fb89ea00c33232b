"""Phenotype table validation, quarantine and the cohort split."""
from __future__ import annotations

import pandas as pd
import pytest

from genomics.errors import InputDataError
from phenotypes.cohort import assemble_cohort, assign_split
from phenotypes.table_reader import read_raw_table, validate_phenotype_table

COLUMNS = {"age": {"type": "float", "min": 18, "max": 110, "required": True},
           "ldl_c": {"type": "float", "min": 0.5, "max": 15}, "cad": {"type": "binary"}}
SEX = {"male": ["M"], "female": ["F"]}


def validate(path, known=None, columns=COLUMNS):
    return validate_phenotype_table(read_raw_table(str(path)), str(path), "sample_id", "sex", SEX,
                                    columns, known_samples=known)


def test_each_bad_row_is_quarantined_with_its_reason(tmp_path):
    p = tmp_path / "p.csv"
    p.write_text("sample_id,sex,age,ldl_c,cad\n"
                 "A,M,50,3.1,0\n"        # line 2 ok
                 "B,F,forty,3.0,1\n"     # 3 bad type
                 "C,F,250,3.0,1\n"       # 4 out of range
                 "Z,M,50,3.0,0\n"        # 5 unknown sample
                 "D,X,50,3.0,0\n"        # 6 bad sex code
                 "E,F,60,,\n"            # 7 ok, missing optional values
                 "F,F,,3.0,0\n"          # 8 missing required
                 "G,M,50,3.0,2\n"        # 9 bad binary
                 "H,M,50,3,0\n"          # 10 duplicate
                 "H,M,51,3,0\n"          # 11 duplicate
                 ",M,51,3,0\n")          # 12 missing id
    res = validate(p, known=list("ABCDEFGH"))
    q = res.quarantine.set_index("line")
    assert res.counts == {"read": 11, "accepted": 2, "quarantined": 9}
    assert q.loc[3, "reason"].startswith("bad type") and q.loc[3, "field"] == "age"
    assert q.loc[4, "reason"].startswith("out of range") and q.loc[4, "field"] == "age"
    assert q.loc[5, "reason"].startswith("unknown sample")
    assert q.loc[6, "field"] == "sex"
    assert q.loc[8, "reason"] == "missing required value"
    assert q.loc[9, "field"] == "cad"
    assert q.loc[10, "reason"] == q.loc[11, "reason"] == "duplicate sample ID"
    assert q.loc[12, "reason"] == "missing sample ID"
    acc = res.accepted.set_index("participant_id")
    assert acc.loc["A", "sex"] == 1 and acc.loc["E", "sex"] == 0
    assert acc.loc["A", "age"] == 50.0 and pd.isna(acc.loc["E", "ldl_c"]) and pd.isna(acc.loc["E", "cad"])


def test_missing_sample_id_column_names_file_line_and_field(tmp_path):
    p = tmp_path / "nosid.csv"
    p.write_text("id,sex,age,ldl_c,cad\nA,M,50,3,0\n")
    with pytest.raises(InputDataError) as e:
        validate(p)
    assert e.value.line == 1 and e.value.field == "sample_id" and str(p) in str(e.value)
    assert "A,M,50" not in str(e.value)


def test_ragged_rows_are_quarantined_with_line_and_field_counts_rest_kept(tmp_path):
    # today's main: the short row is accepted with nulls, the long row rejects the whole file
    p = tmp_path / "ragged.csv"
    p.write_text("sample_id,sex,age,ldl_c,cad\nA,M,50,3,0\nB,F,50,3,0,extra\nC,F,61\nD,M,40,2.5,1\n")
    res = validate(p)
    assert res.counts == {"read": 4, "accepted": 2, "quarantined": 2}
    q = res.quarantine.set_index("line")
    assert q.loc[3, "reason"] == "6 fields, expected 5" and q.loc[3, "record_id"] == "B"
    assert q.loc[4, "reason"] == "3 fields, expected 5" and q.loc[4, "record_id"] == "C"
    assert list(res.accepted["participant_id"]) == ["A", "D"]
    assert res.accepted.set_index("participant_id").loc["D", "ldl_c"] == 2.5


def test_simulated_dirty_rows_are_exactly_the_quarantined_ones(cohort_dir):
    from genomics.vcf_checks import check_vcfs
    samples = check_vcfs(sorted(str(p) for p in (cohort_dir / "genotypes").glob("*.vcf.gz")))
    res = validate(cohort_dir / "phenotypes.csv", known=samples)
    dirty = pd.read_csv(cohort_dir / "dirty_rows.tsv", sep="\t")
    assert sorted(res.quarantine["line"]) == sorted(dirty["row"] + 2)
    assert res.counts["read"] == res.counts["accepted"] + res.counts["quarantined"]
    assert res.counts["read"] == len(pd.read_csv(cohort_dir / "phenotypes.csv"))


def test_split_is_deterministic_stable_and_proportioned():
    ids = pd.Series([f"S{i:05d}" for i in range(20000)])
    a = assign_split(ids, seed=7, test=0.25, validation=0.2)
    assert a.equals(assign_split(ids, seed=7, test=0.25, validation=0.2))
    share = a.value_counts(normalize=True)
    assert abs(share["test"] - 0.25) < 0.01
    assert abs(share["validation"] - 0.75 * 0.2) < 0.01
    # Adding people does not move anyone already assigned.
    b = assign_split(pd.concat([ids, pd.Series(["NEW1", "NEW2"])], ignore_index=True), 7, 0.25, 0.2)
    assert b.iloc[:20000].equals(a)
    assert not a.equals(assign_split(ids, seed=8, test=0.25, validation=0.2))


def test_cohort_keeps_only_qc_passed_genotyped_participants():
    participants = pd.DataFrame({"participant_id": ["A", "B", "C", "D"], "sex": [0, 1, 0, 1]})
    sqc = pd.DataFrame({"s": ["A", "B", "C", "E"], "qc_pass": [True, False, True, True]})
    pcs = pd.DataFrame({"s": ["A", "B", "C", "E"], "PC1": [0.1, 0.2, 0.3, 0.4]})
    c = assemble_cohort(participants, sqc, pcs, seed=1, test=0.3, validation=0.2)
    assert c["participant_id"].tolist() == ["A", "C"] and c["PC1"].tolist() == [0.1, 0.3]
    assert set(c["split"]) <= {"train", "validation", "test"}
