"""The database setup command end to end against a local HTTP server (icibiome.dbsetup).

The server runs in the test on 127.0.0.1 (a free port), serves tiny archives from memory, can cut
the connection after N bytes once and can refuse ranges; it stops at the end of each test, and by
itself after 120 s at the latest.
"""

import gzip
import io
import logging
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from icibiome.databases import DatabaseError, sha256_path, verify_databases
from icibiome.dbsetup import DbSetupError, install
from icibiome.io import sha256_file
from icibiome.taxonomy.sylph import read_taxonomy

ROOT = Path(__file__).resolve().parents[2]
VERSIONS = {"kraken2": "2.1.2", "sylph": "0.1.3", "bowtie2": "2.5.0", "diamond": "2.1.3"}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server API)
        st = self.server.state
        rng = self.headers.get("Range")
        st["log"].append((self.path, rng))
        data = st["files"].get(self.path)
        if data is None:
            self.send_error(404)
            return
        start = 0
        if rng and st["ranges"]:
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        if st["ranges"]:
            self.send_header("Accept-Ranges", "bytes")
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = st["cut_once"].pop(self.path, None)
        if cut is not None:  # send N bytes, then drop the connection (once)
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.state = {"files": {}, "cut_once": {}, "ranges": True, "log": []}
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    watchdog = threading.Timer(120, srv.shutdown)  # bounded even if the test hangs
    watchdog.daemon = True
    watchdog.start()
    try:
        yield srv
    finally:
        watchdog.cancel()
        srv.shutdown()
        srv.server_close()
        thread.join(5)


def _tar_gz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


K2_FILES = {
    "hash.k2d": os.urandom(6000),  # random: the archive stays larger than the cut
    "opts.k2d": b"opts",
    "taxo.k2d": b"taxo",
}


def _catalogue(tmp_path: Path, server, sha=True, size=True, **extra_dbs) -> Path:
    """A catalogue with a Kraken2-like tar.gz served by the test server (+ extra entries)."""
    k2 = _tar_gz(K2_FILES)
    server.state["files"]["/k2.tar.gz"] = k2
    dbs = {
        "kraken2-tiny": {
            "tool": "kraken2",
            "version": "tiny-1",
            "compatible_tool_versions": ">=2.1",
            "manifest_name": "kraken2_tiny",
            "dest": "resources/kraken2/tiny",
            "sources": [
                {
                    "url": f"{server.url}/k2.tar.gz",
                    "file": "k2.tar.gz",
                    "sha256": sha256_of(k2) if sha is True else sha,
                    "size": len(k2) if size else None,
                    "extract": "tar.gz",
                }
            ],
            "verified": bool(sha),
            "config": {"taxonomy.kraken2.database": "."},
        },
        **extra_dbs,
    }
    path = tmp_path / "catalogue.yaml"
    path.write_text(yaml.safe_dump({"databases": dbs}))
    return path


def sha256_of(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _installed_ok(root: Path) -> None:
    dest = root / "resources/kraken2/tiny"
    for name, data in K2_FILES.items():
        assert (dest / name).read_bytes() == data
    # nothing left beside it: no temporary folder, no downloads
    assert sorted(p.name for p in dest.parent.iterdir()) == ["tiny"]


def test_interrupted_download_resumes_and_manifest_is_accepted(tmp_path, server):
    cat = _catalogue(tmp_path, server)
    server.state["cut_once"]["/k2.tar.gz"] = 1000
    root = tmp_path / "wd"
    rec = install("kraken2-tiny", catalogue=cat, root=root, manifest="config/databases.tsv")
    # the first request was cut after 1,000 bytes; the second asked for the rest only
    assert server.state["log"] == [("/k2.tar.gz", None), ("/k2.tar.gz", "bytes=1000-")]
    _installed_ok(root)
    assert rec["config"] == {"taxonomy.kraken2.database": "resources/kraken2/tiny"}
    assert rec["sources"][0]["verified"] is True
    # the manifest row is the pipeline's format, and the pipeline's check accepts it
    res = verify_databases(
        root / "config/databases.tsv", base_dir=root, tool_versions=VERSIONS, tools=["kraken2"]
    )
    assert res[["name", "status"]].values.tolist() == [["kraken2_tiny", "ok"]]
    assert res.loc[0, "sha256"] == sha256_path(root / "resources/kraken2/tiny")
    # the row pins the installed files: a changed file fails the next run's check
    (root / "resources/kraken2/tiny/hash.k2d").write_bytes(b"changed")
    with pytest.raises(DatabaseError, match="kraken2_tiny.*sha256 mismatch"):
        verify_databases(root / "config/databases.tsv", base_dir=root, tool_versions=VERSIONS)


def test_part_file_kept_across_runs_only_when_the_server_resumes(tmp_path, server):
    cat = _catalogue(tmp_path, server)
    root = tmp_path / "wd"
    part = root / "resources/kraken2/tiny.downloads/k2.tar.gz.part"
    server.state["cut_once"]["/k2.tar.gz"] = 1500
    with pytest.raises(DbSetupError, match="kept, run the command again to resume"):
        install("kraken2-tiny", catalogue=cat, root=root, retries=0)
    assert part.stat().st_size == 1500
    assert not (root / "resources/kraken2/tiny").exists()
    install("kraken2-tiny", catalogue=cat, root=root, retries=0)  # a second run resumes
    assert server.state["log"][-1] == ("/k2.tar.gz", "bytes=1500-")
    _installed_ok(root)

    # a server without ranges: the partial file is deleted and the next try starts again
    server.state["ranges"] = False
    server.state["log"].clear()
    root2 = tmp_path / "wd2"
    part2 = root2 / "resources/kraken2/tiny.downloads/k2.tar.gz.part"
    server.state["cut_once"]["/k2.tar.gz"] = 1500
    with pytest.raises(DbSetupError, match="download failed after 1 tries") as err:
        install("kraken2-tiny", catalogue=cat, root=root2, retries=0)
    assert "kept" not in str(err.value)
    assert not part2.exists()
    server.state["cut_once"]["/k2.tar.gz"] = 1500
    install("kraken2-tiny", catalogue=cat, root=root2, retries=1)  # retried from the start
    assert server.state["log"] == [("/k2.tar.gz", None)] * 3
    _installed_ok(root2)


def test_finished_part_file_is_not_downloaded_again(tmp_path, server):
    """A run that stopped after the download (before extraction) leaves a complete .part."""
    cat = _catalogue(tmp_path, server, size=False)
    root = tmp_path / "wd"
    part = root / "resources/kraken2/tiny.downloads/k2.tar.gz.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(server.state["files"]["/k2.tar.gz"])
    install("kraken2-tiny", catalogue=cat, root=root)
    n = len(server.state["files"]["/k2.tar.gz"])
    assert server.state["log"] == [("/k2.tar.gz", f"bytes={n}-")]  # answered 416, nothing sent
    _installed_ok(root)
    # a .part longer than the file on the server is stale: downloaded again from the start
    part.parent.mkdir(parents=True)
    part.write_bytes(b"x" * (n + 10))
    server.state["log"].clear()
    install("kraken2-tiny", catalogue=cat, root=root, force=True)
    assert server.state["log"] == [("/k2.tar.gz", f"bytes={n + 10}-"), ("/k2.tar.gz", None)]
    _installed_ok(root)


def test_checksum_mismatch_refused_before_extraction(tmp_path, server):
    cat = _catalogue(tmp_path, server, sha="0" * 64)
    root = tmp_path / "wd"
    with pytest.raises(DbSetupError, match=r"k2.tar.gz: sha256 mismatch \(catalogue 0000"):
        install("kraken2-tiny", catalogue=cat, root=root, manifest="config/databases.tsv")
    assert not (root / "resources/kraken2/tiny").exists()  # nothing extracted or placed
    assert not (root / "config/databases.tsv").exists()  # no manifest row
    leftovers = [p.name for p in (root / "resources/kraken2").iterdir()]
    assert all(not n.startswith(".tiny.tmp") for n in leftovers), leftovers
    assert not list((root / "resources/kraken2").rglob("*.part"))  # the bad download is gone
    # a wrong size is refused too
    cat = _catalogue(tmp_path, server, sha=None)
    data = yaml.safe_load(cat.read_text())
    data["databases"]["kraken2-tiny"]["sources"][0]["size"] = 99
    cat.write_text(yaml.safe_dump(data))
    with pytest.raises(DbSetupError, match="catalogue says 99"):
        install("kraken2-tiny", catalogue=cat, root=root)


def test_unverified_entry_warns_and_records_digest(tmp_path, server, caplog):
    cat = _catalogue(tmp_path, server, sha=None, size=False)
    root = tmp_path / "wd"
    with caplog.at_level(logging.WARNING, logger="icibiome.dbsetup"):
        rec = install("kraken2-tiny", catalogue=cat, root=root, manifest="config/databases.tsv")
    digest = sha256_of(server.state["files"]["/k2.tar.gz"])
    assert (
        f"UNVERIFIED kraken2-tiny: k2.tar.gz: the catalogue pins no sha256; computed {digest}"
        in (caplog.text)
    )
    assert "installed but UNVERIFIED" in caplog.text
    assert rec["sources"][0] == {
        "url": f"{server.url}/k2.tar.gz",
        "file": "k2.tar.gz",
        "sha256_expected": None,
        "sha256_observed": digest,
        "verified": False,
    }
    assert (
        f'"sha256_observed": "{digest}"'
        in (root / rec["config"]["taxonomy.kraken2.database"] / "dbsetup.json").read_text()
    )
    # an existing installation is kept unless --force
    with pytest.raises(DbSetupError, match="already exists: give --force"):
        install("kraken2-tiny", catalogue=cat, root=root)
    install("kraken2-tiny", catalogue=cat, root=root, force=True, manifest="config/databases.tsv")
    rows = [
        ln
        for ln in (root / "config/databases.tsv").read_text().splitlines()
        if "kraken2_tiny" in ln
    ]
    assert len(rows) == 1  # the row was replaced, not added twice


def test_sylph_with_gtdb_taxonomy_and_existing_manifest(tmp_path, server):
    syldb = os.urandom(3000)
    bac = "RS_GCF_000001.1\td__Bacteria;p__Bacillota_A;c__Clostridia;s__Blautia wexlerae\n"
    arc = "GB_GCA_000002.1\td__Archaea;p__Methanobacteriota;s__Methanobrevibacter smithii\n"
    server.state["files"] |= {
        "/db.syldb": syldb,
        "/bac120_taxonomy_r0.tsv.gz": gzip.compress(bac.encode()),
        "/ar53_taxonomy_r0.tsv.gz": gzip.compress(arc.encode()),
    }
    files = server.state["files"]
    sylph = {
        "tool": "sylph",
        "version": "gtdb-test",
        "compatible_tool_versions": ">=0.1",
        "manifest_name": "sylph_gtdb_test",
        "dest": "resources/sylph/gtdb",
        "manifest_path": "db.syldb",
        "sources": [
            {
                "url": f"{server.url}/{f}",
                "file": f,
                "sha256": sha256_of(files[f"/{f}"]),
                "size": None,
                "extract": x,
            }
            for f, x in (
                ("db.syldb", "none"),
                ("bac120_taxonomy_r0.tsv.gz", "gz"),
                ("ar53_taxonomy_r0.tsv.gz", "gz"),
            )
        ],
        "post": "gtdb_taxonomy",
        "verified": True,
        "config": {
            "taxonomy.sylph.database": "db.syldb",
            "taxonomy.sylph.taxonomy": "taxonomy.tsv",
        },
    }
    cat = _catalogue(tmp_path, server, **{"sylph-test": sylph})
    root = tmp_path / "wd"
    # an existing manifest (the pipeline's own, with comments and demo rows) gets the row added
    (root / "config").mkdir(parents=True)
    shutil.copy(ROOT / "config/databases.tsv", root / "config/databases.tsv")
    rec = install("sylph-test", catalogue=cat, root=root, manifest="config/databases.tsv")
    dest = root / "resources/sylph/gtdb"
    assert (dest / "db.syldb").read_bytes() == syldb
    assert read_taxonomy(dest / "taxonomy.tsv") == {
        "GCF_000001.1": "k__Bacteria|p__Bacillota_A|c__Clostridia|s__Blautia_wexlerae",
        "GCA_000002.1": "k__Archaea|p__Methanobacteriota|s__Methanobrevibacter_smithii",
    }
    assert rec["config"]["taxonomy.sylph.taxonomy"] == "resources/sylph/gtdb/taxonomy.tsv"
    text = (root / "config/databases.tsv").read_text()
    assert text.startswith((ROOT / "config/databases.tsv").read_text())  # kept as it was
    res = verify_databases(
        root / "config/databases.tsv",
        names=["sylph_gtdb_test"],
        base_dir=root,
        tool_versions=VERSIONS,
    )
    assert res.loc[0, "status"] == "ok"
    assert res.loc[0, "sha256"] == sha256_file(dest / "db.syldb")


def test_unsafe_archive_refused(tmp_path, server):
    cat = _catalogue(tmp_path, server, sha=None, size=False)
    server.state["files"]["/k2.tar.gz"] = _tar_gz({"../../escape.txt": b"x", "hash.k2d": b"h"})
    root = tmp_path / "wd"
    with pytest.raises(DbSetupError, match="unsafe paths in the archive"):
        install("kraken2-tiny", catalogue=cat, root=root)
    assert not (tmp_path / "escape.txt").exists()
    assert not (root / "resources/kraken2/tiny").exists()


def test_zip_host_index_and_layout_check(tmp_path, server):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for ext in ("1.bt2", "2.bt2", "3.bt2", "4.bt2", "rev.1.bt2", "rev.2.bt2"):
            zf.writestr(f"hostidx/hostidx.{ext}", b"index " + ext.encode())
    server.state["files"]["/host.zip"] = buf.getvalue()
    host = {
        "tool": "bowtie2",
        "version": "test",
        "manifest_name": "host_test",
        "dest": "resources/host/test",
        "index": "hostidx/hostidx",
        "from_fasta": True,
        "sources": [
            {"url": f"{server.url}/host.zip", "file": "host.zip", "sha256": None, "extract": "zip"}
        ],
        "config": {"host_removal.bowtie2_index": "hostidx/hostidx"},
    }
    cat = _catalogue(tmp_path, server, **{"host-test": host})
    root = tmp_path / "wd"
    rec = install("host-test", catalogue=cat, root=root)
    assert rec["config"] == {"host_removal.bowtie2_index": "resources/host/test/hostidx/hostidx"}
    assert (
        root / "resources/host/test/hostidx/hostidx.rev.2.bt2"
    ).read_bytes() == b"index rev.2.bt2"
    # an archive whose layout differs from the catalogue's config paths is refused
    host["config"] = {"host_removal.bowtie2_index": "other/other"}
    cat = _catalogue(tmp_path, server, **{"host-test": host})
    with pytest.raises(DbSetupError, match="config path.*missing: host_removal.bowtie2_index"):
        install("host-test", catalogue=cat, root=root, force=True)
    assert (root / "resources/host/test/hostidx/hostidx.1.bt2").exists()  # old one untouched


@pytest.mark.skipif(shutil.which("bowtie2-build") is None, reason="bowtie2-build not installed")
def test_host_index_from_fasta(tmp_path, server):
    import random

    rng = random.Random(1)
    fasta = tmp_path / "host.fa"
    fasta.write_text(">chrT\n" + "".join(rng.choice("ACGT") for _ in range(5000)) + "\n")
    cat = ROOT / "config/database_catalogue.yaml"  # the real entry, built locally
    root = tmp_path / "wd"
    rec = install(
        "host-grch38",
        catalogue=cat,
        root=root,
        from_fasta=fasta,
        threads=1,
        manifest="config/databases.tsv",
    )
    prefix = root / rec["config"]["host_removal.bowtie2_index"]
    assert Path(f"{prefix}.1.bt2").stat().st_size > 0 and Path(f"{prefix}.rev.2.bt2").exists()
    assert server.state["log"] == []  # nothing downloaded
    res = verify_databases(root / "config/databases.tsv", base_dir=root, tool_versions=VERSIONS)
    assert res.loc[0, "version"] == "from-fasta:host.fa" and res.loc[0, "status"] == "ok"
    with pytest.raises(DbSetupError, match="--from-fasta: kraken2-standard-16 is not a host index"):
        install("kraken2-standard-16", catalogue=cat, root=root, from_fasta=fasta)


def test_function_panel_from_local_files(tmp_path):
    faa = tmp_path / "my.faa"
    faa.write_text(">p1\nMKV\n")
    cats = tmp_path / "cats.tsv"
    cats.write_text("protein_id\tcategory\np1\tbutyrate\n")
    cat = ROOT / "config/database_catalogue.yaml"
    root = tmp_path / "wd"
    with pytest.raises(DbSetupError, match="no URL for this file; download it yourself"):
        install("function-panel", catalogue=cat, root=root)
    with pytest.raises(DbSetupError, match="has 2 source"):
        install("function-panel", catalogue=cat, root=root, from_local=[faa])
    rec = install("function-panel", catalogue=cat, root=root, from_local=[faa, cats])
    assert (root / rec["config"]["function_panel.proteins"]).read_text() == faa.read_text()
    assert faa.exists() and cats.exists()  # the user's files are copied, not moved


def test_cli_one_line_errors_and_success(tmp_path, server):
    cat = _catalogue(tmp_path, server)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "workflow"))
    base = [sys.executable, "-m", "icibiome.dbsetup", "--catalogue", str(cat)]
    ok = subprocess.run(
        [*base, "install", "kraken2-tiny", "--root", str(tmp_path / "wd")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr
    assert "taxonomy.kraken2.database: resources/kraken2/tiny" in ok.stdout
    assert "manifest row 'kraken2_tiny' written to" in ok.stdout
    bad = subprocess.run(
        [*base, "install", "kraken2-huge"], capture_output=True, text=True, env=env, timeout=60
    )
    assert bad.returncode == 1
    assert (
        bad.stderr.strip()
        == "error: unknown database 'kraken2-huge'; the catalogue has: kraken2-tiny"
    )
