"""Entry point for rule figure_pcoa (rules/report.smk). Logic lives in icibiome.report.sections."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "workflow"))
from icibiome.logging import log_to_file  # noqa: E402
from icibiome.report.sections import pcoa_vector_figure  # noqa: E402

log_to_file(snakemake.log[0])
pcoa_vector_figure(
    pcoa_tsv=snakemake.input[0],
    out=snakemake.output[0],
)
