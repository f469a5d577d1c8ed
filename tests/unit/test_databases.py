"""Database manifest: reading, checksums of files and trees, version checks, clear errors."""

import hashlib

import pandas as pd
import pytest

from icibiome.databases import (
    DatabaseError,
    manifest_entry,
    read_manifest,
    sha256_cached,
    sha256_path,
    verify_databases,
    version_compatible,
)

HEADER = "tool\tname\tversion\tpath\tsha256\tcompatible_tool_versions\n"


def _db(tmp_path):
    d = tmp_path / "k2db"
    d.mkdir()
    (d / "hash.k2d").write_bytes(b"hash")
    (d / "taxo.k2d").write_bytes(b"taxo")
    (d / "sub").mkdir()
    (d / "sub" / "x").write_text("x")
    f = tmp_path / "mpa.pkl"
    f.write_bytes(b"pickle")
    return d, f


def test_sha256_of_file_and_tree(tmp_path):
    d, f = _db(tmp_path)
    assert sha256_path(f) == hashlib.sha256(b"pickle").hexdigest()
    lines = "".join(
        f"{p}\t{hashlib.sha256(c).hexdigest()}\n"
        for p, c in [("hash.k2d", b"hash"), ("sub/x", b"x"), ("taxo.k2d", b"taxo")]
    )
    assert sha256_path(d) == hashlib.sha256(lines.encode()).hexdigest()
    before = sha256_path(d)
    (d / "sub" / "x").write_text("y")
    assert sha256_path(d) != before
    with pytest.raises(FileNotFoundError):
        sha256_path(tmp_path / "nope")


def test_sha256_cache_reuses_unchanged_and_rehashes_changed_databases(tmp_path):
    import json
    import os

    d, _ = _db(tmp_path)
    cache = tmp_path / "cache" / "sha.json"
    true = sha256_path(d)
    assert sha256_cached(d, cache) == true
    entry = json.loads(cache.read_text())[str(d.resolve())]
    assert entry["sha256"] == true
    # an unchanged folder (same sizes and mtimes) is not hashed again: the remembered digest is
    # returned as is, which a planted value shows
    entry["sha256"] = "f" * 64
    cache.write_text(json.dumps({str(d.resolve()): entry}))
    assert sha256_cached(d, cache) == "f" * 64
    # a changed file (content and mtime) changes the fingerprint: hashed again
    (d / "sub" / "x").write_text("y")
    os.utime(d / "sub" / "x", ns=(1, 1))
    assert sha256_cached(d, cache) == sha256_path(d) != true
    assert sha256_cached(d, None) == sha256_path(d)


def test_version_specs():
    assert version_compatible("2.1.2", ">=2.1,<2.2")
    assert not version_compatible("2.0.9", ">=2.1,<2.2")
    assert version_compatible("4.2.5", "4.2")
    assert version_compatible("4.2.5", "4.1.1; 4.2.5")
    assert not version_compatible("4.2.50", "4.2.5")
    assert version_compatible("1.0", "")


def test_verify_ok_records_provenance(tmp_path):
    d, f = _db(tmp_path)
    rows = [
        manifest_entry("kraken2", "k2_demo", "demo-1", d.name, ">=2.1", base_dir=tmp_path),
        manifest_entry("metaphlan", "mpa_tiny", "vTiny", f, "4.2.5"),
    ]
    man = tmp_path / "databases.tsv"
    pd.DataFrame(rows).to_csv(man, sep="\t", index=False)
    res = verify_databases(
        man,
        base_dir=tmp_path,
        tool_versions={"kraken2": "2.1.2", "metaphlan": "4.2.5"},
        out=tmp_path / "prov.tsv",
    )
    assert list(res["status"]) == ["ok", "ok"]
    prov = pd.read_csv(tmp_path / "prov.tsv", sep="\t")
    assert list(prov["tool_version"].astype(str)) == ["2.1.2", "4.2.5"]
    only = verify_databases(
        man, tools=["metaphlan"], base_dir=tmp_path, tool_versions={"metaphlan": "4.2.5"}
    )
    assert list(only["name"]) == ["mpa_tiny"]


def test_verify_names_every_failing_database(tmp_path):
    d, f = _db(tmp_path)
    man = tmp_path / "databases.tsv"
    man.write_text(
        HEADER
        + f"kraken2\tk2_demo\tdemo-1\t{d}\t{'0' * 64}\t>=2.1\n"
        + "metaphlan\tmpa_gone\tvJan21\tmissing/dir\t\t4.2\n"
        + f"metaphlan\tmpa_old\tvOct22\t{f}\t{sha256_path(f)}\t4.0\n"
        + f"sylph\tsyl\tr220\t{f}\t\t*\n"
    )
    with pytest.raises(DatabaseError) as err:
        verify_databases(
            man,
            base_dir=tmp_path,
            tool_versions={"kraken2": "2.1.2", "metaphlan": "4.2.5", "sylph": None},
        )
    msg = str(err.value)
    assert "'k2_demo' (kraken2): sha256 mismatch" in msg
    assert "'mpa_gone' (metaphlan): path" in msg and "does not exist" in msg
    assert "'mpa_old' (metaphlan): metaphlan 4.2.5 is not in the compatible versions '4.0'" in msg
    assert "syl" not in msg  # no checksum recorded + any version: only a warning
    res = verify_databases(man, names=["syl"], base_dir=tmp_path, tool_versions={"sylph": None})
    assert res["status"].tolist() == ["unverified"]
    with pytest.raises(DatabaseError, match=r"no database named \['nope'\]"):
        verify_databases(man, names=["nope"])


def test_missing_tool_and_bad_manifest(tmp_path):
    d, _ = _db(tmp_path)
    man = tmp_path / "m.tsv"
    man.write_text(HEADER + f"kraken2\tk2\t1\t{d}\t\t>=2.1\n")
    with pytest.raises(DatabaseError, match="'k2' \\(kraken2\\): kraken2 is not installed"):
        verify_databases(man, tool_versions={"kraken2": None})
    man.write_text(HEADER + "kraken2\t\t1\t\tabc\t*\n")
    with pytest.raises(DatabaseError, match="row 1 .*empty name.*empty path.*not 64 hex"):
        read_manifest(man)
    man.write_text("tool\tname\n")
    with pytest.raises(DatabaseError, match="lacks column"):
        read_manifest(man)
    with pytest.raises(DatabaseError, match="not found"):
        read_manifest(tmp_path / "none.tsv")


# ------------------------------------------------------ issue 12: complete database files
import random  # noqa: E402
import shutil  # noqa: E402

from icibiome.databases import check_kraken2_db, check_syldb  # noqa: E402


def _genomes(n=3, length=20_000, seed=3):
    rng = random.Random(seed)
    return {f"G{i:02d}": "".join(rng.choice("ACGT") for _ in range(length)) for i in range(n)}


def test_sylph_database_complete_truncated_and_foreign(tmp_path):
    import pysylph

    sk = pysylph.Sketcher(c=100, k=31)
    db = pysylph.Database([sk.sketch_genome(g, [s]) for g, s in _genomes().items()])
    good = tmp_path / "db.syldb"
    db.dump(str(good))
    assert check_syldb(good) == []
    data = good.read_bytes()
    for cut in (len(data) - 1, len(data) // 2, 20):
        bad = tmp_path / f"cut{cut}.syldb"
        bad.write_bytes(data[:cut])
        (msg,) = check_syldb(bad)
        assert msg.startswith(f"{bad}: truncated or not a sylph .syldb database"), msg
    text = tmp_path / "text.syldb"
    text.write_text("genome_id\tlineage\n")
    assert check_syldb(text)


def _fake_kraken2(d, capacity=8, cells=None):
    import struct

    d.mkdir(parents=True, exist_ok=True)
    cells = capacity if cells is None else cells
    (d / "hash.k2d").write_bytes(struct.pack("<4Q", capacity, 3, 25, 7) + b"\1\0\0\0" * cells)
    (d / "opts.k2d").write_bytes(b"\0" * 64)
    (d / "taxo.k2d").write_bytes(b"K2TAXDAT" + b"\0" * 24)
    return d


def test_kraken2_database_files_sizes_and_magic(tmp_path):
    assert check_kraken2_db(_fake_kraken2(tmp_path / "ok")) == []
    cut = _fake_kraken2(tmp_path / "cut", capacity=8, cells=5)
    (msg,) = check_kraken2_db(cut)
    assert msg == (
        f"{cut / 'hash.k2d'}: truncated or damaged: 52 bytes, its header says 64 (capacity 8 "
        "cells); copy the database again"
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    assert check_kraken2_db(empty) == [
        f"{empty / n} is missing (not a Kraken2 database folder?)"
        for n in ("hash.k2d", "opts.k2d", "taxo.k2d")
    ]
    wrong = _fake_kraken2(tmp_path / "wrong")
    (wrong / "taxo.k2d").write_bytes(b"nodes.dmp")
    assert check_kraken2_db(wrong) == [
        f"{wrong / 'taxo.k2d'}: not a Kraken2 taxonomy (no K2TAXDAT magic)"
    ]


@pytest.mark.skipif(not shutil.which("kraken2-build"), reason="kraken2-build not installed")
def test_real_kraken2_database_and_a_truncated_copy(tmp_path):
    from icibiome.demo.databases import build_kraken2

    genomes = _genomes(2, 5_000)
    tax = pd.DataFrame(
        {"genome_id": list(genomes), "taxid": [1001, 1002], "phylum": "P", "class": "C",
         "order": "O", "family": "F", "genus": "G", "species": ["G_a", "G_b"]}
    )  # fmt: skip
    db = tmp_path / "k2"
    build_kraken2(genomes, tax, db, tmp_path)
    assert check_kraken2_db(db) == []
    cut = tmp_path / "k2cut"
    shutil.copytree(db, cut)
    data = (db / "hash.k2d").read_bytes()
    (cut / "hash.k2d").write_bytes(data[: len(data) - 4096])
    (msg,) = check_kraken2_db(cut)
    assert f"{cut / 'hash.k2d'}: truncated or damaged: {len(data) - 4096} bytes" in msg


def test_malformed_manifest_is_a_database_error(tmp_path):
    m = tmp_path / "databases.tsv"
    m.write_text(HEADER + 'sylph\t"unclosed\tv\tp\t\t*\n')
    with pytest.raises(
        DatabaseError, match=r"databases\.tsv: not a readable tab-separated manifest"
    ):
        read_manifest(m)
