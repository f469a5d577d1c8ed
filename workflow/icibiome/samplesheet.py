"""The sample sheet: reading, validation with errors that name file, row and column.

Every check runs before any job starts, and every problem found is reported at once (not only the
first), each as ``<file>: row <n> (sample <id>): column '<col>': <what is wrong>``. Row numbers are
the line numbers of the file as a text editor shows them (the header is line 1).

Checks
------
* the file exists, is readable and is a tab-separated table with a header;
* required columns are present (``sample_id, subject_id, cohort, timepoint, assay, fq1``);
* each row matches ``workflow/schemas/samples.schema.yaml`` (id patterns safe for file names and
  shells, vocabularies for ``assay``/``response``/``sex``/``antibiotics``, numeric clinical columns);
* ``sample_id`` values are unique;
* read files exist, are readable and non-empty, ``fq1`` and ``fq2`` differ, a pair has the same
  compression and its first read names agree.

The configuration is checked by :mod:`icibiome.config` (schema errors as one line per key, typo
suggestions, values that reach a shell, databases, cross-key checks), so every user error is found
before any job starts.
"""

from __future__ import annotations

import gzip
import io
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml
from jsonschema import Draft202012Validator

from icibiome.errors import UserError
from icibiome.io import is_gzip

logger = logging.getLogger(__name__)

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "samples.schema.yaml"


class SampleSheetError(UserError):
    """The sample sheet has problems; ``problems`` lists each one as a full message."""

    user_error = True  # reported without a traceback (icibiome.logging.log_to_file)

    def __init__(self, path: str | os.PathLike, problems: list[str]):
        self.path = str(path)
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"sample sheet {self.path} has {len(problems)} problem(s):\n{lines}")


@dataclass
class _Collector:
    path: str
    problems: list[str] = field(default_factory=list)

    def add(self, msg: str, row: int | None = None, sample: str | None = None, column=None):
        where = self.path
        if row is not None:
            where += f": row {row}"
            if sample:
                where += f" (sample {sample!r})"
        if column is not None:
            where += f": column {column!r}"
        self.problems.append(f"{where}: {msg}")


def load_schema(path: str | os.PathLike = SCHEMA_PATH) -> dict:
    """Load the sample-sheet JSON schema (YAML)."""
    with open(path) as fh:
        return yaml.safe_load(fh)


def _typed_row(raw: dict[str, str], props: dict) -> tuple[dict, list[tuple[str, str]]]:
    """Convert the string cells of one row to the types the schema asks for."""
    row: dict = {}
    errors: list[tuple[str, str]] = []
    for col, value in raw.items():
        spec = props.get(col)
        types = spec.get("type") if spec else "string"
        types = [types] if isinstance(types, str) else list(types or ["string"])
        if value == "" and "null" in types:
            row[col] = None
            continue
        if "integer" in types:
            try:
                f = float(value)
                if f != int(f):
                    raise ValueError
                row[col] = int(f)
            except ValueError:
                errors.append((col, f"{value!r} is not an integer"))
            continue
        if "number" in types:
            try:
                row[col] = float(value)
            except ValueError:
                errors.append((col, f"{value!r} is not a number"))
            continue
        row[col] = value
    return row, errors


def _first_read_name(path: Path) -> str | None:
    opener = gzip.open if is_gzip(path) else open
    with opener(path, "rt") as fh:
        line = fh.readline().strip()
    if not line.startswith("@"):
        return None
    name = line[1:].split()[0]
    if name.endswith(("/1", "/2")):
        name = name[:-2]
    return name


def _check_reads(row: dict, base: Path, col: _Collector, rown: int) -> None:
    sid = row.get("sample_id")
    resolved = {}
    for c in ("fq1", "fq2"):
        value = row.get(c) or ""
        if not value:
            continue
        p = Path(value)
        p = p if p.is_absolute() else base / p
        if not p.exists():
            col.add(f"file not found: {p}", rown, sid, c)
        elif not p.is_file():
            col.add(f"not a regular file: {p}", rown, sid, c)
        elif not os.access(p, os.R_OK):
            col.add(f"file not readable: {p}", rown, sid, c)
        elif p.stat().st_size == 0:
            col.add(f"file is empty: {p}", rown, sid, c)
        else:
            resolved[c] = p
    if "fq1" in resolved and "fq2" in resolved:
        p1, p2 = resolved["fq1"], resolved["fq2"]
        if p1.resolve() == p2.resolve():
            col.add("fq2 is the same file as fq1", rown, sid, "fq2")
            return
        if is_gzip(p1) != is_gzip(p2):
            col.add("fq1 and fq2 differ in compression (one gzipped, one not)", rown, sid, "fq2")
            return
        try:
            n1, n2 = _first_read_name(p1), _first_read_name(p2)
        except (OSError, EOFError, UnicodeDecodeError) as exc:
            col.add(f"cannot read the first FASTQ record: {exc}", rown, sid, "fq1")
            return
        if n1 is None or n2 is None:
            bad = "fq1" if n1 is None else "fq2"
            col.add("does not start with a FASTQ record ('@' header)", rown, sid, bad)
        elif n1 != n2:
            col.add(
                f"first read names of the pair differ ({n1!r} vs {n2!r}): fq1/fq2 not mates?",
                rown,
                sid,
                "fq2",
            )


def read_sample_sheet(
    path: str | os.PathLike, check_files: bool = True, reads: bool | None = None
) -> pd.DataFrame:
    """Read and validate a sample sheet.

    Parameters
    ----------
    path : path-like
        Tab-separated sample sheet with a header line; lines starting with ``#`` are comments.
    check_files : bool
        Also check that read files exist, are readable, non-empty and paired consistently.
    reads : bool or None
        False in import mode (:mod:`icibiome.taxonomy.import_mode`): the sheet is the metadata table of
        existing profiles, so ``assay``, ``fq1`` and ``fq2`` are not required and are ignored
        when present; ``assay`` is set to ``imported`` and ``layout`` to ``""``. None (default):
        True when ``check_files``, else True only when the sheet has ``assay`` and ``fq1``
        columns (the stages after profiling read an already validated sheet of either kind).

    Returns
    -------
    DataFrame
        Indexed by ``sample_id`` (str). ``fq1``/``fq2`` are absolute paths (``fq2`` is ``""`` for
        single-end samples); a ``layout`` column says ``paired`` or ``single``. Numeric clinical
        columns are floats; ``response`` is ``R``, ``NR`` or ``""``.

    Raises
    ------
    SampleSheetError
        Listing every problem found, each naming file, row and column.
    """
    path = Path(path)
    col = _Collector(str(path))
    if not path.exists():
        raise SampleSheetError(path, [f"{path}: file not found"])
    try:
        # only a line *starting* with '#' is a comment: a '#' inside a cell ('wk#6', a path) is
        # data (pandas' comment='#' would silently cut the row there)
        text = path.read_text(encoding="utf-8-sig")  # a BOM (Excel) is not part of the header
        kept = [
            (i + 1, line)
            for i, line in enumerate(text.splitlines())
            if line.strip() and not line.lstrip().startswith("#")
        ]
        raw = pd.read_csv(
            io.StringIO("\n".join(line for _, line in kept) + "\n"),
            sep="\t",
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=True,
        )
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        raise SampleSheetError(
            path, [f"{path}: not a readable tab-separated table: {exc}"]
        ) from None
    except pd.errors.EmptyDataError:
        raise SampleSheetError(path, [f"{path}: file is empty"]) from None
    _check_header(path, list(raw.columns))
    raw.columns = [c.strip() for c in raw.columns]
    raw = raw.apply(lambda s: s.str.strip())
    # the line number of each row as an editor shows it (header = 1, comments/blank lines skipped)
    lines = [n for n, _ in kept][1:]
    schema = load_schema()
    if reads is None:
        reads = check_files or all(c in raw.columns for c in ("assay", "fq1"))
    if not reads:
        raw = raw.drop(columns=[c for c in READ_COLUMNS if c in raw.columns])
        schema["required"] = [c for c in schema["required"] if c not in READ_COLUMNS]
        check_files = False
    props = schema["properties"]
    missing = [c for c in schema["required"] if c not in raw.columns]
    if missing:
        raise SampleSheetError(
            path,
            [
                f"{path}: required column(s) missing: {', '.join(missing)} (found: {', '.join(raw.columns)})"
            ],
        )
    if len(raw) == 0:
        raise SampleSheetError(path, [f"{path}: no samples (only a header)"])
    if "fq2" not in raw.columns and reads:
        raw["fq2"] = ""
    if "response" not in raw.columns:
        raw["response"] = ""
    validator = Draft202012Validator(schema)
    base = path.resolve().parent
    typed_rows = []
    for i, (_, r) in enumerate(raw.iterrows()):
        rown = lines[i] if i < len(lines) else i + 2
        sid = r["sample_id"]
        row, type_errors = _typed_row(r.to_dict(), props)
        for c, msg in type_errors:
            col.add(msg, rown, sid, c)
        for err in sorted(validator.iter_errors(row), key=lambda e: list(e.path)):
            column = err.path[0] if err.path else None
            if err.validator == "pattern":
                msg = f"{err.instance!r} is not allowed: use letters, digits and single _ or - between them"
            elif err.validator == "enum":
                allowed = ", ".join(repr(v) for v in err.validator_value if v is not None)
                msg = f"{err.instance!r} is not one of {allowed}"
            elif err.validator == "required":
                msg = err.message
            else:
                msg = err.message
            col.add(msg, rown, sid, column)
        if check_files:
            _check_reads(row, base, col, rown)
        typed_rows.append(row)
    dups = raw["sample_id"][raw["sample_id"].duplicated(keep=False)]
    for sid in sorted(set(dups)):
        rows = [lines[i] for i in dups.index if raw["sample_id"][i] == sid]
        col.add(f"sample_id {sid!r} is used on rows {rows}; ids must be unique", column="sample_id")
    _check_design(typed_rows, lines, col)
    if col.problems:
        raise SampleSheetError(path, col.problems)

    df = pd.DataFrame(typed_rows).astype(object)
    if not reads:
        df["assay"], df["fq1"], df["fq2"] = "imported", "", ""
    for c in ("fq1", "fq2"):
        df[c] = [
            str(p if Path(p).is_absolute() else base / p) if p else "" for p in df[c].fillna("")
        ]
    df["response"] = df["response"].fillna("")
    df["layout"] = [("paired" if fq2 else "single") if reads else "" for fq2 in df["fq2"]]
    df = df.set_index("sample_id", drop=False)
    df.index.name = None
    _warn_design(df, path)
    return df


def _split_ids(value) -> list[str]:
    return [v.strip() for v in str(value or "").replace(",", ";").split(";") if v.strip()]


def _check_design(rows: list[dict], lines: list[int], col: _Collector) -> None:
    """Longitudinal and FMT designs: donor links, donor rows, one baseline per subject.

    ``role`` (patient | donor), ``donor_id`` (the donor sample(s) a recipient received) and
    ``days`` are optional; a sheet without them is a baseline-only design.
    """
    donors = {r["sample_id"] for r in rows if (r.get("role") or "") == "donor"}
    baselines: dict[str, dict[str, int]] = {}  # subject -> baseline sample -> row
    for i, r in enumerate(rows):
        rown = lines[i] if i < len(lines) else i + 2
        sid = r.get("sample_id")
        role = r.get("role") or "patient"
        ids = _split_ids(r.get("donor_id"))
        if role == "donor":
            if ids:
                col.add(
                    "a donor sample has no donor_id (donor_id is set on recipients)",
                    rown,
                    sid,
                    "donor_id",
                )
            if r.get("response") in ("R", "NR"):
                col.add(
                    f"a donor sample has no response label (got {r['response']!r}); the label "
                    "belongs to the recipients",
                    rown, sid, "response",
                )  # fmt: skip
            continue
        for d in ids:
            if d not in donors:
                col.add(
                    f"{d!r} is not the sample_id of a donor row (role 'donor') of this sheet",
                    rown, sid, "donor_id",
                )  # fmt: skip
        if str(r.get("timepoint") or "").lower() == "baseline" and r.get("subject_id"):
            # per assay: one stool profiled by shotgun and by 16S is one baseline of each
            key = (r["subject_id"], r.get("assay") or "")
            baselines.setdefault(key, {}).setdefault(sid, rown)
    for (subject, assay), by_sample in sorted(baselines.items()):
        rws = sorted(by_sample.values())
        if len(rws) > 1:  # a duplicated sample id is reported once, as such
            of = f" of assay {assay!r}" if assay else ""
            col.add(
                f"subject {subject!r} has {len(rws)} baseline samples{of} (rows {rws}); "
                "one sample per subject is its baseline",
                column="timepoint",
            )


def analysis_samples(sheet: pd.DataFrame) -> pd.Index:
    """The samples of the response analyses: one per patient, its baseline; never a donor.

    A subject's baseline (per assay: a stool profiled by shotgun and by 16S gives one baseline
    of each, in separate tables) is its sample with timepoint ``baseline`` (case-insensitive),
    else its earliest ``days``, else its first row in the sheet. Donor samples (``role`` donor) and later
    time points are left out, so a longitudinal or FMT sheet does not count a patient twice.
    """
    d = sheet
    if "role" in d.columns:
        d = d[d["role"].fillna("").astype(str) != "donor"]
    if "subject_id" not in d.columns or d["subject_id"].is_unique:
        return d.index
    tp = d["timepoint"].fillna("").astype(str).str.lower() if "timepoint" in d else None
    days = pd.to_numeric(d["days"], errors="coerce") if "days" in d else None
    keep = []
    by = ["subject_id", "assay"] if "assay" in d.columns else ["subject_id"]
    for _, g in d.groupby(by, sort=False, dropna=False):
        if tp is not None and (tp.loc[g.index] == "baseline").any():
            keep.append(g.index[(tp.loc[g.index] == "baseline").to_numpy()][0])
        elif days is not None and days.loc[g.index].notna().any():
            keep.append(days.loc[g.index].idxmin())
        else:
            keep.append(g.index[0])
    return d.index[d.index.isin(keep)]


def _check_header(path: Path, columns: list[str]) -> None:
    """Column names must be spelled exactly: ``Response``, ``Sex`` or `` response `` would be
    kept as unknown extra columns (and the sheet read as having no response at all)."""
    known = list(load_schema()["properties"])
    problems = []
    for c in columns:
        if c in known:
            continue
        close = [k for k in known if k.lower() == c.strip().lower()]
        if close:
            problems.append(
                f"{path}: line 1 (header): column {c!r} differs from the known column "
                f"{close[0]!r} only by case or surrounding space: rename it to {close[0]!r}"
            )
    if problems:
        raise SampleSheetError(path, problems)


OUTCOME_COLUMNS = ("response", "pfs_months", "pfs_event", "os_months", "os_event")


def outcomes_at_baseline(sheet: pd.DataFrame) -> pd.DataFrame:
    """The sheet with response and survival kept only on the analysis samples.

    Donor samples and later time points (:func:`analysis_samples`) keep their rows, so they are
    still profiled and scored, but lose their ``response`` and survival values: the response
    analyses (differential abundance, LOCO, TOPOSCORE and survival, PERMANOVA by response) count
    each patient once, at baseline. Logged when anything is blanked.
    """
    keep = analysis_samples(sheet)
    drop = sheet.index[~sheet.index.isin(keep)]
    if len(drop) == 0:
        return sheet
    out = sheet.copy()
    cols = [c for c in OUTCOME_COLUMNS if c in out.columns]
    for c in cols:
        out[c] = out[c].astype(object)
        out.loc[drop, c] = "" if c == "response" else None
    logger.info(
        "%d donor or follow-up sample(s) left out of the response analyses (one baseline per "
        "patient): %s",
        len(drop),
        ", ".join(map(str, drop[:10])) + (" ..." if len(drop) > 10 else ""),
    )
    return out


READ_COLUMNS = ("assay", "fq1", "fq2")
"""Sheet columns about reads, not required (and ignored) in import mode."""


def _warn_design(df: pd.DataFrame, path: Path) -> None:
    """Log (do not fail on) design facts that limit the response analyses."""
    for cohort, sub in df.groupby("cohort"):
        labels = set(sub["response"]) - {""}
        if len(labels) == 1:
            logger.warning(
                "%s: cohort %r has only %s samples; it cannot contribute to responder vs "
                "non-responder tests within the cohort",
                path,
                cohort,
                labels.pop(),
            )
