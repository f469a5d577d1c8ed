"""Entry point for rule software_versions (rules/report.smk). Logic lives in icibiome.report.build."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "workflow"))
from icibiome.logging import log_to_file  # noqa: E402
from icibiome.report.build import software_versions_mqc  # noqa: E402

log_to_file(snakemake.log[0])
software_versions_mqc(
    tools=list(snakemake.params.tools),
    packages=list(snakemake.params.packages),
    out=snakemake.output[0],
)
