"""Entry point for rule humann_merge (rules/humann.smk). Logic lives in icibiome.functions.humann."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "workflow"))
from icibiome.functions.humann import merge_humann  # noqa: E402
from icibiome.logging import log_to_file  # noqa: E402

log_to_file(snakemake.log[0])
merge_humann(
    tables={
        "genefamilies": list(snakemake.input.genefamilies),
        "pathabundance": list(snakemake.input.pathabundance),
        "pathcoverage": list(snakemake.input.pathcoverage),
    },
    out_dir=snakemake.params.out_dir,
    top_n=snakemake.params.top_n,
)
