"""Entry point for rule sylph_profile (rules/taxonomy.smk). Logic lives in icibiome.taxonomy.sylph."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "workflow"))
from icibiome.logging import log_to_file  # noqa: E402
from icibiome.taxonomy.sylph import profile_sylph  # noqa: E402

log_to_file(snakemake.log[0])
profile_sylph(
    sample=snakemake.wildcards.sample,
    reads=list(snakemake.input.reads),
    database=snakemake.input.db,
    taxonomy=snakemake.input.taxonomy,
    out_profile=snakemake.output.profile,
    out_sylphmpa=snakemake.output.sylphmpa,
    min_ani=snakemake.params.min_ani,
    min_number_kmers=snakemake.params.min_number_kmers,
)
