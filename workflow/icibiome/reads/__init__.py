"""Stage reads: raw-read checks, fastp trimming, host removal and read statistics (rules/qc.smk)."""
