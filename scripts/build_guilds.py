"""Entry point for rule build_guilds (rules/networks.smk). Logic lives in icibiome.ecology.guilds."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "workflow"))
from icibiome.ecology.guilds import build_guilds  # noqa: E402
from icibiome.logging import log_to_file  # noqa: E402

log_to_file(snakemake.log[0])
build_guilds(
    network_dir=Path(snakemake.input.edges).parent,
    abundance_tsv=snakemake.input.abundance,
    samples_tsv=snakemake.input.samples,
    out_dir=snakemake.params.out_dir,
    method=snakemake.params.method,
    min_cluster_size=snakemake.params.min_cluster_size,
    deep_split=snakemake.params.deep_split,
    component=snakemake.params.component,
    annotation_tsv=snakemake.params.annotation,
    functions_tsv=snakemake.params.functions,
    seed=snakemake.params.seed,
    label=snakemake.params.label,
)
