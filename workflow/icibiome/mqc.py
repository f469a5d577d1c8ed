"""MultiQC custom content: one writer for tables (``*_mqc.tsv``) and plots (``*_mqc.yaml``).

Every stage writes its report sections through these two functions, so the header format (a
YAML block of ``# `` comment lines above a TSV; a YAML document for plots) lives in one place.
Files are written atomically (:func:`icibiome.io.atomic_path`).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import yaml

from icibiome.io import atomic_path


def write_table(df: pd.DataFrame, header: dict, path: str | os.PathLike, index_label: str) -> Path:
    """A MultiQC custom-content table: ``header`` (id, section_name, headers, pconfig ...) as
    ``# `` comment lines, then ``df`` as TSV (floats to 4 significant digits unless the header
    sets a format per column)."""
    path = Path(path)
    lines = yaml.safe_dump(header, sort_keys=False, width=1000).splitlines()
    with atomic_path(path) as tmp, open(tmp, "w") as fh:
        fh.writelines(f"# {ln}\n" for ln in lines)
        df.to_csv(fh, sep="\t", index_label=index_label, float_format="%.4g")
    return path


def write_plot(doc: dict, path: str | os.PathLike) -> Path:
    """A MultiQC custom-content plot (linegraph, heatmap, box ...): ``doc`` as one YAML file.

    A plot whose ``data`` is empty is written as a comment line only, which the report leaves
    out (:func:`icibiome.report.build.has_data`): no empty panel."""
    path = Path(path)
    with atomic_path(path) as tmp:
        if "data" in doc and not doc["data"]:
            tmp.write_text(f"# {doc.get('section_name', 'section')}: no data\n")
        else:
            tmp.write_text(yaml.safe_dump(doc, sort_keys=False, width=1000))
    return path
