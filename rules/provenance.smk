# Run provenance: config snapshot, sample-sheet checksum, tool and package versions, command line.
# A local job (it runs in the Snakemake process itself, also with --executor slurm), so the
# recorded command line is the one the user typed, not that of a cluster job.
from icibiome.report.provenance import command_line
from icibiome.tools import run_tools


rule run_info:
    input:
        sheet=config["samples"],
    output:
        config="results/run_info/config.yaml",
        info="results/run_info/run_info.yaml",
        sheet="results/run_info/samples.tsv",
        mqc="results/run_info/run_info_mqc.yaml",
        databases="results/run_info/databases.tsv",
    log:
        "logs/run_info/all.log",
    localrule: True
    conda:
        "../envs/pylib.yaml"
    params:
        # the whole effective config: a change of any value re-writes the snapshot
        config=config,
        tools=run_tools(PROFILERS, shotgun=len(SHOTGUN) > 0),
        packages=["icibiome", "snakemake", "multiqc", "pysylph", "pandas", "numpy"],
        # the database check made at workflow start (rules/common.smk, databases.manifest)
        databases=DB_CHECK,
        # not compared between runs (see icibiome.report.provenance.command_line)
        cmdline=lambda wc: command_line(),
    script:
        "../scripts/run_info.py"


TARGETS.append(rules.run_info.output.info)
REPORT.append(rules.run_info.output.mqc)
