"""Entry point for rule multiqc_report (rules/report.smk). Logic lives in icibiome.report.build."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "workflow"))
from icibiome.logging import log_to_file  # noqa: E402
from icibiome.report.build import make_report  # noqa: E402

log_to_file(snakemake.log[0])
make_report(
    fastp_jsons=list(snakemake.input.fastp),
    bowtie2_logs=list(snakemake.input.get("bowtie2", [])),
    sylphmpa=list(snakemake.input.sylph),
    kraken_reports=list(snakemake.input.get("kraken2", [])),
    custom_content=list(snakemake.input.custom),
    out_html=snakemake.output[0],
    title=snakemake.params.title,
    config_file=snakemake.params.config_file,
)
