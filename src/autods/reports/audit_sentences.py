"""One readable sentence per audit line, for the report's audit excerpt.

``audit.jsonl`` is written by several parts (agent steps from :mod:`autods.agents.loop`, the
harness, the orchestrator, the end-of-run tracks, LLM brains); its lines are JSON for tools. The
report shows people a sentence per line instead: who did what, to which proposal or experiment,
and what came of it. A line of a kind this module does not know still gets a sentence, built from
its fields, so nothing the log holds is hidden from the excerpt.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["sentence"]

_WHEN = ("ts", "time", "created_at", "at")
_WHO = ("agent", "actor", "role", "by")


def _short(text: Any, n: int = 120) -> str:
    s = " ".join(str(text).split())
    return s if len(s) <= n else s[: n - 1] + "…"


def _recipe(recipe: Any) -> str:
    if not isinstance(recipe, dict):
        return "a recipe"
    params = recipe.get("params") or {}
    shown = ", ".join(f"{k}={v}" for k, v in sorted(params.items())[:3] if k != "source")
    return f"{recipe.get('family') or recipe.get('model') or 'a model'}" + (f" ({shown})" if shown else "")


def _step(action: dict[str, Any], event: dict[str, Any]) -> str:
    kind = action.get("kind", "")
    created = event.get("created") or {}
    if kind == "propose":
        pid = f" #{created['proposal_id']}" if isinstance(created, dict) and "proposal_id" in created else ""
        what = action.get("title") or _short(action.get("hypothesis", ""))
        text = f"proposed{pid} {_recipe(action.get('recipe'))}: {what}"
    elif kind == "critique":
        reasons = action.get("reasons") or []
        text = f"{action.get('verdict', 'critiqued')} proposal #{action.get('proposal_id')}" + \
            (f": {_short('; '.join(map(str, reasons)))}" if reasons else "")
    elif kind == "enqueue":
        item = f" as experiment #{created['item_id']}" if isinstance(created, dict) and "item_id" in created else ""
        text = f"queued proposal #{action.get('proposal_id')}{item} with seed {action.get('seed', 0)}"
    elif kind == "claim":
        if not (isinstance(created, dict) and "item_id" in created) and event.get("ok") is not False:
            return ""  # a claim that found nothing queued says nothing
        text = f"claimed experiment #{created['item_id']}" if isinstance(created, dict) and "item_id" in created \
            else "tried to claim an experiment"
    elif kind == "post":
        text = f"posted a {action.get('post_kind', 'note')}: {_short(action.get('title', ''))}"
    elif kind == "mark_dead_end":
        text = f"registered {action.get('family')} as a dead end: {_short(action.get('reason', ''))}"
    elif kind == "form_team":
        text = f"formed team '{action.get('name')}': {_short(action.get('hypothesis', ''))}"
    elif kind == "set_team_status":
        text = f"set team #{action.get('team_id')} to {action.get('status')}"
    elif kind == "abort":
        text = f"aborted experiment #{action.get('item_id')}: {_short(action.get('reason', ''))}"
    elif kind == "promote":
        confirm = action.get("confirming_result_id")
        text = f"asked to promote result #{action.get('result_id')}" + \
            (f", confirmed by result #{confirm}" if confirm is not None else "")
    else:
        text = f"did {kind or 'a step'}"
    if event.get("ok") is False:
        text += f"; refused: {_short(event.get('feedback') or 'no reason given')}"
    return text


def _harness(event: dict[str, Any]) -> str:
    item, what = event.get("item_id"), event.get("event")
    if what == "submit":
        by = f" (claimed by {event['claimed_by']})" if event.get("claimed_by") else ""
        return f"started experiment #{item}, seed {event.get('seed')}{by}"
    reason = _short(event.get("reason", ""))
    return {"cancelled": f"cancelled experiment #{item}: {reason}",
            "lease_lost": f"lost the lease on experiment #{item}: {reason}",
            "discarded": f"discarded the result of experiment #{item}: {reason}"}.get(
        str(what), f"{what} experiment #{item}" + (f": {reason}" if reason else ""))


def _track(event: dict[str, Any]) -> str:
    name = str(event.get("job_id", "track")).removeprefix("track:")
    name = "validation of experiment #" + name.split(":", 1)[1] if name.startswith("validate:") else f"{name} track"
    if event.get("ok"):
        return f"the {name} finished"
    return f"the {name} failed: {_short(event.get('error') or 'no error recorded')}"


def _fields(event: dict[str, Any]) -> str:
    skip = set(_WHEN) | set(_WHO) | {"type", "event", "kind", "verb", "prompt", "messages", "body", "response", "text",
                                     "round"}
    rest = {k: v for k, v in event.items() if k not in skip}
    return "; ".join(f"{k} {_short(json.dumps(v, default=str) if isinstance(v, (dict, list)) else v, 60)}"
                     for k, v in sorted(rest.items()))


def sentence(event: dict[str, Any]) -> dict[str, str]:
    """``{"time", "actor", "event", "summary"}`` for one audit line; ``summary`` is a sentence."""
    when = next((str(event[k]) for k in _WHEN if k in event), "")
    if not when and "round" in event:
        when = f"round {event['round']}"
    who = next((str(event[k]) for k in _WHO if k in event), "")
    kind = str(next((event[k] for k in ("type", "event", "kind", "verb") if k in event), "event"))
    action = event.get("action")
    if kind == "agent_step" and isinstance(action, dict):
        text, kind = _step(action, event), f"agent_step: {action.get('kind', '')}"
    elif kind == "harness":
        text, who = _harness(event), who or "harness"
    elif kind == "track":
        text, who = _track(event), who or "run"
    elif kind == "orchestrator" and event.get("event") == "refused":
        text, who = f"the server refused a step: {_short(event.get('reason', ''))}", who or "orchestrator"
    elif str(event.get("event", "")).startswith("llm_"):
        what = str(event["event"]).removeprefix("llm_").replace("_", " ")
        brain = event.get("brain") or event.get("provider") or "the LLM"
        text = f"{brain}: {what}" + (f" ({event['input_tokens']} input tokens)" if "input_tokens" in event else "")
        if event.get("allowed") is False:
            text += f"; the egress gate blocked it: {_short(event.get('reason', ''))}"
    else:
        text = _fields(event)
    return {"time": when, "event": kind, "actor": who, "summary": text}
