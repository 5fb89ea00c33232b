"""Risk models (models/risk.py) and MLflow tracking/registry (models/tracking.py)."""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from models.risk import (
    build_feature_frame,
    fit_and_evaluate,
    percentile_of,
    predict_risk,
    relative_risk,
    risk_categories,
    risk_category,
)

BINARY_BANDS = [
    {"name": "below average", "max_ratio": 0.8},
    {"name": "average", "max_ratio": 1.25},
    {"name": "elevated", "max_ratio": 2.0},
    {"name": "high", "max_ratio": None},
]
QUANT_BANDS = [
    {"name": "low", "max_percentile": 20},
    {"name": "average", "max_percentile": 80},
    {"name": "elevated", "max_percentile": 95},
    {"name": "high", "max_percentile": None},
]


# ----------------------------------------------------------------------------- simulated data
def _cohort(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.normal(55, 8, n),
            "sex": rng.integers(0, 2, n),
            "prs": rng.normal(0, 1, n),
            "noise_prs": rng.normal(0, 1, n),
        },
        index=pd.Index([f"P{i:05d}" for i in range(n)], name="participant_id"),
    )


def _binary_df(n=6000, seed=1, log_or=np.log(2.0)):
    df = _cohort(n, seed)
    rng = np.random.default_rng(seed + 100)
    lp = -1.5 + 0.03 * (df["age"] - 55) + 0.3 * df["sex"] + log_or * df["prs"]
    df["disease"] = (rng.random(n) < 1 / (1 + np.exp(-lp))).astype(int)
    return df


def _split(n, seed=3, frac=0.3):
    test = np.random.default_rng(seed).random(n) < frac
    return ~test, test


@pytest.fixture(scope="module")
def binary_result():
    df = _binary_df()
    train, test = _split(len(df))
    return df, fit_and_evaluate(df, "disease", "binary", ["age", "sex"], "prs",
                                train_mask=train, test_mask=test, n_boot=200, seed=0)


# ----------------------------------------------------------------------------- binary
def test_binary_prs_or2_gives_positive_auc_gain(binary_result):
    df, r = binary_result
    m = r.metrics
    assert r.trait_type == "binary"
    assert r.feature_names == ["age", "sex", "prs"]
    assert r.base_feature_names == ["age", "sex"]
    assert m["auc_full"] > m["auc_base"]
    assert m["auc_gain"] == pytest.approx(m["auc_full"] - m["auc_base"])
    assert m["auc_gain"] > 0 and m["auc_gain_ci_low"] > 0
    assert m["auc_gain_ci_low"] < m["auc_gain"] < m["auc_gain_ci_high"]
    # true OR per SD is 2 (PRS simulated with SD 1)
    assert 1.7 < m["prs_or_per_sd"] < 2.35
    assert m["prs_or_ci_low"] < 2.0 < m["prs_or_ci_high"]
    assert m["prs_or_per_sd"] == pytest.approx(np.exp(m["prs_coef"]))
    assert 0 < m["brier_full"] < m["brier_base"] < 0.25
    _, test = _split(len(df))
    assert m["n_test"] == test.sum()
    assert m["n_cases_test"] == df.loc[test, "disease"].sum()
    assert m["n_dropped_missing"] == 0
    assert all(isinstance(v, float) for v in m.values())


def test_binary_test_predictions_and_predict_risk(binary_result):
    df, r = binary_result
    tp = r.test_predictions
    _, test = _split(len(df))
    assert list(tp.columns) == ["y_true", "pred_full", "pred_base"]
    assert tp.index.equals(df.index[test])
    assert ((tp.pred_full > 0) & (tp.pred_full < 1)).all()
    p = predict_risk(r.full_model, df, r.feature_names)
    assert p.shape == (len(df),)
    np.testing.assert_allclose(p[test], tp.pred_full.to_numpy())
    pb = predict_risk(r.base_model, df, r.base_feature_names)
    np.testing.assert_allclose(pb[test], tp.pred_base.to_numpy())
    # incomplete rows give NaN
    df2 = df.copy()
    df2.iloc[0, df2.columns.get_loc("prs")] = np.nan
    p2 = predict_risk(r.full_model, df2, r.feature_names)
    assert np.isnan(p2[0]) and np.isfinite(p2[1:]).all()


def test_noise_prs_ci_contains_zero():
    df = _binary_df(n=4000, seed=11)
    train, test = _split(len(df), seed=5)
    r = fit_and_evaluate(df, "disease", "binary", ["age", "sex"], "noise_prs",
                         train_mask=train, test_mask=test, n_boot=200, seed=0)
    m = r.metrics
    assert m["auc_gain_ci_low"] <= 0 <= m["auc_gain_ci_high"]
    assert abs(m["auc_gain"]) < 0.02
    assert m["prs_or_ci_low"] < 1 < m["prs_or_ci_high"]


def test_bootstrap_is_seeded():
    df = _binary_df(n=1500, seed=4)
    train, test = _split(len(df))
    kw = dict(train_mask=train, test_mask=test, n_boot=50)
    a = fit_and_evaluate(df, "disease", "binary", ["age", "sex"], "prs", seed=7, **kw)
    b = fit_and_evaluate(df, "disease", "binary", ["age", "sex"], "prs", seed=7, **kw)
    c = fit_and_evaluate(df, "disease", "binary", ["age", "sex"], "prs", seed=8, **kw)
    assert a.metrics == b.metrics
    assert a.metrics["auc_gain_ci_low"] != c.metrics["auc_gain_ci_low"]


# ----------------------------------------------------------------------------- quantitative
def test_quantitative_incremental_r2_matches_truth():
    n = 8000
    df = _cohort(n, seed=21)
    rng = np.random.default_rng(22)
    # var(age part) = 0.3, var(prs part) = 0.2, var(noise) = 0.5 -> total 1
    age_z = (df["age"] - 55) / 8
    df["ldl"] = np.sqrt(0.3) * age_z + np.sqrt(0.2) * df["prs"] + rng.normal(0, np.sqrt(0.5), n)
    train, test = _split(n)
    r = fit_and_evaluate(df, "ldl", "quantitative", ["age", "sex"], "prs",
                         train_mask=train, test_mask=test, n_boot=100, seed=0)
    m = r.metrics
    assert r.trait_type == "quantitative"
    assert m["incremental_r2"] == pytest.approx(m["r2_full"] - m["r2_base"])
    assert abs(m["incremental_r2"] - 0.2) < 0.05
    assert abs(m["r2_full"] - 0.5) < 0.05
    assert m["incremental_r2_ci_low"] < m["incremental_r2"] < m["incremental_r2_ci_high"]
    assert m["incremental_r2_ci_low"] > 0.1
    assert m["prs_coef"] == pytest.approx(np.sqrt(0.2), abs=0.04)  # per SD of PRS
    assert m["rmse_full"] == pytest.approx(np.sqrt(0.5), abs=0.04)
    assert "auc_full" not in m and "prs_or_per_sd" not in m
    pred = predict_risk(r.full_model, df, r.feature_names)
    np.testing.assert_allclose(pred[test], r.test_predictions.pred_full.to_numpy())


# ----------------------------------------------------------------------------- robustness
def test_missing_rows_dropped_and_categorical_covariate_encoded():
    df = _binary_df(n=3000, seed=31)
    rng = np.random.default_rng(32)
    df["centre"] = rng.choice(["Leeds", "Oxford", "York"], len(df))
    df["sex"] = df["sex"].astype(float)
    df.iloc[0, df.columns.get_loc("age")] = np.nan
    df.iloc[1, df.columns.get_loc("disease")] = np.nan
    df.iloc[2, df.columns.get_loc("centre")] = None
    df.iloc[3, df.columns.get_loc("prs")] = np.nan
    train = pd.Series(np.arange(len(df)) % 3 != 0, index=df.index)  # rows 0 and 3 -> test
    r = fit_and_evaluate(df, "disease", "binary", ["age", "sex", "centre"], "prs",
                         train_mask=train, n_boot=20)
    assert r.feature_names == ["age", "sex", "centre=Oxford", "centre=York", "prs"]
    assert r.metrics["n_dropped_missing"] == 4
    assert r.metrics["n_dropped_missing_test"] == 2
    assert r.metrics["n_train"] + r.metrics["n_test"] == len(df) - 4
    assert not r.test_predictions.index.isin(df.index[:4]).any()
    X = build_feature_frame(df.iloc[:6], r.feature_names)
    assert np.isnan(X.iloc[2]["centre=Oxford"])
    expected = (df["centre"].iloc[3:6] == "York").astype(float).to_numpy()
    np.testing.assert_array_equal(X["centre=York"].iloc[3:6].to_numpy(), expected)
    p = predict_risk(r.full_model, df, r.feature_names)
    # row 1 only lacks the trait: it still gets a prediction
    assert np.isnan(p[[0, 2, 3]]).all() and np.isfinite(p[1]) and np.isfinite(p[4:]).all()


def test_input_validation():
    df = _binary_df(n=300, seed=41)
    train, test = _split(len(df))
    with pytest.raises(ValueError, match="overlap"):
        fit_and_evaluate(df, "disease", "binary", ["age"], "prs",
                         train_mask=np.ones(len(df), bool), test_mask=test)
    with pytest.raises(KeyError):
        fit_and_evaluate(df, "disease", "binary", ["bmi"], "prs", train_mask=train)
    with pytest.raises(ValueError, match="trait_type"):
        fit_and_evaluate(df, "disease", "ordinal", ["age"], "prs", train_mask=train)
    bad = df.assign(disease=df["disease"] * 2)
    with pytest.raises(ValueError, match="0/1"):
        fit_and_evaluate(bad, "disease", "binary", ["age"], "prs", train_mask=train)
    with pytest.raises(TypeError):
        fit_and_evaluate(df, "disease", "binary", ["age"], "prs", train_mask=np.arange(len(df)))


# ----------------------------------------------------------------------------- percentiles / categories
def test_percentile_of_hand_checked():
    ref = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, np.nan]
    np.testing.assert_allclose(percentile_of([0.5, 1, 5, 5.5, 10, 11], ref),
                               [0, 10, 50, 50, 100, 100])
    out = percentile_of([np.nan, 3], ref)
    assert np.isnan(out[0]) and out[1] == 30
    assert float(percentile_of(2, [2, 2, 3, 4])) == 50.0  # ties count as <=
    with pytest.raises(ValueError):
        percentile_of([1], [np.nan])


def test_binary_categories_hand_checked():
    ref = [0.05, 0.10, 0.15]  # mean 0.10
    np.testing.assert_allclose(relative_risk([0.05, 0.2], ref), [0.5, 2.0])
    cats = risk_categories([0.05, 0.08, 0.081, 0.125, 0.13, 0.2, 0.25, np.nan],
                           ref, "binary", BINARY_BANDS)
    assert list(cats) == ["below average", "below average", "average", "average",
                          "elevated", "elevated", "high", None]
    assert risk_category(0.3, ref, "binary", BINARY_BANDS) == "high"


def test_quantitative_categories_hand_checked():
    ref = np.arange(1, 101)  # percentile of value v is v
    vals = [1, 20, 20.5, 50, 80, 81, 95, 96, 1000]
    assert list(risk_categories(vals, ref, "quantitative", QUANT_BANDS)) == [
        "low", "low", "low", "average", "average", "elevated", "elevated", "high", "high"]
    assert risk_category(50, ref, "quantitative", QUANT_BANDS) == "average"


def test_bad_bands_rejected():
    with pytest.raises(ValueError):  # quantitative bands for a binary trait
        risk_category(0.1, [0.1], "binary", QUANT_BANDS)
    with pytest.raises(ValueError):  # not increasing
        risk_category(0.1, [0.1], "binary", [{"name": "a", "max_ratio": 2},
                                             {"name": "b", "max_ratio": 1},
                                             {"name": "c", "max_ratio": None}])
    with pytest.raises(ValueError):  # last band not open-ended
        risk_category(0.1, [0.1], "binary", [{"name": "a", "max_ratio": 2}])


# ----------------------------------------------------------------------------- MLflow
@pytest.fixture(scope="module")
def mlflow_store(tmp_path_factory):
    import mlflow
    import mlflow.tracking

    root = tmp_path_factory.mktemp("mlflow")
    prev_env = os.environ.get("MLFLOW_TRACKING_URI")
    prev_uri = mlflow.get_tracking_uri() if mlflow.tracking.is_tracking_uri_set() else None
    mlflow.set_tracking_uri(f"sqlite:///{root}/mlflow.db")
    try:
        yield root
    finally:
        mlflow.set_tracking_uri(prev_uri)
        if prev_env is not None:
            os.environ["MLFLOW_TRACKING_URI"] = prev_env


def test_mlflow_register_two_versions_and_reload(mlflow_store, binary_result):
    import mlflow
    from mlflow.tracking import MlflowClient

    from models.plots import roc_figure
    from models.tracking import load_registered_model, log_risk_model, make_input_example

    df, r = binary_result
    tp = r.test_predictions
    figs = {"roc": roc_figure(tp.y_true, tp.pred_full, tp.pred_base, "ROC")}
    example = make_input_example(df, r.feature_names)
    assert list(example.columns) == r.feature_names and len(example) == 3
    assert not example.index.isin(df.index).any()

    tracked = []
    for i in range(2):
        tracked.append(log_risk_model(
            r, experiment_name="genolake-risk", registered_model_name="risk_disease",
            params={"seed": i, "covariates": ["age", "sex"]}, tags={"cohort": "sim"},
            input_example=example, figures=figs,
            artifact_location=str(mlflow_store / "artifacts"),
        ))
    assert [t.model_version for t in tracked] == ["1", "2"]
    assert tracked[0].run_id != tracked[1].run_id
    assert tracked[0].experiment_id == tracked[1].experiment_id
    assert tracked[1].registered_model_uri == "models:/risk_disease/2"

    client = MlflowClient()
    exp = client.get_experiment(tracked[0].experiment_id)
    assert exp.artifact_location.endswith("artifacts")
    run = client.get_run(tracked[1].run_id)
    assert run.data.metrics["auc_gain"] == pytest.approx(r.metrics["auc_gain"])
    assert set(r.metrics) <= set(run.data.metrics)
    assert run.data.params["seed"] == "1" and run.data.params["trait"] == "disease"
    assert run.data.tags["cohort"] == "sim"
    assert [a.path for a in client.list_artifacts(run.info.run_id, "plots")] == ["plots/roc.png"]
    versions = sorted(str(v.version) for v in client.search_model_versions("name='risk_disease'"))
    assert versions == ["1", "2"]
    # artifacts live under the requested location
    assert any((mlflow_store / "artifacts").rglob("MLmodel"))

    loaded = load_registered_model("risk_disease", "2")
    p_mem = predict_risk(r.full_model, df, r.feature_names)
    p_loaded = predict_risk(loaded, df, r.feature_names)
    np.testing.assert_array_equal(p_loaded, p_mem)
    # the logged model URI (models:/<model_id>) loads the same pipeline
    pyfunc = mlflow.pyfunc.load_model(tracked[1].model_uri)
    out = np.asarray(pyfunc.predict(example))
    np.testing.assert_allclose(out, r.full_model.predict_proba(example))


def test_mlflow_quantitative_model(mlflow_store):
    from models.tracking import load_registered_model, log_risk_model

    df = _cohort(600, seed=51)
    df["height"] = 170 + 3 * df["prs"] + np.random.default_rng(52).normal(0, 5, len(df))
    train, test = _split(len(df))
    r = fit_and_evaluate(df, "height", "quantitative", ["age", "sex"], "prs",
                         train_mask=train, test_mask=test, n_boot=20)
    t = log_risk_model(r, "genolake-risk", "risk_height", params={}, tags={},
                       input_example=None, figures={},
                       artifact_location=str(mlflow_store / "artifacts"))
    assert t.model_version == "1"
    loaded = load_registered_model("risk_height", 1)
    np.testing.assert_array_equal(predict_risk(loaded, df, r.feature_names),
                                  predict_risk(r.full_model, df, r.feature_names))
