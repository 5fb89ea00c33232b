"""MLflow 3.x tracking and model registry for risk models.

The caller sets the tracking URI (e.g. ``mlflow.set_tracking_uri("sqlite:///.../mlflow.db")``)
before calling :func:`log_risk_model`; with no separate registry URI, MLflow uses the
tracking store as the registry.

Privacy: nothing participant-level is logged by this module except the ``input_example``
rows the caller passes (MLflow stores them as model artifacts). Pass synthetic rows, e.g.
:func:`make_input_example`, never real participants. The frame's index is dropped.
"""
from __future__ import annotations

import contextlib
import json
import logging
import re
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

import numpy as np
import pandas as pd

from models.risk import BINARY, RiskModelResult, build_feature_frame

__all__ = ["TrackedModel", "log_risk_model", "load_registered_model", "make_input_example",
           "get_or_create_experiment"]

_PARAM_MAX = 6000  # MLflow param value limit (characters)


@dataclass(frozen=True)
class TrackedModel:
    """Where a logged model ended up. ``model_uri`` is MLflow 3's ``models:/<model_id>``
    URI of the logged model; ``registered_model_uri`` is ``models:/<name>/<version>``."""

    run_id: str
    model_uri: str
    model_version: str
    experiment_id: str
    registered_model_name: str = ""
    registered_model_uri: str = ""
    model_id: str = ""


@contextlib.contextmanager
def _quiet_mlflow(level: int = logging.WARNING) -> Iterator[None]:
    """Temporarily raise the MLflow / alembic loggers to ``level`` (INFO chatter only)."""
    names = ["mlflow", "alembic"]
    loggers = [logging.getLogger(n) for n in names]
    old = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            if lg.getEffectiveLevel() < level:
                lg.setLevel(level)
        yield
    finally:
        for lg, lv in zip(loggers, old):
            lg.setLevel(lv)


def get_or_create_experiment(experiment_name: str, artifact_location: str | None = None) -> str:
    """Experiment id for ``experiment_name``, creating it (with ``artifact_location``) if
    needed. ``artifact_location`` only applies on creation; an existing experiment keeps
    its own location."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    exp = client.get_experiment_by_name(experiment_name)
    if exp is not None:
        if exp.lifecycle_stage == "deleted":
            client.restore_experiment(exp.experiment_id)
        return exp.experiment_id
    try:
        return client.create_experiment(experiment_name, artifact_location=artifact_location)
    except MlflowException:
        # another process created it in the meantime
        exp = client.get_experiment_by_name(experiment_name)
        if exp is None:
            raise
        return exp.experiment_id


def make_input_example(reference: pd.DataFrame, feature_names, n_rows: int = 3) -> pd.DataFrame:
    """Synthetic input example built from column summaries (quantiles), not real rows:
    ``n_rows`` rows at evenly spaced quantiles (25%..75%, rounded to 2 decimals) of
    each feature in ``reference`` (a raw participant frame; one-hot features are rebuilt)."""
    X = build_feature_frame(reference, feature_names)
    qs = np.linspace(0.25, 0.75, n_rows) if n_rows > 1 else np.array([0.5])
    rows = {c: [round(float(X[c].quantile(q)), 2) if X[c].notna().any() else 0.0 for q in qs]
            for c in feature_names}
    return pd.DataFrame(rows, columns=list(feature_names), dtype=float)


def _metric_key(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_\-. /]", "_", str(name))


def _param_value(v: Any) -> str:
    s = v if isinstance(v, str) else json.dumps(v, default=str, sort_keys=True)
    return s if len(s) <= _PARAM_MAX else s[: _PARAM_MAX - 3] + "..."


def _figure_path(key: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", str(key)).lstrip(".") or "figure"
    return f"plots/{stem}" if stem.lower().endswith(".png") else f"plots/{stem}.png"


def log_risk_model(
    result: RiskModelResult,
    experiment_name: str,
    registered_model_name: str,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    input_example: pd.DataFrame | None = None,
    figures: Mapping[str, Any] | None = None,
    artifact_location: str | None = None,
    run_name: str | None = None,
    pip_requirements: list[str] | None = None,
) -> TrackedModel:
    """Log a fitted risk model to MLflow and register it (one new version per call).

    Creates the experiment if needed (with ``artifact_location``), starts a run, logs
    ``params`` (+ trait, trait_type, feature_names, prs_column unless given), ``tags``,
    every metric of ``result.metrics``, each figure as ``plots/<key>.png``, and the full
    model via ``mlflow.sklearn.log_model(name="model", ...)`` with a signature inferred
    from ``input_example`` (restricted to ``result.feature_names``, cast to float, index
    dropped) and its predictions. For binary traits the pyfunc flavour predicts with
    ``predict_proba`` (signature output: two probability columns). ``pip_requirements``
    defaults to the installed scikit-learn/numpy/pandas/scipy versions, which skips
    MLflow's slow requirement inference.
    """
    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature

    binary = result.trait_type == BINARY
    model = result.full_model
    feats = list(result.feature_names)

    if input_example is None:
        example = pd.DataFrame(np.zeros((2, len(feats))), columns=feats)
    else:
        example = build_feature_frame(input_example, feats).reset_index(drop=True)
        if example.isna().any().any():
            raise ValueError("input_example has missing feature values")
    predictions = model.predict_proba(example) if binary else model.predict(example)
    signature = infer_signature(example, predictions)

    if pip_requirements is None:
        pip_requirements = _default_requirements()

    all_params: dict[str, Any] = {
        "trait": result.trait,
        "trait_type": result.trait_type,
        "prs_column": result.prs_column,
        "feature_names": feats,
    }
    all_params.update(dict(params or {}))
    all_tags = {"genolake.trait": result.trait, "genolake.trait_type": result.trait_type}
    all_tags.update({str(k): str(v) for k, v in dict(tags or {}).items()})

    with _quiet_mlflow():
        experiment_id = get_or_create_experiment(experiment_name, artifact_location)
        nested = mlflow.active_run() is not None
        with mlflow.start_run(experiment_id=experiment_id, run_name=run_name,
                              nested=nested) as run:
            run_id = run.info.run_id
            mlflow.set_tags(all_tags)
            mlflow.log_params({str(k): _param_value(v) for k, v in all_params.items()})
            metrics = {_metric_key(k): float(v) for k, v in result.metrics.items()
                       if v is not None}
            if metrics:
                mlflow.log_metrics(metrics)
            for key, fig in dict(figures or {}).items():
                mlflow.log_figure(fig, _figure_path(key))
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                signature=signature,
                input_example=example,
                registered_model_name=registered_model_name,
                pyfunc_predict_fn="predict_proba" if binary else "predict",
                pip_requirements=pip_requirements,
            )
    version = str(info.registered_model_version)
    return TrackedModel(
        run_id=run_id,
        model_uri=info.model_uri,
        model_version=version,
        experiment_id=str(experiment_id),
        registered_model_name=registered_model_name,
        registered_model_uri=f"models:/{registered_model_name}/{version}",
        model_id=str(getattr(info, "model_id", "") or ""),
    )


def _default_requirements() -> list[str]:
    from importlib import metadata

    reqs = []
    for dist in ("scikit-learn", "numpy", "pandas", "scipy"):
        try:
            reqs.append(f"{dist}=={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            continue
    return reqs


def load_registered_model(name: str, version: str | int):
    """The sklearn pipeline registered as ``name`` / ``version`` (``models:/name/version``)."""
    import mlflow.sklearn

    with _quiet_mlflow():
        return mlflow.sklearn.load_model(f"models:/{name}/{version}")
