"""Entry point for rule longitudinal (rules/engraftment.smk). Logic lives in icibiome.engraftment.longitudinal."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "workflow"))
from icibiome.engraftment.longitudinal import run_longitudinal  # noqa: E402
from icibiome.logging import log_to_file  # noqa: E402

log_to_file(snakemake.log[0])
run_longitudinal(
    samples=snakemake.input.samples,
    scores={name: snakemake.input[name] for name in snakemake.params.sources},
    changes_out=snakemake.output.changes,
    models_out=snakemake.output.models,
    paired_out=snakemake.output.paired,
    models_mqc=snakemake.output.models_mqc,
    spaghetti_mqc=snakemake.output.spaghetti_mqc,
)
