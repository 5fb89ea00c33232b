"""The GWAS Catalog's summary-statistics format (GWAS-SSF v1.0): a sorted, tab-separated table
per trait plus its YAML metadata. Library only: builds the frame and the metadata dict."""
from __future__ import annotations

import numpy as np
import pandas as pd

SSF_VERSION = "GWAS-SSF v1.0"
SSF_COLUMNS = ["chromosome", "base_pair_location", "effect_allele", "other_allele", "beta", "odds_ratio",
               "standard_error", "effect_allele_frequency", "p_value", "variant_id", "n", "test"]
_CHROM_CODE = {"X": 23, "Y": 24, "MT": 25, "M": 25}


def chromosome_code(contig: pd.Series) -> pd.Series:
    """GWAS-SSF chromosomes are integers 1-25 (X 23, Y 24, MT 25), without a 'chr' prefix."""
    c = contig.astype(str).str.replace("^chr", "", regex=True).str.upper()
    return c.map(lambda x: _CHROM_CODE.get(x, x)).astype(np.int64)


def to_gwas_ssf(results: pd.DataFrame) -> pd.DataFrame:
    """One trait's rows of ``gwas_results`` in GWAS-SSF column order, sorted by position;
    ``odds_ratio`` only for binary traits (else left out), 'NA' for missing values on write."""
    out = results.assign(chromosome=chromosome_code(results["chromosome"]))
    cols = [c for c in SSF_COLUMNS if c in out and not (c == "odds_ratio" and out[c].isna().all())]
    return out[cols].sort_values(["chromosome", "base_pair_location"], kind="stable").reset_index(drop=True)


def ssf_metadata(trait: dict, data_file: str, md5: str, n_samples: int, genome_assembly: str,
                 n_cases: int | None = None, software: str = "GenoLake (genomics/glm_arrays.py)") -> dict:
    samples = {"sample_size": int(n_samples), "sample_ancestry": ["not reported"],
               "sample_ancestry_category": ["not reported"]}
    if n_cases is not None:
        samples.update(case_count=int(n_cases), control_count=int(n_samples - n_cases))
    return {"genotyping_technology": ["Genome-wide sequencing"], "trait_description": [trait["name"]],
            "samples": [samples], "genome_assembly": genome_assembly, "coordinate_system": "1-based",
            "data_file_name": data_file, "file_type": SSF_VERSION, "data_file_md5sum": md5,
            "is_harmonised": False, "is_sorted": True, "analysis_software": software,
            "effect_statistic": "odds_ratio" if trait["type"] == "binary" else "beta",
            "minor_allele_freq_lower_limit": None}
