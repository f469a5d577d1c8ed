"""Entry point for rule signatures (rules/signatures.smk). Logic lives in icibiome.signatures.stage."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "workflow"))
from icibiome.logging import log_to_file  # noqa: E402
from icibiome.signatures.settings import SignatureSettings  # noqa: E402
from icibiome.signatures.stage import run_signatures  # noqa: E402

log_to_file(snakemake.log[0])
run_signatures(
    abundance_tsv=snakemake.input.abundance,
    samples_tsv=snakemake.input.samples,
    out_dir=snakemake.params.out_dir,
    extra_tsvs=snakemake.params.extra_tsvs,
    balance_tsvs=list(snakemake.input.balance),
    label=snakemake.params.label,
    profiler=snakemake.wildcards.profiler,
    rank=snakemake.params.rank,
    cancer_type=snakemake.params.cancer_type,
    settings=SignatureSettings.from_config(snakemake.params.settings),
)
