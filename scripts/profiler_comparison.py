"""Entry point for rule profiler_comparison (rules/taxonomy.smk). Logic lives in icibiome.taxonomy.compare."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "workflow"))
from icibiome.logging import log_to_file  # noqa: E402
from icibiome.taxonomy.compare import profiler_comparison  # noqa: E402

log_to_file(snakemake.log[0])
profiler_comparison(
    truth=snakemake.input.truth,
    profilers=snakemake.params.profilers,
    profiles=list(snakemake.input.profiles),
    out=snakemake.output.table,
    per_sample_out=snakemake.output.per_sample,
    mqc_out=snakemake.output.mqc,
    steps=snakemake.params.steps,
    benchmark_dir=snakemake.params.benchmark_dir,
)
