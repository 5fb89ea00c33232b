"""The vectorised association kernels (genomics/glm_arrays.py) against plink2 --glm on the
test cohort, and on hand-built cases: Firth for separation, several traits in one pass,
missing trait values, blocks of any size giving the same table."""
from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from genomics.glm_arrays import gwas_blocks, linear_block, logistic_block, standardise_covariates
from genomics.plink_bed import read_bed_rows, read_bim_fam


def firth_fit(X: np.ndarray, y: np.ndarray, max_iter: int = 100, tol: float = 1e-8):
    """The reference ``firth_block`` is checked against (one variant at a time): Firth's
    penalised-likelihood logistic regression (Jeffreys prior), Newton steps with step halving
    on the penalised log-likelihood. Returns (beta, se) of the last column, SE from the inverse
    of the penalised information matrix X'WX at the estimate; None when it does not converge."""
    n, p = X.shape
    b = np.zeros(p)

    def pen_loglik(beta):
        pr = expit(X @ beta)
        w = pr * (1 - pr)
        sign, logdet = np.linalg.slogdet((X * w[:, None]).T @ X)
        if sign <= 0:
            return -np.inf
        with np.errstate(divide="ignore"):
            ll = np.sum(y * np.log(pr) + (1 - y) * np.log1p(-pr))
        return ll + 0.5 * logdet

    cur = pen_loglik(b)
    for _ in range(max_iter):
        pr = expit(X @ b)
        w = pr * (1 - pr)
        info = (X * w[:, None]).T @ X
        try:
            info_inv = np.linalg.inv(info)
        except np.linalg.LinAlgError:
            return None
        # leverages h_i = w_i x_i' (X'WX)^-1 x_i
        h = np.einsum("ij,jk,ik->i", X, info_inv, X) * w
        U = X.T @ (y - pr + h * (0.5 - pr))
        step = info_inv @ U
        mx = np.abs(step).max()
        if mx > 5:
            step *= 5 / mx
        t = 1.0
        for _half in range(30):
            new = pen_loglik(b + t * step)
            if new >= cur - 1e-12:
                break
            t /= 2
        b = b + t * step
        cur = new
        if np.abs(t * step).max() < tol:
            pr = expit(X @ b)
            w = pr * (1 - pr)
            cov = np.linalg.inv((X * w[:, None]).T @ X)
            return float(b[-1]), float(np.sqrt(cov[-1, -1]))
    return None


def design(cv: pd.DataFrame) -> np.ndarray:
    C = standardise_covariates(np.column_stack([np.ones(len(cv)), cv.to_numpy(float)]))
    C[:, 0] = 1.0
    return C


@pytest.fixture(scope="module")
def plink_glm(cohort_dir, tmp_path_factory):
    if not shutil.which("plink2"):
        pytest.skip("plink2 not installed (make test installs it)")
    work = tmp_path_factory.mktemp("glm")
    vcf = sorted((cohort_dir / "genotypes").glob("*.vcf.gz"))[0]
    subprocess.run(["plink2", "--vcf", str(vcf), "--max-alleles", "2", "--make-bed", "--out", str(work / "g"),
                    "--threads", "2"], check=True, capture_output=True)
    bim, fam = read_bim_fam(str(work / "g"))
    truth = pd.read_csv(cohort_dir / "sample_truth.tsv", sep="\t").set_index("sample_id").loc[fam["iid"]]
    rng = np.random.default_rng(11)
    n = len(fam)
    cv = pd.DataFrame({"age": truth["age"].to_numpy(float), "sex": (truth["genetic_sex"] == "M").astype(float).to_numpy(),
                       "pc1": rng.normal(size=n), "pc2": rng.normal(size=n)})
    ph = pd.DataFrame({"ldl": truth["ldl_c"].to_numpy(float), "cad": truth["cad"].to_numpy(float)})
    ph.loc[rng.choice(n, n // 30, replace=False), "ldl"] = np.nan          # a trait with missing values
    rare = np.zeros(n)
    rare[rng.choice(n, 20, replace=False)] = 1                              # 20 cases: separation common
    ph["rare"] = rare
    out = ph.copy()
    out[["cad", "rare"]] += 1                                               # PLINK: 1 control, 2 case
    out.insert(0, "#IID", fam["iid"].to_numpy())
    out.to_csv(work / "pheno.txt", sep="\t", index=False, na_rep="NA")
    c = cv.copy()
    c.insert(0, "#IID", fam["iid"].to_numpy())
    c.to_csv(work / "covar.txt", sep="\t", index=False)
    subprocess.run(["plink2", "--bfile", str(work / "g"), "--pheno", str(work / "pheno.txt"), "--covar",
                    str(work / "covar.txt"), "--covar-variance-standardize", "--glm", "hide-covar", "omit-ref",
                    "firth-fallback", "cols=+a1freq,+beta,+firth", "--threads", "2", "--out", str(work / "r")],
                   check=True, capture_output=True)
    G = read_bed_rows(str(work / "g"), n, 0, len(bim))
    return {"G": G, "bim": bim, "cv": cv, "ph": ph, "work": work}


def agreement(ours, ref_path):
    ref = pd.read_csv(ref_path, sep="\t", na_values=".")
    m = ref.assign(beta=ours.beta, se=ours.se, p=ours.p, n=ours.n, test=ours.test)
    maf = np.minimum(m["A1_FREQ"], 1 - m["A1_FREQ"])
    common = m[(maf >= 0.01) & m["BETA"].notna()]
    d = (common["beta"] - common["BETA"]).abs() / common["SE"]
    se_rel = (common["se"] / common["SE"] - 1).abs()
    lp = np.corrcoef(-np.log10(common["p"]), -np.log10(common["P"]))[0, 1]
    return m, common, d, se_rel, lp


def test_linear_agrees_with_plink2(plink_glm):
    g = plink_glm
    keep = ~np.isnan(g["ph"]["ldl"].to_numpy())
    res = linear_block(g["G"][:, keep], g["ph"]["ldl"].to_numpy()[keep], design(g["cv"][keep]))
    m, common, d, se_rel, lp = agreement(res, g["work"] / "r.ldl.glm.linear")
    print(f"\nlinear: {len(common)} variants MAF>=1%: max |dbeta|/SE {d.max():.2e}, max SE rel {se_rel.max():.2e}, "
          f"r(-log10 p) {lp:.8f}")
    assert (common["n"] == common["OBS_CT"]).all()          # missing genotypes dropped per variant
    assert d.max() <= 1e-3 and se_rel.max() <= 1e-3 and lp > 0.999


@pytest.mark.parametrize("trait", ["cad", "rare"])
def test_logistic_with_firth_fallback_agrees_with_plink2(plink_glm, trait):
    g = plink_glm
    res = logistic_block(g["G"], g["ph"][trait].to_numpy(), design(g["cv"]))
    m, common, d, se_rel, lp = agreement(res, g["work"] / f"r.{trait}.glm.logistic.hybrid")
    firth_ref = set(common.index[common["FIRTH?"] == "Y"])
    firth_ours = set(common.index[common["test"] == "firth"])
    wald = common[common["FIRTH?"] == "N"]
    print(f"\n{trait}: {len(common)} variants MAF>=1%: max |dbeta|/SE {d.max():.2e}, SE rel: max {se_rel.max():.2e}, "
          f"share <= 1e-3 {(se_rel <= 1e-3).mean():.4f}; r(-log10 p, Wald rows) "
          f"{np.corrcoef(-np.log10(wald['p']), -np.log10(wald['P']))[0, 1]:.8f}; Firth rows PLINK {len(firth_ref)}, "
          f"ours {len(firth_ours)}")
    assert firth_ref == firth_ours                           # the same rows fall back to Firth
    assert d.max() <= 1e-3
    # standard errors: within 1e-3 wherever every sample has a call. At some variants with
    # missing calls PLINK's logistic SE is smaller than the inverse information at the estimate
    # over the called samples (which ours is). PLINK 2 (plink2_glm_logistic.cc) refills the
    # intercept column's vector padding only after a variant without missing calls, so after
    # one the slots from the called count nm up to a multiple of 4 hold stale 1s and count as
    # phantom samples in the Hessian (not in the gradient: betas agree), each settling at
    # p = sigmoid(p) = 0.659, weight 0.2247, on the intercept diagonal. Every exception must be
    # that: our information at the estimate plus those phantoms gives PLINK's SE.
    full = common["OBS_CT"] == common["OBS_CT"].max()
    assert se_rel[full].max() <= 1e-3 and (se_rel <= 1e-3).mean() >= 0.99
    from scipy.optimize import brentq
    from scipy.special import expit
    p_star = brentq(lambda x: expit(x) - x, 0, 1)
    C, y, n_pheno = design(g["cv"]), g["ph"][trait].to_numpy(), len(g["ph"])
    exceptions = wald[se_rel[wald.index] > 1e-3]
    for row in exceptions.index:
        o = g["G"][row] >= 0
        X = np.column_stack([C[o], g["G"][row, o]])
        b, _ = _logistic_reference(X, y[o])
        pr = expit(X @ b)
        H = (X * (pr * (1 - pr))[:, None]).T @ X
        phantoms = min(-(-o.sum() // 4) * 4, n_pheno) - o.sum()
        H[0, 0] += phantoms * p_star * (1 - p_star)
        assert phantoms > 0 and np.sqrt(np.linalg.inv(H)[-1, -1]) == pytest.approx(wald.at[row, "SE"], rel=1e-3)
    print(f"  {len(exceptions)} Wald rows with SE beyond 1e-3, each reproduced by PLINK's padding phantoms")
    assert np.corrcoef(-np.log10(wald["p"]), -np.log10(wald["P"]))[0, 1] > 0.999


def test_separation_falls_back_to_firth():
    rng = np.random.default_rng(5)
    n = 400
    y = (rng.random(n) < 0.3).astype(float)
    C = design(pd.DataFrame({"x": rng.normal(size=n)}))
    g = np.zeros((2, n), np.int8)
    g[0, np.flatnonzero(y == 1)[:4]] = 1                     # carriers only among cases
    g[1] = rng.integers(0, 3, n)                             # an ordinary variant
    res = logistic_block(g, y, C)
    assert res.test.tolist() == ["firth", "logistic"]
    b, se = firth_fit(np.column_stack([C, g[0]]), y)
    assert res.beta[0] == pytest.approx(b, abs=1e-4 * se) and res.se[0] == pytest.approx(se, rel=1e-4)
    assert np.isfinite(res.p).all() and res.beta[0] > 1


def test_traits_share_one_pass_and_blocks_do_not_change_results():
    rng = np.random.default_rng(2)
    n, v = 300, 250
    G = rng.integers(0, 3, (v, n)).astype(np.int8)
    G[rng.random((v, n)) < 0.02] = -1
    cv = pd.DataFrame({"age": rng.normal(50, 8, n), "sex": rng.integers(0, 2, n).astype(float)})
    pheno = cv.assign(q1=rng.normal(size=n), q2=rng.normal(size=n), b1=(rng.random(n) < 0.3).astype(float))
    pheno.loc[:9, "q2"] = np.nan                               # q2 has its own sample set
    variants = pd.DataFrame({"chromosome": "chr1", "position": np.arange(1, v + 1), "ref": "A", "alt": "G"})
    traits = [{"name": "q1", "type": "quantitative", "column": "q1"},
              {"name": "q2", "type": "quantitative", "column": "q2"},
              {"name": "b1", "type": "binary", "column": "b1"}]

    def run(block):
        return pd.concat(gwas_blocks(lambda a, b: G[a:b], v, variants, traits, pheno, ["age", "sex"], block=block),
                         ignore_index=True)
    one, many = run(10_000), run(64)
    pd.testing.assert_frame_equal(one.sort_values(["trait", "base_pair_location"]).reset_index(drop=True),
                                  many.sort_values(["trait", "base_pair_location"]).reset_index(drop=True))
    # q1 and q2 in one linear pass each equal a fit of that trait alone
    C = design(cv)
    alone = linear_block(G, pheno["q1"].to_numpy(), C)
    got = one[one["trait"] == "q1"]
    assert np.allclose(got["beta"], alone.beta) and np.allclose(got["standard_error"], alone.se)
    q2 = one[one["trait"] == "q2"]
    assert (q2["n"] <= n - 10).all()
    keep = pheno["q2"].notna().to_numpy()
    alone2 = linear_block(G[:, keep], pheno["q2"].to_numpy()[keep], design(cv[keep]))
    assert np.allclose(q2["beta"], alone2.beta) and (q2["n"].to_numpy() == alone2.n).all()
    # an exact OLS check of one variant (called samples only)
    j = 7
    o = G[j] >= 0
    X = np.column_stack([C[o], G[j, o]])
    coef, *_ = np.linalg.lstsq(X, pheno["q1"].to_numpy()[o], rcond=None)
    assert got["beta"].iat[j] == pytest.approx(coef[-1], rel=1e-9)


def _logistic_reference(X, y):
    """A plain single-variant Newton fit: (coefficients, log-likelihood)."""
    b = np.zeros(X.shape[1])
    for _ in range(100):
        pr = 1 / (1 + np.exp(-X @ b))
        step = np.linalg.solve((X * (pr * (1 - pr))[:, None]).T @ X, X.T @ (y - pr))
        b += step
        if np.abs(step).max() < 1e-12:
            break
    eta = X @ b
    return b, float(np.sum(y * eta - np.logaddexp(0, eta)))


@pytest.fixture(scope="module")
def binary_block():
    rng = np.random.default_rng(8)
    n, v = 500, 40
    G = rng.binomial(2, rng.uniform(0.05, 0.5, v)[:, None], (v, n)).astype(np.int8)
    cv = pd.DataFrame({"age": rng.normal(50, 8, n), "pc1": rng.normal(size=n)})
    eta = -1 + 0.03 * (cv["age"].to_numpy() - 50) + 0.5 * G[3] + 0.3 * G[11]
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    return G, y, cv


def test_likelihood_ratio_and_score_tests_agree_with_hail(hl, binary_block):
    G, y, cv = binary_block
    C = design(cv)
    mt = hl.utils.range_matrix_table(G.shape[0], G.shape[1])
    mt = mt.annotate_entries(x=hl.literal(G.astype(float).tolist())[mt.row_idx][mt.col_idx])
    mt = mt.annotate_cols(y=hl.literal(y.tolist())[mt.col_idx],
                          c=hl.literal(C[:, 1:].tolist())[mt.col_idx])
    covs = [1.0] + [mt.c[i] for i in range(C.shape[1] - 1)]
    for test, stat in (("lrt", "chi_sq_stat"), ("score", "chi_sq_stat")):
        ref = hl.logistic_regression_rows(test=test, y=mt.y, x=mt.x, covariates=covs).to_pandas()
        ours = logistic_block(G, y, C, test=test)
        assert (ours.test == test).all()
        assert np.allclose(ours.stat, ref[stat], rtol=1e-6, atol=1e-9)
        assert np.allclose(ours.p, ref["p_value"], rtol=1e-5)
        if test == "lrt":                        # beta and SE are the Wald fit's (Hail stops at 1e-6)
            wald = logistic_block(G, y, C)
            assert (np.abs(ours.beta - ref["beta"].to_numpy(float)) <= 1e-4 * ours.se).all()
            assert np.array_equal(ours.se, wald.se)


def test_likelihood_ratio_and_score_tests_drop_missing_calls_per_variant(binary_block):
    G, y, cv = binary_block
    G = G.copy()
    rng = np.random.default_rng(3)
    G[rng.random(G.shape) < 0.05] = -1
    C = design(cv)
    lrt, score = logistic_block(G, y, C, test="lrt"), logistic_block(G, y, C, test="score")
    for j in (0, 3, 11, 25):
        o = G[j] >= 0
        b1, ll1 = _logistic_reference(np.column_stack([C[o], G[j, o]]), y[o])
        b0, ll0 = _logistic_reference(C[o], y[o])
        assert lrt.stat[j] == pytest.approx(2 * (ll1 - ll0), rel=1e-8)
        assert lrt.beta[j] == pytest.approx(b1[-1], rel=1e-8) and lrt.n[j] == o.sum()
        # score by hand: U and its variance at the null fit over the called samples
        pr = 1 / (1 + np.exp(-C[o] @ b0))
        w = pr * (1 - pr)
        g = G[j, o].astype(float)
        u = g @ (y[o] - pr)
        cwg = (C[o] * w[:, None]).T @ g
        var = g @ (w * g) - cwg @ np.linalg.solve((C[o] * w[:, None]).T @ C[o], cwg)
        assert score.stat[j] == pytest.approx(u * u / var, rel=1e-8)
        assert score.beta[j] == pytest.approx(u / var, rel=1e-8)
    with pytest.raises(ValueError, match="unknown logistic test"):
        logistic_block(G, y, C, test="wilcoxon")
