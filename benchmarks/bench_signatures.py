"""Run time and memory of the signatures models: nested balance (+ null), stack, L1 and RF LOCO.

``python benchmarks/bench_signatures.py [--out benchmarks/results/signatures.tsv]
[--permutations 100] [--no-real]``

Two data sets, every model measured in the same run (so the numbers compare):

* ``synthetic``: 627 samples x 3,700 features (3,000 species, 500 genera, 200 families;
  9 cohorts; sparse Dirichlet fractions with 6 planted markers), the size of issue 14;
* ``real``: the 447 labelled baseline samples of ``../shared/data/ici_mpa4_8cohorts``
  (species + genus + family, as ``make validate``), skipped when the folder is absent.

Per row: wall seconds, CPU seconds of this process, peak traced memory (tracemalloc, MiB; numpy
buffers included) and the process's max RSS so far (MiB), and the machine's 1-minute load
average (the numbers are only comparable at similar load: the development machine has 2 cores
shared with other jobs). The balance rows are split into the per-cohort differential
abundance of all permutations (one vectorised call) and the nested LOCO runs, to show what
dominates.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))

from icibiome.signatures import balance as bl  # noqa: E402
from icibiome.signatures import balance_select as bs  # noqa: E402
from icibiome.signatures import predict as pr  # noqa: E402


def synthetic(n: int = 627, n_cohorts: int = 9, n_sp: int = 3000, n_g: int = 500,
              n_f: int = 200, seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """Percent tables of three ranks (samples x features) and sample info."""
    rng = np.random.default_rng(seed)
    coh = np.sort(rng.integers(0, n_cohorts, n))
    y = rng.random(n) < 0.55
    parts = []
    for prefix, k in (("s__", n_sp), ("g__", n_g), ("f__", n_f)):
        x = rng.dirichlet(np.full(k, 0.1), n)
        x[rng.random(x.shape) < 0.6] = 0.0
        if prefix == "s__":
            x[y, :3] *= 3.0
            x[~y, 3:6] *= 3.0
        x = x / x.sum(axis=1, keepdims=True) * 100
        parts.append(pd.DataFrame(x, columns=[f"{prefix}t{i}" for i in range(k)]))
    ab = pd.concat(parts, axis=1)
    ab.index = [f"S{i}" for i in range(n)]
    info = pd.DataFrame({"cohort": [f"C{c}" for c in coh], "response": np.where(y, "R", "NR")},
                        index=ab.index)  # fmt: skip
    return ab, info


def real() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame] | None:
    from icibiome.validation import cohorts as v

    if not (v.DEFAULT_DATA / "labels_harmonised.tsv").exists():
        return None
    ab, info = v.load_cohorts(v.DEFAULT_DATA)
    return v.load_ranks(v.DEFAULT_DATA, ab.index), info, ab


def measure(fn):
    tracemalloc.start()
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out, {"seconds": round(wall, 2), "cpu_seconds": round(cpu, 2),
                 "peak_mib": round(peak, 1), "max_rss_mib": round(rss, 1),
                 "load_1min": round(os.getloadavg()[0], 2)}  # fmt: skip


def bench(name: str, ab: pd.DataFrame, info: pd.DataFrame, species: pd.DataFrame,
          n_perm: int, threads: int) -> list[dict]:  # fmt: skip
    rows = []
    size = f"{len(ab)} x {ab.shape[1]}"
    base = {"data": name, "size": size}
    frac = bl.to_fractions_by_rank(ab)
    lab = info.loc[frac.index]
    X = np.ascontiguousarray(frac.to_numpy())
    y, cidx, _, elig = bs.prep(frac, (lab["response"] == "R").to_numpy(), lab["cohort"], 5)
    ranks = np.array([bl.rank_of(c) for c in frac.columns])
    perms = bl._permuted_labels(y, cidx, n_perm, 1)
    with bl._one_thread():
        _, m = measure(lambda: bs.all_effects(X, perms, cidx, elig, ranks, 0.1))
    rows.append(base | {"model": f"balance: per-cohort DA of {n_perm} permutations (part)"} | m)
    res, m = measure(lambda: bl.balance_loco(ab, info, n_permutations=0))
    rows.append(base | {"model": "balance: one nested LOCO run, no null"} | m
                | {"loco_mean_auc": res.table.set_index("held_out").loc["mean", "auc"]})  # fmt: skip
    res, m = measure(lambda: bl.balance_loco(ab, info, n_permutations=n_perm, seed=1))
    t = res.table.set_index("held_out")
    rows.append(base | {"model": f"balance + {n_perm}-permutation null"} | m
                | {"loco_mean_auc": t.loc["mean", "auc"], "perm_p": t.loc["mean", "perm_p"]})  # fmt: skip
    extra = pd.DataFrame({"score": np.log1p(species.iloc[:, :20].sum(axis=1))})
    res, m = measure(lambda: bl.balance_loco(ab, info, n_permutations=n_perm, seed=1,
                                             extra=extra))  # fmt: skip
    t = res.table.set_index(["model", "held_out"])
    rows.append(base | {"model": f"balance + stack, {n_perm}-permutation null"} | m
                | {"loco_mean_auc": t.loc[("stack", "mean"), "auc"],
                   "perm_p": t.loc[("stack", "mean"), "perm_p"]})  # fmt: skip
    for model in pr.MODELS:
        (tab, _), m = measure(lambda model=model: pr.loco(species, info, model=model, seed=1,
                                                          n_jobs=threads))  # fmt: skip
        rows.append({"data": name, "size": f"{len(species)} x {species.shape[1]}",
                     "model": f"{model} LOCO (species, reference, no null)"} | m
                    | {"loco_mean_auc": tab.set_index("held_out").loc["mean", "auc"]})  # fmt: skip
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/signatures.tsv")
    ap.add_argument("--permutations", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-real", action="store_true")
    a = ap.parse_args(argv)
    rows = []
    ab, info = synthetic()
    rows += bench("synthetic", ab, info, ab[[c for c in ab.columns if c.startswith("s__")]],
                  a.permutations, a.threads)  # fmt: skip
    got = None if a.no_real else real()
    if got is not None:
        multi, info, species = got
        rows += bench("real: ici_mpa4_8cohorts", multi, info, species, a.permutations, a.threads)
    df = pd.DataFrame(rows)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(a.out, sep="\t", index=False, float_format="%.4g")
    print(df.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
