"""Entry point for rule select_samples (rules/qc.smk). Logic lives in icibiome.reads.qc."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "workflow"))
from icibiome.logging import log_to_file  # noqa: E402
from icibiome.reads.qc import select_samples  # noqa: E402

log_to_file(snakemake.log[0])
select_samples(
    check_jsons=list(snakemake.input),
    on_bad_sample=snakemake.params.on_bad_sample,
    out_tsv=snakemake.output.table,
)
