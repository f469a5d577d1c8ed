"""Run provenance: what produced a ``results/`` folder, written to ``results/run_info/``.

Files written by :func:`write_run_info`:

``config.yaml``
    The effective configuration (after schema defaults were applied), keys sorted.
``run_info.yaml``
    The Snakemake command line, the sample sheet's path and SHA-256, the versions of the
    command-line tools and Python packages, the Python version and the platform.
``samples.tsv``
    A byte-for-byte copy of the sample sheet the run used (its SHA-256 is in ``run_info.yaml``).
``run_info_mqc.yaml``
    MultiQC custom content: the "Run provenance" table of the report (config and sample-sheet
    checksums, command line, and one row per checked database).
``databases.tsv``
    The database check made at workflow start from the manifest (``databases.manifest``, see
    :mod:`icibiome.databases`): tool, name, version, path, recorded and observed SHA-256, tool
    version, status. Header only when no manifest is configured.

The command line is recorded as it was typed for the run that made these files. A later run that
has nothing to do does not rewrite them (the rule's output is up to date), so the command line
always belongs to the run that produced the current results.
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import shlex
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import yaml

from icibiome.io import atomic_path, sha256_file
from icibiome.report.build import python_version
from icibiome.tools import tool_version

logger = logging.getLogger(__name__)

RUN_INFO_FILES = (
    "config.yaml",
    "run_info.yaml",
    "samples.tsv",
    "run_info_mqc.yaml",
    "databases.tsv",
)
"""The files :func:`write_run_info` writes into its output folder."""

DATABASE_FIELDS = (
    "tool",
    "name",
    "version",
    "path",
    "resolved_path",
    "sha256",
    "sha256_observed",
    "compatible_tool_versions",
    "tool_version",
    "status",
)
"""Columns of ``databases.tsv`` (from :func:`icibiome.databases.verify_databases`)."""


def command_line(argv: Sequence[str] | None = None) -> SimpleNamespace:
    """The Snakemake command line of this process, wrapped so Snakemake does not track it.

    Returned as a :class:`types.SimpleNamespace` with ``argv`` (list) and ``text`` (shell-quoted
    string). Snakemake only compares ``params`` of built-in types (str, list, dict, ...) between
    runs; wrapping the command line in a namespace keeps it out of that comparison, so
    ``snakemake -n`` after a finished run (a different command line) still has nothing to do.
    ``python -m snakemake`` and ``.../bin/snakemake`` are both recorded as ``snakemake``.
    """
    argv = list(sys.argv if argv is None else argv)
    if argv and (
        Path(argv[0]).name == "snakemake" or argv[0].endswith(("snakemake/__main__.py", "-m"))
    ):
        argv[0] = "snakemake"
    return SimpleNamespace(argv=argv, text=shlex.join(argv))


def _plain(obj):
    """Convert Snakemake's config containers (dict/list subclasses) to plain YAML-safe types."""
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return str(obj)


def collect_versions(tools: Sequence[str], packages: Sequence[str]) -> dict[str, dict]:
    """Versions of command-line tools and Python distributions (``None`` where absent).

    Uses :func:`icibiome.tools.tool_version` and :func:`icibiome.report.python_version`, the
    same functions that fill the report's software-versions section.
    """
    return {
        "tools": {t: tool_version(t) for t in tools},
        "packages": {p: python_version(p) for p in packages},
    }


def write_run_info(
    out_dir: str | os.PathLike,
    config: Mapping,
    sample_sheet: str | os.PathLike,
    cmdline: str | Sequence[str] | SimpleNamespace,
    tools: Sequence[str] = (),
    packages: Sequence[str] = (),
    databases: Sequence[Mapping] | None = None,
) -> dict:
    """Write the run's provenance into ``out_dir`` (see the module docstring for the files).

    Parameters
    ----------
    out_dir : path-like
        Usually ``results/run_info``; created if needed. Every file is written atomically.
    config : mapping
        The effective configuration of the run.
    sample_sheet : path-like
        The sample sheet the run used; copied and checksummed.
    cmdline : str, sequence of str, or the namespace from :func:`command_line`
        The command line that started the run.
    tools, packages : sequence of str
        Command-line tools and Python distributions whose versions are recorded.
    databases : sequence of mapping, optional
        The rows of the database check made at workflow start
        (:func:`icibiome.databases.verify_databases`): written to ``databases.tsv`` (header only
        when no manifest is configured), listed in ``run_info.yaml`` and the report section.

    Returns
    -------
    dict
        The content of ``run_info.yaml``.
    """
    out_dir = Path(out_dir)
    if isinstance(cmdline, SimpleNamespace):
        text = cmdline.text
    elif isinstance(cmdline, str):
        text = cmdline
    else:
        text = shlex.join(list(cmdline))
    sheet = Path(sample_sheet)
    info = {
        "command_line": text,
        "working_directory": str(Path.cwd()),
        "sample_sheet": {"path": str(sheet), "sha256": sha256_file(sheet)},
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        **collect_versions(tools, packages),
        "databases": [{k: str(d.get(k, "")) for k in DATABASE_FIELDS} for d in (databases or [])],
    }
    config_text = yaml.safe_dump(_plain(config), sort_keys=True)
    with atomic_path(out_dir / "config.yaml") as tmp:
        tmp.write_text(config_text)
    with atomic_path(out_dir / "samples.tsv") as tmp:
        shutil.copyfile(sheet, tmp)
    with atomic_path(out_dir / "databases.tsv") as tmp:
        pd.DataFrame(info["databases"], columns=list(DATABASE_FIELDS)).to_csv(
            tmp, sep="\t", index=False
        )
    with atomic_path(out_dir / "run_info.yaml") as tmp:
        tmp.write_text(yaml.safe_dump(info, sort_keys=False))
    with atomic_path(out_dir / "run_info_mqc.yaml") as tmp:
        tmp.write_text(yaml.safe_dump(_report_section(info, config_text), sort_keys=False))
    logger.info("run info written to %s: %s", out_dir, info)
    return info


def _report_section(info: dict, config_text: str) -> dict:
    """MultiQC custom content: the checksums and command line that identify this run."""
    rows = {
        "Configuration (sha256 of results/run_info/config.yaml)": hashlib.sha256(
            config_text.encode()
        ).hexdigest(),
        "Sample sheet": info["sample_sheet"]["path"],
        "Sample sheet (sha256)": info["sample_sheet"]["sha256"],
        "Command line": info["command_line"],
        "Working directory": info["working_directory"],
        "Python / platform": f"{info['python']} / {info['platform']}",
    }
    for d in info.get("databases", []):
        sha = d["sha256_observed"] or d["sha256"]
        rows[f"Database {d['name']}"] = (
            f"{d['tool']} database version {d['version']} at {d['resolved_path']}; "
            f"{d['tool']} {d['tool_version'] or 'version unknown'}; "
            f"sha256 {sha[:16] or 'not computed'}; {d['status']}"
        )
    return {
        "id": "icibiome_run_provenance",
        "section_name": "Run provenance",
        "description": "What produced this report: configuration and sample-sheet checksums and "
        "the command line (full record: results/run_info/).",
        "plot_type": "table",
        "pconfig": {"id": "run_provenance_table", "title": "Run provenance", "col1_header": "Item"},
        "headers": {"value": {"title": "Value", "scale": False}},
        "data": {k: {"value": v} for k, v in rows.items()},
    }
