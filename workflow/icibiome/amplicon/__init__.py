"""16S amplicon processing: primer removal, read merging, ASVs, SINTAX taxonomy, standard tables.

Each step runs the real tool (cutadapt, vsearch, or DADA2 through ``Rscript``) on plain paths
with an argument list (never a shell), writes its outputs atomically
(:func:`icibiome.io.atomic_path`) and the tool's messages to a log file. The logs are what
:func:`read_tracking` parses into the per-sample read-survival table.

The vsearch path follows the UNOISE3 recipe of the USEARCH/vsearch documentation (Edgar 2016;
Rognes et al. 2016, PeerJ 4:e2584):

1. :func:`cutadapt_primers` removes the primers (reads without the forward primer are dropped
   when ``discard_untrimmed``; a heterogeneity spacer before the primer goes with it, and the
   reverse complement of the other primer is cut from the 3' end of read-through reads);
2. :func:`vsearch_merge` merges pairs (``--fastq_mergepairs``);
3. :func:`vsearch_filter` keeps reads with at most ``max_ee`` expected errors and tags each read
   with its sample (``;sample=<id>``);
4. :func:`vsearch_denoise` pools the samples, dereplicates (``--derep_fulllength``), denoises
   with UNOISE3 (``--cluster_unoise``, Edgar 2016 bioRxiv 081257) and removes de novo chimeras
   with UCHIME3 (``--uchime3_denovo``), giving the ASV FASTA (``ASV1``, ``ASV2``, ... by
   decreasing abundance);
5. :func:`vsearch_asv_table` maps every filtered read to the ASVs (``--usearch_global``) to
   count them per sample;
6. :func:`vsearch_sintax` classifies the ASVs with SINTAX (Edgar 2016 bioRxiv 074161) against a
   reference in SINTAX format (:func:`sintax_reference_from_taxonomy`,
   :func:`sintax_reference_from_dada2`).

DADA2 (Callahan et al. 2016, Nat Methods 13:581) is the alternative denoiser (steps 2-4):
:func:`run_dada2` calls ``workflow/icibiome/amplicon/R/dada2.R`` and writes the same ASV FASTA and table.

:func:`asv_table_to_standard` turns the ASV table and the SINTAX assignments into the project's
standard rank tables (:mod:`icibiome.io`), :func:`write_biom` writes a BIOM 1.0 table, and
:func:`read_tracking` / :func:`write_tracking_mqc` give the read survival per sample for
MultiQC (cutadapt's own JSON reports feed MultiQC's native cutadapt module).

Modules: :mod:`~icibiome.amplicon.sequences` (primers, FASTA), :mod:`~icibiome.amplicon.runner`
(running the tools), :mod:`~icibiome.amplicon.primers` (cutadapt),
:mod:`~icibiome.amplicon.denoise` (vsearch merge, filter, UNOISE3, ASV table),
:mod:`~icibiome.amplicon.dada2` (DADA2), :mod:`~icibiome.amplicon.sintax` (SINTAX and its
references), :mod:`~icibiome.amplicon.tables` (standard tables, BIOM, read tracking) and
:mod:`~icibiome.amplicon.stage` (the whole path, the rules' entry points). The names below are
re-exported here.
"""

from icibiome.amplicon.dada2 import (
    DADA2_SCRIPT,
    dada2_available,
    run_dada2,
)
from icibiome.amplicon.denoise import (
    parse_filter_log,
    parse_merge_log,
    vsearch_asv_table,
    vsearch_denoise,
    vsearch_filter,
    vsearch_merge,
)
from icibiome.amplicon.primers import (
    cutadapt_primers,
    parse_cutadapt_json,
)
from icibiome.amplicon.runner import AmpliconToolError
from icibiome.amplicon.sequences import (
    IUPAC,
    PRIMERS_V4,
    count_fastx,
    extract_amplicon,
    primer_regex,
    read_fasta,
    reverse_complement,
)
from icibiome.amplicon.sintax import (
    RANK_LETTER,
    SINTAX_RANKS,
    read_sintax,
    sintax_lineages,
    sintax_reference_from_dada2,
    sintax_reference_from_taxonomy,
    vsearch_sintax,
)
from icibiome.amplicon.stage import (
    amplicon_report,
    amplicon_tables,
    dada2_asvs,
    merge_and_filter,
    run_amplicon,
    trim_primers,
    vsearch_asvs,
)
from icibiome.amplicon.tables import (
    TRACKING_COLUMNS,
    asv_table_to_standard,
    read_asv_table,
    read_biom,
    read_tracking,
    write_biom,
    write_tracking_mqc,
)

__all__ = [
    "AmpliconToolError",
    "DADA2_SCRIPT",
    "IUPAC",
    "PRIMERS_V4",
    "RANK_LETTER",
    "SINTAX_RANKS",
    "TRACKING_COLUMNS",
    "amplicon_report",
    "amplicon_tables",
    "asv_table_to_standard",
    "count_fastx",
    "cutadapt_primers",
    "dada2_asvs",
    "dada2_available",
    "extract_amplicon",
    "merge_and_filter",
    "parse_cutadapt_json",
    "parse_filter_log",
    "parse_merge_log",
    "primer_regex",
    "read_asv_table",
    "read_biom",
    "read_fasta",
    "read_sintax",
    "read_tracking",
    "reverse_complement",
    "run_amplicon",
    "run_dada2",
    "sintax_lineages",
    "sintax_reference_from_dada2",
    "sintax_reference_from_taxonomy",
    "trim_primers",
    "vsearch_asv_table",
    "vsearch_asvs",
    "vsearch_denoise",
    "vsearch_filter",
    "vsearch_merge",
    "vsearch_sintax",
    "write_biom",
    "write_tracking_mqc",
]
