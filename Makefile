# icibiome: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
CORES ?= 2
# 60 samples x 8,000 pairs (the same reads in all as 24 x 20,000): SparCC needs the samples to
# recover the planted guilds (ARI 0.87 at 60 samples, 0.38 at 24; see the networks issue)
DEMO_SAMPLES ?= 60
DEMO_PAIRS ?= 8000
DEMO_SEED ?= 1

.PHONY: help setup demo demo-data demo-16s test test-fast lint format bench validate clean
.PHONY: databases

help:
	@echo "make setup     install missing Debian tools and the Python environment ($(VENV))"
	@echo "make demo      run the whole pipeline on the synthetic demo; prints where the report is"
	@echo "make demo-16s  the 16S amplicon path on the demo's 16S reads (in demo-16s/)"
	@echo "make test      all tests (unit, integration, end-to-end with the real tools)"
	@echo "make test-fast unit + integration tests only"
	@echo "make lint      ruff, snakefmt --check, snakemake --lint"
	@echo "make bench     benchmarks -> benchmarks/results/*.tsv"
	@echo "make validate  response signatures on the real ICI cohorts vs published -> benchmarks/results/validation_*.tsv"
	@echo "make databases [DB=name] [DBSETUP_ARGS=...]  list / install a database (config/database_catalogue.yaml)"

setup:
	@bash tools/setup.sh

# the synthetic demo: reads, databases and ground truth in demo/ (remade only when missing)
demo-data: setup
	@if [[ ! -f demo/samples.tsv ]]; then \
	  echo "demo: generating $(DEMO_SAMPLES) samples x $(DEMO_PAIRS) read pairs into demo/"; \
	  $(PY) -m icibiome.demo --out demo --seed $(DEMO_SEED) --samples $(DEMO_SAMPLES) --pairs $(DEMO_PAIRS) --threads $(CORES); \
	fi

demo: demo-data
	@start=$$(date +%s); \
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/snakemake --cores $(CORES) --configfile config/config_demo.yaml && \
	$(PY) -m icibiome.demo.evaluate --demo demo --results results && \
	echo "" && echo "Demo finished in $$(( $$(date +%s) - start )) s. Report: $(CURDIR)/results/report/multiqc_report.html"

# the 16S amplicon path on the demo's 16S reads (demo/amplicon/, added to an older demo when
# missing), in its own working directory demo-16s/ so the shotgun results stay as they are
demo-16s: demo-data
	@if [[ ! -f demo/amplicon/samples.tsv ]]; then \
	  $(PY) -m icibiome.demo --out demo --seed $(DEMO_SEED) --amplicons-only --threads $(CORES); \
	fi
	@mkdir -p demo-16s && ln -sfn ../demo demo-16s/demo && ln -sfn ../config demo-16s/config
	@start=$$(date +%s); \
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/snakemake --snakefile Snakefile --directory demo-16s \
	  --cores $(CORES) --configfile config/config_demo.yaml config/config_16s.yaml && \
	echo "" && echo "16S demo finished in $$(( $$(date +%s) - start )) s. Report: $(CURDIR)/demo-16s/results/report/multiqc_report.html"

# the tests also run the DADA2 denoiser: setup installs R dada2 for them (tools/setup.sh)
test test-fast: export ICIBIOME_DADA2 := 1

test: setup
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(PY) -m pytest -q --doctest-modules tests workflow/icibiome

test-fast: setup
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(PY) -m pytest -q tests/unit tests/integration

lint: setup
	$(VENV)/bin/ruff check workflow scripts tests benchmarks
	$(VENV)/bin/snakefmt --check Snakefile rules
	@echo "snakemake --lint runs in tests/e2e/test_basic.py (it needs a sample sheet)"

format: setup
	$(VENV)/bin/ruff format workflow scripts tests benchmarks
	$(VENV)/bin/snakefmt Snakefile rules

bench: setup
	@mkdir -p benchmarks/results
	@for b in benchmarks/bench_*.py; do echo "== $$b"; PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(PY) $$b || exit 1; done

# the signatures stage on the real melanoma ICI cohorts (../shared/data/ici_mpa4_8cohorts) vs the
# published numbers (Lee 2022) -> benchmarks/results/validation_*.tsv (about 2 min on 2 cores),
# then the pipeline itself in import mode on the same cohorts -> results/validation/ (its report,
# TOPOSCORE with the published lists, signatures; validation_pipeline.tsv compares the LOCO AUCs);
# then the FMT trials (Davar 2021, Baruch 2021: donor engraftment vs response) and the NSCLC
# V0/V3 visits -> benchmarks/results/validation_fmt*.tsv, validation_longitudinal.tsv
validate: setup
	@mkdir -p benchmarks/results
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(PY) -m icibiome.validation.cohorts --out benchmarks/results --threads $(CORES)
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(PY) -m icibiome.validation.cohorts --pipeline results/validation --snakefile Snakefile --out benchmarks/results --threads $(CORES)
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(PY) -m icibiome.validation.fmt --out benchmarks/results

# database setup, never part of a run: `make databases` lists the catalogue
# (config/database_catalogue.yaml); `make databases DB=sylph-gtdb-r220` downloads (resumable),
# checks the sha256, extracts into resources/ and adds the row to config/databases.tsv.
# DBSETUP_ARGS: e.g. "--from-fasta genome.fa", "--from-local file ...", "--force", "--root DIR"
databases:
	@if [[ -z "$(DB)" ]]; then \
	  PYTHONPATH=$(CURDIR)/workflow $(PY) -m icibiome.dbsetup list; \
	else \
	  PATH=$(CURDIR)/$(VENV)/bin:$$PATH PYTHONPATH=$(CURDIR)/workflow $(PY) -m icibiome.dbsetup install $(DB) $(DBSETUP_ARGS); \
	fi

clean:
	rm -rf results logs .snakemake demo-16s
	# the rules' benchmark folders, not the tracked benchmarks/results/
	find benchmarks -mindepth 1 -maxdepth 1 -type d ! -name results -exec rm -rf {} +
