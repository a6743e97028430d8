"""What a reader sees of a page, and the English words left in it (the zh-hans scans)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

# Words a Chinese reader is expected to see in Latin letters: site codes and abbreviations used as
# such in Chinese clinical writing, units, drugs' international names printed beside the Chinese
# ones, file formats (CSV, Excel, CDISC ODM), time offsets (UTC+08:00), proper names (formulas, the product), the test's
# users, and JSON literals.
_ALLOWED = """
    nct lhl tzh nbuph uid capeox scrt tme bsa bmi crcl anc alt ast inr aptt ecog recist mss pmmr ctcae sha
    csco nccn api sms pdf ics url uln hiv lvef mri qtc child-pugh sae meddra utc
    csv xlsx excel xml odm cdisc
    mg kg cm ml min mmol umol µmol gy
    capecitabine oxaliplatin serplulimab cockcroft gault mosteller dubois haycock gehan george boyd efron
    trialsite django axes
    chief nurse pharmacist investigator statistician true false null
"""
ALLOWED = frozenset(_ALLOWED.split())


SKIPPED_TAGS = ("script", "style", "textarea", "pre", "code")
VOID_TAGS = ("br", "hr", "img", "input", "link", "meta", "col", "area", "base", "wbr", "source")


class _Text(HTMLParser):
    """The text a reader sees in the page's main part (<main>: not the header, the navigation
    sidebar or the language switch), without scripts, styles, code or attributes, and without
    what is marked as English on purpose (lang="en": citations, the English preview)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._stack: list[tuple[str, bool]] = []  # (tag, skips its content)
        self._main = 0

    def _skipping(self) -> bool:
        return any(skip for _tag, skip in self._stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "main":
            self._main += 1
        if tag in VOID_TAGS:
            return
        lang = (dict(attrs).get("lang") or "").lower()
        self._stack.append((tag, tag in SKIPPED_TAGS or lang.startswith("en")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "main" and self._main:
            self._main -= 1
        for i in range(len(self._stack) - 1, -1, -1):
            if self._stack[i][0] == tag:
                del self._stack[i:]
                break

    def handle_data(self, data: str) -> None:
        if self._main and not self._skipping():
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join(parser.parts)


# A word, or an identifier with underscores (a code: field names, choice values), which is allowed.
WORD = re.compile(r"[A-Za-z][A-Za-z0-9_'’]*(?:-[A-Za-z0-9_]+)*")


# Not words: e-mail addresses and file paths (data), whatever has a digit (codes, hashes, dates).
NOT_WORDS = re.compile(r"\S+@\S+|\S*/\S*")


def english_words(text: str, extra_allowed: frozenset[str] = frozenset()) -> set[str]:
    found = set()
    for word in WORD.findall(NOT_WORDS.sub(" ", text)):
        if any(c.isdigit() for c in word):
            continue
        low = word.lower().strip("'’")
        if len(low) < 3 and low not in ("to", "of", "in", "on", "at", "by", "or", "no", "is", "be"):
            continue
        if "_" in low or low in ALLOWED or low in extra_allowed:
            continue
        found.add(word)
    return found


# --- The catalogue and the strings the code marks for translation -----------------------------

TRANSLATION_FUNCTIONS = {
    "_": 0,  # also the pure modules' own marker (dosing/calculations/)
    "gettext": 0,
    "gettext_lazy": 0,
    "gettext_noop": 0,
    "pgettext": 1,
    "pgettext_lazy": 1,
}
TEMPLATE_CALL = re.compile(r"\b(npgettext|ngettext|pgettext|gettext)\(((?:\s*u?'(?:[^'\\]|\\.)*'\s*,?)+)[^)]*\)")


def python_msgids(path: str, source: str) -> tuple[set[tuple[str | None, str]], list[str]]:
    """(context, msgid) of every translation call with literal arguments in a Python file, and
    the calls that translate a text made before the lookup (an f-string, `%` or .format() inside
    the call: no catalogue has that msgid). A variable is fine: a stored msgid looked up again."""
    import ast

    found: set[tuple[str | None, str]] = set()
    problems: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
        if name not in TRANSLATION_FUNCTIONS or not node.args:
            continue
        args = node.args[: TRANSLATION_FUNCTIONS[name] + 1]
        if any(
            isinstance(a, ast.JoinedStr)
            or (isinstance(a, ast.BinOp) and isinstance(a.op, ast.Mod))
            or (isinstance(a, ast.Call) and getattr(a.func, "attr", None) == "format")
            for a in args
        ):
            problems.append(f"{path}:{node.lineno}: {ast.unparse(node)[:80]}")
            continue
        if not all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in args):
            continue
        values = [a.value for a in args]  # type: ignore[attr-defined]
        found.add((values[0], values[1]) if len(values) == 2 else (None, values[0]))
    return found, problems


def template_msgids(path: str, source: str) -> set[tuple[str | None, str]]:
    """(context, msgid) of every {% translate %} and {% blocktranslate %} of a template, read the
    way makemessages reads them (Django's templatize)."""
    import ast

    from django.utils.translation.template import templatize

    found: set[tuple[str | None, str]] = set()
    for match in TEMPLATE_CALL.finditer(templatize(source, path)):
        values = list(ast.literal_eval(f"({match.group(2).strip().rstrip(',')},)"))
        found.add((values[0], values[1]) if match.group(1).endswith("pgettext") else (None, values[0]))
    return found
