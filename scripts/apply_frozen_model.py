"""Entry point for rule apply_frozen_model (rules/signatures.smk). Logic in icibiome.signatures.stage."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "workflow"))
from icibiome.logging import log_to_file  # noqa: E402
from icibiome.signatures.stage import apply_frozen_model  # noqa: E402

log_to_file(snakemake.log[0])
apply_frozen_model(
    model_path=snakemake.input.model,
    abundance_tsv=snakemake.input.abundance,
    samples_tsv=snakemake.input.samples,
    predictions_tsv=snakemake.output.predictions,
    auc_tsv=snakemake.output.auc,
    extra_tsvs=snakemake.params.extra_tsvs,
    profiler=snakemake.wildcards.profiler,
    rank=snakemake.params.rank,
)
