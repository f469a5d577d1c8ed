"""Entry point for rule function_panel (rules/functions.smk). Logic lives in icibiome.functions.panel."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "workflow"))
from icibiome.functions.panel import run_function_panel  # noqa: E402
from icibiome.logging import log_to_file  # noqa: E402

log_to_file(snakemake.log[0])
run_function_panel(
    hits=list(snakemake.input.hits),
    samples=list(snakemake.params.samples),
    stats=list(snakemake.input.stats),
    categories_tsv=snakemake.input.categories,
    faa=snakemake.input.proteins,
    out_dir=snakemake.params.out_dir,
)
