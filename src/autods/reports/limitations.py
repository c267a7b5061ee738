"""Limitations, generated from findings: nothing here is free prose about the data.

Every guardrail or design finding of severity warning/blocking, every validation finding,
every biomarker-track finding and every validation note becomes one limitation with the
finding's own message and advice. A few structural facts (no champion, failed experiments,
CIs that ignore the model search) are added because they always limit what a reader may
conclude.
"""

from __future__ import annotations

from typing import Any

__all__ = ["limitations"]


def _row(source: str, severity: str, text: str, advice: str = "") -> dict[str, str]:
    return {"source": source, "severity": severity, "text": text, "advice": advice}


def limitations(sheet: dict[str, Any], bio: dict[str, Any]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for f in sheet["guardrails"]["findings"]:
        if f["severity"] in ("warning", "blocking"):
            source = "design" if f["check"].startswith("design") else "guardrails"
            out.append(_row(source, f["severity"], f["message"], f.get("advice", "")))
    for f in sheet["validation"]["findings"]:
        out.append(_row("validation", f["severity"], f["message"], f.get("advice", "")))
    for f in bio.get("findings") or []:
        out.append(_row("biomarkers", f.get("severity", "warning"), f["message"], f.get("advice", "")))
    for note in sheet["validation"]["notes"]:
        out.append(_row("validation", "info", note))
    if sheet["champion"] is None:
        out.append(_row("run", "blocking", "no champion was validated in this run",
                        "no model performance can be claimed; resume the run or raise the budget"))
    n_failed = sheet["experiments"]["failed"]
    if n_failed:
        out.append(_row("run", "info", f"{n_failed} experiment(s) failed and are listed with their reasons",
                        "failures are data: check they do not cluster in one model family"))
    if sheet["champion"] is not None:
        out.append(_row("design", "info",
                        "the cross-validated interval of the champion does not account for the model search "
                        "(the best of many experiments is optimistic)",
                        "judge the model by the single held-out test score and by external validation"))
    return out
