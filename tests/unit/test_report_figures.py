"""The report's figures as vector files: journal column width, legible text, legends, labels apart.

Each figure of the report is also written as SVG under results/figures/ (rules figure_* in
rules/report.smk): 183 mm (double column) or 89 mm (single column) wide, text kept as text at
>= 6 pt, a legend on every plot with several series, and the guild network's labels not on top
of each other (the report's PNG squeezed the guild cluster into overlapping labels).
"""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from icibiome.report import sections as rs

PT_PER_MM = 72 / 25.4


def _svg(path):
    root = ET.parse(path).getroot()
    width_pt = float(re.sub(r"pt$", "", root.get("width")))
    text = path.read_text()
    sizes = [float(s) for s in re.findall(r"font(?:-size)?:\s*([\d.]+)px", text)]
    return width_pt / PT_PER_MM, sizes, text


@pytest.fixture()
def signatures_tables(tmp_path):
    rng = np.random.default_rng(3)
    forest = pd.DataFrame(
        {
            "feature": [f"s__Genus{i}_species{i}" for i in range(15) for _ in range(3)],
            "study": ["C1", "C2", "pooled (DL)"] * 15,
            "effect": rng.normal(0, 1, 45),
        }
    )
    forest["ci_low"], forest["ci_high"] = forest["effect"] - 0.8, forest["effect"] + 0.8
    pred = pd.DataFrame(
        {
            "sample_id": [f"S{i}" for i in range(40)],
            "cohort": ["C1"] * 20 + ["C2"] * 20,
            "response": ["R", "NR"] * 20,
            "probability": rng.uniform(0, 1, 40),
            "model": "lasso",
            "features": "species",
        }
    )
    km = pd.DataFrame(
        [
            (g, t, s, 10, score, ep)
            for score in ("loco_probability", "guild_balance")
            for ep in ("PFS", "OS")
            for g in ("high", "low")
            for t, s in ((0, 1.0), (5, 0.8), (12, 0.5))
        ],
        columns=["group", "time", "survival", "at_risk", "score", "endpoint"],
    )
    paths = {}
    for name, df in (("forest", forest), ("predictions", pred), ("km", km)):
        paths[name] = tmp_path / f"{name}.tsv"
        df.to_csv(paths[name], sep="\t", index=False)
    return paths


def test_signatures_figure_double_column_legible_with_legends(signatures_tables, tmp_path):
    out = rs.signatures_vector_figure(
        signatures_tables["forest"], signatures_tables["predictions"], signatures_tables["km"],
        tmp_path / "figures" / "signatures_x.svg",
    )  # fmt: skip
    width, sizes, text = _svg(out)
    assert width == pytest.approx(183, abs=0.5)
    assert sizes and min(sizes) >= 6.0  # matplotlib writes pt as px at 72 dpi
    assert "held-out cohort" in text and re.search(r"C1 \(AUC \d\.\d\d\)", text)
    assert "PFS: high" in text and "OS: low" in text  # the KM legend: one score, 4 curves
    assert "guild_balance" not in text
    assert "G. species0" in text  # forest labels shortened, first = lowest p


def _labelled_network(tmp_path):
    found = [f"s__Found{i}_bacterium{i}" for i in range(8)]
    path = [f"s__Patho{i}_bacterium{i}" for i in range(7)]
    rows = [(a, b, 0.6) for grp in (found, path) for a, b in itertools.combinations(grp, 2)]
    rows += [(a, b, -0.4) for a in found[:4] for b in path[:4]]
    rows += [("s__Other_a", "s__Other_b", 0.5)]
    edges = pd.DataFrame(rows, columns=["taxon_a", "taxon_b", "weight"]).assign(stable=True)
    guilds = pd.DataFrame(
        {
            "clade_name": found + path + ["s__Other_a", "s__Other_b"],
            "guild": ["foundation"] * 8 + ["pathobiont"] * 7 + ["unassigned"] * 2,
        }
    )
    edges.to_csv(tmp_path / "edges.tsv", sep="\t", index=False)
    guilds.to_csv(tmp_path / "guilds.tsv", sep="\t", index=False)
    return tmp_path / "edges.tsv", tmp_path / "guilds.tsv"


def test_network_figure_spreads_dense_guilds_and_labels_do_not_overlap(tmp_path, monkeypatch):
    edges, guilds = _labelled_network(tmp_path)
    seen = {}
    save = rs._save

    def capture(fig, out):
        fig.canvas.draw()
        r = fig.canvas.get_renderer()
        boxes = [t.get_window_extent(r) for t in fig.axes[0].texts]
        seen["labels"] = len(boxes)
        seen["overlaps"] = sum(a.overlaps(b) for a, b in itertools.combinations(boxes, 2))
        return save(fig, out)

    monkeypatch.setattr(rs, "_save", capture)
    out = rs.guild_network_vector_figure(edges, guilds, tmp_path / "network_x.svg")
    assert seen["labels"] == 17
    assert seen["overlaps"] == 0  # measured 0 (15 dense guild members + 2 others)
    width, sizes, text = _svg(out)
    assert width == pytest.approx(183, abs=0.5) and min(sizes) >= 6.0
    assert "foundation guild" in text and "negative association" in text


def test_pcoa_and_toposcore_figures_single_column(tmp_path):
    pcoa = pd.DataFrame(
        [
            ("braycurtis", f"S{i}", ax, v, pe, "C1", "R" if i % 2 else "NR")
            for i in range(10)
            for ax, v, pe in (("PC1", i / 10, 0.4), ("PC2", -i / 10, 0.2))
        ],
        columns=["metric", "sample_id", "axis", "coordinate", "proportion_explained", "cohort",
                 "response"],
    )  # fmt: skip
    pcoa.to_csv(tmp_path / "pcoa.tsv", sep="\t", index=False)
    width, sizes, text = _svg(rs.pcoa_vector_figure(tmp_path / "pcoa.tsv", tmp_path / "p.svg"))
    assert width == pytest.approx(89, abs=0.5) and min(sizes) >= 6.0
    assert "R (n=5)" in text and "PC1 (40.0 %)" in text
    sheet = pd.DataFrame(
        {"sample_id": [f"S{i}" for i in range(10)], "subject_id": [f"P{i}" for i in range(10)],
         "cohort": "C1", "timepoint": "baseline", "response": ["R", "NR"] * 5}
    )  # fmt: skip
    sheet.to_csv(tmp_path / "samples.tsv", sep="\t", index=False)
    scores = pd.DataFrame({"sample_id": sheet["sample_id"], "toposcore": np.linspace(0, 1, 10)})
    scores.to_csv(tmp_path / "toposcore.tsv", sep="\t", index=False)
    out = rs.toposcore_vector_figure(
        tmp_path / "toposcore.tsv", tmp_path / "samples.tsv", tmp_path / "t.svg"
    )
    width, sizes, text = _svg(out)
    assert width == pytest.approx(89, abs=0.5) and min(sizes) >= 6.0
    assert "R (n=5)" in text and "NR (n=5)" in text


def test_text_below_six_points_is_refused(tmp_path):
    with rs._style():
        fig, (ax,) = rs._figure("single", 40)
        ax.set_title("tiny", fontsize=4)
        with pytest.raises(ValueError, match="below 6.0 pt"):
            rs._save(fig, tmp_path / "x.svg")


def test_report_network_png_keeps_the_guild_cluster_open(tmp_path, monkeypatch):
    """The report's network.png (icibiome.ecology.guild_report.plot_network): no overlapping node
    labels.

    Two dense guilds (8 + 7 taxa) with 12 loosely attached taxa: the spring layout squeezed the
    guilds into a knot with 4 overlapping label pairs; the shared spread_layout gives 0.
    """
    import matplotlib.figure

    from icibiome.ecology import guild_report as gl

    found = [f"s__Found{i}_bacterium{i}" for i in range(8)]
    path = [f"s__Patho{i}_bacterium{i}" for i in range(7)]
    others = [f"s__Other{i}_longname{i}" for i in range(12)]
    rows = [(a, b, 1) for grp in (found, path) for a, b in itertools.combinations(grp, 2)]
    rows += [(a, b, -1) for a in found[:4] for b in path[:4]]
    rows += [(o, found[i % 8] if i % 2 else path[i % 7], 1 if i % 3 else -1)
             for i, o in enumerate(others)]  # fmt: skip
    rows += [(others[i], others[i + 1], 1) for i in range(0, 11, 2)]
    edges = pd.DataFrame(rows, columns=["source", "target", "sign"])
    members = pd.DataFrame(
        {"taxon": found + path + others,
         "guild": ["foundation"] * 8 + ["pathobiont"] * 7 + ["unassigned"] * 12}
    )  # fmt: skip
    seen = {}
    save = matplotlib.figure.Figure.savefig

    def capture(fig, *args, **kwargs):
        fig.canvas.draw()
        r = fig.canvas.get_renderer()
        boxes = [t.get_window_extent(r) for t in fig.axes[0].texts]
        seen["labels"] = len(boxes)
        seen["overlaps"] = sum(a.overlaps(b) for a, b in itertools.combinations(boxes, 2))
        return save(fig, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", capture)
    gl.plot_network(edges, members, tmp_path / "network.png")
    assert seen["labels"] == 27
    assert seen["overlaps"] == 0  # measured 4 with the spring layout
    assert (tmp_path / "network.png").stat().st_size > 10_000
