# GenoLake workflow. Run it with `make run` (or `make run CONFIG=their.yaml`), which wraps:
#   snakemake --snakefile Snakefile --configfile conf/config.yaml --cores 2 --profile conf/profiles/local
import json
import os
import sys
import uuid

sys.path.insert(0, workflow.basedir)
from jobs.config import CONFIG_ENV, check_input_files, validate_config, write_effective_config
from jobs.settings import STALE_ENV, clinical_inputs, downstream_outputs, settings_for

if not config:
    configfile: "conf/config.yaml"

# Validate before any job starts (fills the schema's defaults; checks the input files exist).
config = validate_config(dict(config), source="--configfile")
check_input_files(config, source="--configfile")
RESULTS = config["results"]
PY = sys.executable
STAMPS = os.path.join(RESULTS, "stamps")
LOGS = os.path.join(RESULTS, "logs")
BENCH = os.path.join(RESULTS, "benchmarks")
WORKFLOW_RUN = os.environ.setdefault("GENOLAKE_WORKFLOW_RUN", uuid.uuid4().hex)
# The jobs read this run's own copy of the effective config (named in $GENOLAKE_CONFIG), written
# in onstart: a dry run writes nothing, and a second, refused run cannot change the config the
# jobs of a running workflow read. <results>/run/config.yaml is the last run's copy, for users.
EFFECTIVE_CONFIG = os.path.join(RESULTS, "run", WORKFLOW_RUN, "config.yaml")
os.environ[CONFIG_ENV] = EFFECTIVE_CONFIG


onstart:
    write_effective_config(config, EFFECTIVE_CONFIG)
    write_effective_config(config, os.path.join(RESULTS, "run", "config.yaml"))


def job(module):
    """The command line of one job: `python -m jobs.<module>` (on the config in $GENOLAKE_CONFIG)."""
    return f"{PY} -m jobs.{module}"


include: "workflows/genotypes.smk"
include: "workflows/phenotypes.smk"
include: "workflows/association.smk"
include: "workflows/risk.smk"
include: "workflows/reports.smk"

# Each job removes, as it starts, the outputs of the jobs after it (jobs/settings.py): a killed
# job leaves its whole downstream chain missing, so the next run resumes from it.
os.environ[STALE_ENV] = json.dumps(downstream_outputs(workflow.rules))


rule all:
    input:
        os.path.join(RESULTS, "summary.txt"),
    default_target: True
