"""Entry point for rule run_diversity (rules/diversity.smk). Logic lives in icibiome.ecology.diversity."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "workflow"))
from icibiome.ecology.diversity import run_diversity  # noqa: E402
from icibiome.logging import log_to_file  # noqa: E402

log_to_file(snakemake.log[0])
run_diversity(
    abundance_tsv=snakemake.input.abundance,
    counts_tsv=snakemake.input.counts or None,  # none for imported relative abundances
    samples_tsv=snakemake.input.samples,
    out_dir=snakemake.params.out_dir,
    permutations=snakemake.params.permutations,
    seed=snakemake.params.seed,
    label=snakemake.params.label,
)
