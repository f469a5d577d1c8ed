"""Entry point for rule metaphlan_profile (rules/taxonomy.smk). Logic lives in icibiome.taxonomy.metaphlan."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "workflow"))
from icibiome.logging import log_to_file  # noqa: E402
from icibiome.taxonomy.metaphlan import profile_metaphlan  # noqa: E402

log_to_file(snakemake.log[0])
profile_metaphlan(
    sample=snakemake.wildcards.sample,
    reads=list(snakemake.input.reads),
    db_dir=snakemake.input.db,
    index=snakemake.params.index,
    out_raw=snakemake.output.raw,
    out_profile=snakemake.output.profile,
    threads=snakemake.threads,
)
