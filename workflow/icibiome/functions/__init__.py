"""Stage functions: DIAMOND protein panels and HUMAnN (rules/functions.smk, rules/humann.smk)."""
