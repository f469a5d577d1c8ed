"""Entry point for rule amplicon_tables (rules/amplicon.smk). Logic lives in icibiome.amplicon.stage."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "workflow"))
from icibiome.amplicon.stage import amplicon_tables  # noqa: E402
from icibiome.logging import log_to_file  # noqa: E402

log_to_file(snakemake.log[0])
amplicon_tables(
    asv_table=snakemake.input.table,
    sintax_tsv=snakemake.input.sintax,
    out_dir=snakemake.params.out_dir,
    biom=snakemake.output.biom,
    ranks=snakemake.params.ranks,
    cutoff=snakemake.params.cutoff,
)
