#!/usr/bin/env bash
# Install what icibiome needs, skipping what is present (idempotent; a few seconds when all is there).
#   - Debian tools (fastp, bowtie2, samtools, art_illumina, kraken2, ...) with apt-get when root;
#     otherwise the exact command to run (or the conda alternative) is printed and setup fails.
#   - a virtual environment .venv with the pinned Python dependencies (requirements.lock) and the
#     icibiome package (editable).
#   - R with the Bioconductor package dada2 (Debian r-bioc-dada2; the DADA2 denoiser and its tests),
#     only for the tests: `make test` / `make test-fast` set ICIBIOME_DADA2=1, and CI=true does the
#     same; `make demo` does not need it (the demo denoises with vsearch). Measured on Debian 12:
#     `apt-get install r-bioc-dada2` (1.26.0, with R) took 16 s after `apt-get update`.
# Environment: VENV (default .venv), PYTHON (default python3), ICIBIOME_SKIP_APT=1 to skip apt,
# ICIBIOME_DADA2=1 (or CI=true) to install R dada2.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

# command -> Debian package
declare -A APT=(
  [fastp]=fastp [bowtie2]=bowtie2 [samtools]=samtools [art_illumina]=art-nextgen-simulation-tools
  [kraken2]=kraken2 [seqkit]=seqkit [vsearch]=vsearch [cutadapt]=cutadapt [diamond]=diamond-aligner
  [glpsol]=glpk-utils [pigz]=pigz
)
missing=()
for cmd in "${!APT[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${APT[$cmd]}")
done
if [[ ${ICIBIOME_DADA2:-0} == 1 || ${CI:-} == true ]] &&
  ! Rscript -e 'suppressMessages(library(dada2))' >/dev/null 2>&1; then
  missing+=(r-bioc-dada2)
fi
if ((${#missing[@]})); then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  if [[ ${ICIBIOME_SKIP_APT:-0} == 1 ]]; then
    echo "setup: skipping apt (ICIBIOME_SKIP_APT=1); missing: ${missing[*]}" >&2
  elif [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  else
    cat >&2 <<MSG
setup: these tools are missing: ${missing[*]}
  Debian/Ubuntu (as root):  apt-get install -y --no-install-recommends ${missing[*]}
  conda/mamba instead:      mamba env create -f envs/<tool>.yaml  (or run the pipeline with --sdm conda)
MSG
    exit 1
  fi
fi

# Python environment; re-installed only when requirements.lock or pyproject.toml changed
stamp=$VENV/.icibiome-installed
if [[ ! -x $VENV/bin/python ]]; then
  echo "setup: creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
if [[ ! -f $stamp || requirements.lock -nt $stamp || pyproject.toml -nt $stamp ]]; then
  echo "setup: installing Python dependencies into $VENV (pinned in requirements.lock)"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements.lock
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e .
  touch "$stamp"
fi
echo "setup: ok ($("$VENV/bin/python" -c 'import icibiome, snakemake; print("icibiome", icibiome.__version__, "snakemake", snakemake.__version__)'))"
