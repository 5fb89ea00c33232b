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


def settle_unfinished(experiment: str, succeeded: set[str]) -> dict:
    """Tidy what an interrupted risk job left in MLflow (resume after a kill): every run of
    ``experiment`` tagged with a ``genolake_run_id`` that is not in ``succeeded`` (the risk jobs
    the lake records as succeeded) is ended as KILLED if still RUNNING, and the model versions
    registered from it are deleted (nothing uses them). Returns the counts."""
    from mlflow.tracking import MlflowClient
    client = MlflowClient()
    exp = client.get_experiment_by_name(experiment)
    out = {"runs_ended": 0, "runs_orphaned": 0, "versions_deleted": 0}
    if exp is None:
        return out
    for run in client.search_runs([exp.experiment_id], filter_string="tags.genolake_run_id != ''", max_results=50000):
        if run.data.tags.get("genolake_run_id") in succeeded:
            continue
        out["runs_orphaned"] += 1
        if run.info.status == "RUNNING":
            client.set_terminated(run.info.run_id, status="KILLED")
            out["runs_ended"] += 1
        for v in client.search_model_versions(f"run_id='{run.info.run_id}'"):
            client.delete_model_version(v.name, v.version)
            out["versions_deleted"] += 1
    return out
