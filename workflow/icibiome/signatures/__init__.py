"""Stage signatures: TOPOSCORE, differential abundance with meta-analysis, leave-one-cohort-out
prediction (log-ratio balances, lasso, random forest), survival (rules/toposcore.smk,
rules/signatures.smk)."""
