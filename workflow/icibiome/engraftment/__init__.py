"""Stage engraftment: FMT donor engraftment and longitudinal dynamics (rules/engraftment.smk)."""
