"""Database setup, run by hand before the pipeline: ``python -m icibiome.dbsetup install NAME``.

The pipeline itself never downloads (see :mod:`icibiome.databases`). This command installs one
database of the catalogue (``config/database_catalogue.yaml``) and makes it usable by a run:

1. download each source to ``<dest>.downloads/<file>.part``, resuming an interrupted download with
   an HTTP ``Range`` request (a ``.part`` file is kept for resuming only when the server accepts
   ranges; otherwise the next try starts again);
2. check the size and SHA-256 against the catalogue *before* extracting (a mismatch is refused and
   the file deleted). A source whose digest is not pinned yet (``sha256: null``, entry
   ``verified: false``) is installed with a loud warning, and the digest computed is printed and
   recorded in ``<dest>/dbsetup.json`` so it can be pinned;
3. extract (``tar``, ``tar.gz``, ``tar.bz2``, ``zip``, ``gz`` or none) into a temporary folder
   beside the destination, and move it into place with one rename (a crash leaves no half
   database at the destination);
4. write (or replace) the database's row in the manifest (``config/databases.tsv`` format, read by
   :func:`icibiome.databases.verify_databases`, which every run calls) and print the config keys
   to set.

A host index can instead be built from a FASTA (``--from-fasta``, bowtie2-build), and any source
can be a file already downloaded (``--from-local``; its checksum is checked the same way).

Catalogue entries (YAML mapping ``databases: {name: entry}``)
-------------------------------------------------------------
``tool``, ``version``, ``compatible_tool_versions``, ``description``
    The manifest row's fields (``name`` is ``manifest_name``).
``dest``
    Installation folder, relative to ``--root`` (default: the working directory).
``sources``
    List of ``{url, file, sha256, size, extract}``; ``url`` may be null (then ``--from-local``).
``verified``
    ``true`` only when every source's ``sha256`` was checked against a real download.
``config``
    ``config key -> path inside dest`` (e.g. ``taxonomy.sylph.database: gtdb.syldb``).
``manifest_path``
    The path inside ``dest`` the manifest row checks (default: ``dest`` itself).
``post``
    Optional step after extraction: ``gtdb_taxonomy`` (GTDB taxonomy TSVs -> ``taxonomy.tsv``).
``from_fasta``
    ``true`` for a bowtie2 index that ``--from-fasta`` may build (``index`` = prefix name).
``disk``, ``ram``
    What it costs (for the README and ``list``; approximate).
"""

from __future__ import annotations

import gzip
import http.client
import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import yaml

from icibiome.databases import MANIFEST_COLUMNS, manifest_entry, read_manifest
from icibiome.errors import UserError
from icibiome.io import sha256_file

logger = logging.getLogger(__name__)

DEFAULT_CATALOGUE = Path(__file__).resolve().parents[2] / "config" / "database_catalogue.yaml"
EXTRACT = ("none", "tar", "tar.gz", "tar.bz2", "zip", "gz")
MANIFEST_HEADER = (
    "# Database manifest (icibiome.databases); rows written by python -m icibiome.dbsetup\n"
)


class DbSetupError(UserError):
    """A database cannot be installed (unknown name, download failed, checksum mismatch, ...)."""


# ------------------------------------------------------------------------------------ catalogue


def read_catalogue(path: str | os.PathLike = DEFAULT_CATALOGUE) -> dict[str, dict]:
    """Read and check the catalogue; one error lists every malformed entry."""
    path = Path(path)
    if not path.is_file():
        raise DbSetupError(f"{path}: database catalogue not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise DbSetupError(f"{path}: not valid YAML ({err})") from None
    dbs = data.get("databases")
    if not isinstance(dbs, dict) or not dbs:
        raise DbSetupError(f"{path}: no 'databases' mapping")
    problems = []
    for name, e in dbs.items():
        where = f"databases.{name}"
        if not isinstance(e, dict):
            problems.append(f"{where}: not a mapping")
            continue
        for key in ("tool", "version", "dest", "manifest_name", "config"):
            if not e.get(key):
                problems.append(f"{where}: missing {key}")
        sources = e.get("sources") or []
        if not sources and not e.get("from_fasta"):
            problems.append(f"{where}: no sources")
        for i, s in enumerate(sources):
            if not s.get("file"):
                problems.append(f"{where}.sources[{i}]: missing file")
            if s.get("extract", "none") not in EXTRACT:
                problems.append(f"{where}.sources[{i}]: extract must be one of {EXTRACT}")
            sha = s.get("sha256")
            if sha is not None and (len(str(sha)) != 64 or not _is_hex(str(sha))):
                problems.append(f"{where}.sources[{i}]: sha256 is not 64 hex digits")
            if e.get("verified") and not sha:
                problems.append(f"{where}: verified: true but sources[{i}] has no sha256")
    if problems:
        raise DbSetupError(f"{path}: " + "; ".join(problems))
    return dbs


def _is_hex(s: str) -> bool:
    try:
        int(s, 16)
    except ValueError:
        return False
    return True


# ------------------------------------------------------------------------------------- download


def download(
    url: str,
    part: str | os.PathLike,
    size: int | None = None,
    retries: int = 5,
    timeout: float = 60,
    backoff: float = 1.0,
) -> Path:
    """Download ``url`` into ``part`` (``.part`` file), resuming with HTTP ``Range``.

    An existing ``part`` file is continued from its end (``Range: bytes=N-``). A server that
    answers a range request with the whole file (200) is read from the start again. When the
    connection breaks, the download is tried again up to ``retries`` times, resuming when the
    server accepts ranges; the ``.part`` file is kept after a final failure only in that case
    (a later run continues it), and deleted otherwise.

    Returns
    -------
    Path
        ``part``, complete (its length equals the server's length, or ``size`` when given).
    """
    part = Path(part)
    part.parent.mkdir(parents=True, exist_ok=True)
    ranges_ok = False
    last_err: Exception | None = None
    for attempt in range(retries + 1):
        have = part.stat().st_size if part.exists() else 0
        if size is not None and have == size:
            return part
        if size is not None and have > size:
            part.unlink()
            have = 0
        req = urllib.request.Request(url, headers={"User-Agent": "icibiome-dbsetup"})
        if have:
            req.add_header("Range", f"bytes={have}-")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (catalogue URLs)
                status = resp.status
                if resp.headers.get("Accept-Ranges", "").lower() == "bytes" or status == 206:
                    ranges_ok = True
                if have and status == 206:
                    crange = resp.headers.get("Content-Range", "bytes 0-")
                    start = int(crange.split()[-1].split("-")[0])
                    if start != have:
                        raise DbSetupError(f"{url}: server resumed at byte {start}, not {have}")
                    mode, skip = "ab", have
                else:
                    if have:
                        logger.info("%s: the server does not resume; downloading again", url)
                    mode, skip = "wb", 0
                length = resp.headers.get("Content-Length")
                total = skip + int(length) if length is not None else None
                with open(part, mode) as fh:
                    while block := resp.read(1 << 20):
                        fh.write(block)
            got = part.stat().st_size
            if total is not None and got < total:
                raise http.client.IncompleteRead(b"", total - got)
            if size is not None and got != size:
                part.unlink()
                raise DbSetupError(
                    f"{url}: downloaded {got} bytes, the catalogue says {size}: refused, "
                    "the download was deleted"
                )
            return part
        except urllib.error.HTTPError as err:
            if err.code == 416 and have:  # range not satisfiable: the part is complete or stale
                crange = (err.headers.get("Content-Range") or "") if err.headers else ""
                if (
                    crange.startswith("bytes */")
                    and crange[8:].isdigit()
                    and int(crange[8:]) == have
                ):
                    return part  # a previous run finished the download (and then stopped)
                part.unlink()
                last_err = err
                continue
            if err.code >= 500 and attempt < retries:  # a server hiccup: try again
                last_err = err
                time.sleep(backoff * (attempt + 1))
                continue
            raise DbSetupError(f"{url}: HTTP {err.code} {err.reason}") from None
        except (TimeoutError, OSError, http.client.HTTPException) as err:
            last_err = err
            got = part.stat().st_size if part.exists() else 0
            logger.warning(
                "%s: download interrupted at %d bytes (%s); try %d of %d",
                url,
                got,
                err.__class__.__name__,
                attempt + 1,
                retries + 1,
            )
            if not ranges_ok and part.exists():
                part.unlink()
            time.sleep(backoff * attempt)
    if part.exists() and not ranges_ok:
        part.unlink()
    kept = f"; {part} is kept, run the command again to resume" if part.exists() else ""
    raise DbSetupError(f"{url}: download failed after {retries + 1} tries ({last_err}){kept}")


def verify_file(
    path: Path, sha256: str | None, size: int | None, label: str, delete: bool = True
) -> str:
    """Check ``path`` against the catalogue's size and digest; raise on a mismatch (deleting
    the file when ``delete``: a download, not the user's own file)."""
    got_size = path.stat().st_size
    gone = ", the download was deleted" if delete else ""
    if size is not None and got_size != size:
        if delete:
            path.unlink()
        raise DbSetupError(
            f"{label}: size {got_size} bytes, the catalogue says {size}: refused{gone}"
        )
    digest = sha256_file(path)
    if sha256 and digest.lower() != str(sha256).lower():
        if delete:
            path.unlink()
        raise DbSetupError(
            f"{label}: sha256 mismatch (catalogue {sha256}, found {digest}): refused{gone}"
        )
    if not sha256:
        logger.warning(
            "UNVERIFIED %s: the catalogue pins no sha256; computed %s (recorded in dbsetup.json; "
            "pin it in the catalogue once you trust this copy)",
            label,
            digest,
        )
    return digest


# ------------------------------------------------------------------------------------ extraction


def _safe_member(name: str) -> bool:
    p = Path(name)
    return not p.is_absolute() and ".." not in p.parts


def extract(archive: Path, kind: str, into: Path, file: str, move: bool = False) -> None:
    """Extract ``archive`` (``kind``) into the folder ``into`` (members may not leave it);
    ``kind`` none puts the file itself there as ``file`` (moved when ``move``, else copied)."""
    into.mkdir(parents=True, exist_ok=True)
    try:
        if kind == "none":
            (shutil.move if move else shutil.copyfile)(archive, into / file)
        elif kind in ("tar", "tar.gz", "tar.bz2"):
            with tarfile.open(archive, "r:*") as tf:
                bad = [m.name for m in tf.getmembers() if not _safe_member(m.name)]
                if bad:
                    raise DbSetupError(f"{archive}: unsafe paths in the archive, e.g. {bad[:3]}")
                tf.extractall(into, filter="data")
        elif kind == "zip":
            with zipfile.ZipFile(archive) as zf:
                bad = [n for n in zf.namelist() if not _safe_member(n)]
                if bad:
                    raise DbSetupError(f"{archive}: unsafe paths in the archive, e.g. {bad[:3]}")
                zf.extractall(into)
        elif kind == "gz":
            name = file[:-3] if file.endswith(".gz") else file + ".out"
            with gzip.open(archive, "rb") as src, open(into / name, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        else:
            raise DbSetupError(f"{archive}: unknown extraction {kind!r}")
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError) as err:
        raise DbSetupError(f"{archive}: cannot extract as {kind} ({err})") from None


def gtdb_taxonomy(folder: Path) -> Path:
    """GTDB ``*_taxonomy_*.tsv`` files (``RS_GCF_x<TAB>d__..;..;s__Genus species``) ->
    ``taxonomy.tsv`` (``GCF_x<TAB>k__..|..|s__Genus_species``), the sylph taxonomy format."""
    out = folder / "taxonomy.tsv"
    srcs = sorted(p for p in folder.glob("*_taxonomy_*.tsv"))
    if not srcs:
        raise DbSetupError(f"{folder}: no GTDB *_taxonomy_*.tsv file to convert")
    with open(out, "w") as fh:
        fh.write("genome_id\tlineage\n")
        for src in srcs:
            for line in src.read_text().splitlines():
                if not line.strip():
                    continue
                gid, lineage = line.split("\t")[:2]
                gid = gid[3:] if gid[:3] in ("RS_", "GB_") else gid
                ranks = [r.strip().replace(" ", "_") for r in lineage.split(";") if r.strip()]
                ranks = ["k__" + r[3:] if r.startswith("d__") else r for r in ranks]
                fh.write(f"{gid}\t{'|'.join(ranks)}\n")
    return out


# ---------------------------------------------------------------------------------- manifest


def write_manifest_row(manifest: str | os.PathLike, row: dict) -> Path:
    """Add ``row`` to the manifest TSV (or replace the row with the same name); keep comments."""
    manifest = Path(manifest)
    line = "\t".join(str(row[c]) for c in MANIFEST_COLUMNS)
    if manifest.exists():
        lines = manifest.read_text().splitlines()
        cols = None
        out = []
        for ln in lines:
            if ln.startswith("#") or not ln.strip():
                out.append(ln)
                continue
            fields = ln.split("\t")
            if cols is None:
                cols = [c.strip() for c in fields]
                if cols[: len(MANIFEST_COLUMNS)] != list(MANIFEST_COLUMNS):
                    raise DbSetupError(
                        f"{manifest}: columns {cols} are not {list(MANIFEST_COLUMNS)}"
                    )
                out.append(ln)
                continue
            if fields[1].strip() != row["name"]:
                out.append(ln)
        if cols is None:
            out.append("\t".join(MANIFEST_COLUMNS))
        out.append(line)
        text = "\n".join(out) + "\n"
    else:
        text = MANIFEST_HEADER + "\t".join(MANIFEST_COLUMNS) + "\n" + line + "\n"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    tmp = manifest.with_name(f".{manifest.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, manifest)
    read_manifest(manifest)  # the pipeline's own parser accepts it
    return manifest


# ----------------------------------------------------------------------------------- install


def _place(tmp: Path, dest: Path, force: bool) -> None:
    """Move the finished folder ``tmp`` to ``dest`` with one rename (old one kept until then)."""
    old = None
    if dest.exists():
        if not force:
            shutil.rmtree(tmp)
            raise DbSetupError(f"{dest} already exists: give --force to replace it")
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
        os.replace(dest, old)
    os.replace(tmp, dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def build_bowtie2_index(fasta: Path, into: Path, index: str, threads: int) -> None:
    """``bowtie2-build`` of ``fasta`` into ``into/index.*.bt2`` (a one-line error if it fails);
    ``index`` may have folders (``GRCh38/GRCh38``)."""
    if not fasta.is_file():
        raise DbSetupError(f"--from-fasta {fasta}: no such file")
    exe = shutil.which("bowtie2-build")
    if exe is None:
        raise DbSetupError("--from-fasta needs bowtie2-build on PATH (Debian package bowtie2)")
    (into / index).parent.mkdir(parents=True, exist_ok=True)
    log = into / "bowtie2-build.log"
    with open(log, "w") as fh:
        res = subprocess.run(
            [exe, "--threads", str(threads), str(fasta), str(into / index)],
            stdout=fh,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if res.returncode != 0:
        tail = log.read_text()[-300:].strip().splitlines()[-1:] or [""]
        raise DbSetupError(f"bowtie2-build failed on {fasta} (exit {res.returncode}): {tail[0]}")


def install(
    name: str,
    catalogue: str | os.PathLike = DEFAULT_CATALOGUE,
    root: str | os.PathLike = ".",
    manifest: str | os.PathLike | None = "config/databases.tsv",
    from_local: list[str | os.PathLike] | None = None,
    from_fasta: str | os.PathLike | None = None,
    force: bool = False,
    threads: int = 2,
    retries: int = 5,
    timeout: float = 60,
) -> dict:
    """Install catalogue database ``name`` under ``root``; return its record.

    Parameters
    ----------
    name : str
        Catalogue entry (``python -m icibiome.dbsetup list``).
    catalogue : path-like
        The catalogue YAML.
    root : path-like
        Folder the entry's ``dest`` and the manifest row's path are relative to (the pipeline's
        working directory).
    manifest : path-like or None
        Manifest TSV to add the row to (relative to ``root``); None = none.
    from_local : list of path-like, optional
        Files already downloaded, one per source in catalogue order, used instead of the URLs.
    from_fasta : path-like, optional
        For an entry with ``from_fasta: true``: build the bowtie2 index from this FASTA.
    force : bool
        Replace an existing installation.
    threads, retries, timeout
        bowtie2-build threads; download tries and socket timeout (seconds).

    Returns
    -------
    dict
        ``name``, ``dest``, ``config`` (key -> path), ``manifest_row``, ``sources`` (url, file,
        sha256 expected and observed, verified) - also written to ``<dest>/dbsetup.json``.
    """
    dbs = read_catalogue(catalogue)
    if name not in dbs:
        raise DbSetupError(f"unknown database {name!r}; the catalogue has: {', '.join(dbs)}")
    e = dbs[name]
    root = Path(root)
    dest = root / e["dest"]
    if dest.exists() and not force:
        raise DbSetupError(f"{dest} already exists: give --force to replace it")
    sources = e.get("sources") or []
    if from_local is not None and len(from_local) != len(sources):
        raise DbSetupError(
            f"--from-local: {name} has {len(sources)} source(s) "
            f"({', '.join(s['file'] for s in sources)}), got {len(from_local)} file(s)"
        )
    if from_fasta is not None and not e.get("from_fasta"):
        raise DbSetupError(f"--from-fasta: {name} is not a host index (from_fasta: false)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    downloads = dest.with_name(f"{dest.name}.downloads")
    record = {"name": name, "dest": str(dest), "sources": [], "installed": ""}
    version = str(e["version"])
    try:
        if from_fasta is not None:
            build_bowtie2_index(Path(from_fasta), tmp, e.get("index", dest.name), threads)
            version = f"from-fasta:{Path(from_fasta).name}"
            record["sources"].append(
                {
                    "from_fasta": str(Path(from_fasta).resolve()),
                    "sha256_observed": sha256_file(from_fasta),
                    "verified": False,
                }
            )
        else:
            for i, s in enumerate(sources):
                label = f"{name}: {s['file']}"
                if from_local is not None:
                    f = Path(from_local[i])
                    if not f.is_file():
                        raise DbSetupError(f"--from-local {f}: no such file")
                    part, origin = f, str(f.resolve())
                else:
                    if not s.get("url"):
                        raise DbSetupError(
                            f"{label}: the catalogue has no URL for this file; download it "
                            "yourself and give it with --from-local"
                        )
                    part = download(
                        s["url"],
                        downloads / (s["file"] + ".part"),
                        s.get("size"),
                        retries=retries,
                        timeout=timeout,
                    )
                    origin = s["url"]
                local = from_local is not None
                digest = verify_file(part, s.get("sha256"), s.get("size"), label, not local)
                extract(part, s.get("extract", "none"), tmp, s["file"], move=not local)
                record["sources"].append(
                    {
                        "url": origin,
                        "file": s["file"],
                        "sha256_expected": s.get("sha256"),
                        "sha256_observed": digest,
                        "verified": bool(s.get("sha256")),
                    }
                )
        if e.get("post") == "gtdb_taxonomy":
            gtdb_taxonomy(tmp)
        elif e.get("post"):
            raise DbSetupError(f"{name}: unknown post step {e['post']!r}")
        missing = [f"{k} -> {v}" for k, v in e["config"].items() if not _exists(tmp / v)]
        if missing:
            raise DbSetupError(
                f"{name}: after extraction the config path(s) are missing: {'; '.join(missing)} "
                "(the archive layout differs from the catalogue)"
            )
        record["installed"] = datetime.now(UTC).isoformat(timespec="seconds")
        record["config"] = {k: str(Path(e["dest"]) / v) for k, v in e["config"].items()}
        (tmp / "dbsetup.json").write_text(json.dumps(record, indent=1) + "\n")
        _place(tmp, dest, force)
    except BaseException:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(downloads, ignore_errors=True)
    mpath = Path(e["dest"]) / e.get("manifest_path", "")
    row = manifest_entry(
        e["tool"],
        e["manifest_name"],
        version,
        mpath.as_posix(),
        compatible=str(e.get("compatible_tool_versions") or "*"),
        base_dir=root,
    )
    record["manifest_row"] = row
    if manifest is not None:
        mfile = Path(manifest) if Path(manifest).is_absolute() else root / manifest
        write_manifest_row(mfile, row)
        record["manifest"] = str(mfile)
    if not all(s["verified"] for s in record["sources"]):
        logger.warning(
            "%s is installed but UNVERIFIED: no pinned checksum to compare with (computed digests "
            "in %s/dbsetup.json); the manifest pins the installed files from now on",
            name,
            dest,
        )
    return record


def _exists(p: Path) -> bool:
    """A path, or a bowtie2 index prefix (``p.1.bt2`` / ``p.1.bt2l``)."""
    return p.exists() or any(Path(f"{p}.1.{x}").exists() for x in ("bt2", "bt2l"))


# ---------------------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    """``python -m icibiome.dbsetup list | install NAME [options]`` (see ``--help``)."""
    import argparse

    ap = argparse.ArgumentParser(
        prog="python -m icibiome.dbsetup",
        description="Install a database of the catalogue (never part of a pipeline run).",
    )
    ap.add_argument("--catalogue", default=str(DEFAULT_CATALOGUE))
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="the catalogue's databases, with disk and RAM")
    ins = sub.add_parser("install", help="download, verify, extract, add the manifest row")
    ins.add_argument("name")
    ins.add_argument("--root", default=".", help="working directory of the runs (default .)")
    ins.add_argument(
        "--manifest",
        default="config/databases.tsv",
        help="manifest TSV to add the row to, relative to --root ('' = none)",
    )
    ins.add_argument(
        "--from-local",
        nargs="+",
        metavar="FILE",
        help="files already downloaded, one per source, instead of the URLs",
    )
    ins.add_argument(
        "--from-fasta",
        metavar="FASTA",
        help="host index: build it from this FASTA with bowtie2-build",
    )
    ins.add_argument("--force", action="store_true", help="replace an existing installation")
    ins.add_argument("--threads", type=int, default=2)
    ins.add_argument("--retries", type=int, default=5)
    ins.add_argument("--timeout", type=float, default=60)
    args = ap.parse_args(argv)

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    pkg = logging.getLogger("icibiome")
    pkg.addHandler(handler)
    pkg.setLevel(logging.INFO)
    try:
        if args.cmd == "list":
            for n, e in read_catalogue(args.catalogue).items():
                flag = "" if e.get("verified") else "  [unverified checksums]"
                print(f"{n}\tdisk {e.get('disk', '?')}\tRAM {e.get('ram', '?')}{flag}")
                print(f"\t{e.get('description', '')}")
            return 0
        rec = install(
            args.name,
            catalogue=args.catalogue,
            root=args.root,
            manifest=args.manifest or None,
            from_local=args.from_local,
            from_fasta=args.from_fasta,
            force=args.force,
            threads=args.threads,
            retries=args.retries,
            timeout=args.timeout,
        )
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    finally:
        pkg.removeHandler(handler)
    print(f"installed {rec['name']} in {rec['dest']}")
    if rec.get("manifest"):
        print(f"manifest row {rec['manifest_row']['name']!r} written to {rec['manifest']}")
    print("set in your config (paths relative to the working directory):")
    for key, value in rec["config"].items():
        print(f"  {key}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
