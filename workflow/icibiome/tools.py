"""The command-line tools and taxonomic profilers the pipeline runs: one table each.

Everything that needs to know which tools or profilers exist reads these tables: the config
check (``taxonomy.profilers``, :func:`icibiome.config.check_config`), the databases checked
before any job (:data:`icibiome.config.RESOURCE_KEYS`), the database manifest
(:mod:`icibiome.databases`), the software versions of the report and the run's provenance
(:func:`run_tools`, :func:`tool_version`), the assay check (:func:`icibiome.config.plan_run`) and
the per-sample rules timed by the profiler comparison (rules/taxonomy.smk). Adding a profiler is
one :data:`PROFILERS` row here plus its own rules, module, schema section and docs (see
CONTRIBUTING.md).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass


@dataclass(frozen=True)
class Tool:
    """How to ask a tool for its version."""

    command: tuple[str, ...] | None = None
    """argv printing the version; None when there is no command (a method in the library, or a
    tool run through a Python package)."""
    pattern: str = r"(\d+\.\d+(?:\.\d+)*)"
    """The version in the command's stdout + stderr (first match, group 1)."""
    package: str | None = None
    """A Python package the pipeline runs the tool through: its version is the tool's."""


TOOLS: dict[str, Tool] = {
    "fastp": Tool(("fastp", "--version")),
    "bowtie2": Tool(("bowtie2", "--version")),
    "samtools": Tool(("samtools", "--version")),
    "sylph": Tool(package="pysylph"),
    "kraken2": Tool(("kraken2", "--version")),
    "bracken": Tool(),  # the Bracken method is in the library (icibiome.taxonomy.bracken)
    "metaphlan": Tool(("metaphlan", "--version")),
    "cutadapt": Tool(("cutadapt", "--version")),
    # vsearch prints its paper's DOI before its version
    "vsearch": Tool(("vsearch", "--version"), pattern=r"vsearch v(\d+\.\d+(?:\.\d+)?)"),
    "humann": Tool(("humann", "--version")),
    "diamond": Tool(("diamond", "version")),
}
"""Every tool whose version the pipeline records or checks against a database manifest."""


@dataclass(frozen=True)
class Profiler:
    """A taxonomic profiler: what it reads, which tools it runs, which rules time it."""

    assay: str
    """``shotgun`` or ``16S``: the sheet's samples it profiles."""
    databases: tuple[tuple[str, str], ...]
    """(config key, kind) of each database checked before any job (kinds:
    :data:`icibiome.config.RESOURCE_KEYS`)."""
    manifest: tuple[str, str]
    """(tool, config key): the database matched to its ``databases.manifest`` row."""
    tools: tuple[str, ...]
    """The tools it runs (keys of :data:`TOOLS`): their versions are recorded."""
    steps: tuple[str, ...] = ()
    """Its per-sample rules, whose benchmark files give its time per sample."""


PROFILERS: dict[str, Profiler] = {
    "sylph": Profiler(
        assay="shotgun",
        databases=(("taxonomy.sylph.database", "syldb"), ("taxonomy.sylph.taxonomy", "file")),
        manifest=("sylph", "taxonomy.sylph.database"),
        tools=("sylph",),
        steps=("sylph_profile",),
    ),
    "kraken2": Profiler(
        assay="shotgun",
        databases=(("taxonomy.kraken2.database", "kraken2_db"),),
        manifest=("kraken2", "taxonomy.kraken2.database"),
        tools=("kraken2",),
        steps=("kraken2_classify", "kraken2_profile"),
    ),
    "metaphlan": Profiler(
        assay="shotgun",
        databases=(("taxonomy.metaphlan.db_dir", "dir"),),
        manifest=("metaphlan", "taxonomy.metaphlan.db_dir"),
        tools=("metaphlan",),
        steps=("metaphlan_profile",),
    ),
    "amplicon": Profiler(
        assay="16S",
        databases=(("amplicon.sintax.reference", "file"),),
        manifest=("vsearch", "amplicon.sintax.reference"),
        tools=("cutadapt", "vsearch"),
    ),
}
"""The profilers ``taxonomy.profilers`` may name (an imported table's profiler is any other
name; see ``import.profiler``)."""

SHOTGUN_PROFILERS = tuple(n for n, p in PROFILERS.items() if p.assay == "shotgun")
"""Profilers of shotgun reads; ``amplicon`` is the profiler of the 16S path."""

SHOTGUN_TOOLS = ("fastp", "bowtie2", "samtools")
"""The tools of every shotgun run (QC and host removal)."""


def run_tools(profilers, *, shotgun: bool) -> list[str]:
    """The tools a run uses, in a fixed order: shotgun QC, then each profiler's tools.

    >>> run_tools(["kraken2", "amplicon"], shotgun=True)
    ['fastp', 'bowtie2', 'samtools', 'kraken2', 'cutadapt', 'vsearch']
    >>> run_tools(["amplicon"], shotgun=False)
    ['cutadapt', 'vsearch']
    """
    tools = list(SHOTGUN_TOOLS) if shotgun else []
    for name in profilers:
        for tool in PROFILERS[name].tools if name in PROFILERS else ():
            if tool not in tools:
                tools.append(tool)
    return tools


def tool_version(tool: str) -> str | None:
    """The installed version of ``tool`` (None when it is not installed or has no version).

    >>> tool_version("bracken") is None  # a method in the library, no command
    True
    """
    spec = TOOLS.get(tool, Tool((tool, "--version")))
    if spec.package:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version(spec.package)
        except PackageNotFoundError:
            return None
    if spec.command is None or shutil.which(spec.command[0]) is None:
        return None
    try:
        res = subprocess.run(
            list(spec.command),
            capture_output=True,
            text=True,
            errors="replace",
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(spec.pattern, res.stdout + res.stderr)
    return m.group(1) if m else None
