"""The database manifest (``config/databases.tsv``): read, verify before any job runs, record.

Offline-first: the pipeline never downloads a database behind the user's back. Every database a
run uses is listed in the manifest with its checksum and the tool versions it is known to work
with; :func:`verify_databases` checks them all before the first job and fails with one message
naming every database that is missing, altered or incompatible. Its result table goes into the
run's provenance and the report.

Manifest columns (TSV, ``#`` comments allowed)
----------------------------------------------
``tool``
    The program that reads the database (``kraken2``, ``metaphlan``, ``sylph``, ``bowtie2``, ...).
``name``
    A short unique name (``kraken2_demo``, ``mpa_vJan21``).
``version``
    The database's own version string.
``path``
    File or folder (relative paths are relative to ``base_dir``, normally the working directory).
``sha256``
    Hex SHA-256 of the file, or of the folder tree (see :func:`sha256_path`); empty = not
    recorded (the check then only warns and records the computed value).
``compatible_tool_versions``
    A PEP 440 specifier set (``>=2.1,<2.2``), a ``;``/space-separated list of exact versions, or
    ``*`` / empty for any.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from icibiome.config import config_value
from icibiome.errors import UserError
from icibiome.io import sha256_file, write_tsv
from icibiome.tools import PROFILERS, TOOLS, tool_version

logger = logging.getLogger(__name__)

MANIFEST_COLUMNS = ("tool", "name", "version", "path", "sha256", "compatible_tool_versions")


class DatabaseError(UserError):
    """One or more databases fail the manifest check; the message names each of them."""


CONFIG_KEYS = {
    **{p.manifest[0]: p.manifest[1] for p in PROFILERS.values()},
    "bowtie2": "host_removal.bowtie2_index",
}
"""The config key of the database each tool reads (the profilers' from
:data:`icibiome.tools.PROFILERS`): the manifest check is of that path (a manifest row of the tool
must be that file or folder, or the folder holding it)."""


def _covers(manifest_path: Path, used: Path) -> bool:
    """The manifest's file or folder is the database the config names (or holds it: a bowtie2
    index prefix or a file inside a database folder)."""
    m, u = manifest_path.resolve(), used.resolve()
    return u == m or m in u.parents


def read_manifest(path: str | os.PathLike) -> pd.DataFrame:
    """Read and validate a database manifest.

    Raises
    ------
    DatabaseError
        Missing file or columns, an empty required field (naming the line), a duplicated name,
        a malformed sha256.
    """
    path = Path(path)
    if not path.exists():
        raise DatabaseError(f"{path}: database manifest not found")
    try:
        df = pd.read_csv(path, sep="\t", dtype=str, comment="#", keep_default_na=False)
    except (ValueError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise DatabaseError(f"{path}: not a readable tab-separated manifest: {exc}") from None
    df.columns = [c.strip() for c in df.columns]
    missing = [c for c in MANIFEST_COLUMNS if c not in df.columns]
    if missing:
        raise DatabaseError(f"{path}: manifest lacks column(s) {missing}")
    df = df.apply(lambda c: c.str.strip())
    problems = []
    for i, row in df.iterrows():
        for c in ("tool", "name", "path"):
            if not row[c]:
                problems.append(f"row {i + 1} ({row['name'] or '?'}): empty {c}")
        if row["sha256"] and not re.fullmatch(r"[0-9a-fA-F]{64}", row["sha256"]):
            problems.append(f"database {row['name']}: sha256 is not 64 hex digits")
    dup = df["name"][df["name"].duplicated()].tolist()
    if dup:
        problems.append(f"duplicated database name(s) {dup}")
    if problems:
        raise DatabaseError(f"{path}: " + "; ".join(problems))
    return df


def sha256_path(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file, or of a folder tree.

    A folder's digest is the SHA-256 of the lines ``<relative POSIX path>\\t<file sha256>\\n``
    of every regular file under it, sorted by path (symlinks followed, empty folders ignored),
    so it does not depend on file-system order or timestamps.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "a.txt").write_text("abc")
    >>> sha256_path(d / "a.txt")[:16]
    'ba7816bf8f01cfea'
    """
    path = Path(path)
    if path.is_file():
        return sha256_file(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        h = hashlib.sha256()
        for f in files:
            h.update(f"{f.relative_to(path).as_posix()}\t{sha256_path(f, chunk)}\n".encode())
        return h.hexdigest()
    raise FileNotFoundError(path)


def _fingerprint(path: Path) -> str:
    """Size and modification time of a file, or of every file under a folder (cheap: stat only)."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    h = hashlib.sha256()
    for f in files:
        st = f.stat()
        rel = f.name if f == path else f.relative_to(path).as_posix()
        h.update(f"{rel}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def sha256_cached(path: str | os.PathLike, cache: str | os.PathLike | None = None) -> str:
    """:func:`sha256_path`, remembered in ``cache`` (JSON) while size and mtime stay the same.

    Hashing a large database folder takes minutes; a run that starts again on the same,
    unchanged files (same sizes and modification times of every file) reuses the digest. A
    changed, added or removed file changes the fingerprint, and the digest is computed again.
    """
    import json

    path = Path(path)
    if cache is None:
        return sha256_path(path)
    cache = Path(cache)
    key = str(path.resolve())
    fp = _fingerprint(path)
    try:
        known = json.loads(cache.read_text())
    except (OSError, ValueError):
        known = {}
    hit = known.get(key)
    if isinstance(hit, dict) and hit.get("fingerprint") == fp and hit.get("sha256"):
        return hit["sha256"]
    digest = sha256_path(path)
    known[key] = {"fingerprint": fp, "sha256": digest}
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(known, indent=1, sort_keys=True))
    os.replace(tmp, cache)
    return digest


def version_compatible(version: str, spec: str) -> bool:
    """Whether ``version`` satisfies a manifest ``compatible_tool_versions`` entry.

    Examples
    --------
    >>> version_compatible("2.1.2", ">=2.1,<2.2"), version_compatible("2.1.3", "2.1.2; 2.1.4")
    (True, False)
    >>> version_compatible("4.2.5", "*")
    True
    """
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.version import InvalidVersion, Version

    spec = spec.strip()
    if spec in ("", "*", "any"):
        return True
    if re.search(r"[<>=!~]", spec):
        try:
            return Version(version) in SpecifierSet(spec)
        except (InvalidSpecifier, InvalidVersion):
            return False
    allowed = [s for s in re.split(r"[;,\s]+", spec) if s]
    return any(version == a or version.startswith(a + ".") for a in allowed)


def verify_databases(
    manifest: str | os.PathLike | pd.DataFrame,
    tools: list[str] | None = None,
    names: list[str] | None = None,
    base_dir: str | os.PathLike = ".",
    tool_versions: Mapping[str, str | None] | None = None,
    check_sha256: bool = True,
    out: str | os.PathLike | None = None,
    cache: str | os.PathLike | None = None,
    config: Mapping | None = None,
) -> pd.DataFrame:
    """Check the databases a run needs; raise one error naming every failing database.

    Parameters
    ----------
    manifest : path-like or DataFrame
        ``config/databases.tsv`` (see the module docstring).
    tools, names : list of str, optional
        Only check the databases of these tools / with these names (the run's profilers).
        A requested name absent from the manifest is an error.
    base_dir : path-like
        Folder relative ``path`` entries are resolved against.
    tool_versions : mapping, optional
        ``tool -> installed version``; by default asked from each tool (:func:`tool_version`).
        A tool that is not installed fails its databases' check.
    check_sha256 : bool
        Compute and compare checksums (folders are hashed file by file; large databases take
        time, so a run may check them once and record the result).
    out : path-like, optional
        Write the result table (TSV) here: the run's database provenance.
    cache : path-like, optional
        JSON file remembering digests of unchanged databases (:func:`sha256_cached`), so a
        restarted run does not hash them again.
    config : mapping, optional
        The run's configuration: the database each checked tool reads (:data:`CONFIG_KEYS`)
        must be a manifest row of that tool (or lie in one), so the checksum is of the files
        the run reads; a config pointing elsewhere is an error naming the key and both paths.
        Rows of the tool that the run does not read are left out of the check.

    Returns
    -------
    DataFrame
        One row per checked database: the manifest fields plus ``resolved_path``,
        ``sha256_observed``, ``tool_version``, ``status`` (``ok`` / ``unverified`` when no
        checksum was recorded or checked) and ``problem``.

    Raises
    ------
    DatabaseError
        Listing, per database, a missing path, a checksum mismatch, an incompatible or missing
        tool version.
    """
    df = manifest.copy() if isinstance(manifest, pd.DataFrame) else read_manifest(manifest)
    src = manifest if not isinstance(manifest, pd.DataFrame) else "manifest"
    if names is not None:
        absent = [n for n in names if n not in set(df["name"])]
        if absent:
            raise DatabaseError(f"{src}: no database named {absent} (have {list(df['name'])})")
        df = df[df["name"].isin(names)]
    if tools is not None:
        df = df[df["tool"].isin(tools)]
    rows, problems = [], []
    if config is not None:
        keep = pd.Series(True, index=df.index)
        for tool, key in CONFIG_KEYS.items():
            if tools is not None and tool not in tools:
                continue
            used = config_value(config, key)
            if not used:
                continue
            used_p = Path(used) if Path(used).is_absolute() else Path(base_dir).absolute() / used
            mine = df["tool"] == tool
            if not mine.any():
                logger.warning("databases: %s (key %s) has no manifest row: not verified",
                               used_p, key)  # fmt: skip
                rows.append({"tool": tool, "name": f"{tool} (not in the manifest)", "version": "", "path": str(used),
                             "sha256": "", "compatible_tool_versions": "",
                             "resolved_path": str(used_p), "sha256_observed": "",
                             "tool_version": "", "status": "unlisted",
                             "problem": f"{key} is not in the manifest"})  # fmt: skip
                continue
            hit = [
                i for i in df.index[mine]
                if _covers(_resolved(df.loc[i, "path"], base_dir), used_p)
            ]  # fmt: skip
            if not hit:
                listed = ", ".join(f"{df.loc[i, 'name']}: {df.loc[i, 'path']}"
                                   for i in df.index[mine])  # fmt: skip
                problems.append(
                    f"key {key!r}: the run reads {used_p}, which is not the manifest's {tool} "
                    f"database ({listed}); point the key at it, or add a manifest row for "
                    f"{used} (with its sha256)"
                )
            else:  # only the row the run reads is checked and recorded
                keep &= ~mine | df.index.isin(hit)
        df = df[keep]
    versions = dict(tool_versions) if tool_versions is not None else {}
    for row in df.to_dict("records"):
        p = _resolved(row["path"], base_dir)
        rec = {**row, "resolved_path": str(p), "sha256_observed": "", "tool_version": ""}
        issues = []
        if not p.exists():
            issues.append(f"path {p} does not exist")
        elif check_sha256:
            obs = sha256_cached(p, cache)
            rec["sha256_observed"] = obs
            if row["sha256"] and obs.lower() != row["sha256"].lower():
                issues.append(
                    f"sha256 mismatch (manifest {row['sha256'][:12]}…, found {obs[:12]}…)"
                )
        tool = row["tool"]
        if tool not in versions:
            versions[tool] = tool_version(tool)
        ver = versions[tool]
        rec["tool_version"] = ver or ""
        spec = row["compatible_tool_versions"]
        if ver is None and (tool not in TOOLS or TOOLS[tool].command or TOOLS[tool].package):
            if spec not in ("", "*", "any"):
                issues.append(f"{tool} is not installed (needs {spec})")
        elif ver is not None and not version_compatible(ver, spec):
            issues.append(f"{tool} {ver} is not in the compatible versions {spec!r}")
        if issues:
            rec["status"] = "FAILED"
            problems.append(f"database {row['name']!r} ({tool}): " + "; ".join(issues))
        elif not row["sha256"] or not check_sha256:
            rec["status"] = "unverified"
            logger.warning("database %s: no checksum verified", row["name"])
        else:
            rec["status"] = "ok"
        rec["problem"] = "; ".join(issues)
        rows.append(rec)
    result = pd.DataFrame(rows)
    if out is not None:
        write_tsv(result, out)
    if problems:
        raise DatabaseError(
            "database check failed (the pipeline does not download databases; see "
            "config/README.md for how to get them):\n  " + "\n  ".join(problems)
        )
    logger.info("databases verified: %s", ", ".join(f"{r['name']} ({r['status']})" for r in rows))
    return result


def _resolved(path: str, base_dir: str | os.PathLike) -> Path:
    p = Path(path)
    return p if p.is_absolute() else Path(base_dir) / p


def manifest_entry(
    tool: str,
    name: str,
    version: str,
    path: str | os.PathLike,
    compatible: str = "*",
    base_dir: str | os.PathLike = ".",
) -> dict:
    """A manifest row for an existing database, with its checksum computed (to add to the TSV)."""
    full = Path(path) if Path(path).is_absolute() else Path(base_dir) / path
    return {
        "tool": tool,
        "name": name,
        "version": version,
        "path": str(path),
        "sha256": sha256_path(full),
        "compatible_tool_versions": compatible,
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m icibiome.databases MANIFEST [--tools t ...]``: check, print a table."""
    import argparse

    ap = argparse.ArgumentParser(description="Check the databases of a manifest.")
    ap.add_argument("manifest")
    ap.add_argument("--tools", nargs="*")
    ap.add_argument("--base-dir", default=".")
    ap.add_argument("--no-sha256", action="store_true")
    args = ap.parse_args(argv)
    try:
        res = verify_databases(
            args.manifest,
            tools=args.tools,
            base_dir=args.base_dir,
            check_sha256=not args.no_sha256,
        )
    except DatabaseError as err:
        print(err)
        return 1
    print(res[["tool", "name", "version", "tool_version", "status"]].to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


# --------------------------------------------------------------------------------------------
# database files: complete and of the right format, before any job
def check_kraken2_db(path: str | os.PathLike) -> list[str]:
    """What is wrong with a Kraken2 database folder (empty list: nothing found).

    ``hash.k2d``, ``opts.k2d`` and ``taxo.k2d`` must exist and be non-empty. ``hash.k2d`` is
    kraken2's ``CompactHashTable::WriteTable`` output: four little-endian uint64 (capacity,
    size, key bits, value bits; key + value bits = 32) and then ``capacity`` 4-byte cells, so a
    truncated copy has the wrong size. ``taxo.k2d`` starts with ``K2TAXDAT``.
    """
    import struct

    db = Path(path)
    problems = []
    for name in ("hash.k2d", "opts.k2d", "taxo.k2d"):
        f = db / name
        if not f.is_file():
            problems.append(f"{f} is missing (not a Kraken2 database folder?)")
        elif f.stat().st_size == 0:
            problems.append(f"{f} is empty")
    if problems:
        return problems
    hash_k2d = db / "hash.k2d"
    size = hash_k2d.stat().st_size
    with open(hash_k2d, "rb") as fh:
        head = fh.read(32)
    if len(head) < 32:
        return [f"{hash_k2d}: truncated ({size} bytes, shorter than its 32-byte header)"]
    capacity, _, key_bits, value_bits = struct.unpack("<4Q", head)
    if key_bits + value_bits != 32:
        problems.append(
            f"{hash_k2d}: not a Kraken2 hash table (key bits {key_bits} + value bits "
            f"{value_bits} != 32)"
        )
    elif size != 32 + 4 * capacity:
        problems.append(
            f"{hash_k2d}: truncated or damaged: {size} bytes, its header says "
            f"{32 + 4 * capacity} (capacity {capacity} cells); copy the database again"
        )
    with open(db / "taxo.k2d", "rb") as fh:
        if fh.read(8) != b"K2TAXDAT":
            problems.append(f"{db / 'taxo.k2d'}: not a Kraken2 taxonomy (no K2TAXDAT magic)")
    return problems


SYLDB_LOAD_LIMIT = 512 << 20
"""Sylph databases up to this size are also loaded with pysylph when the layout walk fails."""


def _walk_syldb(path: Path) -> tuple[int, int]:
    """Walk a ``.syldb`` (bincode of a list of genome sketches) by seeking: (genomes, bytes).

    Layout (sylph 0.x / pysylph 0.1, checked on pysylph-built databases): uint64 genome count;
    per genome a uint64-length list of uint64 k-mers, an option tag byte (1: another uint64
    list), two uint64-length strings (file name, first contig) and four uint64 (c, k, genome
    size, minimum spacing). Raises EOFError where the file ends early, ValueError on a bad tag.
    """
    import struct

    size = path.stat().st_size
    with open(path, "rb") as fh:

        def u64() -> int:
            b = fh.read(8)
            if len(b) < 8:
                raise EOFError
            return struct.unpack("<Q", b)[0]

        n = u64()
        for i in range(n):
            fh.seek(8 * u64(), 1)
            tag = fh.read(1)
            if tag == b"\x01":
                fh.seek(8 * u64(), 1)
            elif tag != b"\x00":
                raise ValueError(f"genome {i + 1} of {n}: unexpected byte {tag!r}")
            for _ in range(2):
                fh.seek(u64(), 1)
            fh.seek(32, 1)
            if fh.tell() > size:
                raise EOFError(f"genome {i + 1} of {n} ends past the end of the file")
        return n, fh.tell()


def check_syldb(path: str | os.PathLike) -> list[str]:
    """What is wrong with a sylph database file (empty list: nothing found).

    The genome sketches are walked (:func:`_walk_syldb`, seeks only, fast for any size): a
    truncated copy ends before the last sketch, and a complete one ends exactly at the last
    byte. When the walk disagrees, a database of up to :data:`SYLDB_LOAD_LIMIT` bytes is loaded
    with pysylph as the arbiter.
    """
    p = Path(path)
    size = p.stat().st_size
    try:
        n, end = _walk_syldb(p)
        if n and end == size:
            return []
        why = "no genome" if not n else f"{size - end} byte(s) after the last of {n} genomes"
    except (EOFError, ValueError, OverflowError, OSError) as exc:
        why = f"{exc}" if str(exc) else "the file ends inside a genome sketch"
    if size <= SYLDB_LOAD_LIMIT:
        try:
            import pysylph

            pysylph.Database.load(str(p))
            return []
        except ImportError:  # pragma: no cover - pysylph is a pipeline dependency
            pass
        except Exception as exc:  # pysylph raises ValueError/OSError/its own types
            why += f"; pysylph cannot load it: {exc}"
    return [f"{p}: truncated or not a sylph .syldb database ({why}); copy it again"]
