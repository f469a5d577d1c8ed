"""Entry point for rule import_profiles (rules/import.smk). Logic lives in icibiome.taxonomy.import_mode."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "workflow"))
from icibiome.logging import log_to_file  # noqa: E402
from icibiome.taxonomy.import_mode import run_import  # noqa: E402

log_to_file(snakemake.log[0])
run_import(
    paths=list(snakemake.input.profiles),
    samples_tsv=snakemake.input.samples,
    out_dir=snakemake.params.out_dir,
    ranks=list(snakemake.params.ranks),
    fmt=snakemake.params.fmt,
    values=snakemake.params.value_kind,
    name_map=snakemake.input.name_map or None,
    lineages=snakemake.input.lineages or None,
    taxonomy=snakemake.input.taxonomy or None,
    on_mismatch=snakemake.params.on_mismatch,
    missing=snakemake.params.missing,
    leaf=snakemake.params.leaf,
)
