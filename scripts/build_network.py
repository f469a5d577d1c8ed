"""Entry point for rule build_network (rules/networks.smk). Logic lives in icibiome.ecology.network."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "workflow"))
from icibiome.ecology.network import build_network  # noqa: E402
from icibiome.ecology.settings import NetworkSettings  # noqa: E402
from icibiome.logging import log_to_file  # noqa: E402

log_to_file(snakemake.log[0])
build_network(
    abundance_tsv=snakemake.input.abundance,
    counts_tsv=snakemake.input.counts or None,  # none for imported relative abundances
    samples_tsv=snakemake.input.samples,
    out_dir=snakemake.params.out_dir,
    threads=snakemake.threads,
    settings=NetworkSettings.from_config(snakemake.params.settings),
)
