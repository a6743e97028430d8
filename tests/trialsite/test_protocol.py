from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from tests.conftest import PROTOCOL_PATH
from trialsite import protocol, services
from trialsite.errors import Conflict, ProtocolDefinitionError
from trialsite.models import Participant, ProtocolVersion, Site, SiteReferenceRange, Trial


def _definition() -> dict[str, Any]:
    return yaml.safe_load(PROTOCOL_PATH.read_text(encoding="utf-8"))


def test_the_trial_file_loads_with_registry_parameters(db: Any) -> None:
    version, created = services.protocol_load(by=None, path=PROTOCOL_PATH)

    assert created
    trial = Trial.objects.get(registry_id="NCT06850103")
    assert trial.current_protocol == version
    # Registry text: 102 participants, 7 hospitals (sponsor + 6 collaborators), 1:1 arms.
    assert trial.target_enrollment == 102
    assert trial.sites.count() == 7
    assert {a["code"]: a["ratio"] for a in version.definition["arms"]} == {"experimental": 1, "control": 1}
    assert set(Site.objects.values_list("time_zone", flat=True)) == {"Asia/Shanghai"}
    drugs = version.definition["drugs"]
    assert (drugs["capecitabine"]["dose"], drugs["oxaliplatin"]["dose"], drugs["serplulimab"]["dose"]) == (
        1000,
        130,
        300,
    )
    assert drugs["serplulimab"]["basis"] == "flat"
    assert "serplulimab" not in version.definition["regimens"]["control"]["neoadjuvant"]
    assert version.definition["eligibility"]["screening_window_days"] == 28
    assert SiteReferenceRange.objects.filter(site__code="ZJU1", analyte="creatinine").exists()


def test_loading_twice_changes_nothing(db: Any) -> None:
    first, _ = services.protocol_load(by=None, path=PROTOCOL_PATH)
    counts = (
        Trial.objects.count(),
        Site.objects.count(),
        ProtocolVersion.objects.count(),
        SiteReferenceRange.objects.count(),
    )

    again, created = services.protocol_load(by=None, path=PROTOCOL_PATH)

    assert not created
    assert again.pk == first.pk
    assert (
        Trial.objects.count(),
        Site.objects.count(),
        ProtocolVersion.objects.count(),
        SiteReferenceRange.objects.count(),
    ) == counts


def test_a_new_version_becomes_current_and_participants_keep_theirs(participant: Participant) -> None:
    old = participant.protocol_version
    data = _definition()
    data["trial"]["version"] = "2"
    data["schedule"]["cycle_day1_window"]["before_days"] = 2

    new, created = services.protocol_load(by=None, text=yaml.safe_dump(data, allow_unicode=True))

    assert created
    participant.refresh_from_db()
    assert participant.protocol_version == old
    assert Trial.objects.get().current_protocol == new
    assert ProtocolVersion.objects.count() == 2


def test_changing_a_loaded_version_is_refused(trial: Trial) -> None:
    data = _definition()
    data["trial"]["target_enrollment"] = 90

    with pytest.raises(Conflict, match="new version"):
        services.protocol_load(by=None, text=yaml.safe_dump(data, allow_unicode=True))
    assert Trial.objects.get().target_enrollment == 102


@pytest.mark.parametrize(
    ("mutate", "where", "message"),
    [
        (lambda d: d["trial"].pop("target_enrollment"), "trial", "'target_enrollment' is a required property"),
        (
            lambda d: d["sites"][2].__setitem__("infusion_chairs_per_day", 0),
            "sites[2].infusion_chairs_per_day",
            "minimum",
        ),
        (
            lambda d: d["drugs"]["oxaliplatin"].__setitem__("basis", "mg_per_lb"),
            "drugs.oxaliplatin.basis",
            "is not one of",
        ),
        (lambda d: d["sites"][0].__setitem__("time_zone", "Asia/Atlantis"), "sites[0].time_zone", "not a known IANA"),
        (
            lambda d: d["regimens"]["control"]["neoadjuvant"].append("aspirin"),
            "regimens.control.neoadjuvant",
            "aspirin",
        ),
        (
            lambda d: d["eligibility"]["inclusion"][0]["rule"].__setitem__("type", "vibes"),
            "eligibility.inclusion[0].rule",
            "rule",
        ),
        (lambda d: d["sites"].append(copy.deepcopy(d["sites"][0])), "sites", "unique"),
        # The default ULNs obey the lab catalogue as a ULN typed in the admin does (trialsite/labs.py).
        (
            lambda d: d["default_reference_ranges"]["creatinine"].__setitem__("unit", "mmol/L"),
            "default_reference_ranges.creatinine",
            "'mmol/L' is not a unit for Serum creatinine",
        ),
        (
            lambda d: d["default_reference_ranges"]["creatinine"].__setitem__("uln", 1.04),
            "default_reference_ranges.creatinine",
            "did you mean mg/dL?",
        ),
    ],
)
def test_a_malformed_file_is_rejected_with_the_place_named(mutate: Any, where: str, message: str) -> None:
    data = _definition()
    mutate(data)

    with pytest.raises(ProtocolDefinitionError) as info:
        protocol.parse(yaml.safe_dump(data, allow_unicode=True), source="bad.yaml")

    assert where in info.value.errors, info.value.errors
    assert message in " ".join(info.value.errors[where])
    assert str(info.value).startswith("bad.yaml is not a valid protocol definition")


def test_broken_yaml_is_a_clear_error(db: Any) -> None:
    with pytest.raises(ProtocolDefinitionError, match="not valid YAML"):
        services.protocol_load(by=None, text="trial: [unclosed")
    assert not Trial.objects.exists()


def test_load_protocol_command_reports_a_bad_file(tmp_path: Any, db: Any) -> None:
    from django.core.management import CommandError, call_command

    bad = tmp_path / "bad.yaml"
    bad.write_text("trial: {registry_id: NCT1}\n", encoding="utf-8")
    with pytest.raises(CommandError, match="not a valid protocol definition"):
        call_command("load_protocol", str(bad))
