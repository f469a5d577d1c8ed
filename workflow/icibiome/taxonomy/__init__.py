"""Stage taxonomy: profilers (sylph, Kraken2, MetaPhlAn), imported profiles, harmonisation and
the standard tables every later stage reads (rules/taxonomy.smk, rules/import.smk)."""
