"""Entry point for rule bracken_kmer_distribution (rules/taxonomy.smk). Logic: icibiome.taxonomy.bracken."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "workflow"))
from icibiome.logging import log_to_file  # noqa: E402
from icibiome.taxonomy.bracken import build_kmer_distribution  # noqa: E402

log_to_file(snakemake.log[0])
build_kmer_distribution(
    kraken2_db=snakemake.input.db,
    genomes_fasta=snakemake.input.library,
    taxonomy=snakemake.input.taxonomy or None,
    read_len=int(snakemake.wildcards.read_len),
    out=snakemake.output[0],
    step=snakemake.params.step,
    threads=snakemake.threads,
    kraken_args=("--confidence", str(snakemake.params.confidence)),
)
