# GenoLake workflow. Run it with `make run` (or `make run CONFIG=their.yaml`), which wraps:
#   snakemake --snakefile Snakefile --configfile conf/config.yaml --cores 2 --profile conf/profiles/local
import os
import sys
import uuid

sys.path.insert(0, workflow.basedir)
from jobs.config import check_input_files, validate_config, write_effective_config

if not config:
    configfile: "conf/config.yaml"

# Validate before any job starts (fills the schema's defaults); jobs read the effective config.
config = validate_config(dict(config), source="--configfile")
check_input_files(config, source="--configfile")
RESULTS = config["results"]
EFFECTIVE_CONFIG = write_effective_config(config, os.path.join(RESULTS, "run", "config.yaml"))
PY = sys.executable
STAMPS = os.path.join(RESULTS, "stamps")
LOGS = os.path.join(RESULTS, "logs")
BENCH = os.path.join(RESULTS, "benchmarks")
os.environ.setdefault("GENOLAKE_WORKFLOW_RUN", uuid.uuid4().hex)


def job(module):
    """The command line of one job: `python -m jobs.<module>` on the effective config."""
    return f"{PY} -m jobs.{module} --configfile {EFFECTIVE_CONFIG}"


include: "workflows/genotypes.smk"
include: "workflows/phenotypes.smk"
include: "workflows/association.smk"
include: "workflows/risk.smk"
include: "workflows/reports.smk"


rule all:
    input:
        os.path.join(RESULTS, "summary.txt"),
    default_target: True
