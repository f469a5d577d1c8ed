"""Entry point for rule import_report_content (rules/import.smk). Logic: icibiome.taxonomy.import_mode."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "workflow"))
from icibiome.logging import log_to_file  # noqa: E402
from icibiome.taxonomy.import_mode import import_report_content  # noqa: E402

log_to_file(snakemake.log[0])
import_report_content(
    abundance_tsv=snakemake.input.abundance,
    samples_tsv=snakemake.input.samples,
    manifest_tsv=snakemake.input.manifest,
    excluded_tsv=snakemake.input.excluded,
    filled_tsv=snakemake.input.filled,
    out_composition=snakemake.output.composition,
    out_composition_response=snakemake.output.composition_response,
    out_files=snakemake.output.files,
    out_flags=snakemake.output.flags,
    top_n=snakemake.params.top_n,
    rank=snakemake.params.rank,
    profiler=snakemake.params.profiler,
)
