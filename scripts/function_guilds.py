"""Entry point for rule function_guilds (rules/functions.smk). Logic lives in icibiome.functions.panel."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "workflow"))
from icibiome.functions.panel import run_function_guilds  # noqa: E402
from icibiome.logging import log_to_file  # noqa: E402

log_to_file(snakemake.log[0])
run_function_guilds(
    protein_rpkm_tsv=snakemake.input.protein_rpkm,
    categories_tsv=snakemake.input.categories,
    faa=snakemake.input.proteins,
    guilds_tsv=snakemake.input.guilds,
    out=snakemake.output.table,
    mqc=snakemake.output.mqc,
)
