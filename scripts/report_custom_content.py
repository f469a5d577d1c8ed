"""Entry point for rule report_custom_content (rules/report.smk). Logic lives in icibiome.report.build."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "workflow"))
from icibiome.logging import log_to_file  # noqa: E402
from icibiome.report.build import write_custom_content  # noqa: E402

log_to_file(snakemake.log[0])
write_custom_content(
    tracking_tsv=snakemake.input.tracking,
    abundance_tsv=snakemake.input.abundance,
    status_tsv=snakemake.input.status,
    stats_jsons=list(snakemake.input.stats),
    samples_tsv=snakemake.input.samples,
    top_n=snakemake.params.top_n,
    rank=snakemake.params.rank,
    profiler=snakemake.params.profiler,
    # out_survival=..., out_host=..., one per named output of the rule
    **{f"out_{name}": path for name, path in snakemake.output.items()},
)
