"""Validation on real public cohorts against published numbers (``make validate``); not imported
by the pipeline's rules."""
