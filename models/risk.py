"""Genotype-aware risk models: covariates-only ("base") vs covariates + PRS ("full").

Library code only: pandas frames in, fitted sklearn pipelines / metrics / numpy arrays out.

Feature encoding
----------------
Numeric (and bool) covariates are used as floats. Any non-numeric covariate is one-hot
encoded from the levels seen in the *training* rows, dropping the first (sorted) level as
reference; the dummy features are named ``"<column>=<level>"``. Feature names therefore
describe themselves, and :func:`build_feature_frame` / :func:`predict_risk` can rebuild
them from a raw participant frame (unseen levels count as the reference level).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

__all__ = [
    "RiskModelResult",
    "fit_and_evaluate",
    "predict_risk",
    "build_feature_frame",
    "percentile_of",
    "relative_risk",
    "risk_category",
    "risk_categories",
    "BINARY",
    "QUANTITATIVE",
]

BINARY = "binary"
QUANTITATIVE = "quantitative"
_TYPE_ALIASES = {
    "binary": BINARY, "case_control": BINARY, "case-control": BINARY,
    "quantitative": QUANTITATIVE, "continuous": QUANTITATIVE,
}
_DUMMY_SEP = "="


# ----------------------------------------------------------------------------- result type
@dataclass
class RiskModelResult:
    """Outcome of :func:`fit_and_evaluate`.

    ``feature_names`` is the column order of the full model (covariate features, then the
    PRS column); ``base_feature_names`` is the same without the PRS. ``metrics`` values
    are plain floats (counts included). ``test_predictions`` is indexed like the input
    frame (complete test rows only) with columns y_true, pred_full, pred_base.
    """

    trait: str
    trait_type: str
    full_model: Any
    base_model: Any
    feature_names: list[str]
    metrics: dict[str, float]
    test_predictions: pd.DataFrame
    base_feature_names: list[str] = field(default_factory=list)
    prs_column: str = "prs"
    covariates: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- helpers
def _normalise_trait_type(trait_type: str) -> str:
    try:
        return _TYPE_ALIASES[str(trait_type).strip().lower()]
    except KeyError:
        raise ValueError(
            f"trait_type must be 'binary' or 'quantitative', got {trait_type!r}"
        ) from None


def _is_numeric(col: pd.Series) -> bool:
    return (
        pd.api.types.is_bool_dtype(col)
        or (pd.api.types.is_numeric_dtype(col) and not isinstance(col.dtype, pd.CategoricalDtype))
    )


def _to_float(col: pd.Series, name: str) -> np.ndarray:
    if pd.api.types.is_bool_dtype(col):
        return col.astype("float64").to_numpy(dtype=float, na_value=np.nan)
    if _is_numeric(col):
        return col.to_numpy(dtype=float, na_value=np.nan)
    try:
        return pd.to_numeric(col, errors="raise").to_numpy(dtype=float, na_value=np.nan)
    except (ValueError, TypeError):
        raise ValueError(f"column {name!r} is not numeric") from None


def _as_mask(mask, df: pd.DataFrame, name: str) -> np.ndarray:
    if isinstance(mask, pd.Series):
        if not mask.index.equals(df.index):
            mask = mask.reindex(df.index)  # rows absent from the mask -> False
        if mask.dtype == object:
            try:
                mask = mask.astype("boolean")
            except (TypeError, ValueError):
                pass
        if not pd.api.types.is_bool_dtype(mask):
            raise TypeError(f"{name} must be a boolean mask (got dtype {mask.dtype})")
        arr = mask.to_numpy(dtype=bool, na_value=False)
    else:
        arr = np.asarray(mask)
    if arr.dtype != bool:
        raise TypeError(f"{name} must be a boolean mask (got dtype {arr.dtype})")
    if arr.shape != (len(df),):
        raise ValueError(f"{name} has shape {arr.shape}, expected ({len(df)},)")
    return arr


def _resolve_masks(df, train_mask, test_mask, seed, test_fraction=0.3):
    n = len(df)
    if train_mask is None and test_mask is None:
        rng = np.random.default_rng(seed)
        test = np.zeros(n, dtype=bool)
        test[rng.permutation(n)[: int(round(test_fraction * n))]] = True
        return ~test, test
    train = None if train_mask is None else _as_mask(train_mask, df, "train_mask")
    test = None if test_mask is None else _as_mask(test_mask, df, "test_mask")
    if train is None:
        train = ~test
    if test is None:
        test = ~train
    if (train & test).any():
        raise ValueError(
            f"train_mask and test_mask overlap in {int((train & test).sum())} rows"
        )
    return train, test


def _encode_covariates(
    df: pd.DataFrame, covariates: Sequence[str], level_rows: np.ndarray
) -> tuple[pd.DataFrame, list[str], np.ndarray]:
    """Return (features frame, feature names, complete-mask over raw covariates)."""
    cols: dict[str, np.ndarray] = {}
    complete = np.ones(len(df), dtype=bool)
    for c in covariates:
        col = df[c]
        if _is_numeric(col):
            v = _to_float(col, c)
            complete &= np.isfinite(v)
            cols[c] = v
        else:
            present = col.notna().to_numpy()
            complete &= present
            as_str = col.astype("string")
            levels = sorted(set(as_str[level_rows & present].dropna().tolist()))
            for level in levels[1:]:  # first level = reference
                v = (as_str == level).to_numpy(dtype=float, na_value=np.nan)
                v[~present] = np.nan
                cols[f"{c}{_DUMMY_SEP}{level}"] = v
    names = list(cols)
    return pd.DataFrame(cols, index=df.index, columns=names, dtype=float), names, complete


def build_feature_frame(df: pd.DataFrame, feature_names: Sequence[str]) -> pd.DataFrame:
    """Float frame with columns ``feature_names`` (in order), indexed like ``df``.

    A feature is taken from the column of the same name, or, for one-hot features named
    ``"<column>=<level>"``, rebuilt from the raw ``column`` (1.0 if equal to level, else
    0.0; NaN where the raw value is missing). Missing/non-finite values stay NaN.
    """
    out: dict[str, np.ndarray] = {}
    for name in feature_names:
        if name in df.columns and (_is_numeric(df[name]) or _DUMMY_SEP not in name):
            v = _to_float(df[name], name)
            v[~np.isfinite(v)] = np.nan
            out[name] = v
            continue
        raw_col = level = None
        idx = name.find(_DUMMY_SEP)
        while idx != -1:
            if name[:idx] in df.columns:
                raw_col, level = name[:idx], name[idx + 1:]
                break
            idx = name.find(_DUMMY_SEP, idx + 1)
        if raw_col is None:
            raise KeyError(f"feature {name!r} cannot be built: no such column in the frame")
        col = df[raw_col]
        v = (col.astype("string") == level).to_numpy(dtype=float, na_value=np.nan)
        v[col.isna().to_numpy()] = np.nan
        out[name] = v
    return pd.DataFrame(out, index=df.index, columns=list(feature_names), dtype=float)


def _make_pipeline(trait_type: str, n_features: int) -> Pipeline:
    if n_features == 0:  # intercept-only model (no covariates)
        est = DummyClassifier(strategy="prior") if trait_type == BINARY else DummyRegressor()
        return Pipeline([("model", est)])
    if trait_type == BINARY:
        # C=inf is an unpenalised fit (sklearn >= 1.8 deprecates penalty=None).
        est = LogisticRegression(C=np.inf, max_iter=5000)
    else:
        est = LinearRegression()
    return Pipeline([("scaler", StandardScaler()), ("model", est)])


def _predict(model, X: pd.DataFrame, binary: bool | None = None) -> np.ndarray:
    if binary is None:
        binary = hasattr(model, "predict_proba")
    if binary:
        return np.asarray(model.predict_proba(X))[:, 1].astype(float)
    return np.asarray(model.predict(X), dtype=float).ravel()


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC (Mann-Whitney, ties averaged); NaN if only one class is present."""
    yb = y.astype(bool)
    n1 = int(yb.sum())
    n0 = yb.size - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = stats.rankdata(score)
    return float((ranks[yb].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    sst = float(np.sum((y - y.mean()) ** 2))
    if sst == 0.0:
        return float("nan")
    return 1.0 - float(np.sum((y - pred) ** 2)) / sst


def _coef_stats(model: Pipeline, X: pd.DataFrame, y: np.ndarray, j: int, binary: bool):
    """Coefficient of feature j on the standardised scale (per SD) and its Wald SE."""
    scaler, est = model.named_steps["scaler"], model.named_steps["model"]
    z = np.asarray(scaler.transform(X), dtype=float)
    design = np.column_stack([np.ones(len(z)), z])
    coef = float(np.ravel(est.coef_)[j])
    beta = np.r_[np.ravel(est.intercept_), np.ravel(est.coef_)]
    try:
        if binary:
            p = _sigmoid(design @ beta)
            w = p * (1.0 - p)
            cov = np.linalg.pinv(design.T @ (design * w[:, None]))
        else:
            resid = y - design @ beta
            dof = max(len(y) - design.shape[1], 1)
            cov = float(resid @ resid) / dof * np.linalg.pinv(design.T @ design)
        se = float(np.sqrt(cov[j + 1, j + 1]))
    except (np.linalg.LinAlgError, FloatingPointError, ValueError):
        se = float("nan")
    return coef, se, float(scaler.scale_[j])


def _sigmoid(t: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * t))


# ----------------------------------------------------------------------------- main entry
def fit_and_evaluate(
    df: pd.DataFrame,
    trait: str,
    trait_type: str,
    covariates: Sequence[str],
    prs_column: str = "prs",
    train_mask=None,
    test_mask=None,
    n_boot: int = 200,
    seed: int = 0,
    ci_level: float = 0.95,
) -> RiskModelResult:
    """Fit base (covariates) and full (covariates + PRS) models on ``train_mask`` rows and
    evaluate both on ``test_mask`` rows.

    ``df`` has one row per participant. ``train_mask`` / ``test_mask`` are boolean arrays
    (or Series aligned on ``df.index``); if only one is given the other is its complement,
    if neither, a seeded 70/30 random split is used. Overlapping masks raise ValueError.
    Rows with a missing trait, covariate or PRS value are dropped (counted in the metrics).

    Metrics (all floats):
      common: n_train, n_test, n_dropped_missing, n_dropped_missing_train,
        n_dropped_missing_test, n_boot, n_boot_valid, prs_coef, prs_coef_se,
        prs_coef_ci_low, prs_coef_ci_high (per SD of the training PRS), prs_sd_train
      binary: auc_full, auc_base, auc_gain, auc_gain_ci_low, auc_gain_ci_high,
        auc_full_ci_low, auc_full_ci_high, brier_full, brier_base, n_cases_train,
        n_cases_test, prs_or_per_sd, prs_or_ci_low, prs_or_ci_high
      quantitative: r2_full, r2_base, incremental_r2, incremental_r2_ci_low,
        incremental_r2_ci_high, r2_full_ci_low, r2_full_ci_high, rmse_full, rmse_base
    CIs of auc_gain / incremental_r2 are paired percentile bootstraps over test rows
    (``n_boot`` resamples, ``seed``); the PRS coefficient CI is a Wald interval.
    """
    trait_type = _normalise_trait_type(trait_type)
    binary = trait_type == BINARY
    covariates = [str(c) for c in covariates]
    needed = [trait, prs_column, *covariates]
    missing_cols = [c for c in needed if c not in df.columns]
    if missing_cols:
        raise KeyError(f"fit_and_evaluate: missing column(s) {missing_cols}")
    if prs_column in covariates or trait in covariates or trait == prs_column:
        raise ValueError("trait, prs_column and covariates must be distinct columns")
    if not 0 < ci_level < 1:
        raise ValueError("ci_level must be in (0, 1)")

    train, test = _resolve_masks(df, train_mask, test_mask, seed)

    y_all = _to_float(df[trait], trait)
    prs = _to_float(df[prs_column], prs_column)
    complete = np.isfinite(y_all) & np.isfinite(prs)
    # levels for one-hot encoding come from training rows only
    cov_frame, cov_names, cov_complete = _encode_covariates(df, covariates, train & complete)
    complete &= cov_complete

    if binary:
        observed = np.unique(y_all[np.isfinite(y_all)])
        if not set(observed.tolist()) <= {0.0, 1.0}:
            raise ValueError(f"binary trait {trait!r} must be coded 0/1 (found {observed[:5]}...)")

    tr, te = train & complete, test & complete
    n_tr, n_te = int(tr.sum()), int(te.sum())
    if n_tr == 0 or n_te == 0:
        raise ValueError(f"no complete rows to {'fit' if n_tr == 0 else 'evaluate'} on")

    X = cov_frame.copy()
    if prs_column in X.columns:  # cannot happen for distinct names, but keep order explicit
        X = X.drop(columns=prs_column)
    X[prs_column] = prs
    feature_names = [*cov_names, prs_column]
    base_names = list(cov_names)
    y_tr, y_te = y_all[tr], y_all[te]

    if binary and len(np.unique(y_tr)) < 2:
        raise ValueError(f"training rows of binary trait {trait!r} contain a single class")

    full = _make_pipeline(trait_type, len(feature_names)).fit(X.loc[tr, feature_names], y_tr)
    base = _make_pipeline(trait_type, len(base_names)).fit(X.loc[tr, base_names], y_tr)

    pred_full = _predict(full, X.loc[te, feature_names], binary)
    pred_base = _predict(base, X.loc[te, base_names], binary)

    m: dict[str, float] = {
        "n_train": float(n_tr),
        "n_test": float(n_te),
        "n_dropped_missing": float(((train | test) & ~complete).sum()),
        "n_dropped_missing_train": float((train & ~complete).sum()),
        "n_dropped_missing_test": float((test & ~complete).sum()),
    }

    # bootstrap (paired: same resampled rows for both models)
    rng = np.random.default_rng(seed)
    alpha = 1.0 - ci_level
    n_boot = int(max(n_boot, 0))
    boot_gain = np.full(n_boot, np.nan)
    boot_full = np.full(n_boot, np.nan)
    for b in range(n_boot):
        idx = rng.integers(0, n_te, size=n_te)
        yb = y_te[idx]
        if binary:
            f, g = _auc(yb, pred_full[idx]), _auc(yb, pred_base[idx])
        else:
            f, g = _r2(yb, pred_full[idx]), _r2(yb, pred_base[idx])
        boot_full[b] = f
        boot_gain[b] = f - g
    valid = np.isfinite(boot_gain)
    m["n_boot"] = float(n_boot)
    m["n_boot_valid"] = float(valid.sum())

    def _ci(values: np.ndarray) -> tuple[float, float]:
        v = values[np.isfinite(values)]
        if v.size < max(10, 0.5 * n_boot) or n_boot == 0:
            return float("nan"), float("nan")
        lo, hi = np.percentile(v, [100 * alpha / 2, 100 * (1 - alpha / 2)])
        return float(lo), float(hi)

    if binary:
        auc_f, auc_b = _auc(y_te, pred_full), _auc(y_te, pred_base)
        if not np.isfinite(auc_f):
            warnings.warn(f"test rows of {trait!r} contain a single class; AUC undefined",
                          RuntimeWarning, stacklevel=2)
        m["auc_full"], m["auc_base"], m["auc_gain"] = auc_f, auc_b, auc_f - auc_b
        m["auc_gain_ci_low"], m["auc_gain_ci_high"] = _ci(boot_gain)
        m["auc_full_ci_low"], m["auc_full_ci_high"] = _ci(boot_full)
        m["brier_full"] = float(np.mean((pred_full - y_te) ** 2))
        m["brier_base"] = float(np.mean((pred_base - y_te) ** 2))
        m["n_cases_train"] = float(y_tr.sum())
        m["n_cases_test"] = float(y_te.sum())
    else:
        r2_f, r2_b = _r2(y_te, pred_full), _r2(y_te, pred_base)
        m["r2_full"], m["r2_base"], m["incremental_r2"] = r2_f, r2_b, r2_f - r2_b
        m["incremental_r2_ci_low"], m["incremental_r2_ci_high"] = _ci(boot_gain)
        m["r2_full_ci_low"], m["r2_full_ci_high"] = _ci(boot_full)
        m["rmse_full"] = float(np.sqrt(np.mean((pred_full - y_te) ** 2)))
        m["rmse_base"] = float(np.sqrt(np.mean((pred_base - y_te) ** 2)))

    # PRS effect per SD (standardised scale of the full model)
    j = feature_names.index(prs_column)
    coef, se, sd = _coef_stats(full, X.loc[tr, feature_names], y_tr, j, binary)
    if binary and np.any(np.abs(np.ravel(full.named_steps["model"].coef_)) > 15):
        warnings.warn(f"{trait!r}: very large log-odds coefficients (|beta| > 15 per SD); "
                      "the data may be (quasi-)separated and the odds ratios unreliable",
                      RuntimeWarning, stacklevel=2)
    zcrit = float(stats.norm.ppf(1 - alpha / 2))
    m["prs_coef"], m["prs_coef_se"], m["prs_sd_train"] = coef, se, sd
    m["prs_coef_ci_low"], m["prs_coef_ci_high"] = coef - zcrit * se, coef + zcrit * se
    if binary:
        m["prs_or_per_sd"] = _safe_exp(coef)
        m["prs_or_ci_low"] = _safe_exp(coef - zcrit * se)
        m["prs_or_ci_high"] = _safe_exp(coef + zcrit * se)

    test_predictions = pd.DataFrame(
        {"y_true": y_te, "pred_full": pred_full, "pred_base": pred_base},
        index=df.index[te],
    )
    return RiskModelResult(
        trait=str(trait),
        trait_type=trait_type,
        full_model=full,
        base_model=base,
        feature_names=feature_names,
        metrics={k: float(v) for k, v in m.items()},
        test_predictions=test_predictions,
        base_feature_names=base_names,
        prs_column=prs_column,
        covariates=covariates,
    )


def _safe_exp(x: float) -> float:
    try:
        return math.exp(x) if np.isfinite(x) else float("nan")
    except OverflowError:
        return float("inf")


def predict_risk(model, df: pd.DataFrame, feature_names: Sequence[str],
                 trait_type: str | None = None) -> np.ndarray:
    """Predicted probability (binary: model has ``predict_proba``) or value (quantitative)
    for every row of ``df``; NaN where any feature is missing. Works with the fitted
    pipelines of :class:`RiskModelResult` and with models loaded back from MLflow."""
    X = build_feature_frame(df, feature_names)
    out = np.full(len(df), np.nan)
    ok = X.notna().all(axis=1).to_numpy()
    if ok.any():
        binary = None if trait_type is None else _normalise_trait_type(trait_type) == BINARY
        out[ok] = _predict(model, X.loc[ok, list(feature_names)], binary)
    return out


# ----------------------------------------------------------------------------- categories
def percentile_of(values, reference) -> np.ndarray:
    """Percentile (0-100) of each value in ``reference``: 100 * fraction of reference <= value.

    NaNs in ``reference`` are ignored; NaN values give NaN. Returns an array shaped like
    ``values`` (0-d for a scalar)."""
    ref = np.asarray(reference, dtype=float).ravel()
    ref = np.sort(ref[~np.isnan(ref)])
    if ref.size == 0:
        raise ValueError("percentile_of: reference has no non-missing values")
    v = np.asarray(values, dtype=float)
    out = np.searchsorted(ref, v, side="right") / ref.size * 100.0
    return np.where(np.isnan(v), np.nan, out)


def relative_risk(values, reference_values) -> np.ndarray:
    """Ratio of each predicted risk to the mean predicted risk of the reference."""
    ref_mean = _reference_mean(reference_values)
    return np.asarray(values, dtype=float) / ref_mean


def _reference_mean(reference_values) -> float:
    ref = np.asarray(reference_values, dtype=float).ravel()
    ref = ref[np.isfinite(ref)]
    if ref.size == 0:
        raise ValueError("reference has no non-missing values")
    mean = float(ref.mean())
    if mean <= 0:
        raise ValueError("mean reference risk must be > 0")
    return mean


def _band_limits(bands: Sequence[Mapping[str, Any]], key: str) -> tuple[list[str], np.ndarray]:
    if not bands:
        raise ValueError("bands must be a non-empty list")
    names, limits = [], []
    for i, band in enumerate(bands):
        if "name" not in band:
            raise ValueError(f"band {i} has no 'name'")
        lim = band.get(key)
        if lim is None and i != len(bands) - 1:
            raise ValueError(f"band {band['name']!r}: only the last band may have {key}=null "
                             f"(trait type and band keys must match: {key!r} expected)")
        if lim is not None and i == len(bands) - 1:
            lim_f = float(lim)
            if not math.isinf(lim_f):
                raise ValueError(f"the last band must be open-ended ({key}: null)")
        names.append(str(band["name"]))
        limits.append(math.inf if lim is None else float(lim))
    lim_arr = np.asarray(limits, dtype=float)
    if np.any(np.diff(lim_arr) <= 0):
        raise ValueError(f"band {key} values must be strictly increasing")
    return names, lim_arr


def risk_categories(values, reference_values, trait_type: str,
                    bands: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Vectorised :func:`risk_category`: object array of band names (None for NaN values).

    binary: ratio = value / mean(reference); the first band with ratio <= max_ratio.
    quantitative: p = percentile_of(value, reference); the first band with
    p <= max_percentile. The last band must be open-ended (max_* = null). Upper limits
    are inclusive.
    """
    tt = _normalise_trait_type(trait_type)
    if tt == BINARY:
        names, limits = _band_limits(bands, "max_ratio")
        score = relative_risk(values, reference_values)
    else:
        names, limits = _band_limits(bands, "max_percentile")
        score = percentile_of(values, reference_values)
    score = np.asarray(score, dtype=float)
    idx = np.searchsorted(limits, score, side="left")  # first i with limits[i] >= score
    out = np.empty(score.shape, dtype=object)
    flat_idx, flat_score, flat_out = idx.ravel(), score.ravel(), out.reshape(-1)
    for k in range(flat_out.size):
        flat_out[k] = None if np.isnan(flat_score[k]) else names[min(flat_idx[k], len(names) - 1)]
    return out


def risk_category(value: float, reference_values, trait_type: str,
                  bands: Sequence[Mapping[str, Any]]) -> str | None:
    """Band name of one predicted value (None if the value is NaN); see :func:`risk_categories`."""
    return risk_categories(np.asarray([value], dtype=float), reference_values, trait_type, bands)[0]
