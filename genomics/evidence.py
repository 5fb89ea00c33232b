"""How much evidence a QC step had: the number of variants it used against documented
minimums. Below ``warn`` the step runs but its result is flagged as thin; below ``skip`` it
does not run (nobody is dropped or flagged on noise)."""
from __future__ import annotations

from dataclasses import asdict, dataclass

# what each step counts, for the messages
STEP_UNITS = {"sex_check": "non-PAR chrX variants", "kinship": "common autosomal variants",
              "pca": "LD-pruned common autosomal variants"}


@dataclass(frozen=True)
class Evidence:
    """One step's verdict: ``verdict`` is 'ok', 'warn' or 'skip'; ``message`` says why (counts only)."""

    step: str
    n_variants: int
    warn_below: int
    skip_below: int
    verdict: str
    message: str

    def as_dict(self) -> dict:
        return asdict(self)


def judge_evidence(step: str, n_variants: int, warn_below: int, skip_below: int) -> Evidence:
    """The verdict for ``step`` (a key of ``STEP_UNITS``) having used ``n_variants`` variants."""
    if step not in STEP_UNITS:
        raise ValueError(f"judge_evidence: step must be one of {', '.join(STEP_UNITS)}, not {step!r}")
    if skip_below > warn_below:
        raise ValueError(f"judge_evidence: {step}: skip minimum {skip_below} above warn minimum {warn_below}")
    unit = STEP_UNITS[step]
    n = int(n_variants)
    if n < skip_below:
        verdict = "skip"
        message = (f"{step} skipped: {n} {unit}, below the hard minimum of {skip_below} "
                   f"(qc.min_variants.{step}.skip); its results would be noise")
    elif n < warn_below:
        verdict = "warn"
        message = (f"{step} on thin evidence: {n} {unit}, below the recommended {warn_below} "
                   f"(qc.min_variants.{step}.warn); treat its calls with care")
    else:
        verdict, message = "ok", f"{step}: {n} {unit}"
    return Evidence(step, n, int(warn_below), int(skip_below), verdict, message)
