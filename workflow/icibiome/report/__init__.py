"""Stage report: the MultiQC report sections and run provenance (rules/report.smk,
rules/provenance.smk)."""
