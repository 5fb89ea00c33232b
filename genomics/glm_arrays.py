"""Association tests over blocks of genotypes, vectorised across variants (numpy / BLAS), with
PLINK 2 ``--glm`` semantics:

* per variant, samples with a missing genotype are dropped (no mean imputation);
* linear: ordinary least squares of y on covariates + dosage; t test with n - k - 1 degrees of
  freedom; several traits with the same samples share one pass;
* logistic: Newton-Raphson maximum likelihood from the null fit (a step larger than 0.5 is
  halved while the log-likelihood would fall), Wald z test; where it fails (no convergence,
  (quasi-)separation: a fitted probability reaching 0 or 1, or an estimate diverging) the
  variant is refitted with Firth's penalised likelihood (``firth_fallback``), whose standard
  error comes from the inverse of the penalised information matrix and whose p-value is the
  Wald z test on it (``test = "firth"``);
* on request (``test``) the likelihood-ratio test (the Wald fit's beta and SE, p from
  2 (ll1 - ll0) against chi-square 1 df, the null model refitted over each variant's called
  samples; failures go to Firth as above) or the score test (no fit under the alternative:
  U = g'(y - mu0), V = g'W0 g - g'W0 C (C'W0 C)^-1 C'W0 g at the null fit; p from U^2/V; the
  one-step estimate beta = U/V with SE 1/sqrt(V), as REGENIE and SAIGE report it).

``G``: int8 (variants x samples) alternate-allele counts, -1 missing. ``C``: (samples x k)
covariates including the intercept column. Library only: no I/O.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.special import expit
from scipy.stats import chi2, norm
from scipy.stats import t as t_dist


@dataclass
class AssocBlock:
    beta: np.ndarray        # (V,) or (V, T)
    se: np.ndarray
    stat: np.ndarray        # t (linear), z (Wald / Firth) or chi-square 1 df (LR / score)
    p: np.ndarray
    n: np.ndarray           # samples used per variant
    test: np.ndarray | None = None   # per variant: "linear", "logistic", "lrt", "score" or "firth"


def standardise_covariates(C: np.ndarray) -> np.ndarray:
    """Centre and scale every non-constant column (as PLINK's --covar-variance-standardize);
    the dosage's estimate and SE do not change, the fits are better conditioned."""
    C = np.asarray(C, dtype=np.float64).copy()
    for j in range(C.shape[1]):
        sd = C[:, j].std()
        if sd > 0:
            C[:, j] = (C[:, j] - C[:, j].mean()) / sd
    return C


def _missing(G: np.ndarray):
    miss = G < 0
    g = np.where(miss, 0, G).astype(np.float64)
    return g, miss


def _outer_cols(C: np.ndarray) -> np.ndarray:
    """(n, k*k): the outer product c c' of each sample's covariate row, flattened."""
    n, k = C.shape
    return (C[:, :, None] * C[:, None, :]).reshape(n, k * k)


def linear_block(G: np.ndarray, Y: np.ndarray, C: np.ndarray) -> AssocBlock:
    """OLS of each trait (columns of ``Y``, no missing values: give the samples with a value)
    on ``C`` + dosage, per variant over its called samples."""
    Y = np.asarray(Y, np.float64).reshape(len(Y), -1)
    n, k = C.shape
    g, miss = _missing(G)
    M = sparse.csr_matrix(miss.astype(np.float64))
    V, T = g.shape[0], Y.shape[1]
    CtC = C.T @ C
    A = CtC[None] - (M @ _outer_cols(C)).reshape(V, k, k)        # C'C over called samples
    b = (C.T @ Y)[None] - (M @ (C[:, :, None] * Y[:, None, :]).reshape(n, k * T)).reshape(V, k, T)
    yy = (Y * Y).sum(0)[None] - M @ (Y * Y)                          # (V, T)
    Cg = g @ C                                                       # (V, k): missing are 0
    gg = (g * g).sum(1)
    gy = g @ Y                                                       # (V, T)
    nv = n - np.asarray(M.sum(1)).ravel()
    sol = np.linalg.solve(A, np.concatenate([b, Cg[:, :, None]], axis=2))   # A^-1 [b, Cg]
    Ainv_b, Ainv_g = sol[:, :, :T], sol[:, :, T]
    s_gg = gg - np.einsum("vk,vk->v", Cg, Ainv_g)
    s_gy = gy - np.einsum("vk,vkt->vt", Cg, Ainv_b)
    rss0 = yy - np.einsum("vkt,vkt->vt", b, Ainv_b)
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = s_gy / s_gg[:, None]
        df = (nv - k - 1)[:, None]
        rss = rss0 - beta * s_gy
        se = np.sqrt(rss / df / s_gg[:, None])
        stat = beta / se
    bad = (s_gg <= 1e-8 * np.maximum(gg, 1))[:, None] | (df <= 0)
    beta, se, stat = (np.where(bad, np.nan, x) for x in (beta, se, stat))
    p = 2 * t_dist.sf(np.abs(stat), np.maximum(df, 1))
    p = np.where(np.isnan(stat), np.nan, p)
    test = np.full(V, "linear", dtype=object)
    squeeze = (lambda x: x[:, 0]) if T == 1 else (lambda x: x)
    return AssocBlock(squeeze(beta), squeeze(se), squeeze(stat), squeeze(p), nv.astype(np.int64), test)


def _tri(k: int):
    iu = np.triu_indices(k)
    return iu, iu[0] * k + iu[1]


BINARY_TESTS = ("wald", "lrt", "score")


def logistic_block(G: np.ndarray, y: np.ndarray, C: np.ndarray, firth_fallback: bool = True,
                   max_iter: int = 30, tol: float = 1e-10, test: str = "wald") -> AssocBlock:
    """Logistic regression of ``y`` (0/1, no missing) on ``C`` + dosage, per variant: the
    Wald test, or with ``test`` the likelihood-ratio or score test (module docstring); Wald and
    LR failures refitted with Firth regression when ``firth_fallback``."""
    if test not in BINARY_TESTS:
        raise ValueError(f"unknown logistic test {test!r}; one of {', '.join(BINARY_TESTS)}")
    y = np.asarray(y, np.float64)
    n, k = C.shape
    g, miss = _missing(G)
    obs = (~miss).astype(np.float64)
    V = g.shape[0]
    p1 = k + 1
    (ti, tj), flat = _tri(k)
    CC = _outer_cols(C)[:, flat]                                  # (n, k(k+1)/2): upper triangle
    # start every variant at the null model (covariates only, all samples), dosage effect 0
    alpha0 = _null_fit(y, C)
    if test == "score":
        return _score_block(g, obs, y, C, alpha0, ti, tj, CC)
    theta = np.zeros((V, p1))
    theta[:, :k] = alpha0
    failed = np.zeros(V, bool)
    cov = np.full((V, p1, p1), np.nan)
    # a zero cell (no copy of the minor allele among the cases, or none among the controls)
    # cannot converge: straight to the fallback
    called = (~miss).astype(np.float64)
    alt = (g * called)
    flip = alt.sum(1) > called.sum(1)                  # ALT is the major allele: count REF
    minor = np.where(flip[:, None], (2 - g) * called, alt)
    in_cases = minor @ y
    zero_cell = (in_cases == 0) | (minor.sum(1) - in_cases == 0)
    failed[zero_cell] = True
    active = np.flatnonzero(~zero_cell)
    # Newton steps; a large one (a rare variant's first step from the null can overshoot and
    # diverge) is halved while the log-likelihood would fall
    eta = theta[active, :k] @ C.T + theta[active, k:] * g[active]
    for _ in range(max_iter):
        if not len(active):
            break
        ga, oa = g[active], obs[active]
        pr = expit(eta)
        w = pr * (1 - pr) * oa
        r = (y[None] - pr) * oa
        H = _information(w, ga, C, ti, tj, CC)
        U = np.empty((len(active), p1))
        U[:, :k] = r @ C
        U[:, k] = (r * ga).sum(1)
        try:
            step = np.linalg.solve(H, U[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:
            step = np.stack([_safe_solve(h, u) for h, u in zip(H, U)])
        new = theta[active] + step
        new_eta = new[:, :k] @ C.T + new[:, k:] * ga
        big = np.flatnonzero(np.isfinite(step).all(1) & (np.abs(step).max(1) > 0.5))
        if len(big):
            ll = _loglik(eta[big], y, oa[big])
            new_ll = _loglik(new_eta[big], y, oa[big])
            for _half in range(12):
                worse = np.flatnonzero(~(new_ll >= ll - 1e-9))
                if not len(worse):
                    break
                rows = big[worse]
                step[rows] /= 2
                new[rows] = theta[active[rows]] + step[rows]
                new_eta[rows] = new[rows, :k] @ C.T + new[rows, k:] * ga[rows]
                new_ll[worse] = _loglik(new_eta[rows], y, oa[rows])
        theta[active] = new
        sep = ~np.isfinite(step).all(1) | (np.abs(np.nan_to_num(new, nan=np.inf)).max(1) > 30) \
            | (((pr < 1e-12) | (pr > 1 - 1e-12)) & (oa > 0)).any(1)
        done = np.abs(step).max(1) < tol * (1 + np.abs(new).max(1))
        fin = done & ~sep
        if fin.any():
            cov[active[fin]] = _inverse(H[fin])
        failed[active[sep]] = True
        keep = ~done & ~sep
        active, eta = active[keep], new_eta[keep]
    failed[active] = True                  # no convergence within max_iter
    beta = theta[:, k].copy()
    se = np.sqrt(cov[:, k, k])
    tests = np.full(V, "logistic", dtype=object)
    beta[failed], se[failed] = np.nan, np.nan
    nv = obs.sum(1).astype(np.int64)
    if firth_fallback and failed.any():
        idx = np.flatnonzero(failed)
        for a in range(0, len(idx), 512):
            part = idx[a:a + 512]
            fb, fse = firth_block(g[part], obs[part], y, C, alpha0)
            ok = np.isfinite(fb) & np.isfinite(fse)
            beta[part[ok]], se[part[ok]] = fb[ok], fse[ok]
            tests[part[ok]] = "firth"
    z = beta / se
    p = 2 * norm.sf(np.abs(z))
    if test == "lrt":
        lr = np.flatnonzero((tests == "logistic") & ~failed)
        theta0 = _null_fits(obs[lr], y, C, alpha0, ti, tj, CC)
        ll1 = _loglik(theta[lr, :k] @ C.T + theta[lr, k:] * g[lr], y, obs[lr])
        ll0 = _loglik(theta0 @ C.T, y, obs[lr])
        z[lr] = np.maximum(2 * (ll1 - ll0), 0)
        p[lr] = chi2.sf(z[lr], 1)
        tests[lr] = "lrt"
    return AssocBlock(beta, se, z, p, nv, tests)


def _loglik(eta: np.ndarray, y: np.ndarray, obs: np.ndarray) -> np.ndarray:
    """Per row of linear predictors: the Bernoulli log-likelihood over the called samples."""
    return (obs * (y[None] * eta - np.logaddexp(0, eta))).sum(1)


def _null_fits(obs: np.ndarray, y: np.ndarray, C: np.ndarray, alpha0: np.ndarray, ti, tj, CC,
               max_iter: int = 50, tol: float = 1e-10) -> np.ndarray:
    """The null model (covariates only) per variant over its called samples (rows of ``obs``):
    (V, k). Variants called in every sample share the all-sample fit ``alpha0``."""
    k = C.shape[1]
    theta = np.tile(alpha0, (obs.shape[0], 1))
    act = np.flatnonzero(~(obs > 0).all(1))
    for _ in range(max_iter):
        if not len(act):
            break
        pr = expit(theta[act] @ C.T)
        H = _covariate_information(pr * (1 - pr) * obs[act], k, ti, tj, CC)
        step = np.linalg.solve(H, (((y[None] - pr) * obs[act]) @ C)[:, :, None])[:, :, 0]
        theta[act] += step
        act = act[np.abs(step).max(1) >= tol * (1 + np.abs(theta[act]).max(1))]
    return theta


def _score_block(g, obs, y, C, alpha0, ti, tj, CC) -> AssocBlock:
    """The score test per variant at the null fit over its called samples (module docstring)."""
    k = C.shape[1]
    theta0 = _null_fits(obs, y, C, alpha0, ti, tj, CC)
    pr = expit(theta0 @ C.T)
    w = pr * (1 - pr) * obs
    U = ((y[None] - pr) * obs * g).sum(1)
    H = _covariate_information(w, k, ti, tj, CC)
    wg = w * g
    Cwg = wg @ C
    Vs = (wg * g).sum(1) - np.einsum("vk,vk->v", Cwg, np.linalg.solve(H, Cwg[:, :, None])[:, :, 0])
    ok = Vs > 1e-8 * np.maximum((wg * g).sum(1), 1e-300)
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = np.where(ok, U / Vs, np.nan)
        se = np.where(ok, 1 / np.sqrt(Vs), np.nan)
        stat = np.where(ok, U * U / Vs, np.nan)
    p = np.where(ok, chi2.sf(stat, 1), np.nan)
    return AssocBlock(beta, se, stat, p, obs.sum(1).astype(np.int64), np.full(len(g), "score", dtype=object))


def _covariate_information(w, k, ti, tj, CC) -> np.ndarray:
    """Per row of weights ``w`` the covariates' C'WC: (V, k, k); ``CC`` the upper triangle
    (``ti``, ``tj``) of each sample's c c'."""
    H = np.empty((w.shape[0], k, k))
    upper = w @ CC
    H[:, ti, tj] = upper
    H[:, tj, ti] = upper
    return H


def _information(w, g, C, ti, tj, CC) -> np.ndarray:
    """Per variant X'WX with X = [C, dosage]: (V, k+1, k+1)."""
    V, k = w.shape[0], C.shape[1]
    H = np.empty((V, k + 1, k + 1))
    H[:, :k, :k] = _covariate_information(w, k, ti, tj, CC)
    wg = w * g
    H[:, :k, k] = H[:, k, :k] = wg @ C
    H[:, k, k] = (wg * g).sum(1)
    return H


def _inverse(H: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.inv(H)
    except np.linalg.LinAlgError:
        return np.stack([np.linalg.pinv(h) for h in H])


def _safe_solve(h, u):
    try:
        return np.linalg.solve(h, u)
    except np.linalg.LinAlgError:
        return np.full_like(u, np.nan)


def _null_fit(y: np.ndarray, C: np.ndarray, max_iter: int = 50) -> np.ndarray:
    a = np.zeros(C.shape[1])
    for _ in range(max_iter):
        pr = expit(C @ a)
        w = pr * (1 - pr)
        step = np.linalg.solve((C * w[:, None]).T @ C, C.T @ (y - pr))
        a += step
        if np.abs(step).max() < 1e-12:
            break
    return a


def _penalised(theta, g, obs, y, C, k, ti, tj, CC):
    """Per variant: the Firth-penalised log-likelihood, the information X'WX, the fitted p, w."""
    eta = theta[:, :k] @ C.T + theta[:, k:] * g
    pr = expit(eta)
    w = pr * (1 - pr) * obs
    H = _information(w, g, C, ti, tj, CC)
    sign, logdet = np.linalg.slogdet(H)
    with np.errstate(divide="ignore", invalid="ignore"):
        ll = (obs * (y[None] * np.log(pr) + (1 - y[None]) * np.log1p(-pr))).sum(1)
    pen = np.where(sign > 0, ll + 0.5 * logdet, -np.inf)
    return pen, H, pr, w


def firth_block(g: np.ndarray, obs: np.ndarray, y: np.ndarray, C: np.ndarray, alpha0: np.ndarray,
                max_iter: int = 200, tol: float = 1e-7) -> tuple[np.ndarray, np.ndarray]:
    """Firth logistic regression for a block of variants at once (``g`` dosages with missing set
    to 0, ``obs`` 1 where called): Newton steps on the penalised score (Heinze & Schemper),
    at most 5 per coordinate, halved while the penalised log-likelihood would fall. Returns the
    dosage's (beta, se); se from the inverse of X'WX at the estimate. NaN where it fails."""
    V = g.shape[0]
    n, k = C.shape
    p1 = k + 1
    (ti, tj), flat = _tri(k)
    CC = _outer_cols(C)[:, flat]
    CCfull = _outer_cols(C)
    theta = np.zeros((V, p1))
    theta[:, :k] = alpha0
    pen, H, pr, w = _penalised(theta, g, obs, y, C, k, ti, tj, CC)
    done = np.zeros(V, bool)
    prev = np.zeros((V, p1))
    # the modified-score Newton map can settle into a 2-cycle next to the optimum (the penalty's
    # own curvature is left out of X'WX): when the penalised log-likelihood stops changing, or
    # a step reverses the one before it, the fit moves to the midpoint of its last two iterates
    for _ in range(max_iter):
        act = np.flatnonzero(~done & np.isfinite(pen))
        if not len(act):
            break
        Hi = _inverse(H[act])
        ga = g[act]
        # leverages h_i = w_i x_i' H^-1 x_i with x_i = (c_i, g_i)
        quad = (Hi[:, :k, :k].reshape(len(act), k * k) @ CCfull.T) \
            + 2 * ga * (Hi[:, :k, k] @ C.T) + ga * ga * Hi[:, k, k][:, None]
        h = w[act] * quad
        r = (y[None] - pr[act] + h * (0.5 - pr[act])) * obs[act]
        U = np.empty((len(act), p1))
        U[:, :k] = r @ C
        U[:, k] = (r * ga).sum(1)
        step = np.einsum("vij,vj->vi", Hi, U)
        mx = np.abs(step).max(1)
        step = step * np.minimum(1.0, 5 / np.maximum(mx, 1e-300))[:, None]
        t = np.ones(len(act))
        new_theta = theta[act] + step
        new_pen, new_H, new_pr, new_w = _penalised(new_theta, ga, obs[act], y, C, k, ti, tj, CC)
        for _half in range(25):
            worse = ~(new_pen >= pen[act] - 1e-10)
            if not worse.any():
                break
            t[worse] /= 2
            wi = np.flatnonzero(worse)
            cand = theta[act[wi]] + t[wi, None] * step[wi]
            new_theta[wi] = cand
            p_, H_, pr_, w_ = _penalised(cand, ga[wi], obs[act[wi]], y, C, k, ti, tj, CC)
            new_pen[wi], new_H[wi], new_pr[wi], new_w[wi] = p_, H_, pr_, w_
        flat_ = np.abs(new_pen - pen[act]) < 1e-10
        taken = t[:, None] * step
        back = np.einsum("vi,vi->v", taken, prev[act])
        reverses = back < -0.8 * np.linalg.norm(taken, axis=1) * np.linalg.norm(prev[act], axis=1)
        prev[act] = taken
        cyc = (flat_ | reverses) & (mx >= tol)
        if cyc.any():       # settle a 2-cycle at its midpoint
            mid = (theta[act[cyc]] + new_theta[cyc]) / 2
            new_theta[cyc] = mid
            p_, H_, pr_, w_ = _penalised(mid, ga[cyc], obs[act[cyc]], y, C, k, ti, tj, CC)
            new_pen[cyc], new_H[cyc], new_pr[cyc], new_w[cyc] = p_, H_, pr_, w_
            prev[act[cyc]] = 0
        theta[act], pen[act], H[act], pr[act], w[act] = new_theta, new_pen, new_H, new_pr, new_w
        done[act[(mx < tol) | flat_]] = True
    beta = np.where(done, theta[:, k], np.nan)
    se = np.full(V, np.nan)
    if done.any():
        se[done] = np.sqrt(_inverse(H[done])[:, k, k])
    return beta, se


GWAS_COLUMNS = ["trait", "chromosome", "base_pair_location", "effect_allele", "other_allele", "beta",
                "odds_ratio", "standard_error", "p_value", "effect_allele_frequency", "n", "test", "variant_id"]


def gwas_blocks(read_block, n_variants: int, variants, traits: list[dict], pheno, covariates: list[str],
                block: int = 4096, firth_fallback: bool = True, binary_test: str = "wald", progress=None):
    """Association of every trait over genotype blocks, each block read once for all traits.

    ``read_block(start, stop)`` -> int8 (variants x samples) dosages of the samples in ``pheno``
    (rows in the same order); ``variants``: chromosome, position, ref, alt per variant;
    ``traits``: dicts with name, type (quantitative / binary), column; ``pheno``: the trait and
    covariate columns. Traits of one type with the same complete samples share one pass
    (one linear fit for several quantitative traits). Yields a frame of ``GWAS_COLUMNS`` per
    block. The model per variant: y ~ 1 + covariates + dosage over the samples with a call.
    """
    import pandas as pd
    groups: dict = {}
    for t in traits:
        y = pd.to_numeric(pheno[t["column"]], errors="coerce").to_numpy(float)
        cv = pheno[covariates].apply(pd.to_numeric, errors="coerce").to_numpy(float) if covariates \
            else np.zeros((len(pheno), 0))
        keep = ~np.isnan(y) & ~np.isnan(cv).any(1)
        key = (t["type"], keep.tobytes()) if t["type"] == "quantitative" else (t["type"], t["name"])
        groups.setdefault(key, {"keep": keep, "cv": cv, "traits": []})["traits"].append((t, y))
    for grp in groups.values():
        keep = grp["keep"]
        C = standardise_covariates(np.column_stack([np.ones(keep.sum()), grp["cv"][keep]]))
        C[:, 0] = 1.0
        grp["C"] = C
    for a in range(0, n_variants, block):
        b = min(a + block, n_variants)
        G = read_block(a, b)
        v = variants.iloc[a:b]
        frames = []
        for grp in groups.values():
            keep, C = grp["keep"], grp["C"]
            Gk = G[:, keep]
            called = Gk >= 0
            ac = np.where(called, Gk, 0).sum(1)
            nc = called.sum(1)
            ttype = grp["traits"][0][0]["type"]
            if ttype == "quantitative":
                Y = np.column_stack([y[keep] for _, y in grp["traits"]])
                res = linear_block(Gk, Y, C)
                outs = [(t, res.beta.reshape(len(v), -1)[:, j], res.se.reshape(len(v), -1)[:, j],
                         res.p.reshape(len(v), -1)[:, j], res.test) for j, (t, _) in enumerate(grp["traits"])]
                n_used = res.n
            else:
                t, y = grp["traits"][0]
                res = logistic_block(Gk, y[keep], C, firth_fallback=firth_fallback, test=binary_test)
                outs = [(t, res.beta, res.se, res.p, res.test)]
                n_used = res.n
            for t, beta, se, p, test in outs:
                frames.append(pd.DataFrame({
                    "trait": t["name"], "chromosome": v["chromosome"].to_numpy(),
                    "base_pair_location": v["position"].to_numpy(np.int64),
                    "effect_allele": v["alt"].to_numpy(), "other_allele": v["ref"].to_numpy(),
                    "beta": beta, "odds_ratio": np.exp(beta) if t["type"] == "binary" else np.nan,
                    "standard_error": se, "p_value": p,
                    "effect_allele_frequency": ac / np.maximum(2 * nc, 1), "n": n_used.astype(np.int64),
                    "test": test.astype(str),
                    "variant_id": (v["chromosome"].astype(str) + ":" + v["position"].astype(str) + ":"
                                   + v["ref"].astype(str) + ":" + v["alt"].astype(str)).to_numpy()}))
        if progress:
            progress(b, n_variants)
        yield pd.concat(frames, ignore_index=True)[GWAS_COLUMNS]
