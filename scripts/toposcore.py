"""Entry point for rule toposcore (rules/toposcore.smk). Logic lives in icibiome.signatures.toposcore_stage."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "workflow"))
from icibiome.logging import log_to_file  # noqa: E402
from icibiome.signatures.settings import ToposcoreSettings  # noqa: E402
from icibiome.signatures.toposcore_stage import run_toposcore  # noqa: E402

log_to_file(snakemake.log[0])
run_toposcore(
    abundance_tsv=snakemake.input.abundance,
    out_dir=snakemake.params.out_dir,
    samples_tsv=snakemake.input.samples,
    guilds_tsv=snakemake.params.guilds,
    label=snakemake.params.label,
    settings=ToposcoreSettings.from_config(snakemake.params.settings),
)
