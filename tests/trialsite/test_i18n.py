"""Messages in English and Simplified Chinese."""

from __future__ import annotations

import gettext
import re
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import User
from django.utils import translation

from tests.support.i18n import python_msgids, template_msgids
from trialsite import labs
from trialsite.models import Participant, ParticipantStatus

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
APPS = ("trialsite", "randomization", "dosing", "schedules")
CJK = re.compile(r"[\u4e00-\u9fff]")


def test_api_errors_follow_the_request_language(nurse: User, api: Any, participant: Participant) -> None:
    url = f"/api/v1/participants/{participant.pk}/measurements/"
    body = {"kind": "height", "value": "17.5", "measured_on": "2026-03-01"}

    english = api(nurse).post(url, body, HTTP_ACCEPT_LANGUAGE="en").json()
    chinese = api(nurse).post(url, body, HTTP_ACCEPT_LANGUAGE="zh-hans").json()

    assert english["errors"]["value"] == ["Height 17.5 cm is not plausible (100–230 cm)."]
    assert chinese["errors"]["value"] == ["身高 17.5 cm 不合理（100–230 cm）。"]


def test_status_labels_are_translated() -> None:
    with translation.override("zh-hans"):
        assert str(ParticipantStatus.RANDOMIZED.label) == "已随机"
    with translation.override("en"):
        assert str(ParticipantStatus.RANDOMIZED.label) == "randomized"


def test_the_catalogue_has_no_untranslated_or_fuzzy_entries() -> None:
    text = PO.read_text(encoding="utf-8")
    entries = text.split("\n\n")[1:]  # the first block is the header
    untranslated = [e for e in entries if e.rstrip().endswith('msgstr ""') and "msgid_plural" not in e]
    fuzzy = [e for e in entries if "#, fuzzy" in e]
    assert not untranslated, untranslated[:5]
    assert not fuzzy, fuzzy[:5]


def _compiled() -> dict[Any, str]:
    """The compiled catalogue the app reads (committed, so a fresh clone has it)."""
    with MO.open("rb") as fh:
        return dict(gettext.GNUTranslations(fh)._catalog)  # type: ignore[attr-defined]


def _po_entries() -> dict[Any, str]:
    """msgid (with "context\x04" in front, as in the .mo) → msgstr of the .po's entries."""
    entries: dict[Any, str] = {}
    for block in PO.read_text(encoding="utf-8").split("\n\n"):
        fields: dict[str, str] = {}
        current = None
        for line in block.splitlines():
            match = re.match(r'^(msgctxt|msgid|msgid_plural|msgstr|msgstr\[0\]) "(.*)"$', line)
            if match:
                current = match.group(1)
                fields[current] = match.group(2)
            elif line.startswith('"') and current:
                fields[current] += line[1:-1]
        if fields.get("msgid"):
            unescape = lambda text: text.encode("latin-1", "backslashreplace").decode("unicode_escape")  # noqa: E731
            key = unescape(fields["msgid"])
            if "msgctxt" in fields:
                key = unescape(fields["msgctxt"]) + "\x04" + key
            # A plural entry is read as its first form (Chinese has one: nplurals=1).
            entries[(key, 0) if "msgid_plural" in fields else key] = unescape(  # type: ignore[index]
                fields.get("msgstr[0]", fields.get("msgstr", ""))
            )
    return entries


def _code_msgids() -> tuple[set[tuple[str | None, str]], list[str]]:
    msgids: set[tuple[str | None, str]] = set()
    problems: list[str] = []
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            found, bad = python_msgids(str(path.relative_to(ROOT)), path.read_text(encoding="utf-8"))
            msgids |= found
            problems += bad
    for folder in [ROOT / "templates", *(ROOT / app / "templates" for app in APPS)]:
        for path in sorted(p for p in folder.rglob("*") if p.suffix in (".html", ".txt")):
            msgids |= template_msgids(str(path), path.read_text(encoding="utf-8"))
    return msgids, problems


def test_every_msgid_of_the_code_has_a_chinese_translation() -> None:
    # given every string the code and the templates mark for translation
    msgids, problems = _code_msgids()
    assert len(msgids) > 500  # the scan found the project's strings
    assert not problems, "translated after formatting (no catalogue has these):\n" + "\n".join(problems)
    # then the compiled catalogue has a non-empty translation for each one
    compiled = _compiled()
    missing = sorted(
        f"{context} | {msgid}" if context else msgid
        for context, msgid in msgids
        if not (compiled.get(f"{context}\x04{msgid}" if context else msgid) or compiled.get((msgid, 0)))
    )
    assert not missing, f"{len(missing)} without a zh_Hans translation (run `make messages`, translate):\n" + (
        "\n".join(missing[:20])
    )


def test_the_compiled_catalogue_is_the_current_one() -> None:
    """The .mo is committed (the app and CI read it as is): it must say what the .po says."""
    entries = _po_entries()
    compiled = {k: v for k, v in _compiled().items() if k != ""}
    assert compiled == entries


def test_one_catalogue_for_the_whole_project() -> None:
    # An app's own locale/ catches its strings at `makemessages` time and is read after
    # LOCALE_PATHS: two catalogues drift apart (randomization had one until it was merged).
    assert settings.LOCALE_PATHS == [ROOT / "locale"]
    assert [p for p in ROOT.glob("*/locale") if p != ROOT / "locale"] == []
    with translation.override("zh-hans"):
        assert translation.gettext("Randomize participants") == "受试者随机分组"  # a randomization string


def test_the_lab_catalogue_names_analytes_in_chinese() -> None:
    with translation.override("zh-hans"):
        names = {code: labs.analyte_label(code) for code in labs.ANALYTES}
        assert names["anc"] == "中性粒细胞绝对计数" and names["platelets"] == "血小板计数"
        assert names["alt"] == "谷丙转氨酶" and names["ast"] == "谷草转氨酶" and names["total_bilirubin"] == "总胆红素"
        assert all(CJK.search(name) for name in names.values()), names
    with translation.override("en"):
        assert labs.analyte_label("anc") == "Absolute neutrophil count"


def test_every_field_an_admin_shows_has_a_chinese_name() -> None:
    """Foreign keys and timestamps too (a field without verbose_name shows its English name)."""
    registered = set(admin.site._registry)
    untranslated = []
    with translation.override("zh-hans"):
        for app in APPS:
            for model in apps.get_app_config(app).get_models():
                if model not in registered:
                    continue
                for field in model._meta.concrete_fields:
                    if field.name != "id" and not CJK.search(str(field.verbose_name)):
                        untranslated.append(f"{model._meta.label}.{field.name}: {field.verbose_name}")
    assert not untranslated, untranslated
