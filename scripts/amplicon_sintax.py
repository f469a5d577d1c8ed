"""Entry point for rule amplicon_sintax (rules/amplicon.smk). Logic lives in icibiome.amplicon.sintax."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "workflow"))
from icibiome.amplicon.sintax import vsearch_sintax  # noqa: E402
from icibiome.logging import log_to_file  # noqa: E402

log_to_file(snakemake.log[0])
vsearch_sintax(
    asv_fasta=snakemake.input.asvs,
    reference=snakemake.input.reference,
    out=snakemake.output[0],
    cutoff=snakemake.params.cutoff,
    log=snakemake.log[0],
)
