"""Where MLflow tracks: the configured server, or a sqlite store under the results folder."""
from __future__ import annotations

import os


def tracking(config: dict) -> tuple[str, str, str]:
    """Return (tracking_uri, experiment_name, artifact_location) and point MLflow at them."""
    import logging
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    import mlflow
    m = config["mlflow"]
    store = os.path.abspath(os.path.join(config["results"], "mlflow"))
    os.makedirs(store, exist_ok=True)
    uri = m["tracking_uri"] or f"sqlite:///{store}/mlflow.db"
    experiment = m["experiment"] or f"genolake-{config['cohort']}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri, experiment, f"file://{store}/artifacts"
