"""Entry point for rule run_info (rules/provenance.smk). Logic lives in icibiome.report.provenance."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "workflow"))
from icibiome.logging import log_to_file  # noqa: E402
from icibiome.report.provenance import write_run_info  # noqa: E402

log_to_file(snakemake.log[0])
write_run_info(
    out_dir=Path(snakemake.output.info).parent,
    config=snakemake.params.config,
    sample_sheet=snakemake.input.sheet,
    cmdline=snakemake.params.cmdline,
    tools=list(snakemake.params.tools),
    packages=list(snakemake.params.packages),
    databases=list(snakemake.params.databases),
)
