"""Entry point for rule amplicon_report_content (rules/amplicon.smk). Logic lives in icibiome.amplicon.stage."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "workflow"))
from icibiome.amplicon.stage import amplicon_report  # noqa: E402
from icibiome.logging import log_to_file  # noqa: E402

log_to_file(snakemake.log[0])
amplicon_report(
    samples=snakemake.params.samples,
    asv_table=snakemake.input.table,
    sintax_tsv=snakemake.input.sintax,
    out_tracking=snakemake.output.tracking,
    out_tracking_mqc=snakemake.output.tracking_mqc,
    cutadapt_jsons=list(snakemake.input.cutadapt),
    step_logs=list(snakemake.input.step_logs),
    dada2_tracking=list(snakemake.input.dada2),
    abundance_tsv=snakemake.input.abundance,
    out_composition=snakemake.output.composition,
    cutoff=snakemake.params.cutoff,
    assigned_rank=snakemake.params.assigned_rank,
    top_n=snakemake.params.top_n,
    rank=snakemake.params.rank,
)
