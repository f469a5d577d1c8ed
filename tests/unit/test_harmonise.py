"""Name harmonisation between MetaPhlAn 4 species/SGB and GTDB names."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from icibiome.taxonomy.harmonise import (
    HarmoniseError,
    NameMap,
    harmonise_table,
    name_map_from_pairs,
    normalise_name,
    translate_signature,
)

SIG1 = (
    Path(__file__).resolve().parents[2].parent / "shared" / "data" / "toposcore_nsclc" / "sig1.txt"
)

MAP = pd.DataFrame(
    {
        "species_Jan21": [
            "Bacteroides_vulgatus",
            "Blautia_obeum",
            "Alistipes_onderdonkii",
            "GGB1_SGB9",
        ],
        "SGB_Jan21": ["SGB1814", "SGB4810", "SGB2303", "SGB9"],
        "GTDB_r220": [
            "s__Phocaeicola vulgatus",
            "s__Blautia_A obeum",
            "s__Alistipes onderdonkii; s__Alistipes onderdonkii_B",
            "s__Phocaeicola vulgatus",
        ],
    }
)


def _table():
    return pd.DataFrame(
        {
            "clade_name": [
                "s__Bacteroides_vulgatus",
                "s__Blautia_obeum",
                "s__GGB1_SGB9",
                "s__Other_sp",
            ],
            "lineage": [
                "k__Bacteria|p__Bacteroidetes|s__Bacteroides_vulgatus",
                "k__Bacteria|p__Firmicutes|s__Blautia_obeum",
                "k__Bacteria|p__Bacteroidetes|s__GGB1_SGB9",
                "k__Bacteria|p__Firmicutes|s__Other_sp",
            ],
            "A": [40.0, 30.0, 10.0, 20.0],
            "B": [0.0, 50.0, 50.0, 0.0],
        }
    )


def test_normalise_name_equates_namings():
    assert normalise_name("s__Blautia_A obeum") == "Blautia_A_obeum"
    assert normalise_name("k__Bacteria;p__X;s__Blautia obeum") == "Blautia_obeum"
    assert normalise_name(" t__SGB4810 ") == "SGB4810"


def test_detect_and_translate_signature():
    m = NameMap(MAP)
    assert m.detect_naming(["s__Blautia_obeum", "s__Bacteroides_vulgatus"]) == (
        "species_Jan21",
        1.0,
    )
    assert m.detect_naming(["t__SGB4810"])[0] == "SGB_Jan21"
    got = translate_signature(
        ["Bacteroides_vulgatus", "GGB1_SGB9", "Alistipes_onderdonkii"], m, "GTDB_r220"
    )
    # many-to-one collapses, one-to-many keeps every equivalent
    assert got == [
        "s__Phocaeicola vulgatus",
        "s__Alistipes onderdonkii",
        "s__Alistipes onderdonkii_B",
    ]
    back = m.translate(["s__Phocaeicola_vulgatus"], "species_Jan21")
    assert back == {"s__Phocaeicola_vulgatus": ["Bacteroides_vulgatus", "GGB1_SGB9"]}
    assert translate_signature(["Unknown_sp"], m, "SGB_Jan21", source="species_Jan21") == []
    with pytest.raises(HarmoniseError, match="unknown naming 'GTDB_r999'"):
        m.translate(["x"], "GTDB_r999")


def test_harmonise_table_sums_many_to_one_and_keeps_or_drops_unmapped():
    m = NameMap(MAP)
    out = harmonise_table(_table(), m, "GTDB_r220").set_index("clade_name")
    np.testing.assert_allclose(
        out.loc["s__Phocaeicola_vulgatus", ["A", "B"]].astype(float), [50, 50]
    )
    assert (
        out.loc["s__Phocaeicola_vulgatus", "lineage"]
        == "k__Bacteria|p__Bacteroidetes|s__Phocaeicola_vulgatus"
    )
    assert "s__Other_sp" in out.index  # unmapped kept
    np.testing.assert_allclose(out[["A", "B"]].sum(), [100, 100])
    dropped = harmonise_table(_table(), m, "GTDB_r220", unmapped="drop").set_index("clade_name")
    assert "s__Other_sp" not in dropped.index
    np.testing.assert_allclose(dropped[["A", "B"]].sum(), [100, 100])  # renormalised
    np.testing.assert_allclose(dropped.loc["s__Phocaeicola_vulgatus", "A"], 50 / 0.8)
    with pytest.raises(HarmoniseError, match="no GTDB_r220 name"):
        harmonise_table(_table(), m, "GTDB_r220", unmapped="error")


def test_one_to_many_needs_a_choice():
    m = NameMap(MAP)
    t = pd.DataFrame(
        {
            "clade_name": ["s__Alistipes_onderdonkii"],
            "lineage": ["s__Alistipes_onderdonkii"],
            "A": [100.0],
        }
    )
    with pytest.raises(HarmoniseError, match="2 GTDB_r220 equivalents"):
        harmonise_table(t, m, "GTDB_r220")
    split = harmonise_table(t, m, "GTDB_r220", one_to_many="split")
    np.testing.assert_allclose(split["A"], [50, 50])
    first = harmonise_table(t, m, "GTDB_r220", one_to_many="first")
    assert list(first["clade_name"]) == ["s__Alistipes_onderdonkii"]


def test_counts_table_keeps_unclassified_row():
    m = name_map_from_pairs({"Blautia_obeum": "s__Blautia_A obeum"}, "mpa", "gtdb")
    t = pd.DataFrame(
        {
            "clade_name": ["s__Blautia_obeum", "UNCLASSIFIED"],
            "lineage": ["s__Blautia_obeum", "UNCLASSIFIED"],
            "A": [70.0, 30.0],
        }
    )
    out = harmonise_table(t, m, "gtdb", source="mpa")
    assert list(out["clade_name"]) == ["s__Blautia_A_obeum", "UNCLASSIFIED"]
    np.testing.assert_allclose(out["A"], [70, 30])


def test_real_toposcore_signature_maps_between_namings():
    if not SIG1.exists():
        pytest.skip(f"shared data not found: {SIG1}")
    m = NameMap.from_file(SIG1)
    assert m.namings == ["species_Jan21", "SGB_Jan21", "GTDB_r207", "GTDB_r220"]
    sig = list(m.table["species_Jan21"])
    assert len(sig) == 37
    gtdb = translate_signature(sig, m, "GTDB_r220", source="species_Jan21")
    assert len(gtdb) >= 30
    # and back: the GTDB names are recognised as GTDB and map to the MetaPhlAn species
    naming, frac = m.detect_naming(gtdb)
    assert naming in ("GTDB_r207", "GTDB_r220") and frac == 1.0
    back = translate_signature(gtdb, m, "species_Jan21", source="GTDB_r220")
    assert set(back) <= set(sig) and len(back) >= 30
    with pytest.raises(HarmoniseError, match="no column"):
        NameMap.from_file(SIG1, namings=["species_Jan21", "GTDB_r999"])
