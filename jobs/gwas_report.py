"""The per-trait GWAS summary page: one self-contained HTML file (plots embedded, every value
escaped) with the Manhattan plot (loci labelled), the QQ plot with lambda GC, the lead loci and
the tests used, plus the two PNGs, under ``<results>/gwas/<trait>/``."""
from __future__ import annotations

import base64
import html
import os

import pandas as pd

from jobs.qc_report import _png


def _fmt(x, spec: str) -> str:
    try:
        return format(float(x), spec)
    except (TypeError, ValueError):
        return ""


def _sample_note(samples: dict) -> str:
    """Why the GWAS used the people it used (``gwas.samples``)."""
    sample_set = str(samples.get("sample set", ""))
    if not sample_set:
        return ""
    if sample_set.startswith("training split"):
        why = ("the training split only (gwas.samples: train, the default), so that the PRS can choose its "
               "threshold on the validation split and be tested on the test split without people the GWAS saw; "
               "set gwas.samples: all for a discovery GWAS of every QC-passed participant")
    else:
        why = ("every QC-passed participant (gwas.samples: all, a discovery GWAS); the PRS and risk stages "
               "do not run on it, since no held-out people are left to choose and test a score on")
    return f"<p>Samples: {html.escape(why)}.</p>"


def render_trait_page(trait: dict, summary: dict, samples: dict, tests: dict, loci: pd.DataFrame,
                      pngs: dict[str, bytes], settings: dict) -> str:
    e = html.escape
    facts = [("type", trait["type"]), *samples.items(), ("variants tested", summary["n_variants"]),
             ("lambda GC", _fmt(summary["lambda_gc"], ".3f")),
             (f"variants with p < {settings['significance']:g}", summary["n_significant"]),
             ("lead loci", summary["n_loci"]),
             ("tests", ", ".join(f"{k} {v}" for k, v in tests.items()))]
    fact_rows = "".join(f"<tr><th>{e(str(k))}</th><td>{e(str(v))}</td></tr>" for k, v in facts)
    cols = ["locus", "variant_id", "effect_allele", "beta", "standard_error", "p_value", "test", "n_clumped",
            "n_significant", "start", "end"]
    fmt = {"beta": ".4g", "standard_error": ".3g", "p_value": ".3g"}
    locus_rows = "".join(
        "<tr>" + "".join(f"<td>{e(_fmt(r[c], fmt[c]) if c in fmt else str(r[c]))}</td>" for c in cols) + "</tr>"
        for _, r in loci.iterrows())
    imgs = "".join(f"<figure><img alt='{e(name)}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
                   f"<figcaption>{e(name)}</figcaption></figure>" for name, png in pngs.items())
    clump = settings["loci"]
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>GWAS: {e(trait['name'])}</title>"
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}figure{display:inline-block;margin:1em}"
        "img{max-width:900px}</style></head><body>"
        f"<h1>GWAS: {e(trait['name'])}</h1><table>{fact_rows}</table>{_sample_note(samples)}"
        f"<h2>Plots</h2>{imgs}"
        f"<h2>Lead loci</h2><p>LD clumping (PLINK 1.9 --clump semantics): index variants p &le; {e(_fmt(clump['p1'], 'g'))}, "
        f"clumped variants p &le; {e(_fmt(clump['p2'], 'g'))}, r&sup2; &ge; {e(_fmt(clump['r2'], 'g'))} "
        f"within {int(clump['kb'])} kb, r&sup2; over the GWAS samples.</p>"
        "<table><tr>" + "".join(f"<th>{e(c)}</th>" for c in cols) + f"</tr>{locus_rows}</table>"
        "</body></html>")


def write_trait_page(ctx, trait: dict, results: pd.DataFrame, loci: pd.DataFrame, summary: dict,
                     samples: dict, config: dict) -> list[str]:
    """Write manhattan.png, qq.png and gwas_summary.html for one trait; return their paths."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from genomics.plots import manhattan_figure, qq_figure
    significance = config["gwas"]["significance"]
    labels = loci.assign(label=loci["locus"].astype(str) + ": " + loci["variant_id"].astype(str)).head(20)
    figs = {"manhattan.png": manhattan_figure(results, title=f"{trait['name']}: GWAS", significance=significance,
                                              label_df=labels),
            "qq.png": qq_figure(results["p_value"].to_numpy(), title=f"{trait['name']}: QQ")}
    paths, pngs = [], {}
    for name, fig in figs.items():
        pngs[name] = _png(fig)
        plt.close(fig)
        path = ctx.result_path("gwas", trait["name"], name)
        with open(path, "wb") as fh:
            fh.write(pngs[name])
        paths.append(path)
    lc = dict(config["gwas"]["loci"])
    lc["p1"] = significance if lc["p1"] is None else lc["p1"]
    page = render_trait_page(trait, summary, samples, results["test"].value_counts().to_dict(), loci, pngs,
                             {"significance": significance, "loci": lc})
    path = ctx.result_path("gwas", trait["name"], "gwas_summary.html")
    with open(path + ".tmp", "w", encoding="utf-8") as fh:
        fh.write(page)
    os.replace(path + ".tmp", path)
    return paths + [path]
