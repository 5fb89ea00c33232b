"""The phenotype job on the example cohort's clinical sources (table + FHIR + devices), with
real Delta tables: an updated extract upserts (no duplicates, history kept, earlier version
readable); the ingest reads no VCF, and poor linkage is caught by the genotype job's check."""
from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
import yaml

from jobs import phenotypes
from jobs.lake import open_lake


def write_config(tmp, cohort_dir, fhir_dir, **over):
    cfg = {"cohort": "clin", "results": str(tmp / "results"), "lake": str(tmp / "results" / "lake"),
           "vcfs": sorted(str(p) for p in (cohort_dir / "genotypes").glob("*.vcf.gz")),
           "phenotypes": {"path": str(cohort_dir / "phenotypes.csv"), "dictionary": "conf/data_dictionary.yaml"},
           "fhir": {"paths": [str(fhir_dir)]},
           "devices": [{"path": str(cohort_dir / "clinical" / "devices.csv")}],
           "traits": [{"name": "ldl_c", "type": "quantitative", "measure": {"name": "ldl_c", "summary": "mean"}},
                      {"name": "cad", "type": "binary", "conditions": {"cases": ["icd10:I20-I25"]}}],
           **over}
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path, cfg


def test_updated_extract_upserts_and_keeps_history(cohort_dir, tmp_path):
    fhir = tmp_path / "fhir"
    shutil.copytree(cohort_dir / "clinical" / "fhir", fhir)
    config, cfg = write_config(tmp_path, cohort_dir, fhir)
    assert phenotypes.main(["--configfile", str(config)]) == 0
    lake = open_lake(cfg["lake"])
    v0 = lake.version("observations")
    obs0 = lake.read("observations")
    n0 = len(obs0)

    # the updated extract: one LDL value corrected, one new measurement
    lines = (fhir / "Observation.ndjson").read_text().splitlines()
    k, res = next((i, json.loads(x)) for i, x in enumerate(lines)
                  if x.startswith("{") and '"13457-7"' in x and '"mmol/L"' in x)
    old_value = res["valueQuantity"]["value"]
    res["valueQuantity"]["value"] = round(old_value + 1.0, 2)
    lines[k] = json.dumps(res)
    new = dict(res, id=res["id"] + "-new", effectiveDateTime="2025-02-01T09:00:00Z")
    lines.append(json.dumps(new))
    (fhir / "Observation.ndjson").write_text("\n".join(lines) + "\n")
    assert phenotypes.main(["--configfile", str(config)]) == 0

    obs1 = lake.read("observations")
    assert len(obs1) == n0 + 1 and obs1["record_id"].is_unique
    rid = f"fhir:Observation/{res['id']}"
    assert obs1.set_index("record_id").loc[rid, "value"] == pytest.approx(old_value + 1.0)
    # time travel: the version before the update still has the old value
    before = lake.read("observations", version=v0).set_index("record_id")
    assert before.loc[rid, "value"] == pytest.approx(old_value) and len(before) == n0
    last = lake.history("observations")[0]
    assert last["operation"] == "MERGE"
    m = last["operationMetrics"]
    assert m["num_target_rows_updated"] == 1 and m["num_target_rows_inserted"] == 1
    # traits follow the update
    assert lake.read("traits")["participant_id"].is_unique


def test_phenotype_ingest_reads_no_vcf_and_the_genotype_job_checks_linkage(cohort_dir, tmp_path):
    """issue 11 item 14: phenotype ingest never reads the VCFs (here they do not even exist); poor
    linkage is caught by the genotype job's check on the ingested participants."""
    from cyvcf2 import VCF

    from genomics.errors import LinkageError
    from jobs import privacy
    from jobs.config import load_config
    from jobs.genotypes import check_linkage
    from jobs.runtime import JobContext
    table = pd.read_csv(cohort_dir / "phenotypes.csv", dtype=str, keep_default_na=False)
    table["sample_id"] = "OTHER" + table["sample_id"]      # IDs from another numbering
    bad = tmp_path / "pheno.csv"
    table.to_csv(bad, index=False)
    config, cfg = write_config(tmp_path, cohort_dir, tmp_path / "nofhir", fhir={"paths": []}, devices=[],
                               vcfs=[str(tmp_path / "absent.vcf.gz")])
    cfg["phenotypes"]["path"] = str(bad)
    config.write_text(yaml.safe_dump(cfg))
    assert phenotypes.main(["--configfile", str(config)]) == 0
    lake = open_lake(cfg["lake"])
    participants = lake.read("participants")
    full = load_config(config)
    samples = VCF(str(sorted((cohort_dir / "genotypes").glob("*.vcf.gz"))[0])).samples
    pids = privacy.pseudonymiser(full).many(samples)
    ctx = JobContext(job="genotypes", config=full, lake=lake)
    with pytest.raises(LinkageError, match="0.0% of the"):
        check_linkage(ctx, pids, participants)
    assert ctx.details["linkage"]["matched"] == 0 and ctx.details["linkage"]["genotyped"] == len(samples)


def test_traits_only_from_table_columns_are_all_in_the_trait_summary(cohort_dir, tmp_path):
    """issue 11 item 2: the README's table-column traits, no FHIR and no device files: the
    trait summary lists every trait with the counts of the accepted table rows."""
    from jobs.summary import summary_text
    config, cfg = write_config(tmp_path, cohort_dir, tmp_path, fhir={"paths": []}, devices=[],
                               traits=[{"name": "ldl_c", "type": "quantitative", "column": "ldl_c"},
                                       {"name": "cad", "type": "binary", "column": "cad"}])
    assert phenotypes.main(["--configfile", str(config)]) == 0
    got = pd.read_csv(tmp_path / "results" / "phenotypes" / "trait_summary.tsv", sep="\t").set_index("trait")
    assert list(got.index) == ["ldl_c", "cad"]
    assert got.loc["cad", "source"] == "table column cad"
    # hand count: the accepted table rows (the quarantined ones hold a bad value somewhere)
    lake = open_lake(cfg["lake"])
    q_lines = set(lake.read("quarantine")["line"])
    raw = pd.read_csv(cohort_dir / "phenotypes.csv", dtype=str)
    ok = raw[[i + 2 not in q_lines for i in range(len(raw))]]
    cad = pd.to_numeric(ok["cad"], errors="coerce")
    assert int(got.loc["cad", "cases"]) == int((cad == 1).sum())
    assert int(got.loc["cad", "controls"]) == int((cad == 0).sum())
    ldl = pd.to_numeric(ok["ldl_c"], errors="coerce").dropna()
    assert int(got.loc["ldl_c", "n"]) == len(ldl)
    assert float(got.loc["ldl_c", "mean"]) == pytest.approx(ldl.mean(), rel=1e-6)
    text = summary_text(cfg, lake)
    assert f"cad                  {int((cad == 1).sum())} cases" in text
    # issue 11 item 10: no Consent records and no consent_feedback_column: the default is stated
    n = len(lake.read("participants"))
    assert (f"Consent: no consent information: research use assumed for all {n:,} participants "
            "(documented default); individual feedback: none (no consent_feedback_column and no Consent "
            "records) - 0 reports") in text
    assert f"{cfg['results']}/gwas/cad/cad.tsv.gz" in text and "<trait>" not in text


def test_semicolon_decimal_comma_latin1_table_ingests_like_the_csv(cohort_dir, tmp_path, capsys):
    """The example table rewritten the way a European spreadsheet exports it (';', decimal commas,
    Latin-1 text in an unloaded column): with phenotypes.encoding latin-1 the job loads exactly the
    rows the CSV gives (every row but the simulation's dirty ones), logs what it detected, and puts
    the repeated-ID rows in its details and the run summary; without the encoding it stops (exit 3)
    naming the file and the line."""
    from jobs.summary import summary_text
    src = pd.read_csv(cohort_dir / "phenotypes.csv", dtype=str, keep_default_na=False)
    dirty = pd.read_csv(cohort_dir / "dirty_rows.tsv", sep="\t")
    eu = src.copy()
    for col in ("age", "ldl_c"):
        eu[col] = eu[col].str.replace(".", ",", regex=False)
    eu["note"] = ["Malm\u00f6" if i == 3 else "" for i in range(len(eu))]
    path = tmp_path / "phenotypes_eu.csv"
    path.write_bytes(eu.to_csv(sep=";", index=False).encode("latin-1"))
    traits = [{"name": "ldl_c", "type": "quantitative", "column": "ldl_c"},
              {"name": "cad", "type": "binary", "column": "cad"}]
    pheno = {"path": str(path), "dictionary": "conf/data_dictionary.yaml", "encoding": "latin-1"}
    config, cfg = write_config(tmp_path, cohort_dir, tmp_path, phenotypes=pheno, fhir={"paths": []}, devices=[],
                               traits=traits)
    assert phenotypes.main(["--configfile", str(config)]) == 0
    log = capsys.readouterr().err
    assert f"phenotypes_eu.csv: delimiter ';' (detected), decimal ',' (detected), encoding latin-1, " \
           f"{len(src)} rows, 0 with a wrong number of fields" in log
    lake = open_lake(cfg["lake"])
    got = lake.read("participants")
    # rows for samples the VCFs lack are participants too (the ingest never reads the VCFs)
    clean = src.drop(index=dirty.loc[dirty["reason"] != "unknown_sample_id", "row"])
    assert len(got) == len(clean)
    assert sorted(got["age"]) == pytest.approx(sorted(clean["age"].astype(float)))
    assert sorted(got["ldl_c"].dropna()) == pytest.approx(sorted(clean["ldl_c"].replace("", None).dropna().astype(float)))
    n_dup = int((dirty["reason"] == "duplicate_sample_id").sum())
    assert n_dup >= 2
    runs = lake.read("runs")
    details = json.loads(runs[runs["job"] == "phenotypes"]["details"].iloc[-1])
    assert details["set_aside"]["repeated_sample_id"]["rows"] == n_dup
    from jobs.config import load_config
    assert f"  {n_dup} rows with a repeated sample ID set aside (" in summary_text(load_config(config), lake)

    # the same file without the encoding: exit 3, file and line named (line 5: the header, then rows 0-3)
    pheno.pop("encoding")
    config, cfg = write_config(tmp_path, cohort_dir, tmp_path, phenotypes=pheno, fhir={"paths": []}, devices=[],
                               traits=traits)
    assert phenotypes.main(["--configfile", str(config)]) == 3
    err = capsys.readouterr().err
    assert f"{path}, line 5: not valid utf-8 text (byte 0xf6" in err and "Latin-1" in err
