"""Per-participant reports: a JSON-serialisable dict and a self-contained HTML page.

Nothing here reads the clock, the environment or files: the caller passes
``generated_at`` and all versions, so the same input always gives the same output.
"""
from __future__ import annotations

import hashlib
import html
import math
import re
from typing import Any, Mapping

__all__ = [
    "SCHEMA_VERSION",
    "DISCLAIMER",
    "build_report",
    "render_report_html",
    "safe_filename",
]

SCHEMA_VERSION = "1.0"

DISCLAIMER = (
    "These results are statistical estimates from research models that combine genetic "
    "information (a polygenic score) with a few other factors such as age and sex. They "
    "compare you with the other participants of this cohort. They are not a diagnosis and "
    "not medical advice, and many factors that affect health are not included. Please talk "
    "to a qualified healthcare professional before making any decision about your health."
)

_BINARY_SENTENCES = {
    "below average": "Your estimated risk of {trait} is lower than the cohort average "
                     "(about {ratio} times the average).",
    "average": "Your estimated risk of {trait} is close to the cohort average "
               "(about {ratio} times the average).",
    "elevated": "Your estimated risk of {trait} is somewhat higher than the cohort average "
                "(about {ratio} times the average).",
    "high": "Your estimated risk of {trait} is higher than the cohort average "
            "(about {ratio} times the average).",
}
_BINARY_DEFAULT = "Your estimated risk of {trait} is about {ratio} times the cohort average."
_BINARY_NO_RATIO = "Your estimated risk of {trait} could not be compared with the cohort average."

_QUANT_SENTENCES = {
    "low": "Your estimated {trait} is lower than for most participants in the cohort.",
    "average": "Your estimated {trait} is within the typical range for the cohort.",
    "elevated": "Your estimated {trait} is higher than for most participants in the cohort.",
    "high": "Your estimated {trait} is among the highest in the cohort.",
}
_QUANT_DEFAULT = "Your estimated {trait} falls in the \u201c{category}\u201d group of the cohort."
_QUANT_NO_CATEGORY = "Your estimated {trait} could not be compared with the cohort."


# ----------------------------------------------------------------------------- helpers
def _num(value) -> float | None:
    """float, or None for missing / NaN / inf (keeps the report valid strict JSON)."""
    if value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _str_or_none(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)


def _version(value):
    """Delta versions are ints; keep ints as int, anything else as str."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value)
    try:
        iv = int(value)
        if float(value) == iv:
            return iv
    except (TypeError, ValueError):
        pass
    return str(value)


def _fmt_ratio(r: float) -> str:
    return f"{r:.1f}" if r >= 0.95 else f"{r:.2f}"


def _ordinal(n: int) -> str:
    if 10 <= n % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _fmt_value(v: float | None) -> str:
    if v is None:
        return "not available"
    return f"{v:.3g}"


def _trait_entry(t: Mapping[str, Any]) -> dict[str, Any]:
    for key in ("trait", "trait_type"):
        if key not in t or t[key] is None:
            raise ValueError(f"trait entry lacks {key!r}")
    trait = str(t["trait"])
    trait_type = str(t["trait_type"]).strip().lower()
    if trait_type not in ("binary", "quantitative"):
        raise ValueError(f"trait {trait!r}: trait_type must be binary or quantitative")
    display = str(t.get("display_name") or trait.replace("_", " "))
    predicted = _num(t.get("predicted"))
    reference_mean = _num(t.get("reference_mean"))
    prs_pct = _num(t.get("prs_percentile"))
    category = _str_or_none(t.get("category"))

    ratio = None
    if trait_type == "binary" and predicted is not None and reference_mean and reference_mean > 0:
        ratio = predicted / reference_mean

    if trait_type == "binary":
        if ratio is None:
            summary = _BINARY_NO_RATIO.format(trait=display)
        else:
            template = _BINARY_SENTENCES.get((category or "").lower(), _BINARY_DEFAULT)
            summary = template.format(trait=display, ratio=_fmt_ratio(ratio))
    else:
        if category is None:
            summary = _QUANT_NO_CATEGORY.format(trait=display)
        else:
            template = _QUANT_SENTENCES.get(category.lower(), _QUANT_DEFAULT)
            summary = template.format(trait=display, category=category)
        if predicted is not None:
            summary += (f" Estimated value: {_fmt_value(predicted)}"
                        + (f" (cohort average {_fmt_value(reference_mean)})."
                           if reference_mean is not None else "."))

    prs_summary = None
    if prs_pct is not None:
        pct = int(round(min(max(prs_pct, 0.0), 100.0)))
        prs_summary = (f"Your polygenic score for {display} is at about the {_ordinal(pct)} "
                       f"percentile of the cohort.")

    entry = {
        "trait": trait,
        "display_name": display,
        "trait_type": trait_type,
        "prs": _num(t.get("prs")),
        "prs_percentile": prs_pct,
        "predicted": predicted,
        "predicted_percentile": _num(t.get("predicted_percentile")),
        "reference_mean": reference_mean,
        "relative_to_average": ratio,
        "category": category,
        "summary": summary,
        "prs_summary": prs_summary,
        "model_name": _str_or_none(t.get("model_name")),
        "model_version": _str_or_none(t.get("model_version")),
        "mlflow_run_id": _str_or_none(t.get("mlflow_run_id")),
    }
    return entry


# ----------------------------------------------------------------------------- public API
def build_report(participant: Mapping[str, Any]) -> dict[str, Any]:
    """Build one participant's report (strict-JSON-serialisable: NaN/inf become None).

    Input keys: participant_id (pseudonymous id), traits (list of dicts with trait,
    trait_type, prs, prs_percentile, predicted, category, reference_mean, model_name,
    model_version, mlflow_run_id; optional display_name, predicted_percentile),
    data_versions (table -> Delta version), run_id, generated_at (ISO string).

    Output keys: schema_version, participant_id, generated_at, run_id, data_versions,
    traits (input order; each with the fields above plus display_name,
    relative_to_average (binary: predicted / reference_mean), summary, prs_summary),
    disclaimer.
    """
    pid = participant.get("participant_id")
    if pid is None or str(pid) == "":
        raise ValueError("participant_id is required")
    traits = participant.get("traits") or []
    if isinstance(traits, Mapping):
        raise TypeError("traits must be a list of dicts")
    data_versions = participant.get("data_versions") or {}
    return {
        "schema_version": SCHEMA_VERSION,
        "participant_id": str(pid),
        "generated_at": _str_or_none(participant.get("generated_at")),
        "run_id": _str_or_none(participant.get("run_id")),
        "data_versions": {str(k): _version(v) for k, v in data_versions.items()},
        "traits": [_trait_entry(t) for t in traits],
        "disclaimer": DISCLAIMER,
    }


_CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:2em auto;max-width:52em;color:#222;line-height:1.45;padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em}
h2{font-size:1.15em;margin:1.6em 0 .4em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.meta{color:#666;font-size:.85em}
.summary{background:#f4f7fb;border-left:4px solid #1f4e79;padding:.6em .8em;margin:.6em 0}
table{border-collapse:collapse;width:100%;font-size:.92em;margin:.4em 0}
th,td{text-align:left;padding:.35em .5em;border-bottom:1px solid #eee;vertical-align:middle}
th{width:38%;color:#555;font-weight:600}
.bar{position:relative;height:14px;background:linear-gradient(90deg,#dfe9f5,#f6d7c3);border:1px solid #bbb;border-radius:3px;width:100%;max-width:22em}
.bar .mark{position:absolute;top:-3px;width:3px;height:20px;background:#1f4e79;margin-left:-1px}
.bar .fill{height:100%;background:rgba(31,78,121,.25)}
.scale{display:flex;justify-content:space-between;max-width:22em;font-size:.75em;color:#777}
.disclaimer{margin-top:2em;padding:.8em;border:1px solid #e0c97a;background:#fffaf0;font-size:.9em}
"""


def _e(value) -> str:
    """Escape any value for HTML text or a quoted attribute."""
    if value is None:
        return "&mdash;"
    return html.escape(str(value), quote=True)


def _percentile_bar(pct: float | None) -> str:
    if pct is None:
        return "&mdash;"
    p = min(max(float(pct), 0.0), 100.0)
    width = f"{p:.1f}"
    label = _e(f"{_ordinal(int(round(p)))} percentile")
    return (
        f'<div class="bar" role="img" aria-label="{label}">'
        f'<div class="fill" style="width:{width}%"></div>'
        f'<div class="mark" style="left:{width}%"></div></div>'
        f'<div class="scale"><span>0</span><span>50</span><span>100</span></div>'
        f"<div>{label}</div>"
    )


def _row(label: str, value_html: str) -> str:
    return f"<tr><th>{_e(label)}</th><td>{value_html}</td></tr>"


def _trait_section(t: Mapping[str, Any]) -> str:
    binary = t.get("trait_type") == "binary"
    rows = [
        _row("Trait", _e(t.get("display_name") or t.get("trait"))),
        _row("Type", _e("disease risk (yes/no)" if binary else "measurement")),
    ]
    pred = t.get("predicted")
    if binary:
        rows.append(_row("Estimated risk", _e(None if pred is None else f"{100 * pred:.1f}%")))
        ref = t.get("reference_mean")
        rows.append(_row("Cohort average risk", _e(None if ref is None else f"{100 * ref:.1f}%")))
        ratio = t.get("relative_to_average")
        rows.append(_row("Compared with the cohort average",
                         _e(None if ratio is None else f"{_fmt_ratio(ratio)} \u00d7 average")))
    else:
        rows.append(_row("Estimated value", _e(None if pred is None else _fmt_value(pred))))
        ref = t.get("reference_mean")
        rows.append(_row("Cohort average", _e(None if ref is None else _fmt_value(ref))))
        if t.get("predicted_percentile") is not None:
            rows.append(_row("Estimated value, percentile in the cohort",
                             _percentile_bar(t.get("predicted_percentile"))))
    rows.append(_row("Group", _e(t.get("category"))))
    prs = t.get("prs")
    rows.append(_row("Polygenic score", _e(None if prs is None else f"{prs:.3f}")))
    rows.append(_row("Polygenic score percentile", _percentile_bar(t.get("prs_percentile"))))
    model = t.get("model_name")
    if model is not None and t.get("model_version") is not None:
        model = f"{model} (version {t.get('model_version')})"
    rows.append(_row("Model", _e(model)))
    rows.append(_row("Model run", _e(t.get("mlflow_run_id"))))

    parts = [f"<section><h2>{_e(t.get('display_name') or t.get('trait'))}</h2>",
             f'<p class="summary">{_e(t.get("summary"))}']
    if t.get("prs_summary"):
        parts.append(f"<br>{_e(t.get('prs_summary'))}")
    parts.append("</p>")
    parts.append("<table>" + "".join(rows) + "</table></section>")
    return "".join(parts)


def render_report_html(report: Mapping[str, Any]) -> str:
    """Self-contained HTML page (inline CSS, no scripts, no external resources) for a
    report from :func:`build_report`. Every inserted value is HTML-escaped."""
    pid = report.get("participant_id")
    traits = report.get("traits") or []
    body = [
        "<h1>Your genetic risk report</h1>",
        f'<p class="meta">Participant: {_e(pid)}<br>Generated: {_e(report.get("generated_at"))}'
        f'<br>Run: {_e(report.get("run_id"))}</p>',
    ]
    if not traits:
        body.append("<p>No results are available.</p>")
    body.extend(_trait_section(t) for t in traits)
    dv = report.get("data_versions") or {}
    if dv:
        body.append("<h2>Data versions</h2><table>")
        body.extend(_row(str(k), _e(v)) for k, v in sorted(dv.items(), key=lambda kv: str(kv[0])))
        body.append("</table>")
    body.append(f'<div class="disclaimer"><strong>Please note:</strong> '
                f'{_e(report.get("disclaimer") or DISCLAIMER)}</div>')
    body.append(f'<p class="meta">Report format {_e(report.get("schema_version"))}</p>')
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'\">"
        f"<title>Genetic risk report \u2013 {_e(pid)}</title>"
        f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_SUFFIX_SEP = "__h"
_HASH_LEN = 12
_SUFFIX_RE = re.compile(re.escape(_SUFFIX_SEP) + r"[0-9a-f]{%d}$" % _HASH_LEN)


def safe_filename(identifier: str, max_length: int = 100) -> str:
    """Sanitised file stem for ``identifier``.

    Only [A-Za-z0-9._-] are kept (others -> '_'), leading dots become '_', no path
    separators, at most ``max_length`` characters. If anything was changed or truncated
    (or the id is empty, or already looks like a hashed name), ``"__h" + 12 hex digits
    of sha256(identifier)`` is appended, so distinct ids never share a name (barring a
    sha256 prefix collision) and unchanged ids stay readable.
    """
    if max_length < len(_SUFFIX_SEP) + _HASH_LEN + 1:
        raise ValueError("max_length too small")
    ident = "" if identifier is None else str(identifier)
    stem = _UNSAFE.sub("_", ident)
    m = re.match(r"\.+", stem)
    if m:
        stem = "_" * m.end() + stem[m.end():]
    changed = (
        stem != ident
        or ident == ""
        or len(stem) > max_length
        or _SUFFIX_RE.search(stem) is not None  # could collide with a hashed name
    )
    if not changed:
        return stem
    digest = hashlib.sha256(ident.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_LEN]
    suffix = _SUFFIX_SEP + digest
    head = stem[: max_length - len(suffix)] or "id"
    return head + suffix
