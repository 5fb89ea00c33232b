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
