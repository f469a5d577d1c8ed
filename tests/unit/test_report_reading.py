"""The report as a reader sees it: number formats, row order, legends, the plain-words summary.

MultiQC shows table numbers with one decimal unless told otherwise (an AUC of 0.627 read 0.6, a
p of 0.004 read 0.0) and sorts table rows by name (the meta-analysis table, "top by p", came out
alphabetical); the Kaplan-Meier plot overlaid every score x endpoint x group (20 curves for the
demo) with no legend; the signatures section had no summary (its parent description was lost:
MultiQC takes it from the first file it reads, and the figure file had none); read counts were in
millions with one decimal (0.0 M for the demo's 8,000 pairs). These tests run MultiQC itself on
the signatures and TOPOSCORE custom content and read the HTML.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from icibiome.report.build import STAT_FORMATS, run_multiqc, stat_headers
from icibiome.report.sections import km_curves, signatures_summary, toposcore_prediction_note
from icibiome.signatures import stage as sg
from icibiome.signatures import toposcore_stage as ts

ROOT = Path(__file__).resolve().parents[2]


def _tables():
    meta = pd.DataFrame(
        {
            "feature": ["k__B|s__Zeta_x", "k__B|s__Alpha_y", "k__B|s__Mid_z"],
            "effect": [1.234, -0.5, 0.8],
            "ci_low": [0.5, -1.2, 0.1],
            "ci_high": [1.9, 0.2, 1.5],
            "p_value": [0.00012, 0.0412, 0.0088],
            "q_value": [0.00036, 0.0412, 0.0132],
            "I2": [0.1, 0.0, 0.3],
            "n_cohorts": [3, 3, 3],
            "direction_consistency": [1.0, 1.0, 0.67],
        }
    ).sort_values("p_value")  # as icibiome.signatures.meta writes it
    auc = pd.DataFrame(
        {
            "model": ["lasso"] * 4,
            "features": ["species"] * 4,
            "held_out": ["C1", "C2", "mean", "pooled"],
            "n_R": [10, 12, 22, 22],
            "n_NR": [11, 9, 20, 20],
            "auc": [0.627, 0.684, 0.6556, 0.641],
            "ci_low": [0.38, 0.45, np.nan, 0.47],
            "ci_high": [0.87, 0.91, np.nan, 0.81],
            "note": ["", "", "mean of 2 held-out cohorts", "all held-out predictions"],
        }
    )
    rng = np.random.default_rng(1)
    preds = pd.DataFrame(
        {
            "model": "lasso",
            "features": "species",
            "cohort": ["C1"] * 21 + ["C2"] * 21,
            "response": rng.choice(["R", "NR"], 42),
            "probability": rng.uniform(0, 1, 42),
        }
    )
    km = pd.concat(
        [
            pd.DataFrame(
                {
                    "score": s,
                    "endpoint": ep,
                    "group": g,
                    "time": [0, 6, 12],
                    "survival": [1.0, 0.8, 0.6],
                }  # fmt: skip
            )
            for s in ("loco_probability", "guild_balance", "toposcore", "a", "b")
            for ep in ("pfs", "os")
            for g in ("high", "low")
        ]
    )
    return meta, auc, preds, km


def test_stat_headers_formats():
    h = stat_headers(["auc", "ci_low", "p_value", "q_value", "note"])
    assert set(h) == {"auc", "ci_low", "p_value", "q_value"}
    assert h["auc"]["format"].format(0.6271) == "0.627"
    assert h["p_value"]["format"].format(0.00012) == "1.20e-04"
    assert h["q_value"]["format"].format(0.15341) == "0.15"
    assert h["q_value"]["format"].format(0.0000234) == "2.3e-05"
    assert all("{" in f for f in STAT_FORMATS.values())


def test_km_curves_one_score_per_endpoint():
    *_, km = _tables()
    curves = km_curves(km)
    assert sorted(curves) == [
        "OS: high loco_probability", "OS: low loco_probability",
        "PFS: high loco_probability", "PFS: low loco_probability",
    ]  # fmt: skip
    assert curves["PFS: high loco_probability"] == {0.0: 1.0, 6.0: 0.8, 12.0: 0.6}
    assert km_curves(km.iloc[0:0]) == {}


def test_summary_states_the_best_model_and_the_caveats():
    meta, auc, *_ = _tables()
    text = signatures_summary(meta, auc)
    assert text.startswith("What this run says: the best leave-one-cohort-out model is lasso")
    assert "mean AUC 0.656" in text and "pooled AUC 0.641 (95% CI 0.470-0.810)" in text
    assert "no permutation reference computed" in text
    assert "no signal beyond chance" in text  # the pooled CI includes 0.5
    assert "Zeta x (higher in responders, p 1.2e-04, q 3.6e-04)" in text
    assert "Mid z" not in text  # not the same direction in every cohort
    # a permutation p, when the LOCO table has one
    perm = signatures_summary(meta, auc.assign(perm_p=[np.nan, np.nan, 0.21, np.nan]))
    assert "permutation p 0.21 (p >= 0.05: no signal beyond chance)" in perm
    none = signatures_summary(meta.iloc[0:0], auc.assign(auc=np.nan))
    assert "no leave-one-cohort-out AUC could be estimated" in none


def _html_table(html: str, anchor: str) -> str:
    start = html.index(f'<table id="{anchor}')
    return html[start : html.index("</table>", start)]


def _cells(table: str, col: str) -> list[str]:
    return re.findall(
        rf'class="data-coloured {col} "><div class="wrapper">.*?<span class="val">([^<]*)<', table
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    meta, auc, preds, km = _tables()
    fig = out / "signatures.png"
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.figure(figsize=(1, 1))
    plt.savefig(fig)
    plt.close("all")
    files = sg.write_signatures_mqc(meta, auc, preds, km, fig, out, "test, species", top_n=25)
    scores = pd.DataFrame(
        {
            "sig1_count": [5] * 9 + [1], "sig2_count": [6] * 10, "sig1_score": [1.0] * 9 + [0.2],
            "sig2_score": [1.0] * 10, "toposcore": [0.5] * 9 + [0.9], "category": ["SIG1"] * 9
            + ["SIG2"], "akkermansia": [0.0] * 10, "akkermansia_status": ["Zero"] * 10,
            "toposcore_class": ["SIG1+"] * 9 + ["SIG2+"], "predicted_response": ["NR"] * 9 + ["R"],
        },
        index=pd.Index([f"S{i}" for i in range(10)], name="sample_id"),
    )  # fmt: skip
    resp = pd.Series(["R", "NR"] * 5, index=scores.index)
    files += ts._write_mqc(scores, resp, out, "test, species", "Lists: the run's guilds.")
    html = run_multiqc(files, out / "report.html", config_file=ROOT / "config/multiqc_config.yaml")
    return html.read_text(), out


def test_report_tables_show_enough_decimals_in_p_order(report):
    html, _ = report
    loco = _html_table(html, "icibiome_signatures_loco_table_test_species")
    assert _cells(loco, "auc") == ["0.627", "0.684", "0.656", "0.641"]  # was 0.6 0.7 0.7 0.6
    assert "0.380" in _cells(loco, "ci_low")
    assert 'id="header_note"' in loco  # columns without a format stay in the table
    rows = re.findall(r'data-original-sn="([^"]+)"', loco)
    assert rows[:2] == ["lasso | species | C1", "lasso | species | C2"]
    meta = _html_table(html, "icibiome_signatures_meta_table_test_species")
    assert re.findall(r'data-original-sn="([^"]+)"', meta) == [
        "s__Zeta_x",
        "s__Mid_z",
        "s__Alpha_y",
    ]
    assert _cells(meta, "p_value") == ["1.20e-04", "8.80e-03", "4.12e-02"]  # was 0.0 0.0 0.0
    assert _cells(meta, "q_value") == ["0.00036", "0.013", "0.041"]


def test_report_has_summary_legends_and_few_km_curves(report):
    html, out = report
    assert "What this run says: the best leave-one-cohort-out model is lasso" in html
    km = yaml.safe_load((out / "signatures_km_mqc.yaml").read_text())
    assert len(km["data"]) == 4 and km["pconfig"]["showlegend"] is True  # was 20, no legend
    roc = yaml.safe_load((out / "signatures_roc_mqc.yaml").read_text())
    assert roc["pconfig"]["showlegend"] is True and set(roc["data"]) == {"C1", "C2"}


def test_toposcore_table_has_the_prediction_and_says_why(report):
    html, _ = report
    table = _html_table(html, "icibiome_toposcore_table_plot_test_species")
    assert "predicted_response" in table or "Prediction" in table
    assert _cells(table, "predicted_response")[:2] == ["NR", "NR"]
    assert "9 of 10 samples are predicted NR" in html
    assert "Akkermansia, which decides the grey zone, is absent in 10 sample(s)" in html
    mixed = pd.DataFrame({"toposcore": [0.2, 0.9], "predicted_response": ["NR", "R"]})
    assert toposcore_prediction_note(mixed) == ""


def test_multiqc_read_counts_in_thousands():
    cfg = yaml.safe_load((ROOT / "config" / "multiqc_config.yaml").read_text())
    mult = cfg.get("read_count_multiplier", 1e-6)  # MultiQC's default: millions
    # the demo's samples have 8,000 pairs (16,000 reads); MultiQC shows one decimal
    assert f"{16_000 * mult:.1f}" == "16.0"
    assert cfg["read_count_prefix"] == "K"


def test_roc_line_keeps_its_vertical_steps(report):
    """Every ROC point reaches the plot: x is a mapping key, so steps used to collapse."""
    _, out = report
    *_, preds, _ = _tables()
    roc = yaml.safe_load((out / "signatures_roc_mqc.yaml").read_text())["data"]
    for c, g in preds.groupby("cohort"):
        fpr, tpr = sg._roc((g["response"] == "R").to_numpy(), g["probability"].to_numpy())
        assert len(roc[c]) == len(fpr)  # was fewer: one point per distinct fpr
        xs = sorted(roc[c])
        assert [roc[c][x] for x in xs] == [round(float(y), 4) for y in tpr]
