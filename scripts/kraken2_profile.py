"""Entry point for rule kraken2_profile (rules/taxonomy.smk). Logic lives in icibiome.taxonomy.bracken."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "workflow"))
from icibiome.logging import log_to_file  # noqa: E402
from icibiome.taxonomy.bracken import kraken_to_standard  # noqa: E402

log_to_file(snakemake.log[0])
kraken_to_standard(
    report=snakemake.input.report,
    out_profile=snakemake.output.profile,
    kmer_distr=snakemake.input.kmer_distr or None,
    nodes=snakemake.input.db,
    threshold=snakemake.params.threshold,
    out_fixed_report=snakemake.output.report,
    out_bracken=snakemake.output.bracken,
    genome_lengths=snakemake.params.genome_lengths,
)
