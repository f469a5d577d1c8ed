"""Entry point for rule humann (rules/humann.smk). Logic lives in icibiome.functions.humann."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "workflow"))
from icibiome.functions.humann import run_humann  # noqa: E402
from icibiome.logging import log_to_file  # noqa: E402

log_to_file(snakemake.log.run)
run_humann(
    reads=list(snakemake.input.reads),
    out_dir=snakemake.params.out_dir,
    sample=snakemake.wildcards.sample,
    nucleotide_db=snakemake.params.nucleotide_db,
    protein_db=snakemake.params.protein_db,
    threads=snakemake.threads,
    taxonomic_profile=snakemake.input.profile or None,
    memory_use=snakemake.params.memory_use,
    extra=snakemake.params.extra,
    humann_log=snakemake.log.humann,
)
