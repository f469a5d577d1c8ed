"""The configuration: checks before any job, and the run plan every rules file reads.

* :func:`check_config`: the JSON schema with one short line per problem (typo suggestions,
  values that reach a shell); the profilers named in ``taxonomy.profilers`` against
  :data:`icibiome.tools.PROFILERS`.
* :func:`check_resources`: every database the run will use exists, is readable and complete.
* :func:`plan_run`: the sample sheet, the import plan, the cross-key checks (a stage's profiler
  and rank among the run's, the assays of the sheet against the profilers, stages the sheet is
  too small for) and the derived flags of the run, as one :class:`RunPlan`
  (rules/common.smk turns each problem into a one-line stop before any job).
* ``python -m icibiome.config CONFIG.yaml``: the YAML syntax of a ``--configfile``, which
  Snakemake reads (and rejects without a line number) before any workflow code runs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import yaml
from jsonschema import Draft202012Validator

from icibiome.errors import UserError
from icibiome.samplesheet import load_schema, read_sample_sheet
from icibiome.tools import PROFILERS, SHOTGUN_PROFILERS

CONFIG_SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "config.schema.yaml"

SHELL_SAFE = re.compile(r"^[A-Za-z0-9_.,:=/ +-]*$")
"""Characters allowed in config values pasted unquoted into shell commands (no ; | & $ ` < > ...)."""

SHELL_KEYS = (
    "qc.fastp.adapter_r1",
    "qc.fastp.adapter_r2",
    "qc.fastp.extra",
    "host_removal.extra",
)
"""Config keys whose values are interpolated unquoted into shell commands (fastp, bowtie2)."""

RESOURCE_KEYS = (
    ("host_removal.bowtie2_index", "bowtie2_index", "host_removal.activate"),
    *(
        (key, kind, f"taxonomy.profilers:{name}")
        for name, prof in PROFILERS.items()
        for key, kind in prof.databases
    ),
    ("humann.nucleotide_database", "dir", "humann.activate"),
    ("humann.protein_database", "dir", "humann.activate"),
    ("function_panel.proteins", "file", "function_panel.activate"),
    ("function_panel.categories", "file", "function_panel.activate"),
    ("toposcore.sig1", "file", None),
    ("toposcore.sig2", "file", None),
    ("toposcore.name_map", "file", None),
    ("report.truth", "file", None),
)
"""Databases and input files checked before any job runs: (config key, kind, when). ``kind`` is
``file``, ``dir``, ``bowtie2_index`` (a prefix with ``.1.bt2`` or ``.1.bt2l`` files), ``syldb``
(a file, walked for truncation: :func:`icibiome.databases.check_syldb`) or ``kraken2_db`` (a
folder: files, hash table size, magic bytes: :func:`icibiome.databases.check_kraken2_db`); ``when``
is a boolean key, ``list_key:item`` (checked only when ``item`` is in that list), or None (an
optional path: checked when given). A profiler's databases come from its row in
:data:`icibiome.tools.PROFILERS`; add a row here for a stage's new database."""


class ConfigError(UserError):
    """The configuration has problems; ``problems`` lists each one, naming the key."""

    user_error = True  # reported without a traceback (icibiome.logging.log_to_file)

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"configuration ({source}) has {len(problems)} problem(s):\n{lines}")


def check_yaml_file(path: str | os.PathLike) -> None:
    """A config file that YAML cannot parse: one line naming file, line and column.

    Snakemake's own loader says only "Config file is not valid JSON or YAML". A missing file
    is left to Snakemake (its message names it).

    Raises
    ------
    ConfigError
        ``<file> line L column C: <what PyYAML found>`` (a tab gets a hint: indent with spaces).
    """
    path = Path(path)
    if not path.is_file():
        return
    try:
        yaml.safe_load(path.read_text(encoding="utf-8"))  # a str: the marks see the text
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), [f"{path}: not UTF-8 text ({exc.reason})"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"{path} line {mark.line + 1} column {mark.column + 1}" if mark else str(path)
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if mark is not None and mark.buffer and mark.pointer < len(mark.buffer):
            if mark.buffer[mark.pointer] == "\t":
                what = "found a tab character where YAML expects spaces (indent with spaces)"
        context = getattr(exc, "context", None) if "tab character" not in what else None
        raise ConfigError(
            str(path), [f"{where}: {what}" + (f" ({context})" if context else "")]
        ) from None


def config_value(config: Mapping, dotted: str):
    """The value of a dotted config key (``taxonomy.sylph.database``), None when absent."""
    node = config
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _schema_at(schema: dict, path: list) -> dict:
    node = schema
    for part in path:
        props = node.get("properties", {})
        if part in props:
            node = props[part]
        elif "items" in node:
            node = node["items"]
        else:
            return {}
    return node


def check_config(
    config: dict, schema_path: str | os.PathLike = CONFIG_SCHEMA_PATH, source: str = "config"
) -> None:
    """Validate the configuration against its JSON schema with one short line per problem.

    Unlike Snakemake's ``validate`` (which prints the whole schema), each problem names the key
    as a dotted path, the value, and what is allowed; an unknown key gets the closest known key
    as a suggestion (a typo). Values in :data:`SHELL_KEYS` must match :data:`SHELL_SAFE`.

    Raises
    ------
    ConfigError
        Listing every problem found.
    """
    import difflib

    schema = load_schema(schema_path)
    problems = []
    for err in sorted(
        Draft202012Validator(schema).iter_errors(config), key=lambda e: list(map(str, e.path))
    ):
        path = [str(p) for p in err.path]
        key = ".".join(path) or "<top level>"
        if err.validator == "additionalProperties":
            known = list(_schema_at(schema, path).get("properties", {}))
            allowed = set(known)
            for extra in sorted(set(err.instance) - allowed):
                full = ".".join([*path, extra])
                close = difflib.get_close_matches(extra, known, n=1, cutoff=0.6)
                hint = f" (did you mean {'.'.join([*path, close[0]])!r}?)" if close else ""
                problems.append(
                    f"key {full!r}: unknown key{hint}; known keys here: {', '.join(known)}"
                )
        elif err.validator == "enum":
            allowed = ", ".join(repr(v) for v in err.validator_value)
            problems.append(f"key {key!r}: {err.instance!r} is not one of {allowed}")
        else:  # minimum/maximum/type/pattern: jsonschema's own message is short and clear
            problems.append(f"key {key!r}: {err.message}")
    for dotted in SHELL_KEYS:
        value = config_value(config, dotted)
        if isinstance(value, str) and not SHELL_SAFE.match(value):
            bad = sorted(set(re.sub(r"[A-Za-z0-9_.,:=/ +-]", "", value)))
            problems.append(
                f"key {dotted!r}: {value!r} contains character(s) {''.join(bad)!r} that are not "
                "allowed in values passed to a shell command"
            )
    if problems:
        raise ConfigError(source, list(dict.fromkeys(problems)))


def _active(config: dict, when: str) -> bool:
    if ":" in when:
        key, item = when.split(":", 1)
        return item in (config_value(config, key) or [])
    return bool(config_value(config, when))


def check_resources(
    config: dict, base: str | os.PathLike = ".", source: str = "config"
) -> dict[str, Path]:
    """Check that every database the run will use (:data:`RESOURCE_KEYS`) exists and is readable.

    Run after the schema defaults were applied (Snakemake's ``validate``), so a database left at
    its default path is checked too. Relative paths are taken from ``base`` (the working
    directory); messages show absolute paths.

    Returns
    -------
    dict
        Config key -> resolved path, for the databases checked.

    Raises
    ------
    ConfigError
        Each problem names the config key, the path and what is wrong (missing, not readable,
        empty, not a directory, missing index files).
    """
    base = Path(base).absolute()
    problems = []
    checked = {}
    for key, kind, when in RESOURCE_KEYS:
        if when is None and not config_value(config, key):
            continue  # optional and not given
        if when is not None and not _active(config, when):
            continue
        value = config_value(config, key)
        if not value:
            problems.append(f"key {key!r}: no path given")
            continue
        p = Path(value) if Path(value).is_absolute() else base / value
        checked[key] = p
        if kind == "bowtie2_index":
            found = [
                Path(f"{p}.1.{ext}") for ext in ("bt2", "bt2l") if Path(f"{p}.1.{ext}").exists()
            ]
            if not found:
                problems.append(
                    f"key {key!r}: bowtie2 index not found: no {p}.1.bt2 or {p}.1.bt2l "
                    "(give the index prefix, as for bowtie2 -x)"
                )
                continue
            targets = [found[0]]
        else:
            targets = [p]
        is_dir = kind in ("dir", "kraken2_db")
        for t in targets:
            if not t.exists():
                problems.append(f"key {key!r}: not found: {t}")
            elif is_dir and not t.is_dir():
                problems.append(f"key {key!r}: not a directory: {t}")
            elif not is_dir and not t.is_file():
                problems.append(f"key {key!r}: not a regular file: {t}")
            elif not os.access(t, os.R_OK):
                problems.append(f"key {key!r}: not readable: {t}")
            elif not is_dir and t.stat().st_size == 0:
                problems.append(f"key {key!r}: file is empty: {t}")
            elif kind in ("syldb", "kraken2_db"):
                from icibiome.databases import check_kraken2_db, check_syldb

                found = check_syldb(t) if kind == "syldb" else check_kraken2_db(t)
                problems += [f"key {key!r}: {p}" for p in found]
    if problems:
        raise ConfigError(source, problems)
    return checked


def check_design(config: dict, sheets: dict[str, pd.DataFrame], source: str = "config") -> None:
    """Stages the sample sheet is too small for: one line per stage naming the key and counts.

    Checked before any job (a stage that cannot run would otherwise fail minutes into the run
    with a traceback). ``sheets`` maps each profiler whose tables a stage may read to the sheet
    rows of its samples (shotgun, 16S or imported samples). Counts are of the sheet: samples
    that later fail the read checks (``on_bad_sample: exclude``) can only lower them.

    * ``diversity.activate``: beta diversity and PCoA need 3 samples per profiler;
    * ``networks.activate``: ``networks.min_group_samples`` samples in one group at least (the
      whole sheet, or each ``networks.group_column`` group; smaller groups are left out with a
      warning, as the stage itself does), and the group column must exist;
    * ``signatures.activate``: at least one labelled responder and one non-responder (the final
      model needs both classes); cohorts with fewer than ``signatures.min_per_class`` per class
      are not tested / held out, which the signatures tables of the report list with the reason.

    Raises
    ------
    ConfigError
        Listing every stage that cannot run, with ``set <key>: false`` as one way out.
    """
    problems = []
    div = config.get("diversity", {})
    if div.get("activate"):
        for prof, df in sheets.items():
            if len(df) < 3:
                problems.append(
                    f"key 'diversity.activate': beta diversity needs at least 3 samples, profiler "
                    f"{prof!r} has {len(df)} in the sample sheet; set diversity.activate: false"
                )
    net = config.get("networks", {})
    prof = net.get("profiler")
    if net.get("activate") and prof in sheets:
        df, need = sheets[prof], net.get("min_group_samples", 8)
        col = net.get("group_column")
        if col and col not in df.columns:
            problems.append(
                f"key 'networks.group_column': {col!r} is not a sample-sheet column "
                f"(columns: {', '.join(c for c in df.columns if c not in ('fq1', 'fq2'))})"
            )
        else:
            sizes = (
                df[col].replace("", np.nan).dropna().value_counts()
                if col
                else pd.Series({"all samples": len(df)})
            )
            if not (sizes >= need).any():
                counts = ", ".join(f"{g}: {n}" for g, n in sizes.items()) or "no labelled sample"
                problems.append(
                    f"key 'networks.activate': a network needs networks.min_group_samples = "
                    f"{need} samples in a group; profiler {prof!r} has {counts} in the sample "
                    "sheet; add samples, lower networks.min_group_samples (>= 3), or set "
                    "networks.activate: false"
                )
    sig = config.get("signatures", {})
    prof = sig.get("profiler")
    if sig.get("activate") and prof in sheets:
        resp = sheets[prof]["response"].fillna("")
        n_r, n_nr = int((resp == "R").sum()), int((resp == "NR").sum())
        if min(n_r, n_nr) < 1:
            problems.append(
                f"key 'signatures.activate': response signatures need responders and "
                f"non-responders; profiler {prof!r} has {n_r} R / {n_nr} NR in the sample sheet "
                "(column 'response'); label them or set signatures.activate: false"
            )
    if problems:
        raise ConfigError(source, problems)


# --------------------------------------------------------------------------------------------
# Typed settings: a stage's config section as the argument of its library entry point


class Settings:
    """Base of the per-stage settings (frozen dataclasses, e.g.
    :class:`icibiome.ecology.settings.NetworkSettings`).

    A settings class has exactly the keys of its config section ``section`` that its library
    entry point takes (the section less ``routing``, the keys the rules themselves read), with the
    schema's defaults; ``tests/unit/test_settings.py`` checks both against the schema, so a new
    schema key or a changed default cannot drift from the library. The rules pass the section,
    the script builds the settings with :meth:`from_config`, and :func:`plan_run` builds them once
    before any job, so a key the library does not know stops the run there, naming the key.
    """

    section: ClassVar[str] = ""
    routing: ClassVar[tuple[str, ...]] = ("activate", "profiler", "rank")

    @classmethod
    def from_config(cls, values: Mapping):
        """The settings of a config section (lists become tuples; routing keys are left out)."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - names - set(cls.routing))
        if unknown:
            raise ConfigError(
                "config",
                [
                    f"key {cls.section}.{k}: not a setting of the {cls.section} stage"
                    for k in unknown
                ],
            )
        return cls(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in names}
        )


# --------------------------------------------------------------------------------------------
# The run plan: the sheet, the import plan, the cross-key checks and the derived flags


def check_assays(
    assays: Sequence[str], layouts: Sequence[str], profilers: Sequence[str]
) -> list[str]:
    """Problems of a sample sheet's assays against ``taxonomy.profilers`` (empty list: none).

    A run may hold shotgun samples, 16S samples, or both. Each assay has its own profilers and
    its own standard tables: the shotgun profilers (sylph, kraken2, ...) see only the shotgun
    samples, the ``amplicon`` profiler only the 16S samples, so the tables of a mixed sheet are
    never mixed (a 16S read share and a shotgun cell abundance are not comparable). Every
    listed profiler needs samples of its assay and every assay present needs a profiler; the
    16S samples must share one layout (their reads are pooled for denoising).

    Examples
    --------
    >>> check_assays(["16S", "16S"], ["paired", "paired"], ["amplicon"])
    []
    >>> check_assays(["16S"], ["paired"], ["sylph"])[0][:48]
    'the sample sheet has 1 16S sample(s) but taxonom'
    """
    assays, layouts, profilers = list(assays), list(layouts), list(profilers)
    n16 = sum(a == "16S" for a in assays)
    nsg = sum(a == "shotgun" for a in assays)
    shotgun_p = [p for p in profilers if p in SHOTGUN_PROFILERS]
    problems = []
    if n16 and "amplicon" not in profilers:
        problems.append(
            f"the sample sheet has {n16} 16S sample(s) but taxonomy.profilers {profilers} has "
            "no 'amplicon' (the 16S path)"
        )
    if "amplicon" in profilers and not n16:
        problems.append("taxonomy.profilers has 'amplicon' but the sample sheet has no 16S sample")
    if nsg and not shotgun_p:
        problems.append(
            f"the sample sheet has {nsg} shotgun sample(s) but taxonomy.profilers {profilers} "
            f"has no shotgun profiler ({', '.join(SHOTGUN_PROFILERS)})"
        )
    if shotgun_p and not nsg:
        problems.append(
            f"taxonomy.profilers has shotgun profiler(s) {shotgun_p} but the sample sheet has no "
            "shotgun sample (a 16S-only run uses profilers: [amplicon])"
        )
    lay16 = {lay for a, lay in zip(assays, layouts, strict=True) if a == "16S"}
    if len(lay16) > 1:
        problems.append(
            "16S samples must all be paired or all single-end (their reads are pooled for "
            "denoising); the sheet mixes both"
        )
    return problems


def _check(problems: list[str]) -> None:
    if problems:
        raise ConfigError("config", problems)


@dataclass
class RunPlan:
    """What a run will do, derived once from the validated config and the sample sheet.

    rules/common.smk exposes the fields as the workflow's upper-case names (``IMPORT``,
    ``PROFILERS``, ``NETWORK_PROFILER``, ...); each stage's rules file reads the ones it needs.
    """

    samples: pd.DataFrame
    import_mode: bool
    import_plan: object | None
    host: bool
    profilers: list[str]
    ranks: list[str]
    diversity: bool
    networks: bool
    network_profiler: str
    toposcore: bool
    toposcore_guilds: bool
    toposcore_profiler: str
    toposcore_rank: str
    signatures: bool
    signatures_profiler: str
    signatures_rank: str
    frozen_model: str | None
    function_panel: bool
    humann: bool
    databases: list[dict] = field(default_factory=list)

    @property
    def shotgun(self) -> pd.DataFrame:
        """The sheet's shotgun rows."""
        return self.samples[self.samples["assay"] == "shotgun"]

    @property
    def paired(self) -> list[str]:
        return sorted(self.shotgun.index[self.shotgun["layout"] == "paired"])

    @property
    def single(self) -> list[str]:
        return sorted(self.shotgun.index[self.shotgun["layout"] == "single"])

    @property
    def amplicon(self) -> list[str]:
        """The 16S samples (rules/amplicon.smk; profiler ``amplicon``)."""
        return sorted(self.samples.index[self.samples["assay"] == "16S"])

    @property
    def amplicon_reads(self) -> list[str]:
        amp = self.amplicon
        return ["R1", "R2"] if amp and self.samples.loc[amp[0], "layout"] == "paired" else ["SE"]

    @property
    def shotgun_profilers(self) -> list[str]:
        return [p for p in self.profilers if p != "amplicon"]

    @property
    def report_profiler(self) -> str:
        """The profiler of the report's shotgun read tracking and composition sections."""
        return (self.shotgun_profilers or self.profilers)[0]

    @property
    def db_tools(self) -> list[str]:
        """The tools whose databases are matched to the manifest (``databases.manifest``)."""
        tools = []
        if len(self.shotgun):
            tools += [
                PROFILERS[p].manifest[0] if p in PROFILERS else p for p in self.shotgun_profilers
            ]
            tools += ["bowtie2"] if self.host else []
        if self.amplicon:
            tools.append(PROFILERS["amplicon"].manifest[0])
        return tools

    def samples_of(self, profiler: str) -> list[str]:
        """The sheet's samples whose tables a profiler makes (imported, 16S or shotgun)."""
        if self.import_mode:
            return list(self.import_plan.samples)
        return self.amplicon if profiler == "amplicon" else list(self.shotgun.index)


def _in_list(key: str, value, allowed: Sequence[str], what: str) -> list[str]:
    return [] if value in allowed else [f"{key} {value!r} is not one of {what} {list(allowed)}"]


def plan_run(
    config: dict,
    *,
    verify_manifest: bool = True,
    manifest_cache: str | os.PathLike | None = None,
) -> RunPlan:
    """Check the run before any job and derive what it will do.

    ``config`` has been validated against the schema (defaults filled in). In order: the
    databases exist (:func:`check_resources`, not in import mode), the sample sheet, the import
    plan (import mode), the read files' compression, the sheet's assays against the profilers,
    the database manifest (``databases.manifest``; when ``verify_manifest``: Snakemake's main
    process only), each stage's profiler and rank among the run's, the toposcore lists and
    sheet-dependent settings, and the stages the sheet is too small for (:func:`check_design`).

    Raises
    ------
    icibiome.errors.UserError
        The first failing check, naming keys, files, rows and columns.
    """
    imp, tax = config["import"], config["taxonomy"]
    import_mode = bool(imp["activate"])
    # rank leaf (t__: MAGs, OGUs, SGBs) exists only in tables imported with import.leaf: keep
    leaf_kept = import_mode and imp["leaf"] == "keep"
    if "leaf" in tax["ranks"] and not leaf_kept:
        _check(
            [
                "taxonomy.ranks: rank 'leaf' needs import mode with import.leaf: keep"
                " (the read-based profilers write species and above)"
            ]
        )
    if not import_mode:
        check_resources(config)
    samples = read_sample_sheet(config["samples"], reads=not import_mode)
    import_plan = None
    if import_mode:
        from icibiome.taxonomy.import_mode import plan_import

        import_plan = plan_import(
            imp["profiles"],
            list(samples.index),
            fmt=imp["format"],
            values=imp["values"],
            name_map=imp["name_map"],
            lineages=imp["lineages"],
            taxonomy=imp["taxonomy"],
            on_mismatch=imp["on_mismatch"],
            ranks=tax["ranks"],
            missing=imp["missing"],
            leaf=imp["leaf"],
        )
    else:  # gzip exactly when named .gz (fastp and bowtie2 judge by name)
        from icibiome.reads.qc import check_read_compression

        check_read_compression(samples, config["samples"])
    profilers = [imp["profiler"]] if import_mode else list(tax["profilers"])
    ranks = list(tax["ranks"])
    if leaf_kept and "leaf" not in ranks:
        ranks.append("leaf")
    net, topo, sig = config["networks"], config["toposcore"], config["signatures"]
    network_profiler = net["profiler"] or profilers[0]
    toposcore_guilds = not (topo["sig1"] or topo["sig2"])
    toposcore_profiler = topo["profiler"] or network_profiler
    plan = RunPlan(
        samples=samples,
        import_mode=import_mode,
        import_plan=import_plan,
        host=bool(config["host_removal"]["activate"]),
        profilers=profilers,
        ranks=ranks,
        diversity=bool(config["diversity"]["activate"]),
        networks=bool(net["activate"]),
        network_profiler=network_profiler,
        toposcore=bool(topo["activate"]),
        toposcore_guilds=toposcore_guilds,
        toposcore_profiler=toposcore_profiler,
        toposcore_rank=topo["rank"] or (net["rank"] if toposcore_guilds else "species"),
        signatures=bool(sig["activate"]),
        signatures_profiler=sig["profiler"] or profilers[0],
        signatures_rank=sig["rank"],
        frozen_model=sig["frozen_model"],
        function_panel=bool(config["function_panel"]["activate"]) and not import_mode,
        humann=bool(config["humann"]["activate"]),
    )
    if not len(plan.shotgun):
        plan.function_panel = plan.humann = False
    if not import_mode:
        problems = check_assays(samples["assay"], samples["layout"], profilers)
        if problems:
            raise ConfigError("sample sheet and taxonomy.profilers disagree", problems)
    if config["databases"]["manifest"] and verify_manifest:
        from icibiome.databases import verify_databases

        plan.databases = verify_databases(
            config["databases"]["manifest"],
            tools=plan.db_tools,
            check_sha256=config["databases"]["sha256"],
            cache=manifest_cache,  # digests of unchanged databases are not computed again
            config=config,  # the check is of the databases the config names
        ).to_dict("records")
    _check_stages(config, plan)
    _stage_settings(config)
    # stages the sheet is too small for (diversity, networks, signatures): key and counts
    check_design(
        {
            **config,
            "networks": {**net, "profiler": network_profiler},
            "signatures": {**sig, "profiler": plan.signatures_profiler},
        },
        {p: samples.loc[plan.samples_of(p)] for p in profilers},
    )
    return plan


def _stage_settings(config: dict) -> None:
    """Each stage's typed settings from its section: a key its library does not take stops here."""
    from icibiome.ecology.settings import NetworkSettings
    from icibiome.signatures.settings import SignatureSettings, ToposcoreSettings

    for cls in (NetworkSettings, ToposcoreSettings, SignatureSettings):
        cls.from_config(config[cls.section])


def _check_stages(config: dict, plan: RunPlan) -> None:
    """Each stage's profiler and rank among the run's; the toposcore lists."""
    profilers, ranks = plan.profilers, plan.ranks
    if plan.networks:
        _check(
            _in_list("networks.profiler", plan.network_profiler, profilers, "taxonomy.profilers")
        )
        _check(_in_list("networks.rank", config["networks"]["rank"], ranks, "taxonomy.ranks"))
    topo = config["toposcore"]
    if plan.toposcore and not (topo["sig1"] and topo["sig2"]):
        if not plan.toposcore_guilds:
            _check(["toposcore: give both sig1 and sig2, or neither (guild lists)"])
        if not plan.networks or plan.toposcore_profiler != plan.network_profiler:
            _check(
                [
                    "toposcore: without sig1/sig2 files the lists come from the guilds, which "
                    "need networks.activate and toposcore.profiler = networks.profiler "
                    f"({plan.network_profiler})"
                ]
            )
    if plan.toposcore:
        _check(
            _in_list("toposcore.profiler", plan.toposcore_profiler, profilers, "taxonomy.profilers")
        )
        _check(_in_list("toposcore rank", plan.toposcore_rank, ranks, "taxonomy.ranks"))
        from icibiome.signatures.toposcore_endpoints import (
            check_settings,  # sheet-dependent settings
        )

        check_settings(
            config["samples"],
            akkermansia_column=topo["akkermansia_column"],
            calibration=topo["calibration"],
            calibration_cohorts=topo["calibration_cohorts"],
        )
    if plan.signatures or plan.frozen_model:
        _check(
            _in_list(
                "signatures.profiler", plan.signatures_profiler, profilers, "taxonomy.profilers"
            )
        )
        _check(_in_list("signatures.rank", plan.signatures_rank, ranks, "taxonomy.ranks"))
    if plan.frozen_model and not Path(plan.frozen_model).is_file():
        _check([f"signatures.frozen_model: {plan.frozen_model} does not exist or is not a file"])


def main(argv: list[str] | None = None) -> int:
    """``python -m icibiome.config CONFIG.yaml ...``: YAML syntax of config files.

    For a ``--configfile``, which Snakemake loads (and rejects without a line number) before the
    workflow's own checks run.
    """
    import sys

    status = 0
    for path in sys.argv[1:] if argv is None else argv:
        try:
            check_yaml_file(path)
            print(f"{path}: ok")
        except ConfigError as err:
            print("\n".join(err.problems))
            status = 1
    return status


if __name__ == "__main__":
    raise SystemExit(main())
