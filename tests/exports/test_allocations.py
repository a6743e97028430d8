"""The statistician's allocation record: CSV (read with csv) and CDISC ODM 1.3.2 (parsed with lxml,
checked element by element, and validated against the ODM 1.3.2 XSD that odmlib ships). No other
role reaches it."""

from __future__ import annotations

import csv
import importlib.util
import io
import itertools
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from lxml import etree

from randomization.models import Allocation

pytestmark = pytest.mark.django_db

NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3"}
CSV_URL = "/api/v1/trials/NCT06850103/allocations.csv"
ODM_URL = "/api/v1/trials/NCT06850103/allocations.odm.xml"


def verify_line() -> str:
    out = io.StringIO()
    call_command("verify_randomization", "--trial", "NCT06850103", stdout=out)
    return out.getvalue().strip()


def test_csv_record_with_factors_times_and_the_hash_chain(api: Any, statistician: User, world: Any) -> None:
    response = api(statistician).get(CSV_URL)
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    text = response.content.decode("utf-8-sig")
    about, verification, *table = text.splitlines()
    assert about.startswith("# TrialSite allocation record of NCT06850103, exported ") and about.endswith(
        " by statistician"
    )
    assert verification == f"# {verify_line()}"
    assert "OK — 3 allocations replayed" in verification
    rows = list(csv.DictReader(table))
    allocations = list(Allocation.objects.order_by("sequence"))
    assert [int(r["sequence"]) for r in rows] == [a.sequence for a in allocations] == [1, 2, 3]
    assert {"factor_site", "factor_liver_only_metastases", "factor_ecog"} <= set(rows[0])
    for row, allocation in zip(rows, allocations, strict=True):
        assert row["screening_number"] == allocation.participant.screening_number
        assert row["arm"] == allocation.arm and row["method"] == "minimization"
        assert row["factor_site"] == allocation.factors["site"] == row["site"]
        assert row["factor_ecog"] == str(allocation.factors["ecog"])
        assert row["allocated_at"] == "2026-03-02T10:00:00+08:00" and row["time_zone"] == "Asia/Shanghai"
        assert row["allocated_by"] == allocation.allocated_by.username
        assert (row["prev_hash"], row["entry_hash"]) == (allocation.prev_hash, allocation.entry_hash)
    assert rows[0]["prev_hash"] == "0" * 64
    assert all(later["prev_hash"] == earlier["entry_hash"] for earlier, later in itertools.pairwise(rows))
    assert "minimizing_arms" in rows[0]["details"]  # the statistician's own record: decision details


def test_odm_record_element_by_element(api: Any, statistician: User, world: Any) -> None:
    response = api(statistician).get(ODM_URL)
    assert response.status_code == 200 and response["Content-Type"] == "application/xml"
    root = etree.fromstring(response.content)
    assert root.tag == "{http://www.cdisc.org/ns/odm/v1.3}ODM"
    assert root.get("ODMVersion") == "1.3.2" and root.get("FileType") == "Snapshot"
    assert root.get("FileOID") and root.get("CreationDateTime", "").endswith("+08:00")
    [study] = root.findall("odm:Study", NS)
    assert study.get("OID") == "NCT06850103"
    mdv = study.find("odm:MetaDataVersion", NS)
    assert mdv is not None
    items = {d.get("OID"): d for d in mdv.findall("odm:ItemDef", NS)}
    assert {"I.RANDNO", "I.ARM", "I.FACTOR.LIVER_ONLY_METASTASES", "I.FACTOR.ECOG", "I.ENTRY_HASH"} <= set(items)
    arms = {i.get("CodedValue") for i in mdv.findall("odm:CodeList[@OID='CL.ARM']/odm:CodeListItem", NS)}
    assert arms == {"experimental", "control"}
    [clinical] = root.findall("odm:ClinicalData", NS)
    assert clinical.get("StudyOID") == "NCT06850103" and clinical.get("MetaDataVersionOID") == mdv.get("OID")
    subjects = clinical.findall("odm:SubjectData", NS)
    allocations = {a.participant.screening_number: a for a in Allocation.objects.select_related("participant__site")}
    assert sorted(s.get("SubjectKey") for s in subjects) == sorted(allocations)
    for subject in subjects:
        allocation = allocations[subject.get("SubjectKey")]
        site_ref = subject.find("odm:SiteRef", NS)
        assert site_ref is not None and site_ref.get("LocationOID") == f"LOC.{allocation.participant.site.code}"
        group = subject.find("odm:StudyEventData/odm:FormData/odm:ItemGroupData", NS)
        assert group is not None and group.get("ItemGroupOID") == "IG.ALLOCATION"
        values = {i.get("ItemOID"): i.get("Value") for i in group.findall("odm:ItemData", NS)}
        assert values["I.RANDNO"] == str(allocation.sequence)
        assert values["I.ARM"] == allocation.arm
        assert values["I.FACTOR.LIVER_ONLY_METASTASES"] == allocation.factors["liver_only_metastases"]
        assert values["I.FACTOR.ECOG"] == str(allocation.factors["ecog"])
        assert values["I.ALLOCATED_AT"] == "2026-03-02T10:00:00+08:00"
        assert values["I.ENTRY_HASH"] == allocation.entry_hash
        audit = group.find("odm:AuditRecord", NS)
        assert audit is not None
        assert audit.findtext("odm:DateTimeStamp", namespaces=NS) == "2026-03-02T10:00:00+08:00"
        user_ref = audit.find("odm:UserRef", NS)
        assert user_ref is not None and user_ref.get("UserOID") == f"USR.{allocation.allocated_by.username}"
    users = {u.get("OID") for u in root.findall("odm:AdminData/odm:User", NS)}
    assert users == {"USR.nurse", "USR.nurse_b"}
    comment = clinical.findtext("odm:Annotations/odm:Annotation[@SeqNum='1']/odm:Comment", namespaces=NS)
    assert comment == verify_line()


def _odm_schema() -> etree.XMLSchema | None:
    spec = importlib.util.find_spec("odmlib")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "schemas" / "odm" / "1.3.2" / "ODM1-3-2.xsd"
    return etree.XMLSchema(etree.parse(str(path))) if path.exists() else None


def test_odm_record_validates_against_the_odm_132_schema(api: Any, statistician: User, world: Any) -> None:
    schema = _odm_schema()
    if schema is None:
        pytest.skip("odmlib (which ships the ODM 1.3.2 XSD) is not installed")
    document = etree.fromstring(api(statistician).get(ODM_URL).content)
    assert schema.validate(document), schema.error_log


@pytest.mark.parametrize("who", ["nurse", "pharmacist", "investigator", "api_client_user"])
def test_no_other_role_reaches_the_record(request: pytest.FixtureRequest, api: Any, who: str, world: Any) -> None:
    user = request.getfixturevalue(who)
    for url in (CSV_URL, ODM_URL):
        response = api(user).get(url)
        assert response.status_code == 403, (who, url)
        assert response.json()["code"] == "permission_denied" and b"entry_hash" not in response.content


def test_unknown_trial_is_a_404(api: Any, statistician: User) -> None:
    response = api(statistician).get("/api/v1/trials/NCT00000000/allocations.odm.xml")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_the_allocation_admin_exports_the_record(client: Client, statistician: User, nurse: User, world: Any) -> None:
    client.force_login(statistician, backend="django.contrib.auth.backends.ModelBackend")
    selected = list(Allocation.objects.values_list("pk", flat=True)[:1])
    response = client.post(
        "/admin/randomization/allocation/", {"action": "export_allocation_record_odm", "_selected_action": selected}
    )
    assert response.status_code == 200 and response["Content-Type"] == "application/xml"
    assert len(etree.fromstring(response.content).findall(".//odm:SubjectData", NS)) == 3  # the whole record
    client.force_login(nurse, backend="django.contrib.auth.backends.ModelBackend")
    assert client.get("/admin/randomization/allocation/").status_code == 403
