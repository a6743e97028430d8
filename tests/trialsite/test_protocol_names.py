"""The names of a protocol's codes (arms, phases, drugs) come from the protocol definitions
(`label`, `label_zh`), per process and without a query; a code no protocol labels is shown as
it is (issue 15: a second trial is a protocol file alone)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from django.utils import translation

from tests.conftest import PROTOCOL_PATH
from trialsite import i18n, protocol_names, services
from trialsite.models import ProtocolVersion, Trial


@pytest.fixture(autouse=True)
def _fresh_names() -> Iterator[None]:
    # Labels learnt from this file's rolled-back protocols must not reach other tests.
    protocol_names.reset()
    yield
    protocol_names.reset()


def second_protocol() -> dict[str, Any]:
    """Another trial: other arm and drug codes, one of each without a label."""
    data = yaml.safe_load(PROTOCOL_PATH.read_text(encoding="utf-8"))
    data = copy.deepcopy(data)
    data["trial"].update(registry_id="NCT09900001", version="1", title="A second trial")
    data["arms"] = [
        {"code": "arm_a", "name": "Regimen A", "name_zh": "方案A", "label": "A", "label_zh": "甲组", "ratio": 1},
        {"code": "arm_b", "name": "Regimen B", "ratio": 1},
    ]
    data["drugs"] = {
        "drug_x": {
            "name": "Drug X",
            "label": "drug X",
            "label_zh": "X药",
            "route": "iv",
            "basis": "flat",
            "dose": 100,
            "days": [1],
        },
        "drug_y": {"name": "Drug Y", "route": "iv", "basis": "flat", "dose": 50, "days": [1]},
    }
    systemic = [p["code"] for p in data["phases"] if p["kind"] == "systemic"]
    data["regimens"] = {
        "arm_a": {p: ["drug_x", "drug_y"] for p in systemic},
        "arm_b": {p: ["drug_x"] for p in systemic},
    }
    data["dosing"].pop("renal_rules")
    return data


def _load(data: dict[str, Any]) -> ProtocolVersion:
    version, created = services.protocol_load(by=None, text=yaml.safe_dump(data, allow_unicode=True))
    assert created
    return version


def test_this_trials_codes_are_named_as_before_without_the_database() -> None:
    # (no database fixture: a lookup never queries; the names come from the protocol file)
    assert (i18n.arm_name("experimental"), i18n.phase_name("scrt"), i18n.drug_name("capecitabine")) == (
        "experimental",
        "SCRT",
        "capecitabine",
    )
    with translation.override("zh-hans"):
        assert [i18n.arm_name(c) for c in ("experimental", "control")] == ["试验组", "对照组"]
        assert [i18n.phase_name(c) for c in ("scrt", "neoadjuvant", "surgery", "adjuvant")] == [
            "短程放疗",
            "新辅助治疗",
            "手术",
            "辅助治疗",
        ]
        assert [i18n.drug_name(c) for c in ("capecitabine", "oxaliplatin", "serplulimab")] == [
            "卡培他滨",
            "奥沙利铂",
            "斯鲁利单抗",
        ]
    assert i18n.arm_name("no_such_arm") == "no_such_arm"


def test_a_second_protocol_names_its_own_codes_in_both_languages(trial: Trial, django_assert_num_queries: Any) -> None:
    _load(second_protocol())

    with django_assert_num_queries(0):
        assert (i18n.arm_name("arm_a"), i18n.drug_name("drug_x")) == ("A", "drug X")
        # no label: the code itself, in both languages
        assert (i18n.arm_name("arm_b"), i18n.drug_name("drug_y")) == ("arm_b", "drug_y")
        with translation.override("zh-hans"):
            assert (i18n.arm_name("arm_a"), i18n.drug_name("drug_x")) == ("甲组", "X药")
            assert (i18n.arm_name("arm_b"), i18n.drug_name("drug_y")) == ("arm_b", "drug_y")
            # the first trial's names are unchanged
            assert (i18n.arm_name("experimental"), i18n.drug_name("oxaliplatin")) == ("试验组", "奥沙利铂")


def test_a_protocol_read_from_the_database_names_its_codes(trial: Trial) -> None:
    # given a trial loaded by another process (this one has not seen it: names from files only)
    _load(second_protocol())
    protocol_names.reset()
    assert i18n.arm_name("arm_a") == "arm_a"

    # when this process reads its definition (e.g. a participant's protocol version)
    ProtocolVersion.objects.get(trial__registry_id="NCT09900001")

    # then its codes are named
    assert i18n.arm_name("arm_a") == "A"


def test_the_admin_forms_offer_the_loaded_protocols_drugs(trial: Trial) -> None:
    from dosing import admin as dosing_admin

    _load(second_protocol())
    with translation.override("zh-hans"):
        drugs = dict(dosing_admin.protocol_drugs())  # in the regimens' order, trial by trial
        phases = dict(dosing_admin.systemic_phases())
    assert drugs == {
        "capecitabine": "卡培他滨",
        "oxaliplatin": "奥沙利铂",
        "serplulimab": "斯鲁利单抗",
        "drug_x": "X药",
        "drug_y": "drug_y",
    }
    assert phases == {"neoadjuvant": "新辅助治疗", "adjuvant": "辅助治疗"}


def test_the_admin_help_texts_come_from_the_protocol(trial: Trial) -> None:
    from dosing import admin as dosing_admin

    assert dosing_admin.modification_choice_help() == (
        "Capecitabine grade 4: 'reduce' resumes at 50 %; serplulimab: withhold or discontinue only."
    )
    assert dosing_admin.renal_reduce_help() == (
        "With 'reduce' only: the dose level as the protocol lists it (capecitabine 75 or 50 %)."
    )
    with translation.override("zh-hans"):
        assert dosing_admin.modification_choice_help() == (
            "卡培他滨4级：选择“减量”时以50%剂量恢复用药；斯鲁利单抗：只能暂停给药或永久停药。"
        )
        assert dosing_admin.renal_reduce_help() == "仅用于“减量”：按方案列出的剂量水平填写（卡培他滨 75 或 50 %）。"


def test_the_add_forms_carry_the_protocols_help_texts(trial: Trial) -> None:
    from dosing import admin as dosing_admin

    modification = dosing_admin.DoseModificationForm()
    renal = dosing_admin.RenalDecisionForm()
    assert modification.fields["requested_action"].help_text.startswith("Capecitabine grade 4")
    assert "(capecitabine 75 or 50 %)" in renal.fields["reduce_to"].help_text
    assert [c for c, _ in modification.fields["drug"].widget.choices] == ["capecitabine", "oxaliplatin", "serplulimab"]
    assert [c for c, _ in renal.fields["phase"].widget.choices] == ["neoadjuvant", "adjuvant"]
