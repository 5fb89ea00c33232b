"""The workflow sees its own settings: a dry run writes nothing; jobs read this run's own copy of
the effective config (named in $GENOLAKE_CONFIG), written only when the workflow really runs."""
from __future__ import annotations

import os
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SNAKEMAKE = os.path.join(os.path.dirname(sys.executable), "snakemake")


def _example_config(tmp_path):
    cfg = yaml.safe_load(open(os.path.join(ROOT, "conf", "config.yaml")))
    res = tmp_path / "res"
    cfg["results"], cfg["lake"] = str(res), str(res / "lake")
    cfg["example_cohort"].update(out=str(res / "example"), n_samples=50)
    cfg["vcfs"] = [v.replace("results/example", str(res / "example")) for v in cfg["vcfs"]]
    cfg["phenotypes"]["path"] = cfg["phenotypes"]["path"].replace("results/example", str(res / "example"))
    cfg["fhir"]["paths"] = [p.replace("results/example", str(res / "example")) for p in cfg["fhir"]["paths"]]
    cfg["devices"] = [{**d, "path": d["path"].replace("results/example", str(res / "example"))}
                      for d in cfg["devices"]]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path, res


def test_dry_run_writes_nothing(tmp_path):
    config, results = _example_config(tmp_path)
    p = subprocess.run([SNAKEMAKE, "--snakefile", "Snakefile", "--configfile", str(config), "--cores", "1", "-n"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    assert "example_cohort" in p.stdout + p.stderr  # the DAG was built: the jobs are listed
    assert not results.exists(), sorted(str(f) for f in results.rglob("*"))


def test_job_command_lines_do_not_name_a_per_run_config():
    # the config path reaches the jobs through the environment, so the shell command (and so
    # Snakemake's code rerun trigger) is the same from one run to the next
    text = open(os.path.join(ROOT, "Snakefile")).read()
    assert "--configfile {EFFECTIVE_CONFIG}" not in text
    from jobs.config import CONFIG_ENV
    from jobs.runtime import base_parser
    os.environ[CONFIG_ENV] = "/some/run/config.yaml"
    try:
        assert base_parser("x").parse_args([]).configfile == "/some/run/config.yaml"
    finally:
        del os.environ[CONFIG_ENV]


def _settings_changed(change):
    import copy
    from jobs.config import load_config
    from jobs.settings import JOB_SETTINGS, settings_for
    before = load_config(os.path.join(ROOT, "conf", "config.yaml"))
    after = copy.deepcopy(before)
    change(after)
    return {j for j in JOB_SETTINGS if settings_for(j, before) != settings_for(j, after)}


def test_a_changed_qc_setting_reruns_genotype_qc_not_the_ingest():
    changed = _settings_changed(lambda c: c["qc"].update(maf=0.05))
    assert "genotypes" in changed
    assert not changed & {"phenotypes", "read_genotypes", "gwas", "gwas_chunk", "prs", "risk", "reports"}


def test_a_changed_gwas_setting_does_not_rerun_genotypes():
    changed = _settings_changed(lambda c: c["gwas"].update(chunks=c["gwas"].get("chunks", 1) + 1))
    assert {"gwas", "gwas_chunk", "prs"} <= changed
    assert not changed & {"genotypes", "read_genotypes", "phenotypes", "cohort"}


def test_settings_are_the_json_of_the_sections_a_job_reads():
    import json
    from jobs.config import load_config
    from jobs.settings import settings_for
    c = load_config(os.path.join(ROOT, "conf", "config.yaml"))
    s = json.loads(settings_for("risk", c))
    assert set(s) == {"cohort", "results", "lake", "delta_engine", "traits", "covariates", "mlflow"}
    assert s["covariates"] == c["covariates"]
    import pytest
    with pytest.raises(ValueError, match="unknown job 'gwass'"):
        settings_for("gwass", c)


def test_clinical_inputs_are_the_same_before_and_after_the_example_writes_them(tmp_path):
    from jobs.config import validate_config
    from jobs.settings import clinical_inputs
    config, results = _example_config(tmp_path)
    c = validate_config(yaml.safe_load(open(config)))
    before = clinical_inputs(c)
    fhir = results / "example" / "clinical" / "fhir"
    fhir.mkdir(parents=True)
    (fhir / "site_a.ndjson").write_text("{}\n")
    (results / "example" / "clinical" / "devices.csv").write_text("x\n")
    assert clinical_inputs(c) == before == [str(results / "example" / "clinical_dirty.tsv")]
    # a user's own FHIR folder: its files, so a new extract reruns the ingest
    own = tmp_path / "fhir"
    own.mkdir()
    (own / "b.json").write_text("{}")
    (own / "a.ndjson").write_text("{}")
    (own / "notes.txt").write_text("")
    c["fhir"]["paths"] = [str(own)]
    c["devices"] = []
    assert clinical_inputs(c) == [str(own / "a.ndjson"), str(own / "b.json")]


def test_read_genotypes_does_not_wait_on_the_phenotype_ingest(tmp_path):
    # rule graph of the Snakefile (no job runs): phenotypes -> genotypes, but no edge into read_genotypes
    config, results = _example_config(tmp_path)
    p = subprocess.run([SNAKEMAKE, "--snakefile", "Snakefile", "--configfile", str(config), "--rulegraph"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    import re
    nodes = dict(re.findall(r'^\s*(\d+)\[label = "([a-z_]+)"', p.stdout, re.M))
    edges = {(nodes[a], nodes[b]) for a, b in re.findall(r"^\s*(\d+) -> (\d+)", p.stdout, re.M)}
    assert ("phenotypes", "genotypes") in edges and ("read_genotypes", "genotypes") in edges
    assert not {e for e in edges if e[1] == "read_genotypes" and e[0] != "example_cohort"}, edges
    assert not results.exists()


def test_parallel_first_appends_to_the_runs_table_all_land(tmp_path):
    # several jobs (the per-VCF reads, the phenotype ingest) may create the lineage table at once
    import time
    worker = tmp_path / "w.py"
    worker.write_text(
        "import sys, time\n"
        f"sys.path.insert(0, {ROOT!r})\n"
        "from jobs.lake import open_lake\nfrom jobs import lineage\n"
        "lake = open_lake(sys.argv[1])\n"
        "while time.time() < float(sys.argv[3]): time.sleep(0.001)\n"
        "lineage.append_run(lake, {'run_id': sys.argv[2], 'job': 'read_genotypes'})\n")
    from jobs.lake import open_lake
    for trial in range(2):
        lake_dir = tmp_path / f"lake{trial}"
        start = time.time() + 3
        procs = [subprocess.Popen([sys.executable, str(worker), str(lake_dir), str(i), str(start)])
                 for i in range(4)]
        assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
        assert sorted(open_lake(str(lake_dir)).read("runs")["run_id"]) == ["0", "1", "2", "3"]


def test_a_changed_vcf_does_not_rerun_the_phenotype_ingest(tmp_path):
    """issue 11 item 14: the phenotype rule does not take the VCFs; a newer VCF reruns the
    genotype reading, not the clinical ingest (dry run, after a stamp newer than the table)."""
    import time
    data = tmp_path / "data"
    data.mkdir()
    (data / "pheno.csv").write_text("sample_id,sex,ldl_c\nS1,F,3.1\n")
    vcf = data / "a.vcf.gz"
    vcf.write_bytes(b"")
    cfg = yaml.safe_load(open(os.path.join(ROOT, "conf", "config.user-example.yaml")))
    res = tmp_path / "res"
    cfg.update(results=str(res), lake=str(res / "lake"), vcfs=[str(vcf)], devices=[])
    cfg["phenotypes"] = {**cfg["phenotypes"], "path": str(data / "pheno.csv")}
    cfg["fhir"] = {**cfg.get("fhir", {}), "paths": []}
    cfg.pop("example_cohort", None)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(cfg))
    stamp = res / "stamps" / "phenotypes.json"
    stamp.parent.mkdir(parents=True)
    stamp.write_text("{}")
    time.sleep(1.1)
    vcf.write_bytes(b"changed")          # newer than the phenotype stamp
    p = subprocess.run([SNAKEMAKE, "--snakefile", "Snakefile", "--configfile", str(config), "-n", "--quiet", "rules"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    out = p.stdout + p.stderr
    assert "read_genotypes" in out and "phenotypes " not in out.replace("phenotypes.", ""), out[-2000:]
