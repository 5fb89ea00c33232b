"""Current consent per participant, and who withdrew.

``consent`` rows (one per Consent resource and purpose: participant_id, purpose, granted,
date) are reduced to the latest decision per participant and purpose. A participant WITHDREW
when their current research decision is a refusal and an earlier one granted it.
"""
from __future__ import annotations

import pandas as pd

PURPOSES = ("research", "feedback")


def current_consent(consent: pd.DataFrame) -> pd.DataFrame:
    """participant_id, research (bool), feedback (bool): the latest decision for each purpose
    (no decision = not granted). Ties on date go to the refusal."""
    if consent.empty:
        return pd.DataFrame({"participant_id": pd.Series(dtype="string"),
                             **{p: pd.Series(dtype=bool) for p in PURPOSES}})
    c = consent.assign(_date=pd.to_datetime(consent["date"], utc=True).fillna(pd.Timestamp.min.tz_localize("UTC")),
                       _refuse=~consent["granted"].astype(bool))
    last = (c.sort_values(["participant_id", "purpose", "_date", "_refuse"])
             .drop_duplicates(["participant_id", "purpose"], keep="last"))
    wide = last.pivot(index="participant_id", columns="purpose", values="granted")
    for p in PURPOSES:
        wide[p] = wide[p].astype("boolean").fillna(False).astype(bool) if p in wide else False
    return wide[list(PURPOSES)].reset_index().rename_axis(columns=None)


def withdrawals(consent: pd.DataFrame) -> set[str]:
    """Participants whose current research decision refuses after an earlier grant."""
    r = consent[consent["purpose"] == "research"]
    if r.empty:
        return set()
    cur = current_consent(r)
    refused = set(cur.loc[~cur["research"], "participant_id"])
    ever = set(r.loc[r["granted"].astype(bool), "participant_id"])
    return refused & ever


def feedback_column(has_consent_records: bool, configured: str | None) -> str | None:
    """The cohort column that says yes/no to individual feedback, or None when there is no
    feedback consent information at all (then nobody gets a report: the documented default).
    With Consent records the cohort job fills ``configured`` (or ``consent_feedback``) from them."""
    if configured:
        return configured
    return "consent_feedback" if has_consent_records else None


def describe_consent(n_records: int, n_participants: int, n_research: int, configured: str | None,
                     n_reports: int) -> str:
    """One line for the run summary: which consent information (or default) applied."""
    if n_records:
        research = (f"research use from {n_records:,} Consent records: {n_research:,} of "
                    f"{n_participants:,} participants consented (the others left out)")
        feedback = "from the Consent records"
    else:
        research = (f"no consent information: research use assumed for all {n_participants:,} "
                    "participants (documented default)")
        feedback = (f"from column {configured!r}" if configured else
                    "none (no consent_feedback_column and no Consent records)")
    return f"Consent: {research}; individual feedback: {feedback} - {n_reports:,} reports"
