"""Entry point for rule figure_signatures (rules/report.smk). Logic lives in icibiome.report.sections."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "workflow"))
from icibiome.logging import log_to_file  # noqa: E402
from icibiome.report.sections import signatures_vector_figure  # noqa: E402

log_to_file(snakemake.log[0])
signatures_vector_figure(
    forest_tsv=snakemake.input.forest,
    predictions_tsv=snakemake.input.predictions,
    km_tsv=snakemake.input.km,
    out=snakemake.output[0],
)
