"""End to end: the Snakefile on the shared test cohort, with the real engines, then checks on
the values it produced (lake tables, lineage, MLflow registry, reports) and on bad input."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from jobs.lake import open_lake

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JOBS = ["read_genotypes", "genotypes", "phenotypes", "cohort", "gwas", "prs", "risk", "reports", "summary"]


def make_config(cohort_dir, results, **over):
    cfg = {
        "cohort": "e2e", "results": str(results), "lake": str(results / "lake"),
        "vcfs": sorted(str(p) for p in (cohort_dir / "genotypes").glob("*.vcf.gz")),
        "phenotypes": {"path": str(cohort_dir / "phenotypes.csv"), "dictionary": "conf/data_dictionary.yaml"},
        "fhir": {"paths": [str(cohort_dir / "clinical" / "fhir")]},
        "devices": [{"path": str(cohort_dir / "clinical" / "devices.csv")}],
        # the study traits come from the FHIR records (as in conf/config.yaml)
        "traits": [{"name": "ldl_c", "type": "quantitative", "measure": {"name": "ldl_c", "summary": "mean"}},
                   {"name": "cad", "type": "binary", "conditions": {
                       "cases": ["icd10:I20-I25", "snomed:53741008", "snomed:22298006"], "exclude": ["icd10:I51.6"]}}],
        "features": [{"name": "sbp_mean", "type": "quantitative",
                      "measure": {"name": "systolic_bp", "summary": "mean", "source": "device", "min_readings": 5}}],
        "consent_feedback_column": "consent_feedback",
        "pca": {"n_pcs": 5},
        # the GWAS as Spark tasks over the lake's genotype blocks (checked against one pass below)
        "gwas": {"n_pcs": 5},
        "genotypes": {"min_blocks": 5},
        # The test genome is 2 x 2.5 Mb: kinship of unrelated pairs is noisy, so only first-degree
        # and closer pairs count as related here (the default is 0.0884, second degree).
        "qc": {"related_kinship": 0.177},
        "spark": {"driver_memory": "3g"},
        # a fixed pseudonymisation key: the same pseudonyms, hence the same split, every run
        "privacy": {"key_file": str(results / "e2e.key")},
    }
    (results / "e2e.key").write_text("genolake-e2e-test-key-0123456789abcdef\n")
    cfg.update(over)
    path = results / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def snakemake(config_path, *extra):
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", os.path.join(ROOT, "Snakefile"),
           "--configfile", str(config_path), "--cores", "2", "--profile", os.path.join(ROOT, "conf/profiles/local"),
           *extra]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)


@pytest.fixture(scope="module")
def run(cohort_dir, tmp_path_factory):
    results = tmp_path_factory.mktemp("e2e")
    config = make_config(cohort_dir, results)
    proc = snakemake(config)
    assert proc.returncode == 0, proc.stderr[-4000:] + "".join(
        open(os.path.join(results, "logs", f)).read()[-3000:] for f in os.listdir(results / "logs") if f.endswith(".log"))
    return {"results": results, "config": config, "lake": open_lake(str(results / "lake"))}


def linkage(run) -> dict:
    """source sample ID -> pseudonym (the private linkage table, kept apart from the lake)."""
    link = open_lake(str(run["results"] / "private")).read("linkage")
    link = link[link["source_kind"] == "sample_id"]
    return dict(zip(link["source_id"], link["participant_id"]))


@pytest.mark.slow
def test_phenotype_counts_reconcile(run, cohort_dir):
    """Per source, read = accepted + quarantined, and the quarantine holds exactly the
    simulated dirty records, each with its reason."""
    lake = run["lake"]
    runs = lake.read("runs").sort_values("finished_at")
    counts = json.loads(runs[runs["job"] == "phenotypes"].iloc[-1]["details"])["counts"]
    q = lake.read("quarantine")
    table = str(cohort_dir / "phenotypes.csv")
    assert counts[table]["read"] == len(pd.read_csv(table))
    for src, c in counts.items():
        assert c["read"] == c["accepted"] + c["quarantined"] + c["withdrawn"], src
        assert c["quarantined"] == (q["source"] == src).sum(), src
    dirty = pd.read_csv(cohort_dir / "dirty_rows.tsv", sep="\t")
    # a row for a sample the VCFs lack is an ungenotyped participant, not quarantine (the ingest never reads VCFs)
    dirty = dirty[dirty["reason"] != "unknown_sample_id"]
    assert sorted(q.loc[q["source"] == table, "line"]) == sorted(dirty["row"] + 2)
    truth = pd.read_csv(cohort_dir / "clinical_dirty.tsv", sep="\t", dtype=str)
    dev = truth[truth["source"] == "devices"]
    got_dev = q[q["source"].str.endswith("devices.csv")]
    assert sorted(got_dev["line"]) == sorted(dev["key"].astype(int) + 2)
    fhir = truth[(truth["source"] == "fhir") & (truth["reason"] != "bad_json_line")]
    got_fhir = q[q["source"].str.contains("/fhir/")]
    assert set(got_fhir["record_id"].str.split("/").str[1].dropna()) - {"?"} == set(fhir["key"])
    assert (got_fhir["reason"] == "not valid JSON").sum() == (truth["reason"] == "bad_json_line").sum()
    # no source identifier in any research table
    raw = set(pd.read_csv(table, dtype=str)["sample_id"])
    for name in ("participants", "observations", "conditions", "consent", "quarantine", "traits", "cohort"):
        blob = lake.read(name).astype(str).to_csv()
        assert not any(r in blob for r in list(raw)[:200]), name
    # the derived traits are the simulated ones
    truth_s = pd.read_csv(cohort_dir / "sample_truth.tsv", sep="\t")
    link = linkage(run)
    tr = lake.read("traits").set_index("participant_id")
    truth_s["pid"] = truth_s["sample_id"].map(link)
    m = truth_s.join(tr, on="pid", rsuffix="_derived").dropna(subset=["ldl_c_derived"])
    assert np.corrcoef(m["ldl_c"], m["ldl_c_derived"])[0, 1] > 0.98
    cad = m.dropna(subset=["cad_derived"])
    assert (cad["cad"] == cad["cad_derived"].astype(int)).mean() > 0.99


@pytest.mark.slow
def test_every_job_is_in_the_lineage(run):
    runs = run["lake"].read("runs")
    assert set(runs["job"]) == set(JOBS) and (runs["status"] == "succeeded").all()
    n_vcfs = len(yaml.safe_load(open(run["config"]))["vcfs"])
    assert (runs["job"] == "read_genotypes").sum() == n_vcfs           # one read per input file
    assert runs["workflow_run_id"].nunique() == 1 and runs["config_hash"].nunique() == 1
    gw = json.loads(runs.loc[runs["job"] == "genotypes", "inputs"].iloc[0])
    assert all(i["checksum"].startswith("sha256:") for i in gw if i["kind"] == "file")
    risk = runs[runs["job"] == "risk"].iloc[0]
    ins = {i["name"]: i["version"] for i in json.loads(risk["inputs"]) if i["kind"] == "delta"}
    assert set(ins) == {"cohort", "prs_scores"} and len(risk["mlflow_run_id"].split(",")) == 2


@pytest.mark.slow
def test_gwas_table_has_gwas_ssf_columns_on_the_training_split(run):
    lake = run["lake"]
    g = lake.read("gwas_results")
    for col in ["chromosome", "base_pair_location", "effect_allele", "other_allele", "beta", "odds_ratio",
                "standard_error", "p_value", "effect_allele_frequency", "n", "trait", "run_id"]:
        assert col in g.columns
    cohort = lake.read("cohort")
    n_train = (cohort["split"] == "train").sum()
    assert 0 < g["n"].max() <= n_train
    b = g[g["trait"] == "cad"].dropna(subset=["beta"])
    assert np.allclose(b["odds_ratio"], np.exp(b["beta"]))
    assert g.loc[g["trait"] == "ldl_c", "odds_ratio"].isna().all()
    assert set(g["test"]) <= {"linear", "logistic", "firth"}
    # the GWAS-SSF export holds the same rows and values, sorted, with a matching md5 in its metadata
    import hashlib
    for trait in ("ldl_c", "cad"):
        path = run["results"] / "gwas" / trait / f"{trait}.tsv.gz"
        ssf = pd.read_csv(path, sep="\t")
        meta = yaml.safe_load(open(f"{path}-meta.yaml"))
        assert meta["data_file_md5sum"] == hashlib.md5(path.read_bytes()).hexdigest()
        assert meta["file_type"] == "GWAS-SSF v1.0" and meta["is_sorted"]
        assert ssf[["chromosome", "base_pair_location"]].apply(tuple, axis=1).is_monotonic_increasing
        mine = g[g["trait"] == trait].set_index("variant_id").loc[ssf["variant_id"]]
        assert np.allclose(ssf["beta"], mine["beta"], rtol=1e-5, equal_nan=True)
        assert np.allclose(ssf["p_value"], mine["p_value"], rtol=1e-5, equal_nan=True)
        assert ("odds_ratio" in ssf) == (trait == "cad") and set(ssf["chromosome"]) <= set(range(1, 26))


@pytest.mark.slow
def test_block_gwas_equals_one_pass_with_loci_and_summary_pages(run):
    """The GWAS's Spark tasks over the lake's QC-passed genotype blocks (committed as one
    version) = one pass of the kernels over the whole QC-passed .bed (rtol 1e-10); gwas_loci
    holds the clumped lead variants, each trait has its summary page."""
    import html
    from genomics.glm_arrays import gwas_blocks
    from genomics.plink_bed import read_bed_rows
    from jobs.config import load_config
    from jobs.genotype_store import BlockSource, store_path
    from jobs.gwas_inputs import gwas_inputs
    from jobs.runtime import JobContext
    lake = run["lake"]
    cfg = load_config(str(run["results"] / "run" / "config.yaml"))
    src = BlockSource(store_path(cfg["lake"], f"{cfg['cohort']}.qc"))
    assert src.n_blocks >= 5 and "chrX" in set(src.blocks["contig"])
    inp = gwas_inputs(JobContext(job="test", config=cfg, lake=lake))
    assert src.samples == list(inp.samples) and int(src.blocks["n_variants"].sum()) == len(inp.bim)
    one = pd.concat(gwas_blocks(lambda a, b: read_bed_rows(inp.prefix, inp.n_fam, a, b, inp.cols), len(inp.bim),
                                inp.variants, cfg["traits"], inp.pheno, inp.covariates, block=100_000),
                    ignore_index=True)
    g = lake.read("gwas_results")
    assert len(g) == len(one) and g["run_id"].nunique() == 1
    runs = lake.read("runs")
    outputs = json.loads(runs.loc[runs["job"] == "gwas", "outputs"].iloc[-1])
    assert [o["version"] for o in outputs if o["name"] == "gwas_results"] == [lake.version("gwas_results")]
    log = (run["results"] / "logs" / "gwas.log").read_text()
    assert f"over {src.n_blocks} genotype blocks: {src.n_blocks}/{src.n_blocks} blocks done in" in log
    key = ["trait", "variant_id"]
    pd.testing.assert_frame_equal(g.drop(columns="run_id").sort_values(key).reset_index(drop=True),
                                  one.sort_values(key).reset_index(drop=True), check_dtype=False, rtol=1e-10)
    loci = lake.read("gwas_loci")
    summary = pd.read_csv(run["results"] / "gwas" / "summary.tsv", sep="\t").set_index("trait")
    sig = cfg["gwas"]["significance"]
    for trait in ("ldl_c", "cad"):
        lt = loci[loci["trait"] == trait].sort_values("locus")
        gt = g[g["trait"] == trait]
        assert len(lt) == summary.loc[trait, "n_loci"] and (len(lt) >= 1) == (gt["p_value"] <= sig).any()
        if trait == "ldl_c":                       # strong loci in the test cohort
            assert len(lt) >= 2
        page = (run["results"] / "gwas" / trait / "gwas_summary.html").read_text()
        assert all(html.escape(v) in page for v in lt["variant_id"])
        assert f"{summary.loc[trait, 'lambda_gc']:.3f}" in page and page.count("data:image/png;base64,") == 2
        if len(lt):
            assert (lt["p_value"] <= sig).all() and lt["p_value"].is_monotonic_increasing
            assert lt["variant_id"].iat[0] == gt.loc[gt["p_value"].idxmin(), "variant_id"]   # the top hit leads
            assert lt["n_significant"].sum() == (gt["p_value"] <= sig).sum()   # every hit in a locus


@pytest.mark.slow
def test_prs_adds_prediction_beyond_noise(run):
    lake = run["lake"]
    w = lake.read("prs_weights")
    assert w.groupby("trait")["selected"].any().all()
    s = lake.read("prs_scores")
    assert s[s["selected"]].groupby("trait")["participant_id"].nunique().eq(len(lake.read("cohort"))).all()
    m = {t: json.load(open(run["results"] / "models" / t / "metrics.json"))["metrics"] for t in ("ldl_c", "cad")}
    assert m["ldl_c"]["incremental_r2"] > 0.05 and m["ldl_c"]["incremental_r2_ci_low"] > 0
    assert m["cad"]["auc_gain"] > 0.02 and m["cad"]["auc_gain_ci_low"] > 0


@pytest.mark.slow
def test_registered_model_reproduces_the_stored_predictions(run):
    import mlflow
    from models.risk import predict_risk
    from models.tracking import load_registered_model
    mlflow.set_tracking_uri(f"sqlite:///{run['results']}/mlflow/mlflow.db")
    preds = run["lake"].read("risk_predictions")
    cohort = run["lake"].read("cohort")
    p = preds[preds["trait"] == "cad"]
    name, version = p["model_name"].iat[0], p["model_version"].iat[0]
    model = load_registered_model(name, version)
    prs = p[["participant_id", "prs"]]
    df = cohort.merge(prs, on="participant_id")
    got = predict_risk(model, df, ["age", "sex", "prs"], "binary")
    want = df[["participant_id"]].merge(p, on="participant_id")["predicted"].to_numpy()
    assert np.allclose(got, want, equal_nan=True)
    assert ((want > 0) & (want < 1)).all()


@pytest.mark.slow
def test_reports_for_consented_participants_only(run):
    lake = run["lake"]
    cohort = lake.read("cohort")
    yes = set(cohort.loc[cohort["consent_feedback"].str.lower() == "yes", "participant_id"])
    assert 0.8 < len(yes) / len(cohort) < 0.98     # the FHIR feedback consents
    rdir = run["results"] / "reports"
    stems = {f[:-5] for f in os.listdir(rdir) if f.endswith(".json")}
    assert stems == yes  # pseudonyms are already safe file names
    assert {f[:-5] for f in os.listdir(rdir) if f.endswith(".html")} == yes
    pid = sorted(yes)[0]
    rep = json.load(open(rdir / f"{pid}.json"))
    preds = lake.read("risk_predictions").set_index(["participant_id", "trait"])
    for t in rep["traits"]:
        row = preds.loc[(pid, t["trait"])]
        assert t["predicted"] == pytest.approx(row["predicted"]) and t["model_version"] == row["model_version"]
        assert 0 <= t["prs_percentile"] <= 100
    assert rep["data_versions"]["risk_predictions"] == lake.version("risk_predictions")


@pytest.mark.slow
def test_rerun_does_not_duplicate_rows(run):
    lake = run["lake"]
    names = ("participants", "observations", "conditions", "consent", "quarantine")
    before = {n: (len(lake.read(n)), lake.version(n)) for n in names}
    from jobs import phenotypes
    assert phenotypes.main(["--configfile", str(run["results"] / "run" / "config.yaml")]) == 0
    after = {n: (len(lake.read(n)), lake.version(n)) for n in names}
    assert {n: v[0] for n, v in after.items()} == {n: v[0] for n, v in before.items()}
    # the same extract again changes no upserted table (no new version); quarantine is replaced
    assert all(after[n][1] == before[n][1] for n in names[:4])
    assert lake.read("observations")["record_id"].is_unique


@pytest.mark.slow
def test_bad_phenotype_file_stops_and_leaves_tables_untouched(run, tmp_path):
    lake = run["lake"]
    bad = tmp_path / "bad.csv"
    bad.write_text("id,sex,age,ldl_c,cad,consent_feedback\nGL00001,M,50,3,0,yes\n")
    cfg = yaml.safe_load(open(run["results"] / "run" / "config.yaml"))
    cfg["phenotypes"]["path"] = str(bad)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    before = lake.version("participants")
    proc = subprocess.run([sys.executable, "-m", "jobs.phenotypes", "--configfile", str(path)],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 3
    assert f"{bad}, line 1, field 'sample_id'" in proc.stderr and "GL00001" not in proc.stderr
    assert lake.version("participants") == before


@pytest.mark.slow
def test_truncated_vcf_stops_the_genotype_job(run, tmp_path, cohort_dir):
    vcf = sorted((cohort_dir / "genotypes").glob("*.vcf.gz"))[0]
    cut = tmp_path / "cut.vcf.gz"
    data = vcf.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    cfg = yaml.safe_load(open(run["results"] / "run" / "config.yaml"))
    cfg["vcfs"] = [str(cut)]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    before = run["lake"].version("sample_qc")
    proc = subprocess.run([sys.executable, "-m", "jobs.genotypes", "--configfile", str(path)],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 3
    assert re.search(re.escape(str(cut)) + r", line \d+: truncated bgzip file", proc.stderr), proc.stderr
    assert run["lake"].version("sample_qc") == before


@pytest.mark.slow
def test_logs_hold_no_identifiers_or_values(run):
    ids = set(run["lake"].read("participants")["participant_id"]) | set(linkage(run))
    found = []
    for dirpath, _, files in os.walk(run["results"] / "logs"):
        for f in files:
            text = open(os.path.join(dirpath, f), errors="replace").read()
            found += [(f, i) for i in ids if i in text]
    assert not found, f"identifiers in logs: {found[:3]}"


@pytest.mark.slow
def test_carrier_queries_agree_with_bcftools(run, cohort_dir):
    """``genotype_calls`` holds the non-reference calls of the QC-passed samples at QC-passed
    variants: who carries a variant, and what one person carries in a region, as bcftools
    reads them from the input VCF."""
    import shutil
    if not shutil.which("bcftools"):
        pytest.skip("bcftools not installed (make test installs it)")
    from genomics.carriers import carriers_of, variants_of
    from jobs.carriers_io import open_calls_dataset
    lake = run["lake"]
    pid_of = linkage(run)
    sid_of = {v: k for k, v in pid_of.items()}
    passed = sorted(sid_of[p] for p in lake.read("sample_qc").query("qc_pass")["s"])
    vqc = lake.read("variant_qc").query("qc_pass")
    chrom = sorted(vqc["chromosome"].unique())[0]
    vcf = next(p for p in (cohort_dir / "genotypes").glob("*.vcf.gz") if p.name.startswith(chrom + "."))
    on = vqc[vqc["chromosome"] == chrom].sort_values("position")
    # biallelic sites only (a split multi-allelic has the other allele's calls in the VCF's GT)
    on = on[~on.duplicated("position", keep=False)]
    ds = open_calls_dataset(lake)
    samples = ",".join(passed)

    def bcftools(region, fmt):
        out = subprocess.run(["bcftools", "query", "-i", "N_ALT=1", "-s", samples, "-r", region, "-f", fmt, str(vcf)],
                             capture_output=True, text=True, check=True).stdout
        return [line.split("\t") for line in out.splitlines() if line]

    for row in on.iloc[[0, len(on) // 2, len(on) - 1]].itertuples():
        expect = sorted((s, gt) for s, gt in bcftools(f"{chrom}:{row.position}", "[%SAMPLE\t%GT\n]")
                        if gt not in ("0/0", "0|0", "./.", ".|.", "0", "."))
        got = carriers_of(ds, chrom, int(row.position), row.ref, row.alt)
        assert sorted(zip([sid_of[p] for p in got["participant"].to_list()], got["genotype"].to_list())) == expect
        assert len(expect) > 0
    # one person's variants over the first half of the chromosome: the QC-passed biallelic sites
    person = passed[len(passed) // 2]
    end = int(on["position"].iloc[len(on) // 2])
    keep = set(on["position"][on["position"] <= end])
    per_person = subprocess.run(["bcftools", "query", "-i", "N_ALT=1", "-s", person, "-r", f"{chrom}:1-{end}", "-f", "%POS\t[%GT]\n",
                                 str(vcf)], capture_output=True, text=True, check=True).stdout.splitlines()
    expect = [(int(p), gt) for p, gt in (line.split("\t") for line in per_person)
              if int(p) in keep and gt not in ("0/0", "0|0", "./.", ".|.", "0", ".")]
    biallelic = {int(line[0]) for line in bcftools(f"{chrom}:1-{end}", "%POS\n")}
    got = variants_of(ds, pid_of[person], chrom, 1, end)
    assert [(p, gt) for p, gt in zip(got["position"].to_list(), got["genotype"].to_list()) if p in biallelic] == expect
    assert len(expect) > 10


@pytest.mark.slow
def test_withdrawal_erases_the_participant_everywhere(run, tmp_path):
    """Last in this module (it changes the run's lake): a later extract withdraws one participant's
    research consent; the next ingest deletes their rows from every table, vacuums those tables
    (earlier versions no longer readable), deletes their reports and records only counts."""
    lake, results = run["lake"], run["results"]
    rdir = results / "reports"
    pid = sorted(f[:-5] for f in os.listdir(rdir) if f.endswith(".json"))[0]
    fhir_id = next(k for k, v in zip(*[open_lake(str(results / "private")).read("linkage")[c]
                                       for c in ("source_id", "participant_id")]) if v == pid
                   and not k.startswith("GL"))
    extra = tmp_path / "update"
    extra.mkdir()
    (extra / "Consent.ndjson").write_text(json.dumps({
        "resourceType": "Consent", "id": "withdrawal-1", "status": "active",
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "research"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{fhir_id}"}, "dateTime": "2026-06-01",
        "provision": {"type": "deny", "purpose": [
            {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HRESCH"}]}}) + "\n")
    cfg = yaml.safe_load(open(results / "run" / "config.yaml"))
    cfg["fhir"]["paths"].append(str(extra))
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    holding = {}
    for name in lake.tables():
        df = lake.read(name)
        cols = [c for c in ("participant_id", "s", "participant", "i", "j") if c in df]
        if cols and df[cols].isin([pid]).any().any():
            holding[name] = lake.version(name)
    assert {"participants", "observations", "consent", "traits", "cohort", "sample_qc", "pcs",
            "genotype_calls", "prs_scores", "risk_predictions"} <= set(holding)
    proc = subprocess.run([sys.executable, "-m", "jobs.phenotypes", "--configfile", str(path)],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert pid not in proc.stderr
    for name, version in holding.items():
        df = lake.read(name)
        cols = [c for c in ("participant_id", "s", "participant", "i", "j") if c in df]
        assert not df[cols].isin([pid]).any().any(), name
        with pytest.raises(Exception):
            lake.read(name, version=version)       # vacuumed: no time travel back to them
    assert not list(rdir.glob(f"{pid}.*"))
    runs = lake.read("runs").sort_values("finished_at")
    details = runs[runs["job"] == "phenotypes"].iloc[-1]["details"]
    w = json.loads(details)["withdrawal"]
    assert w["participants"] == 1 and w["report_files_deleted"] == 2 and set(w["tables_vacuumed"]) == set(holding)
    assert pid not in runs.to_csv()
    # a later ingest keeps them out: their records are dropped, counted as withdrawn
    proc = subprocess.run([sys.executable, "-m", "jobs.phenotypes", "--configfile", str(path)],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0 and pid not in set(lake.read("participants")["participant_id"])
    counts = json.loads(lake.read("runs").query("job == 'phenotypes'").sort_values("finished_at")
                        .iloc[-1]["details"])["counts"]
    assert sum(c["withdrawn"] for c in counts.values()) > 0
