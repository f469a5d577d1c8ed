"""Entry point for rule engraftment (rules/engraftment.smk). Logic lives in icibiome.engraftment.donors."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "workflow"))
from icibiome.engraftment.donors import run_engraftment  # noqa: E402
from icibiome.logging import log_to_file  # noqa: E402

log_to_file(snakemake.log[0])
run_engraftment(
    abundance=snakemake.input.abundance,
    samples=snakemake.input.samples,
    samples_out=snakemake.output.samples,
    recipients_out=snakemake.output.recipients,
    association_out=snakemake.output.association,
    table_mqc=snakemake.output.table_mqc,
    trajectory_mqc=snakemake.output.trajectory_mqc,
    heatmap_mqc=snakemake.output.heatmap_mqc,
    detection=snakemake.params.detection,
    label=snakemake.params.label,
)
