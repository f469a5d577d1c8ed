"""SparCC wall time and peak memory: ``python benchmarks/bench_sparcc.py [--quick] [--threads N]``.

Writes ``benchmarks/results/sparcc.tsv`` with columns case, taxa, samples, iterations,
exclusions, permutations, wall_s, peak_mem_mb, target_s, met, plus ``reference_s`` and
``speedup`` where the naive reference was timed.

* Cases (issue 6): SparCC at (taxa, samples) = (100, 200), (300, 300), (500, 500), (1000, 500)
  with 50 iterations x 10 exclusions; 1,000 permutations (5 iterations each) at (300, 300).
  Targets on 2 cores: (500, 500) under 3 s; the permutations under 60 s.
* Naive reference: :func:`icibiome.ecology.correlation.sparcc_reference`, a per-iteration
  numpy SparCC with FastSpar's C++ loop structure (D x D solve after every exclusion); timed on
  fewer iterations and scaled per iteration (``--quick`` and large cases) to keep the run short.
* Each case runs in a fresh child process; peak memory is that child's ``ru_maxrss`` minus the
  RSS after imports and input generation (the Python + numpy baseline is not counted).
* Input: negative-binomial counts (size 1, mean ~100), about 40 % zeros, fixed seed.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))

CASES = [
    # case, taxa, samples, iterations, exclusions, permutations, target_s, reference iterations
    ("sparcc_100x200", 100, 200, 50, 10, 0, None, 10),
    ("sparcc_300x300", 300, 300, 50, 10, 0, None, 5),
    ("sparcc_500x500", 500, 500, 50, 10, 0, 3.0, 2),
    ("sparcc_1000x500", 1000, 500, 50, 10, 0, None, 1),
    ("permutations_300x300", 300, 300, 5, 10, 1000, 60.0, 0),
]


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _child(spec: dict, conn) -> None:
    import numpy as np

    from icibiome.ecology import correlation as cr

    rng = np.random.default_rng(1)
    x = rng.negative_binomial(1, 0.01, (spec["samples"], spec["taxa"])).astype(float)
    base = _rss_mb()
    t0 = time.perf_counter()
    if spec["permutations"]:
        obs = cr.sparcc(x, iterations=spec["iterations"], exclusions=spec["exclusions"], seed=1,
                        threads=spec["threads"])  # fmt: skip
        cr.permutation_pvalues(x, obs, permutations=spec["permutations"],
                               perm_iterations=spec["iterations"], exclusions=spec["exclusions"],
                               seed=2, threads=spec["threads"])  # fmt: skip
    else:
        cr.sparcc(x, iterations=spec["iterations"], exclusions=spec["exclusions"], seed=1,
                  threads=spec["threads"])  # fmt: skip
    wall = time.perf_counter() - t0
    ref = None
    if spec["ref_iterations"]:
        t1 = time.perf_counter()
        cr.sparcc_reference(
            x, iterations=spec["ref_iterations"], exclusions=spec["exclusions"], seed=1
        )
        ref = (time.perf_counter() - t1) / spec["ref_iterations"] * spec["iterations"]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base
    conn.send({"wall_s": wall, "peak_mem_mb": max(peak, 0.0), "reference_s": ref})
    conn.close()


def run_case(spec: dict) -> dict:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(spec, child))
    proc.start()
    res = parent.recv()
    proc.join()
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller cases (CI smoke run)")
    ap.add_argument("--threads", type=int, default=2, help="worker threads (default 2)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "sparcc.tsv"))
    args = ap.parse_args(argv)
    rows = []
    for case, taxa, samples, iters, excl, perms, target, ref_it in CASES:
        if args.quick:
            taxa, samples = min(taxa, 100), min(samples, 100)
            perms = min(perms, 50)
            ref_it = min(ref_it, 2) if ref_it else 0
            target = None
        spec = {"taxa": taxa, "samples": samples, "iterations": iters, "exclusions": excl,
                "permutations": perms, "ref_iterations": ref_it, "threads": args.threads}  # fmt: skip
        res = run_case(spec)
        row = {"case": case, "taxa": taxa, "samples": samples, "iterations": iters,
               "exclusions": excl, "permutations": perms, "wall_s": round(res["wall_s"], 3),
               "peak_mem_mb": round(res["peak_mem_mb"], 1),
               "target_s": "" if target is None else target,
               "met": "" if target is None else str(res["wall_s"] < target).lower(),
               "reference_s": "" if res["reference_s"] is None else round(res["reference_s"], 3),
               "speedup": "" if res["reference_s"] is None
               else round(res["reference_s"] / res["wall_s"], 1)}  # fmt: skip
        rows.append(row)
        print(json.dumps(row), flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cols = list(rows[0])
    tmp = out.with_suffix(".tsv.part")
    with open(tmp, "w") as fh:
        fh.write("\t".join(cols) + "\n")
        for r in rows:
            fh.write("\t".join(str(r[c]) for c in cols) + "\n")
    os.replace(tmp, out)
    print(f"wrote {out} ({args.threads} threads, {os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
