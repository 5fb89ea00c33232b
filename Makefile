# GenoLake — `make run` runs the example cohort end to end; `make test` runs the tests.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= conf/config.yaml
CORES ?= 2
STAMP := $(VENV)/.installed

.PHONY: run test setup check-java reference-tools dryrun clean

run: setup
	$(BIN)/snakemake --snakefile Snakefile --configfile $(CONFIG) --cores $(CORES) --profile conf/profiles/local
	@$(BIN)/python -m jobs.summary --configfile $(CONFIG) --print

test: setup reference-tools
	$(BIN)/python -m pytest -q tests

setup: check-java $(STAMP)

$(STAMP): requirements.lock
	@$(PY) -c 'import sys; assert sys.version_info[:2] == (3, 11), "GenoLake needs Python 3.11, found " + sys.version.split()[0]'
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24"
	$(BIN)/pip install --quiet --no-deps -r requirements.lock
	$(BIN)/pip check
	touch $(STAMP)

check-java:
	@command -v java >/dev/null || { echo "ERROR: Java 11 or 17 is required (Hail runs on the JVM); install openjdk-17-jre-headless" >&2; exit 1; }
	@v=$$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1); \
	 if [ "$$v" != "11" ] && [ "$$v" != "17" ]; then echo "ERROR: Java 11 or 17 is required, found Java $$v" >&2; exit 1; fi

# PLINK 2, PLINK 1.9, bcftools and tabix are reference tools for tests only (never pipeline steps).
reference-tools:
	@if ! command -v plink2 >/dev/null || ! command -v plink1.9 >/dev/null || ! command -v bcftools >/dev/null || ! command -v tabix >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq plink2 plink1.9 bcftools tabix >/dev/null) \
	    || echo "WARNING: could not install plink2/bcftools; tests that compare against them will skip" >&2; \
	  else echo "WARNING: plink2/bcftools missing and not root; tests that compare against them will skip" >&2; fi; \
	fi

dryrun: setup
	$(BIN)/snakemake --snakefile Snakefile --configfile $(CONFIG) --cores $(CORES) -n

clean:
	rm -rf results .snakemake
