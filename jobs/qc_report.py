"""The genotype QC report: one self-contained HTML page (plots embedded as PNG, every value
escaped) plus the PNGs, under ``<results>/qc/``."""
from __future__ import annotations

import base64
import html
import io

import numpy as np
import pandas as pd


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def qc_figures(samples: pd.DataFrame, pcs: pd.DataFrame, ancestry: pd.DataFrame, pairs: pd.DataFrame,
               thresholds: dict) -> dict:
    from matplotlib.figure import Figure
    from genomics.plots import pca_figure
    figs = {}
    f = Figure(figsize=(6, 4)); ax = f.subplots()
    ax.hist(samples["call_rate"].dropna(), bins=50, color="#4c72b0")
    ax.axvline(thresholds["sample_call_rate"], color="red", ls="--", label="threshold")
    ax.set_xlabel("sample call rate"); ax.set_ylabel("samples"); ax.legend(); f.tight_layout()
    figs["sample_call_rate.png"] = f
    f = Figure(figsize=(6, 4)); ax = f.subplots()
    for g, d in samples.groupby(samples["ancestry"].fillna("none")):
        ax.hist(d["het_f"].dropna(), bins=40, alpha=0.6, label=str(g))
    ax.set_xlabel("heterozygosity F (autosomes)"); ax.set_ylabel("samples"); ax.legend(); f.tight_layout()
    figs["heterozygosity.png"] = f
    if samples["sex_f"].notna().any():
        f = Figure(figsize=(6, 4)); ax = f.subplots()
        rng = np.random.default_rng(0)
        for sex, colour in [("F", "#dd8452"), ("M", "#4c72b0")]:
            d = samples[samples["reported_sex"] == sex]
            ax.scatter(d["sex_f"], rng.uniform(-0.3, 0.3, len(d)) + (0 if sex == "F" else 1), s=6,
                       color=colour, label=f"reported {sex}")
        mm = samples[samples["sex_mismatch"]]
        ax.scatter(mm["sex_f"], np.where(mm["reported_sex"] == "F", 0, 1), s=40, facecolors="none",
                   edgecolors="red", label="mismatch")
        for t in (thresholds["sex_female_max_f"], thresholds["sex_male_min_f"]):
            ax.axvline(t, color="grey", ls="--")
        ax.set_yticks([0, 1], ["reported F", "reported M"]); ax.set_xlabel("chrX F"); ax.legend(fontsize=7)
        f.tight_layout()
        figs["sex_check.png"] = f
    if "PC2" in pcs.columns:         # PCA skipped (or one PC): no plot
        figs["pca.png"] = pca_figure(pcs.merge(ancestry[["s", "ancestry"]], on="s"), color_col="ancestry",
                                     title="Ancestry PCA (unrelated fitted, related projected)")
    if len(pairs):
        f = Figure(figsize=(6, 4)); ax = f.subplots()
        ax.hist(pairs["kinship"], bins=40, color="#55a868")
        ax.set_xlabel("KING kinship (pairs >= 0.0442)"); ax.set_ylabel("pairs"); f.tight_layout()
        figs["kinship.png"] = f
    return figs


def render_qc_html(steps: list[dict], figures_png: dict[str, bytes], degree_counts: dict,
                   notes: list[str] = ()) -> str:
    """The page: ``notes`` (how much evidence each step had, what was skipped, what the ancestry
    labels mean) first, then the step table, the KING degrees and the plots."""
    e = html.escape
    note_items = "".join(f"<li>{e(str(n))}</li>" for n in notes)
    rows = "".join(
        f"<tr><td>{e(str(s['step']))}</td><td>{e(str(s['unit']))}</td><td>{e(str(s['threshold']))}</td>"
        f"<td>{int(s['removed'])}</td><td>{int(s['remaining'])}</td></tr>" for s in steps)
    deg = "".join(f"<tr><td>{e(str(k))}</td><td>{int(v)}</td></tr>" for k, v in degree_counts.items())
    imgs = "".join(f"<figure><img alt='{e(name)}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
                   f"<figcaption>{e(name)}</figcaption></figure>" for name, png in figures_png.items())
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>GenoLake genotype QC</title>"
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}figure{display:inline-block;margin:1em}"
        "img{max-width:560px}</style></head><body><h1>Genotype QC</h1>"
        f"<h2>Evidence and notes</h2><ul>{note_items}</ul>"
        "<p>'left out of unrelated set': relatives stay QC-passed (and in the cohort); one of each pair with "
        "kinship above the threshold is only left out of the unrelated set that PCA is fitted on and the GWAS uses.</p>"
        "<h2>What each filter removed (in order)</h2><table><tr><th>step</th><th>unit</th><th>threshold</th>"
        f"<th>removed</th><th>remaining</th></tr>{rows}</table>"
        f"<h2>Related pairs by degree (KING)</h2><table><tr><th>degree</th><th>pairs</th></tr>{deg}</table>"
        f"<h2>Plots</h2>{imgs}</body></html>")


def write_qc_report(ctx, samples, pcs, ancestry, pairs, steps, thresholds, notes=()) -> None:
    figs = qc_figures(samples, pcs, ancestry, pairs, thresholds)
    pngs = {}
    for name, fig in figs.items():
        pngs[name] = _png(fig)
        with open(ctx.output_path(ctx.result_path("qc", name)), "wb") as fh:
            fh.write(pngs[name])
    degrees = pairs["degree"].value_counts().to_dict() if len(pairs) else {}
    path = ctx.output_path(ctx.result_path("qc", "qc_report.html"))
    with open(path + ".tmp", "w", encoding="utf-8") as fh:
        fh.write(render_qc_html(steps, pngs, degrees, notes))
    import os
    os.replace(path + ".tmp", path)
