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
"""

from __future__ import annotations

import gzip
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml
from jsonschema import Draft202012Validator

logger = logging.getLogger(__name__)

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "samples.schema.yaml"


class SampleSheetError(ValueError):
    """The sample sheet has problems; ``problems`` lists each one as a full message."""

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
    opener = gzip.open if _is_gzip(path) else open
    with opener(path, "rt") as fh:
        line = fh.readline().strip()
    if not line.startswith("@"):
        return None
    name = line[1:].split()[0]
    if name.endswith(("/1", "/2")):
        name = name[:-2]
    return name


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


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
        if _is_gzip(p1) != _is_gzip(p2):
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


def read_sample_sheet(path: str | os.PathLike, check_files: bool = True) -> pd.DataFrame:
    """Read and validate a sample sheet.

    Parameters
    ----------
    path : path-like
        Tab-separated sample sheet with a header line; lines starting with ``#`` are comments.
    check_files : bool
        Also check that read files exist, are readable, non-empty and paired consistently.

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
        raw = pd.read_csv(
            path, sep="\t", dtype=str, keep_default_na=False, comment="#", skip_blank_lines=True
        )
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        raise SampleSheetError(
            path, [f"{path}: not a readable tab-separated table: {exc}"]
        ) from None
    except pd.errors.EmptyDataError:
        raise SampleSheetError(path, [f"{path}: file is empty"]) from None
    raw.columns = [c.strip() for c in raw.columns]
    raw = raw.apply(lambda s: s.str.strip())
    # the line number of each row as an editor shows it (header = 1, comments/blank lines skipped)
    lines = [
        i + 1
        for i, line in enumerate(path.read_text(errors="replace").splitlines())
        if line.strip() and not line.lstrip().startswith("#")
    ][1:]
    schema = load_schema()
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
    if "fq2" not in raw.columns:
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
    if col.problems:
        raise SampleSheetError(path, col.problems)

    df = pd.DataFrame(typed_rows).astype(object)
    for c in ("fq1", "fq2"):
        df[c] = [
            str(p if Path(p).is_absolute() else base / p) if p else "" for p in df[c].fillna("")
        ]
    df["response"] = df["response"].fillna("")
    df["layout"] = ["paired" if fq2 else "single" for fq2 in df["fq2"]]
    df = df.set_index("sample_id", drop=False)
    df.index.name = None
    _warn_design(df, path)
    return df


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
