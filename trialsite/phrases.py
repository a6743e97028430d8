"""Phrases the system stores for a reader it does not know yet (a reason, a rule's name, a line of
a dose sheet): a message id and its parameters, said in the reader's language when shown.

A stored phrase is plain JSON, so it can sit in a JSONField or inside a fingerprinted document:
    {"msgid": "visit moved"}
    {"msgid": "%(drug)s: reduced by %(percent)s%%",
     "params": {"drug": {"code": "<a drug's code>", "kind": "drug"}, "percent": 25}}
    {"text": "patient's request"}                    (free text a person typed: shown as typed)
A parameter is plain data (a number, an ISO date, a name), a protocol code with its kind (shown
through the kind's translator) or another phrase. The message id is English and marked with
gettext_noop where it is written, so storage stays English and the catalogue holds every phrase."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.utils import translation
from django.utils.translation import gettext, pgettext

Phrase = dict[str, Any]

# How a protocol code of each kind is shown; apps add their kinds with `register_kind`.
_KINDS: dict[str, Callable[[str], str]] = {}


def register_kind(kind: str, show: Callable[[str], str]) -> None:
    _KINDS[kind] = show


def phrase(msgid: str, *, context: str | None = None, **params: Any) -> Phrase:
    """A phrase to store: `msgid` (an English catalogue id, marked with gettext_noop) and its
    parameters, each plain data, `code(...)` or another phrase."""
    out: Phrase = {"msgid": str(msgid)}
    if context:
        out["context"] = context
    if params:
        out["params"] = params
    return out


def code(kind: str, value: str) -> dict[str, str]:
    """A protocol code as a parameter (kind "drug" and the drug's code): shown in the reader's language."""
    return {"code": value, "kind": kind}


def typed(text: str) -> Phrase:
    """Text a person typed, stored as a phrase so a field holds one shape: shown as typed."""
    return {"text": text}


def is_phrase(value: object) -> bool:
    return isinstance(value, Mapping) and ("msgid" in value or "text" in value)


def render(value: Any) -> str:
    """`value` in the active language: a phrase, a code, plain text (shown as stored) or nothing."""
    if value is None or value == "":
        return ""
    if isinstance(value, Mapping):
        if "text" in value:
            return str(value["text"])
        if "code" in value:
            show = _KINDS.get(str(value.get("kind", "")))
            return show(str(value["code"])) if show else str(value["code"])
        if "msgid" in value:
            msgid = str(value["msgid"])
            context = value.get("context")
            said = pgettext(str(context), msgid) if context else gettext(msgid)
            params = value.get("params") or {}
            if not params:
                return said
            return said % {name: render(p) if isinstance(p, Mapping) else p for name, p in params.items()}
    if isinstance(value, list | tuple):
        return "; ".join(render(item) for item in value)
    return str(value)


def english(value: Any) -> str:
    """`value` as stored English (for logs, exports and fingerprints that must not depend on a reader)."""
    with translation.override("en"):
        return render(value)
