"""The function panel recovers the demo's planted category -> guild assignment with real DIAMOND.

A demo without databases (24 genomes, 8 samples x 4000 fragments, seed 5) is made once; every
sample's reads are searched with ``diamond blastx`` exactly as rule diamond_blastx does (one best
hit per read, each line prefixed by the mate number), and the hits go through
:func:`icibiome.functions.panel.run_function_panel` and :func:`~icibiome.functions.panel.run_function_guilds`
with the demo's true guilds (``truth/guilds.tsv``) as the guild table. The denominator is each
sample's microbial reads from the truth (the demo reads are not host-filtered here; host reads
have no hit). Skipped with a reason where diamond or art_illumina is missing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from icibiome.demo.make import make_demo
from icibiome.functions.panel import run_function_guilds, run_function_panel

TOOLS = ("diamond", "art_illumina")
FIELDS = "qseqid sseqid pident length evalue bitscore qlen slen".split()


def diamond_hits(db: Path, reads: list[Path], out: Path, threads: int = 2) -> Path:
    """rule diamond_blastx: one best hit per read, mate number first (``--fast``, e 1e-5)."""
    lines = []
    for mate, fq in enumerate(reads, start=1):
        res = subprocess.run(
            ["diamond", "blastx", "--db", str(db), "--query", str(fq), "--threads", str(threads),
             "--fast", "--evalue", "1e-5", "--id", "0", "--max-target-seqs", "1",
             "--max-hsps", "1", "--outfmt", "6", *FIELDS, "--quiet"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        lines += [f"{mate}\t{line}\n" for line in res.stdout.splitlines()]
    out.write_text("".join(lines))
    return out


def recover(demo: Path, work: Path) -> pd.DataFrame:
    """Panel and guild tables of a demo with its true guilds; returns the guild x category table."""
    work.mkdir(parents=True, exist_ok=True)
    db = work / "panel.dmnd"
    subprocess.run(
        ["diamond", "makedb", "--in", str(demo / "functions" / "panel.faa"), "--db", str(db),
         "--quiet"], check=True,
    )  # fmt: skip
    truth = pd.read_csv(demo / "truth" / "samples.tsv", sep="\t")
    reads_truth = pd.read_csv(demo / "truth" / "reads.tsv", sep="\t")
    hits, stats, samples = [], [], []
    for row in truth.itertuples():
        s = row.sample_id
        files = sorted((demo / "reads").glob(f"{s}*.fastq.gz"))
        hits.append(diamond_hits(db, files, work / f"{s}.tsv"))
        n_frag = int(reads_truth.set_index("sample_id").at[s, "microbial_reads"])
        st = work / f"{s}.json"
        st.write_text(json.dumps({"sample_id": s, "non_host": n_frag * len(files)}))
        stats.append(st)
        samples.append(s)
    panel = demo / "functions"
    paths = run_function_panel(
        hits, samples, stats, panel / "panel_categories.tsv", panel / "panel.faa", work
    )
    guilds = pd.read_csv(demo / "truth" / "guilds.tsv", sep="\t")
    return run_function_guilds(
        paths["protein_rpkm"], panel / "panel_categories.tsv", panel / "panel.faa",
        demo / "truth" / "guilds.tsv", work / "guild_functions.tsv", work / "mqc.tsv",
    ).merge(guilds.groupby("guild").size().rename("guild_size").reset_index(), how="left")  # fmt: skip


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        pytest.skip(f"tools not installed: {', '.join(missing)} (run `make setup`)")
    out = tmp_path_factory.mktemp("fdemo") / "demo"
    return make_demo(out, seed=5, n_samples=8, pairs_per_sample=4000, threads=2, databases=False)


@pytest.fixture(scope="module")
def recovered(demo, tmp_path_factory):
    work = tmp_path_factory.mktemp("panel")
    return work, recover(demo, work)


def test_planted_category_guild_assignment_is_recovered(demo, recovered):
    work, table = recovered
    planted = pd.read_csv(demo / "truth" / "function_guilds.tsv", sep="\t")
    # the guild categories are found; the rarer non-guild ones may be absent in 8 samples
    assert set(table["category"]) <= set(planted["category"])
    assert set(planted.loc[planted["guild"] != "none", "category"]) <= set(table["category"])
    planted = planted[planted["category"].isin(table["category"])]
    top = table.sort_values("share", ascending=False).drop_duplicates("category")
    top = top.set_index("category")
    for row in planted.itertuples():
        # every category's RPKM falls (almost) entirely in the guild that carries it
        assert top.loc[row.category, "guild"] == row.guild, row.category
        assert top.loc[row.category, "share"] > 0.98, row.category
        assert top.loc[row.category, "n_taxa"] == row.n_taxa, row.category
    np.testing.assert_allclose(table.groupby("category")["share"].sum(), 1.0, rtol=1e-4)
    cat = pd.read_csv(work / "category_rpkm.tsv", sep="\t", index_col="category")
    assert (cat.to_numpy() >= 0).all() and len(cat) == 7


def test_reads_of_a_gene_hit_its_own_protein(recovered):
    # demo read names start with the genome id; the best hit is that genome's variant
    work = recovered[0]
    hits = pd.concat(
        pd.read_csv(p, sep="\t", header=None).iloc[:, :3] for p in sorted(work.glob("C*_P*.tsv"))
    )
    own = hits[1].str[:3] == hits[2].str[:3]
    assert len(hits) > 200 and own.mean() > 0.98
