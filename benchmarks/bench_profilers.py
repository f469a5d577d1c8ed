"""Profilers against the demo truth: ``python benchmarks/bench_profilers.py [--quick]``.

Writes ``benchmarks/results/profiler_comparison.tsv`` with columns profiler, samples,
seconds_per_sample, seconds_vs_sylph (time relative to sylph in the same run), bray_curtis_mean,
bray_curtis_max, precision, recall, recall_major (true species >= 0.5 %), plus db_prep_s (one-off
database work of that profiler in this run: Bracken k-mer distribution, tiny MetaPhlAn database).

* Input: a synthetic demo (:func:`icibiome.demo.make.make_demo`, seed 1, 6 samples x 20,000 read
  pairs, ``--quick``: 3 x 5,000) made under ``/tmp``; reads as made (with the planted host
  reads: the profilers' databases hold no host genome, as after host removal nothing would
  change but the read count). Truth: the demo's planted cell abundances
  (``truth/abundance_species.tsv``).
* Profilers, each run for real per sample and timed (wall clock, 2 threads):
  sylph (pysylph, :func:`icibiome.taxonomy.sylph.profile_sylph`); Kraken2 (the ``kraken2`` binary on the
  demo database) then the species tables raw, with the Bracken method
  (:func:`icibiome.taxonomy.bracken.kraken_to_standard` with the demo's k-mer distribution) and with the
  Bracken method + genome-length normalisation (cells, as the demo config); MetaPhlAn 4 on a tiny
  MetaPhlAn database built from the demo genomes (:func:`icibiome.taxonomy.metaphlan.build_tiny_db`, as
  tests/integration/test_metaphlan_run.py). Kraken2 times include the classification.
* Accuracy: :func:`icibiome.taxonomy.compare.compare_profilers` (Bray-Curtis, precision, recall).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))

INDEX = "mpa_vTiny_CHOCOPhlAnSGB_000"


def _reads(demo: Path, row) -> list[Path]:
    return [demo / row.fq1] + ([demo / row.fq2] if row.fq2 else [])


def main(argv: list[str] | None = None) -> int:
    import pandas as pd

    from icibiome.demo.make import make_demo
    from icibiome.taxonomy.bracken import build_kmer_distribution, kraken_to_standard
    from icibiome.taxonomy.compare import compare_profilers
    from icibiome.taxonomy.metaphlan import build_tiny_db, profile_metaphlan
    from icibiome.taxonomy.profiles import merge_profiles
    from icibiome.taxonomy.sylph import profile_sylph

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 samples x 5,000 pairs (smoke run)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-metaphlan", action="store_true", help="skip MetaPhlAn")
    ap.add_argument(
        "--out", default=str(ROOT / "benchmarks" / "results" / "profiler_comparison.tsv")
    )
    ap.add_argument(
        "--workdir", default=None, help="keep the demo and profiles here (default: a /tmp dir)"
    )
    args = ap.parse_args(argv)
    n, pairs = (3, 5000) if args.quick else (6, 20000)
    use_mpa = not args.no_metaphlan and bool(
        shutil.which("metaphlan") or (Path(sys.executable).parent / "metaphlan").exists()
    )
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_profilers_", dir="/tmp"))
    t = args.threads
    t0 = time.perf_counter()
    demo = make_demo(work / "demo", seed=1, n_samples=n, pairs_per_sample=pairs, threads=t)
    print(f"demo {n} x {pairs} pairs in {time.perf_counter() - t0:.0f} s", flush=True)
    sheet = pd.read_csv(demo / "samples.tsv", sep="\t", keep_default_na=False)
    sheet = sheet[sheet["assay"] == "shotgun"]
    ids = list(sheet["sample_id"])
    ref, k2db = demo / "reference", demo / "db" / "kraken2"
    prep: dict[str, float] = {}
    t0 = time.perf_counter()
    kd = work / "database150mers.kmer_distrib"
    build_kmer_distribution(k2db, ref / "genomes.fa", ref / "taxonomy.tsv", 150, kd, step=2,
                            threads=t)  # fmt: skip
    prep["kraken2"] = time.perf_counter() - t0
    if use_mpa:
        t0 = time.perf_counter()
        build_tiny_db(ref / "genomes.fa", ref / "taxonomy.tsv", work / "mpa", index_name=INDEX,
                      markers_per_genome=10, marker_len=900, seed=1, threads=t)  # fmt: skip
        prep["metaphlan"] = time.perf_counter() - t0

    variants = ["sylph", "kraken2_raw", "kraken2_bracken", "kraken2_bracken_length"]
    variants += ["metaphlan"] if use_mpa else []
    secs: dict[str, list[float]] = {v: [] for v in variants}
    paths: dict[str, list[Path]] = {v: [] for v in variants}
    for row in sheet.itertuples():
        s, reads = row.sample_id, _reads(demo, row)
        p = {v: work / v / f"{s}.tsv" for v in variants}
        t0 = time.perf_counter()
        profile_sylph(s, reads, demo / "db" / "sylph" / "demo.syldb",
                      demo / "db" / "sylph" / "taxonomy.tsv", p["sylph"],
                      work / "sylph" / f"{s}.sylphmpa")  # fmt: skip
        secs["sylph"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        rep = work / "kraken2" / f"{s}.k2report"
        rep.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["kraken2", "--db", str(k2db), "--threads", str(t), "--report", str(rep),
                        "--output", "/dev/null", *(["--paired"] if len(reads) == 2 else []),
                        *map(str, reads)], check=True, capture_output=True)  # fmt: skip
        classify = time.perf_counter() - t0
        for v, kw in [("kraken2_raw", {}), ("kraken2_bracken", {"kmer_distr": kd}),
                      ("kraken2_bracken_length", {"kmer_distr": kd,
                                                  "genome_lengths": ref / "taxonomy.tsv"})]:  # fmt: skip
            t0 = time.perf_counter()
            kraken_to_standard(rep, p[v], nodes=k2db, **kw)
            secs[v].append(classify + time.perf_counter() - t0)
        if use_mpa:
            t0 = time.perf_counter()
            profile_metaphlan(s, reads, work / "mpa", INDEX, work / "metaphlan" / f"{s}.mpa.txt",
                              p["metaphlan"], threads=t)  # fmt: skip
            secs["metaphlan"].append(time.perf_counter() - t0)
        for v in variants:
            paths[v].append(p[v])
        print(s, json.dumps({v: round(secs[v][-1], 2) for v in variants}), flush=True)

    tables = {}
    for v in variants:
        merge_profiles(paths[v], ids, ["species"], work / "tables" / v)
        tables[v] = work / "tables" / v / "abundance_species.tsv"
    summary = compare_profilers(demo / "truth" / "abundance_species.tsv", tables,
                                work / "summary.tsv")  # fmt: skip
    sps = {v: sum(secs[v]) / len(secs[v]) for v in variants}
    rows = []
    for r in summary.itertuples():
        base = r.profiler.split("_")[0]
        rows.append({
            "profiler": r.profiler, "samples": r.samples, "pairs_per_sample": pairs,
            "seconds_per_sample": round(sps[r.profiler], 3),
            "seconds_vs_sylph": round(sps[r.profiler] / sps["sylph"], 2),
            "bray_curtis_mean": round(r.bray_curtis_mean, 4),
            "bray_curtis_max": round(r.bray_curtis_max, 4),
            "precision": round(r.precision_mean, 4), "recall": round(r.recall_mean, 4),
            "recall_major": round(r.recall_major_mean, 4),
            "db_prep_s": round(prep[base], 1) if base in prep else "",
        })  # fmt: skip
        print(json.dumps(rows[-1]), flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tsv.part")
    pd.DataFrame(rows).to_csv(tmp, sep="\t", index=False)
    os.replace(tmp, out)
    print(f"wrote {out} ({t} threads, {os.cpu_count()} CPUs; work dir {work})")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
