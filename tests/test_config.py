"""Configuration: validated against conf/config.schema.yaml with defaults filled in."""
from __future__ import annotations

import pytest
import yaml

from jobs.config import ConfigError, load_config, validate_config

MINIMAL = {
    "vcfs": ["a.vcf.gz"],
    "phenotypes": {"path": "p.csv", "columns": {"age": {"type": "float"}, "y": {"type": "float"}}},
    "traits": [{"name": "y", "type": "quantitative", "column": "y"}],
}


def test_defaults_are_filled():
    c = validate_config(MINIMAL)
    assert {k: c["qc"][k] for k in ("sample_call_rate", "variant_call_rate", "maf", "hwe_p")} == \
        {"sample_call_rate": 0.97, "variant_call_rate": 0.98, "maf": 0.01, "hwe_p": 1e-6}
    assert c["qc"]["hwe_subset"] == "largest_ancestry_controls" and c["qc"]["related_kinship"] == 0.0884
    assert c["pca"]["n_pcs"] == 10 and c["covariates"] == ["age", "sex"]
    assert c["phenotypes"]["sample_id_column"] == "sample_id"
    assert c["lake"] == "results/lake" and c["delta_engine"] == "delta-rs"


@pytest.mark.parametrize("change, message", [
    (lambda c: c.pop("vcfs"), "'vcfs' is a required property"),
    (lambda c: c["traits"][0].update(type="ordinal"), "traits/0/type"),
    (lambda c: c.update(qc={"maf": 0.7}), "qc/maf"),
    (lambda c: c["traits"][0].update(column="nope"), "uses column 'nope'"),
    (lambda c: c.update(covariates=["bmi"]), "covariate 'bmi'"),
    (lambda c: c.update(unknown_key=1), "unknown_key"),
])
def test_bad_config_names_the_key(change, message):
    import copy
    c = copy.deepcopy(MINIMAL)
    change(c)
    with pytest.raises(ConfigError, match=message):
        validate_config(c)


def test_shipped_configs_are_valid(tmp_path):
    c = load_config("conf/config.yaml")
    assert [t["name"] for t in c["traits"]] == ["ldl_c", "cad"]
    user = load_config("conf/config.user-example.yaml")
    assert user["reference_genome"] in ("GRCh37", "GRCh38")


@pytest.mark.parametrize("key, value, char", [
    ("results", "out/run^2", "^"), ("lake", "lake[1]", "["), ("lake", "a|b", "|")])
def test_results_path_delta_cannot_use_is_refused(key, value, char):
    # delta-rs panics ("Invalid object store url") on these characters in a local table path.
    import copy
    c = copy.deepcopy(MINIMAL)
    c[key] = value
    with pytest.raises(ConfigError, match=rf"{key} '.*' contains '\{char}'"):
        validate_config(c)


def _user_config(tmp_path, **over):
    (tmp_path / "a.vcf.gz").write_bytes(b"")
    (tmp_path / "p.csv").write_text("sample_id,sex,age,y\n")
    c = {"vcfs": [str(tmp_path / "a.vcf.gz")],
         "phenotypes": {"path": str(tmp_path / "p.csv"),
                        "columns": {"age": {"type": "float"}, "y": {"type": "float"}}},
         "traits": [{"name": "y", "type": "quantitative", "column": "y"}], **over}
    return validate_config(c)


def test_input_files_present_pass(tmp_path):
    from jobs.config import check_input_files
    check_input_files(_user_config(tmp_path))  # shipped conf/ files are found from the repository


def test_missing_input_files_are_named_with_their_key(tmp_path):
    from jobs.config import check_input_files
    c = _user_config(tmp_path, devices=[{"path": str(tmp_path / "bp.csv")}],
                     ancestry={"reference": str(tmp_path / "ref.tsv")})
    c["vcfs"].append(str(tmp_path / "chr2.vcf.gz"))
    with pytest.raises(ConfigError) as e:
        check_input_files(c, source="my.yaml")
    msg = str(e.value)
    assert msg.startswith("my.yaml: input files missing or unreadable")
    assert f"vcfs/1: {tmp_path}/chr2.vcf.gz: no such file" in msg
    assert f"devices/0/path: {tmp_path}/bp.csv: no such file" in msg
    assert f"ancestry/reference: {tmp_path}/ref.tsv: no such file" in msg
    assert "vcfs/0" not in msg and "phenotypes/path" not in msg


def test_files_the_example_cohort_writes_are_not_required():
    from jobs.config import check_input_files
    check_input_files(load_config("conf/config.yaml"))


def test_input_paths_are_canonical_however_spelled(tmp_path, monkeypatch):
    """issue 12 fault 5: a relative, an absolute and a symlinked spelling of one extract give
    one path (the lake keys quarantine and observation rows on it)."""
    import os
    import yaml
    from jobs.config import validate_config
    data = tmp_path / "data"
    data.mkdir()
    (data / "p.csv").write_text("sample_id,sex\nA,M\n")
    os.symlink(data, tmp_path / "link")
    base = yaml.safe_load(open(os.path.join(os.path.dirname(__file__), "..", "conf", "config.user-example.yaml")))
    monkeypatch.chdir(tmp_path)
    got = set()
    for spelled in ["data/p.csv", str(data / "p.csv"), "link/p.csv", "./data/../data/p.csv"]:
        cfg = dict(base, phenotypes=dict(base["phenotypes"], path=spelled),
                   fhir={"paths": [spelled.replace("p.csv", "")]}, devices=[{"path": spelled}])
        out = validate_config(cfg)
        got.add((out["phenotypes"]["path"], out["fhir"]["paths"][0], out["devices"][0]["path"]))
    assert got == {(str(data / "p.csv"), str(data), str(data / "p.csv"))}
