"""Frozen response models: trained on all labelled cohorts, applied to new profiles.

:func:`fit_final` trains a model (:mod:`icibiome.signatures.models`) on every labelled sample,
freezing its fitted preprocessing (:mod:`icibiome.signatures.preprocess`), features, transform
and training cohorts in a :class:`FrozenModel`; :func:`save_model` / :func:`load_model` pickle
it, :func:`apply_model` scores new samples without retraining, :func:`write_model_card`
describes it.
"""

from __future__ import annotations

import logging
import pickle
import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from icibiome.signatures.models import fit_model
from icibiome.signatures.preprocess import (
    MIN_BATCH_SAMPLES,
    Preprocess,
    apply_preprocess,
    fit_preprocess,
    labelled,
    to_fractions,
)

logger = logging.getLogger(__name__)

MODEL_FORMAT = 2


@dataclass
class FrozenModel:
    """A classifier trained on all labelled cohorts, with what is needed to apply it elsewhere.

    ``prep`` holds every fitted preprocessing parameter (:class:`Preprocess`: species, pseudo-
    count, ComBat reference, absent values); ``extra_specs`` how the model rebuilds its extra
    features from a profile itself (guild memberships and direction, TOPOSCORE lists and
    denominators), so that a patient's probability depends on that patient's profile only.
    """

    pipeline: object
    species: list[str] | None
    extra: list[str]
    columns: list[str]
    model: str
    transform: str
    batch: str
    training_cohorts: list[str]
    n_train: int
    naming: str = ""
    versions: dict = field(default_factory=dict)
    format: int = MODEL_FORMAT
    profiler: str = ""
    rank: str = ""
    batch_ref: dict | None = None
    prep: Preprocess | None = None
    extra_specs: dict = field(default_factory=dict)
    n_features: int = 0


def _naming(taxa: Sequence[str]) -> str:
    taxa = [str(t) for t in taxa]
    if not taxa:
        return ""
    sgb = sum("SGB" in t for t in taxa) / len(taxa)
    pref = sum(t.startswith("s__") for t in taxa) / len(taxa)
    return ("sgb" if sgb > 0.5 else "species") + ("_prefixed" if pref > 0.5 else "")


def extra_from_specs(specs: dict, abundance: pd.DataFrame) -> pd.DataFrame:
    """Rebuild extra features from a profile with frozen specs, one sample at a time.

    ``specs``: ``{column: spec}``; ``{"kind": "guild_balance", "foundation": [...],
    "pathobiont": [...]}`` (:func:`icibiome.ecology.guilds.guild_scores` with the training run's guilds
    and direction) or ``{"kind": "toposcore", "sig1": [...], "sig2": [...], "size1": n,
    "size2": n}`` (entries as ``;``-joined profile columns; TOPOSCORE s of
    :func:`icibiome.signatures.toposcore.s_score`).
    """
    out = pd.DataFrame(index=abundance.index)
    for col, sp in specs.items():
        if sp["kind"] == "guild_balance":
            from icibiome.ecology.guilds import guild_scores

            out[col] = guild_scores(abundance, list(sp["foundation"]),
                                    list(sp["pathobiont"]))["guild_balance"].to_numpy()  # fmt: skip
        elif sp["kind"] == "toposcore":
            from icibiome.signatures.toposcore import s_score

            def count(entries):
                n = np.zeros(len(abundance))
                for cols in entries:
                    cols = [c for c in str(cols).split(";") if c and c in abundance.columns]
                    if cols:
                        n += (abundance[cols].fillna(0).sum(axis=1) > 0).to_numpy()
                return n

            out[col] = s_score(count(sp["sig1"]), count(sp["sig2"]), sp["size1"], sp["size2"])
        else:
            raise ValueError(f"unknown extra feature spec {sp['kind']!r}")
    return out


def fit_final(
    abundance: pd.DataFrame,
    info: pd.DataFrame,
    model: str = "lasso",
    transform_method: str = "log10",
    batch: str = "none",
    extra: pd.DataFrame | None = None,
    min_prevalence: float = 0.1,
    seed: int = 1,
    n_jobs: int = 1,
    extra_specs: dict | None = None,
) -> FrozenModel:
    """Train on every labelled sample of every cohort (the model for new patients).

    ``extra_specs`` (:func:`extra_from_specs`) freeze how extra columns are computed; a spec is
    kept only when it reproduces the given column on the training samples (rtol 1e-5),
    otherwise the column is read from the scoring run's table (said in the log and the card).
    """
    import sklearn

    frac = to_fractions(abundance)
    lab = labelled(info, frac)
    if lab["response"].nunique() < 2:
        raise ValueError("fit_final: the labelled samples hold one class only")
    cohorts = lab["cohort"].astype(str)
    ex = None if extra is None else extra.loc[lab.index].copy()
    specs = {}
    for col, sp in (extra_specs or {}).items():
        if ex is None or col not in ex.columns:
            continue
        got = extra_from_specs({col: sp}, abundance.loc[lab.index])[col]
        want = ex[col]
        if np.allclose(got, want, rtol=1e-5, atol=1e-6, equal_nan=True):
            specs[col] = sp
            ex[col] = got  # the exact values the model will compute for new samples
        else:
            logger.warning("frozen model: %s is not reproduced from the stored %s spec (max "
                           "difference %.3g); it will be read from the scoring run's table",
                           col, sp["kind"], float(np.nanmax(np.abs(got - want))))  # fmt: skip
    prep = fit_preprocess(frac.loc[lab.index], ex, cohorts, transform_method, batch,
                          min_prevalence)  # fmt: skip
    X = apply_preprocess(prep, frac.loc[lab.index], ex, cohorts)
    y01 = (lab["response"] == "R").to_numpy().astype(int)
    mdl, fit = fit_model(X.to_numpy(), y01, model, seed, n_jobs, cohorts.to_numpy())
    from icibiome import __version__

    return FrozenModel(
        pipeline=mdl, species=prep.species, extra=[] if extra is None else list(extra.columns),
        columns=list(X.columns), model=model, transform=transform_method, batch=batch,
        training_cohorts=sorted(set(cohorts)), n_train=len(lab), naming=_naming(prep.species),
        batch_ref=prep.batch_ref, prep=prep, extra_specs=specs, n_features=fit["n_features"],
        versions={"icibiome": __version__, "scikit-learn": sklearn.__version__,
                  "python": platform.python_version()},
    )  # fmt: skip


def save_model(fm: FrozenModel, path) -> None:
    """Pickle a :class:`FrozenModel` atomically."""
    from icibiome.io import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        pickle.dump(fm, fh)


# module paths of the classes in models pickled by earlier versions (before the library was
# organised by stage): they unpickle through the modules that hold those classes now
MOVED_MODULES = {
    "icibiome.predict": "icibiome.signatures.frozen",
    "icibiome.balance": "icibiome.signatures.balance",
    "icibiome.guilds": "icibiome.ecology.guilds",
    "icibiome.toposcore": "icibiome.signatures.toposcore",
}


class _ModelUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        return super().find_class(MOVED_MODULES.get(module, module), name)


def load_model(path) -> FrozenModel:
    """Read a model written by :func:`save_model` (only load files you trust: pickle).

    Models of earlier versions load too (:data:`MOVED_MODULES`); a file that is not a readable
    model is a one-line user error naming it.
    """
    from icibiome.errors import UserError

    try:
        with open(path, "rb") as fh:
            fm = _ModelUnpickler(fh).load()
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError) as exc:
        raise UserError(
            f"{path}: not a readable icibiome model ({type(exc).__name__}: {exc})"
        ) from None
    if not isinstance(fm, FrozenModel) or fm.format != MODEL_FORMAT or fm.prep is None:
        raise UserError(f"{path}: not an icibiome model of format {MODEL_FORMAT} (retrain it "
                        "with this version's signatures stage)")  # fmt: skip
    return fm


def apply_model(
    fm: FrozenModel,
    abundance: pd.DataFrame,
    cohorts: pd.Series | None = None,
    extra: pd.DataFrame | None = None,
    min_overlap: float = 0.5,
    profiler: str = "",
    rank: str = "",
) -> pd.Series:
    """Predicted P(response) for new samples, without retraining.

    Every fitted parameter comes from the model, so with ``batch="none"`` a sample's probability
    depends on its own profile only (scored alone or among others: the same number). Models with
    per-cohort batch handling (``cohort_z``, ``combat``) adjust each cohort of ``cohorts`` with
    its own samples; they need ``cohorts`` and at least :data:`MIN_BATCH_SAMPLES` samples per
    cohort (else :class:`~icibiome.errors.UserError`).

    Refuses (UserError) when the profiler or rank of the profile (when both sides know them)
    or the profile's naming differ from the model's, or fewer than ``min_overlap`` of the
    model's species are in the profile (another profiler or database); missing species
    otherwise count as absent. Extra features with a frozen spec (guild balance, TOPOSCORE) are
    computed from ``abundance``; others are read from ``extra``.
    """
    from icibiome.errors import UserError

    for what, mine, theirs in (("profiler", fm.profiler, profiler), ("rank", fm.rank, rank)):
        if mine and theirs and mine != theirs:
            raise UserError(f"the model was trained on {what} '{mine}', the profile is from "
                            f"'{theirs}': apply it to a table of the same {what}")  # fmt: skip
    frac = to_fractions(abundance)
    if fm.species:
        got = _naming(frac.columns)
        if got != fm.naming:
            raise UserError(f"model features are named '{fm.naming}', the profile '{got}': "
                            "use a profile from the same profiler/database as the model")  # fmt: skip
        overlap = np.mean([s in frac.columns for s in fm.species])
        if overlap < min_overlap:
            raise UserError(f"only {overlap:.0%} of the model's {len(fm.species)} species are "
                            f"in the profile (< {min_overlap:.0%}): another profiler or "
                            "database?")  # fmt: skip
    table_cols = [c for c in fm.extra if c not in fm.extra_specs]
    if table_cols and (extra is None or any(c not in extra.columns for c in table_cols)):
        raise UserError(f"the model needs the extra features {table_cols}")
    ex = None
    if fm.extra:
        ex = pd.DataFrame(index=frac.index)
        if fm.extra_specs:
            ex = extra_from_specs(fm.extra_specs, abundance)
        for c in table_cols:
            ex[c] = extra[c].reindex(frac.index)
        ex = ex[fm.extra]
    if fm.batch != "none" and cohorts is None:
        raise UserError(f"this model adjusts each cohort with its own samples (batch "
                        f"'{fm.batch}'): give the cohort of every sample")  # fmt: skip
    coh = (cohorts.astype(str) if cohorts is not None else
           pd.Series("new", index=frac.index))  # fmt: skip
    X = apply_preprocess(fm.prep, frac, ex, coh, min_batch=MIN_BATCH_SAMPLES)
    X = X.reindex(columns=fm.columns)
    return pd.Series(fm.pipeline.predict_proba(X.to_numpy())[:, 1], index=frac.index,
                     name="probability")  # fmt: skip


def write_model_card(fm: FrozenModel, path: str | Path) -> None:
    """A YAML description of a frozen model beside its pickle."""
    import yaml

    from icibiome.io import atomic_path

    prep = fm.prep
    scoring = ("one patient at a time: every parameter is frozen in the model, a sample's "
               "probability depends on its own profile only" if fm.batch == "none" else
               f"per cohort: batch '{fm.batch}' adjusts each new cohort with its own samples, "
               f"so it needs the cohort of every sample and at least {MIN_BATCH_SAMPLES} "
               "samples per cohort; single patients are refused")  # fmt: skip
    doc = {"format": fm.format, "profiler": fm.profiler, "rank": fm.rank, "model": fm.model,
           "transform": fm.transform, "batch": fm.batch, "scoring": scoring,
           "pseudo_count": None if prep is None else float(prep.pseudo),
           "training_cohorts": fm.training_cohorts, "n_train": fm.n_train, "naming": fm.naming,
           "n_species": len(fm.species or []), "n_features": int(fm.n_features),
           "extra_features": fm.extra,
           "extra_frozen": {c: {k: (v if not isinstance(v, list) else len(v))
                                for k, v in sp.items()} for c, sp in fm.extra_specs.items()},
           "extra_from_table": [c for c in fm.extra if c not in fm.extra_specs],
           "versions": fm.versions}  # fmt: skip
    with atomic_path(path) as tmp:
        tmp.write_text(yaml.safe_dump(doc, sort_keys=False))
