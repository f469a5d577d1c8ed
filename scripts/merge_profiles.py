"""Entry point for rule merge_profiles (rules/taxonomy.smk). Logic lives in icibiome.taxonomy.profiles."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "workflow"))
from icibiome.logging import log_to_file  # noqa: E402
from icibiome.taxonomy.profiles import merge_passing  # noqa: E402

log_to_file(snakemake.log[0])
merge_passing(
    profiles=list(snakemake.input.profiles),
    stats_jsons=list(snakemake.input.stats),
    ranks=list(snakemake.params.ranks),
    out_dir=snakemake.params.out_dir,
)
