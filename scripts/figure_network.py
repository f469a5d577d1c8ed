"""Entry point for rule figure_network (rules/report.smk). Logic lives in icibiome.report.sections."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "workflow"))
from icibiome.logging import log_to_file  # noqa: E402
from icibiome.report.sections import guild_network_vector_figure  # noqa: E402

log_to_file(snakemake.log[0])
guild_network_vector_figure(
    edges_tsv=snakemake.input.edges,
    guilds_tsv=snakemake.input.guilds,
    out=snakemake.output[0],
    seed=snakemake.params.seed,
)
