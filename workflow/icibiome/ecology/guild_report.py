"""The guild stage's figure and MultiQC section.

* :func:`plot_network` draws the signed network coloured by guild (``network.png``);
* :func:`write_guilds_mqc` writes the report's ``Networks and guilds`` section (membership table,
  guild scores by response, the figure).

The guilds themselves are :mod:`icibiome.ecology.guilds`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pandas as pd

from icibiome.io import atomic_path
from icibiome.mqc import write_table

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# figure
# --------------------------------------------------------------------------------------------
def plot_network(
    edges: pd.DataFrame,
    membership: pd.DataFrame,
    path: str | os.PathLike,
    *,
    title: str = "Co-abundance network",
    seed: int = 1,
) -> None:
    """Draw the signed network coloured by guild and write a PNG (matplotlib, Agg backend).

    ``membership`` needs columns ``taxon`` and ``guild``. Positive edges are green, negative
    edges red; foundation members blue, pathobiont members orange, other modules grey shades.
    Node labels are shown for networks of at most 60 nodes.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import networkx as nx

    g = nx.Graph()
    g.add_nodes_from(membership["taxon"])
    for row in edges.itertuples(index=False):
        g.add_edge(row.source, row.target, sign=int(row.sign))
    isolated = [v for v in g.nodes if g.degree(v) == 0]
    g.remove_nodes_from(isolated)  # drawn, they only squeeze the network into the middle
    title = f"{title}\n({len(isolated)} unconnected taxa not shown)" if isolated else title
    from icibiome.report.sections import spread_layout

    pos = spread_layout(g, seed=seed)  # Kamada-Kawai per component: guilds stay open
    guild = dict(zip(membership["taxon"], membership["guild"], strict=True))
    palette = {"foundation": "#1f77b4", "pathobiont": "#ff7f0e", "unassigned": "#dddddd"}
    others = sorted({v for v in guild.values() if v not in palette})
    greys = plt.get_cmap("tab20b")
    for i, v in enumerate(others):
        palette[v] = greys(i % 20)
    fig, ax = plt.subplots(figsize=(8, 7), dpi=110)
    for sign, colour in ((1, "#2ca02c"), (-1, "#d62728")):
        es = [(u, v) for u, v, d in g.edges(data=True) if d["sign"] == sign]
        nx.draw_networkx_edges(g, pos, edgelist=es, edge_color=colour, alpha=0.45, width=0.8,
                               ax=ax)  # fmt: skip
    nx.draw_networkx_nodes(g, pos, node_color=[palette[guild[n]] for n in g.nodes],
                           node_size=60 if len(g) > 60 else 160, linewidths=0.3,
                           edgecolors="black", ax=ax)  # fmt: skip
    if len(g) <= 60:
        nx.draw_networkx_labels(g, pos, labels={n: str(n).split("|")[-1].removeprefix("s__")
                                                for n in g.nodes}, font_size=6, ax=ax)  # fmt: skip
    shown = {guild[v] for v in g.nodes}
    handles = [plt.Line2D([], [], marker="o", ls="", color=palette[k], label=k)
               for k in ["foundation", "pathobiont", *others, "unassigned"] if k in shown]  # fmt: skip
    handles += [plt.Line2D([], [], color="#2ca02c", label="positive edge"),
                plt.Line2D([], [], color="#d62728", label="negative edge")]  # fmt: skip
    ax.legend(handles=handles, loc="best", fontsize=7, frameon=False)
    ax.set_title(title)
    ax.set_axis_off()
    ax.margins(0.12)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


# --------------------------------------------------------------------------------------------
# MultiQC section
# --------------------------------------------------------------------------------------------
def write_guilds_mqc(
    guilds: pd.DataFrame,
    scores: pd.DataFrame,
    response: pd.Series | None,
    figure_png: str | os.PathLike,
    out_dir: str | os.PathLike,
    label: str = "",
    rule: str = "",
) -> list[Path]:
    """Write the MultiQC custom-content files of the guild section into ``out_dir``.

    Files: ``guilds_membership_mqc.tsv`` (the network taxa: guild, module, degree, prevalence),
    ``guilds_scores_mqc.yaml`` (box plots of the guild scores by response group; a short note
    when no competing pair was found) and ``guilds_network_mqc.html`` (the network figure,
    embedded). They share the parent section ``Networks and guilds (<label>)``; section ids end
    in the label made safe, as the diversity section's
    (:func:`icibiome.ecology.diversity_report.write_diversity_mqc`).
    """
    import base64
    import re

    import yaml

    out_dir = Path(out_dir)
    key = "_" + re.sub(r"[^A-Za-z0-9]+", "_", label).strip("_") if label else ""
    n_f = int((guilds["guild"] == "foundation").sum())
    n_p = int((guilds["guild"] == "pathobiont").sum())
    parent = {
        "parent_id": f"icibiome_guilds{key}",
        "parent_name": f"Networks and guilds ({label})" if label else "Networks and guilds",
        "parent_description": (
            "Co-abundance network (SparCC with FastSpar semantics, permutation p-values; "
            "icibiome.ecology.network) and the two competing guilds of Wu et al. (2024): modules by "
            "dynamic tree cut of the signed network, the pair with most negative edges between "
            "them, oriented without response labels (a user list, function categories, known "
            "SCFA-producer genera, then member prevalence) "
            f"(icibiome.ecology.guilds). Found: {n_f} foundation and {n_p} pathobiont taxa"
            + (" (no competing pair)" if rule in ("", "no_pair") else f", oriented by {rule}")
            + ". Tables: results/networks/, results/guilds/."
        ),
    }
    written = []

    net = guilds[guilds["in_network"]].set_index("clade_name")
    cols = [c for c in ("guild", "module", "degree", "prevalence", "mean_abundance")
            if c in net.columns]  # fmt: skip
    tab = net[cols].copy()
    rank = tab["guild"].map({"foundation": 0, "pathobiont": 1}).fillna(2)
    tab = tab.assign(_r=rank).sort_values(["_r", "module"], kind="stable").drop(columns="_r")
    header = {
        "id": f"icibiome_guilds_membership{key}",
        "section_name": "Guild membership",
        "description": (
            "Taxa of the network (after the prevalence and abundance filters) with their module "
            "and guild; 'unassigned' = in no module, 'module_k' = a module outside the competing "
            "pair. Degree counts stable edges."
        ),
        "plot_type": "table",
        **parent,
        "pconfig": {"id": f"icibiome_guilds_membership_table{key}",
                    "title": "icibiome: guild membership", "sort_rows": False},
        "headers": {
            "guild": {"title": "Guild"},
            "module": {"title": "Module", "format": "{:,.0f}"},
            "degree": {"title": "Degree", "format": "{:,.0f}"},
            "prevalence": {"title": "Prevalence", "format": "{:,.2f}", "min": 0, "max": 1},
            "mean_abundance": {"title": "Mean abundance", "format": "{:,.4f}"},
        },
    }  # fmt: skip
    p = out_dir / "guilds_membership_mqc.tsv"
    write_table(tab, header, p, index_label="Taxon")
    written.append(p)

    resp = (response.reindex(scores.index) if response is not None
            else pd.Series("", index=scores.index)).fillna("").replace("", "unknown")  # fmt: skip
    datasets, labels = [], []
    for col, name in (("guild_balance", "Guild balance (ILR, foundation vs pathobiont)"),
                      ("count_score", "Count score"), ("abund_foundation", "Foundation abundance"),
                      ("abund_pathobiont", "Pathobiont abundance")):  # fmt: skip
        v = pd.to_numeric(scores[col], errors="coerce")
        ds = {f"{g} (n={int(v[resp == g].notna().sum())})": [float(x) for x in v[resp == g].dropna()]
              for g in sorted(resp.unique())}  # fmt: skip
        ds = {k: x for k, x in ds.items() if x}
        if ds:
            datasets.append(ds)
            labels.append({"name": name, "ylab": name})
    common = {
        "id": f"icibiome_guilds_scores{key}",
        "section_name": "Guild scores by response",
        **parent,
    }
    if datasets:
        doc = {
            **common,
            "description": (
                "Per-sample guild scores by response group: ILR balance between the foundation "
                "and the pathobiont guild (higher = foundation-rich), TOPOSCORE-style count score "
                "and the summed relative abundance (%) of each guild."
            ),
            "plot_type": "box",
            "pconfig": {"id": f"icibiome_guilds_scores_plot{key}",
                        "title": "icibiome: guild scores by response", "data_labels": labels,
                        "boxpoints": "all"},
            "data": datasets,
        }  # fmt: skip
    else:
        doc = {
            **common,
            "description": "No guild scores.",
            "plot_type": "html",
            "data": (
                "<p>No competing guild pair (two modules with more negative than positive edges "
                "between them) was found in this network, so no guild scores were computed. "
                "More samples, or less strict edge thresholds, may help.</p>"
            ),
        }
    p = out_dir / "guilds_scores_mqc.yaml"
    with atomic_path(p) as tmp:
        tmp.write_text(yaml.safe_dump(doc, sort_keys=False, width=1000))
    written.append(p)

    png64 = base64.b64encode(Path(figure_png).read_bytes()).decode("ascii")
    head = {
        "id": f"icibiome_guilds_network{key}",
        "section_name": "Figure: co-abundance network",
        "description": (
            "Stable edges (green positive, red negative) between the network taxa, coloured by "
            "guild (blue foundation, orange pathobiont, grey other modules)."
        ),
        **parent,
    }
    html = (
        "<!--\n" + yaml.safe_dump(head, sort_keys=False, width=1000) + "-->\n"
        + '<div class="mqc-custom-content-image"><img style="max-width:100%" '
        + f'alt="icibiome co-abundance network" src="data:image/png;base64,{png64}" /></div>\n'
    )  # fmt: skip
    p = out_dir / "guilds_network_mqc.html"
    with atomic_path(p) as tmp:
        tmp.write_text(html)
    written.append(p)
    return written
