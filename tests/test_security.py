"""Security (issue 12): private files and reports are owner-only, no source identifier outside the
private folder, secrets only from the environment or files (refused inline in the config, never
written to the lake, the runs table, a results file or a log). Real jobs on a tiny generated cohort
(tests/scenarios/cohort.py); the full-run checks (genotype job, GWAS, MLflow, reports, logs) are in
the scenarios (tests/test_scenarios.py::check_security on the chrx_males_haploid full run, and
check_fhir_traits for patient names)."""
from __future__ import annotations

import json
import os
import stat

import pandas as pd
import pytest
import yaml

from jobs.config import ConfigError, validate_config
from jobs.lake import open_lake
from tests.scenarios.cohort import CohortOptions, make_cohort

KEY = "genolake-security-test-key-5f2c9e1b7a"        # given in the environment only


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_cohort(CohortOptions(n=40, contigs=("1", "2"), variants_per_contig=80, chrx="none",
                                     x_variants=0, fhir=True, devices=True),
                       str(tmp_path_factory.mktemp("tiny")))


def write_config(tmp_path, co, **over) -> tuple[str, dict]:
    cfg = {"cohort": "sec", "results": str(tmp_path / "results"), "lake": str(tmp_path / "results" / "lake"),
           "vcfs": co.vcfs, "reference_genome": "GRCh38",
           "phenotypes": {"path": co.phenotypes, "dictionary": "conf/data_dictionary.yaml"},
           "fhir": {"paths": [co.fhir_dir]}, "devices": [{"path": co.devices}],
           "traits": [{"name": "ldl_c", "type": "quantitative", "column": "ldl_c"}],
           "consent_feedback_column": "consent_feedback", **over}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path), cfg


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def assert_owner_only(folder: str) -> int:
    """Every folder under ``folder`` 0700, every file 0600; returns the number of files."""
    assert mode(folder) == 0o700, folder
    n = 0
    for root, dirs, files in os.walk(folder):
        for d in dirs:
            assert mode(os.path.join(root, d)) == 0o700, os.path.join(root, d)
        for f in files:
            assert mode(os.path.join(root, f)) == 0o600, (os.path.join(root, f), oct(mode(os.path.join(root, f))))
            n += 1
    return n


def source_identifiers(private: str) -> set[str]:
    """Every source ID the private linkage table maps (VCF sample IDs, FHIR patient IDs)."""
    return set(open_lake(private).read("linkage")["source_id"])


def files_holding(root: str, needles: set[str], skip: tuple = ()) -> dict[str, list[str]]:
    """file -> the needles it holds, for every file under ``root`` but the folders and files in
    ``skip``. A Parquet file is read (a needle in any string value: compressed pages hide them
    from a byte search); any other file's bytes are searched for a needle standing alone (not
    inside a longer run of letters, digits, + or /, so base64 images or compressed bytes that
    happen to spell a short name do not count)."""
    import re

    import pyarrow.parquet as pq
    found = {}
    text = re.compile("|".join(re.escape(n) for n in sorted(needles, key=len, reverse=True)))
    raw = re.compile(b"(?<![A-Za-z0-9+/])(" + b"|".join(re.escape(n.encode()) for n in needles) + b")(?![A-Za-z0-9+/])")
    skip = tuple(os.path.abspath(s) for s in skip)
    for dirpath, dirs, files in os.walk(root):
        for f in files:
            path = os.path.join(dirpath, f)
            if any(os.path.abspath(path) == s or os.path.abspath(path).startswith(s + os.sep) for s in skip):
                continue
            if f.endswith(".parquet"):
                table = pq.read_table(path)
                values = {v for c in table.columns if c.type in ("string", "large_string")
                          for v in c.to_pylist() if v}
                hits = sorted({m.group(0) for v in values for m in [text.search(v)] if m})
            else:
                hits = sorted({m.group(1).decode() for m in raw.finditer(open(path, "rb").read())})
            if hits:
                found[path] = hits[:3]
    return found


def patient_details(fhir_dir: str) -> set[str]:
    """The FHIR patients' names and street lines (direct identifiers, never stored)."""
    out = set()
    for line in open(os.path.join(fhir_dir, "Patient.ndjson")):
        if line.startswith("{"):
            p = json.loads(line)
            out |= {n["family"] for n in p.get("name", [])} | {g for n in p.get("name", []) for g in n["given"]}
            out |= {x for a in p.get("address", []) for x in a.get("line", [])}
    return out


def run_clinical_and_read_genotypes(tmp_path, co, monkeypatch, key=None):
    from jobs import phenotypes, read_genotypes
    if key:
        monkeypatch.setenv("GENOLAKE_PSEUDONYM_KEY", key)
    else:
        monkeypatch.delenv("GENOLAKE_PSEUDONYM_KEY", raising=False)
    path, cfg = write_config(tmp_path, co)
    assert phenotypes.main(["--configfile", path]) == 0
    for i in range(len(co.vcfs)):
        assert read_genotypes.main(["--configfile", path, "--vcf-index", str(i)]) == 0
    return path, cfg


# ---- 1. file modes ------------------------------------------------------------------------------

def test_private_folder_is_owner_only_after_the_phenotype_job(tiny, tmp_path, monkeypatch):
    """The key, the linkage table and the withdrawals register: 0600 files in 0700 folders, also
    when an older version left the folder 0755 and its key file 0644."""
    from jobs import privacy
    from jobs.config import load_config
    private = tmp_path / "results" / "private"
    private.mkdir(parents=True, mode=0o755)
    os.chmod(private, 0o755)
    (private / "pseudonym.key").write_text("an-older-runs-throwaway-key-0123456789\n")
    os.chmod(private / "pseudonym.key", 0o644)
    path, cfg = run_clinical_and_read_genotypes(tmp_path, tiny, monkeypatch)
    full = load_config(path)
    assert privacy.load_key(full) == b"an-older-runs-throwaway-key-0123456789"     # kept, not replaced
    assert os.path.isdir(private / "linkage" / "_delta_log")
    pid = open_lake(cfg["lake"]).read("participants")["participant_id"].iloc[0]
    privacy.register_withdrawals(full, {pid}, "run-test")          # a real withdrawals commit
    assert os.path.isdir(private / "withdrawals" / "_delta_log")
    assert assert_owner_only(str(private)) >= 6
    # a file of the user's in the folder is left as it is (the folder itself is 0700)
    (private / "notes.txt").write_text("x")
    os.chmod(private / "notes.txt", 0o640)
    privacy.update_linkage(full, pd.DataFrame({"source_kind": ["sample_id"], "source_id": ["NEW1"],
                                               "participant_id": ["PNEW1"]}))
    assert mode(private / "notes.txt") == 0o640 and mode(private) == 0o700
    assert mode(private / "pseudonym.key") == 0o600 and mode(private / "linkage") == 0o700


def test_reports_are_owner_only(tmp_path, monkeypatch):
    """The reports job on hand-made risk predictions: the folder 0700 (also when left 0755),
    each HTML/JSON 0600, and the report content is the predictions'."""
    from jobs import reports
    monkeypatch.setenv("GENOLAKE_PSEUDONYM_KEY", KEY)
    results = tmp_path / "results"
    cfg = {"cohort": "rep", "results": str(results), "lake": str(results / "lake"), "vcfs": ["none.vcf.gz"],
           "phenotypes": {"path": "none.csv", "columns": {"ldl_c": {"type": "float"}}},
           "traits": [{"name": "ldl_c", "type": "quantitative", "column": "ldl_c"}],
           "covariates": [], "consent_feedback_column": "consent_feedback"}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    lake = open_lake(cfg["lake"])
    pids = ["GL-a", "GL-b", "GL-c"]
    lake.write("risk_predictions", pd.DataFrame({
        "participant_id": pids, "trait": "ldl_c", "trait_type": "quantitative", "prs": [0.1, -0.2, 0.3],
        "predicted": [3.1, 2.9, 3.5], "model_name": "risk_ldl_c", "model_version": "1", "mlflow_run_id": "m1"}))
    lake.write("cohort", pd.DataFrame({"participant_id": pids, "consent_feedback": ["yes", "no", "yes"]}))
    for name in ("prs_scores", "gwas_results", "participants"):
        lake.write(name, pd.DataFrame({"participant_id": pids}))
    (results / "reports").mkdir(parents=True)
    os.chmod(results / "reports", 0o755)
    assert reports.main(["--configfile", str(path)]) == 0
    rdir = str(results / "reports")
    assert sorted(os.listdir(rdir)) == ["GL-a.html", "GL-a.json", "GL-c.html", "GL-c.json"]
    assert assert_owner_only(rdir) == 4
    assert json.load(open(os.path.join(rdir, "GL-c.json")))["traits"][0]["predicted"] == 3.5


# ---- 2. no source identifier outside the private folder --------------------------------------------

def test_no_source_identifier_outside_the_private_folder(tiny, tmp_path, monkeypatch):
    """After the phenotype job and both read_genotypes jobs, no file under results/ but the
    private folder holds a VCF sample ID or FHIR patient ID (and none a patient's name or street);
    the saved genotype arrays name their samples by pseudonym, and the genotype job's read path
    gives the same pseudonyms."""
    from genomics.vcf_inputs import prepare_vcfs
    from jobs import privacy
    from jobs.config import load_config
    from jobs.genotypes import read_genotypes
    path, cfg = run_clinical_and_read_genotypes(tmp_path, tiny, monkeypatch, key=KEY)
    private = os.path.join(cfg["results"], "private")
    ids = source_identifiers(private)
    assert set(tiny.samples) <= ids and any(i.startswith("pat-") for i in ids)
    assert files_holding(cfg["results"], ids, skip=(private,)) == {}
    names = patient_details(tiny.fhir_dir)
    assert len(names) > 40 and files_holding(cfg["results"], names) == {}
    assert files_holding(private, set(tiny.samples))          # the search finds them where they are
    full = load_config(path)
    pseudo = privacy.pseudonymiser(full)
    meta = json.load(open(os.path.join(cfg["results"], "work", "genotype_arrays", "0", "meta.json")))
    assert meta["samples"] == pseudo.many(tiny.samples)
    from jobs.read_genotypes import key_check, load_arrays, pseudonymised
    # saved arrays and the in-job fallback read agree (pseudonyms both)
    def read_one(i):
        prep = prepare_vcfs([full["vcfs"][i]], str(tmp_path / "w"), "GRCh38")
        return pseudonymised(read_genotypes(prep, keep_phase=True), pseudo)
    saved = load_arrays(full, lambda i: pytest.fail("saved arrays not used"), key_check=key_check(pseudo))
    again = load_arrays({**full, "results": str(tmp_path / "elsewhere")}, read_one, key_check=key_check(pseudo))
    assert saved.samples == again.samples == pseudo.many(tiny.samples)
    assert (saved.gt == again.gt).all() and saved.gt.shape == (160, 40)
    # arrays saved under another key are read again, not reused
    from phenotypes.pseudonyms import Pseudonymiser     # (the lake itself refuses another key)
    other = Pseudonymiser(privacy.load_key({**full, "privacy": {**full["privacy"], "key_env": "NO_SUCH_VAR_X",
                                                                "key_file": str(tmp_path / "other.key")}}))
    reread = []
    load_arrays(full, lambda i: reread.append(i) or read_one(i), key_check=key_check(other))
    assert reread == [0, 1]


# ---- 3. secrets --------------------------------------------------------------------------------

@pytest.mark.parametrize("over,setting,advice", [
    ({"privacy": {"key": KEY}}, "privacy/key", "privacy/key_env"),
    ({"privacy": {"pseudonym_secret": KEY}}, "privacy/pseudonym_secret", "privacy/key_file"),
    ({"privacy": {"key_env": KEY}}, "privacy/key_env", "environment variable"),
    ({"mlflow": {"tracking_uri": f"https://alice:{KEY}@mlflow.example.org"}}, "mlflow/tracking_uri",
     "MLFLOW_TRACKING_PASSWORD"),
    ({"mlflow": {"tracking_uri": "https://mlflow.example.org", "password": KEY}}, "mlflow/password",
     "MLFLOW_TRACKING_USERNAME"),
])
def test_a_secret_in_the_config_is_refused_without_quoting_it(over, setting, advice):
    cfg = yaml.safe_load(open("conf/config.yaml"))
    with pytest.raises(ConfigError) as e:
        validate_config({**cfg, **over}, source="their.yaml")
    msg = str(e.value)
    assert setting in msg and advice in msg and "their.yaml" in msg
    assert KEY not in msg and KEY[-10:] not in msg


def test_key_and_tracking_uri_without_credentials_are_accepted():
    cfg = yaml.safe_load(open("conf/config.yaml"))
    out = validate_config({**cfg, "privacy": {"key_env": "MY_KEY", "key_file": "/secure/key"},
                           "mlflow": {"tracking_uri": "https://mlflow.example.org:5000/"}})
    assert out["privacy"]["key_env"] == "MY_KEY"


def test_the_key_goes_nowhere(tiny, tmp_path, monkeypatch):
    """The key given in the environment: no file under results/ (lake, runs table, work files,
    private folder) holds it, nor the job logs (stderr)."""
    import subprocess
    import sys
    monkeypatch.setenv("GENOLAKE_PSEUDONYM_KEY", KEY)
    path, cfg = write_config(tmp_path, tiny)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    logs = ""
    for args in (["jobs.phenotypes"], ["jobs.read_genotypes", "--vcf-index", "0"]):
        p = subprocess.run([sys.executable, "-m", *args, "--configfile", path], cwd=root,
                           capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, p.stderr[-2000:]
        logs += p.stdout + p.stderr
    assert "read 80 variants x 40 samples" in logs
    needles = {KEY, KEY.encode().hex()}
    assert files_holding(cfg["results"], needles) == {}
    assert KEY not in logs
    runs = open_lake(cfg["lake"]).read("runs")
    assert len(runs) == 2 and not runs.apply(lambda r: KEY in " ".join(map(str, r)), axis=1).any()


def test_converted_vcf_copies_live_in_the_private_folder(tiny, tmp_path, monkeypatch):
    """A BCF and a plain-gzip input are converted to bgzipped VCFs for the read: the copies (which
    hold the source sample IDs) are written owner-only in the private folder, not under work/."""
    import gzip
    import shutil
    import subprocess
    from jobs import read_genotypes
    if not shutil.which("bcftools"):
        pytest.skip("bcftools not installed (make test installs it)")
    monkeypatch.setenv("GENOLAKE_PSEUDONYM_KEY", KEY)
    bcf = str(tmp_path / "chr1.bcf")
    subprocess.run(["bcftools", "view", "-Ob", "-o", bcf, tiny.vcfs[0]], check=True)
    plain = str(tmp_path / "chr2.vcf.gz")
    with gzip.open(tiny.vcfs[1], "rb") as src, gzip.open(plain, "wb") as dst:   # not bgzip
        dst.write(src.read())
    path, cfg = write_config(tmp_path, tiny, vcfs=[bcf, plain])
    for i in range(2):
        assert read_genotypes.main(["--configfile", path, "--vcf-index", str(i)]) == 0
    private = os.path.join(cfg["results"], "private")
    copies = [f for f in os.listdir(os.path.join(private, "vcf_inputs")) if f.endswith(".vcf.bgz")]
    assert len(copies) == 2
    assert not os.path.exists(os.path.join(cfg["results"], "work", "vcf_inputs"))
    assert assert_owner_only(private) >= 2
    from cyvcf2 import VCF
    assert all(VCF(os.path.join(private, "vcf_inputs", f)).samples == tiny.samples for f in copies)
    meta = json.load(open(os.path.join(cfg["results"], "work", "genotype_arrays", "1", "meta.json")))
    assert "S0000" not in meta["samples"] and len(meta["samples"]) == 40


def _load_key_in_child(args):
    from jobs import privacy
    config, barrier_path = args
    while not os.path.exists(barrier_path):       # start together
        pass
    return privacy.load_key(config)


def test_jobs_starting_together_share_one_throwaway_key(tmp_path, monkeypatch):
    """read_genotypes jobs and the phenotype ingest start at once on a fresh results folder: each
    gets the same whole key (it is written before it appears), in a 0600 file."""
    import multiprocessing
    monkeypatch.delenv("GENOLAKE_PSEUDONYM_KEY", raising=False)
    config = {"results": str(tmp_path / "results"),
              "privacy": {"key_env": "GENOLAKE_PSEUDONYM_KEY", "key_file": None, "private_dir": None}}
    go = str(tmp_path / "go")
    with multiprocessing.get_context("fork").Pool(6) as pool:
        pending = pool.map_async(_load_key_in_child, [(config, go)] * 12)
        open(go, "w").close()
        keys = pending.get(timeout=60)
    assert len(set(keys)) == 1 and len(keys[0]) == 64
    private = tmp_path / "results" / "private"
    assert os.listdir(private) == ["pseudonym.key"] and assert_owner_only(str(private)) == 1


def test_jobs_starting_together_agree_on_the_lake_key(tmp_path):
    """Parallel jobs (read_genotypes x N) check the lake's key fingerprint at the same moment:
    each sees the whole fingerprint file, never an empty one; another key is still refused."""
    from concurrent.futures import ThreadPoolExecutor
    from jobs.privacy import KeyMismatchError, check_lake_key
    lake = str(tmp_path / "lake")
    for _ in range(20):
        with ThreadPoolExecutor(8) as ex:
            list(ex.map(lambda _: check_lake_key(lake, b"same-key"), range(16)))
        with pytest.raises(KeyMismatchError):
            check_lake_key(lake, b"another-key")
        import shutil
        shutil.rmtree(lake)
