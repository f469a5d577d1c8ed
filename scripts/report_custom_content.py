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
    out_survival=snakemake.output.survival,
    out_host=snakemake.output.host,
    out_composition=snakemake.output.composition,
    out_excluded=snakemake.output.excluded,
    out_composition_response=snakemake.output.composition_response,
    out_zero_hit=snakemake.output.zero_hit,
)
