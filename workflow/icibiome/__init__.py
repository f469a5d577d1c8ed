"""icibiome: gut microbiome of immune-checkpoint-inhibitor patients, from reads to response signatures.

The library behind the Snakemake pipeline. It never imports snakemake: every function takes
plain paths and values and returns DataFrames or writes files, so it can be tested and reused
on its own.
"""

__version__ = "0.1.0"

RANKS = ("kingdom", "phylum", "class", "order", "family", "genus", "species")
"""Taxonomic ranks in lineage order, as used in the standard tables."""

RANK_PREFIX = {
    "kingdom": "k__",
    "phylum": "p__",
    "class": "c__",
    "order": "o__",
    "family": "f__",
    "genus": "g__",
    "species": "s__",
}
"""MetaPhlAn-style clade prefixes for each rank."""
