"""benchmarks/bench_per_sample.py: the table built from Snakemake benchmark files, and the read
copies, on tiny inputs (the 2 M-pair run itself is `make bench`)."""

import importlib.util
from pathlib import Path

import dnaio
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location(
        "bench_per_sample", ROOT / "benchmarks" / "bench_per_sample.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def _bench_file(path: Path, seconds: float, rss) -> Path:
    path.write_text(HEADER + f"{seconds}\t0:00:01\t{rss}\t1\t1\t1\t0\t0\t50\t1\n")
    return path


def test_table_ratios_and_target(bench, tmp_path):
    steps = {
        "fastp_paired": ("tool", "fastp"),
        "fast_py": ("python", "a pass"),
        "slow_py": ("python", "three passes"),
        "short_py": ("python", "too short to sample"),
    }
    files = {
        "fastp_paired": _bench_file(tmp_path / "f.tsv", 40.0, 900.5),
        "fast_py": _bench_file(tmp_path / "a.tsv", 12.0, 100),
        "slow_py": _bench_file(tmp_path / "b.tsv", 25.0, 100),
        "short_py": _bench_file(tmp_path / "c.tsv", 0.5, "NA"),
    }
    table = bench.build_table(files, pigz=(10.0, 2.0), steps=steps)
    assert list(table.columns) == bench.COLUMNS
    assert list(table["step"]) == ["pigz_dc", "fastp_paired", "fast_py", "slow_py", "short_py"]
    t = table.set_index("step")
    assert t.loc["fast_py", "ratio_to_fastp"] == pytest.approx(0.3)
    assert t.loc["fast_py", "ratio_to_pigz"] == pytest.approx(1.2)
    assert t.loc["fast_py", "target_met"] == "yes"
    # below fastp but 2.5x pigz: misses, and the note says so
    assert t.loc["slow_py", "target_met"] == "no"
    assert "MISSES the target" in t.loc["slow_py", "note"]
    assert t.loc["short_py", "target_met"] == "yes"
    assert pd.isna(t.loc["short_py", "max_rss_mb"])
    # tools carry no target
    assert t.loc["fastp_paired", "target_met"] == ""
    assert t.loc["pigz_dc", "seconds"] == 10.0

    out = tmp_path / "per_sample.tsv"
    bench.write_table(table, out, "pairs=10\nsecond line")
    lines = out.read_text().splitlines()
    assert lines[:2] == ["# pairs=10", "# second line"]
    back = pd.read_csv(out, sep="\t", comment="#")
    assert list(back["step"]) == list(table["step"])


def test_table_needs_every_step(bench, tmp_path):
    files = {"fastp_paired": _bench_file(tmp_path / "f.tsv", 40.0, 900)}
    with pytest.raises(ValueError, match="no benchmark file for check_reads"):
        bench.build_table(files, pigz=(1.0, 1.0))
    (tmp_path / "bad.tsv").write_text("x\n1\n")
    with pytest.raises(ValueError, match="not a Snakemake benchmark file"):
        bench.read_benchmark(tmp_path / "bad.tsv")


def test_replicate_sample_renames_copies(bench, tmp_path):
    fq1, fq2 = tmp_path / "in_R1.fastq", tmp_path / "in_R2.fastq"
    with dnaio.open(fq1, file2=fq2, mode="w") as w:
        for i in range(3):
            w.write(
                dnaio.SequenceRecord(f"r{i}/1", "ACGT", "IIII"),
                dnaio.SequenceRecord(f"r{i}/2", "TTTT", "IIII"),
            )
    out = tmp_path / "out"
    out.mkdir()
    p1, p2 = bench.replicate_sample(fq1, fq2, out, pairs=7)
    with dnaio.open(p1, file2=p2) as r:  # dnaio checks the mates' names agree
        pairs = list(r)
    assert len(pairs) == 7
    names = [a.name for a, _ in pairs]
    assert names[:4] == ["r0_c0/1", "r1_c0/1", "r2_c0/1", "r0_c1/1"]
    assert names[-1] == "r0_c2/1"
    assert len(set(names)) == 7
    assert pairs[5][1].name == "r2_c1/2"
    assert pairs[5][1].sequence == "TTTT"
