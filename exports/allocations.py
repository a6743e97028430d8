"""The statistician's allocation record export (PRODUCT.md §6): every allocation with its number,
participant, stratification factors, arm, time, who, the decision's draws and details and the
hash chain, as CSV and as CDISC ODM 1.3.2 XML, each with the line `verify_randomization` prints
for the record as it is now.

Only the statistician (and a superuser) may read it: it carries the minimization scores and the
draws (`randomization.view_allocation_secret`). Rows are those of the statistician's sites, as
the allocation admin lists them; the verification line is about the whole record (numbers and
the head only, no participant).

ODM layout (CDISC ODM 1.3.2, built with lxml): Study (GlobalVariables; one MetaDataVersion with
one study event "randomization", one form and one item group whose ItemDefs are the columns
below, the arms as a CodeList), AdminData (each allocating user a User, each site a Location),
and ClinicalData with one SubjectData per allocated participant (SubjectKey = screening number,
SiteRef = its site), whose ItemGroupData carries an AuditRecord (who, where, when) and one
ItemData per column. The verification line is ClinicalData's Annotation 1."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from lxml import etree
from lxml.builder import ElementMaker

from randomization import selectors as randomization
from randomization.models import Allocation
from randomization.verification import verify_trial
from trialsite import roles
from trialsite.models import Trial
from trialsite.selectors import sites_for_user

from .selectors import ExportFile
from .tables import Column, Dataset, build, write, zone

ODM_NS = "http://www.cdisc.org/ns/odm/v1.3"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
ODM = ElementMaker(namespace=ODM_NS, nsmap={None: ODM_NS})
PERMISSION = "randomization.view_allocation_secret"
STUDY_EVENT, FORM, ITEM_GROUP, ARM_CODES = "SE.RANDOMIZATION", "F.ALLOCATION", "IG.ALLOCATION", "CL.ARM"


@dataclass(frozen=True)
class Field:
    """A column of the record: its CSV header, its ODM ItemDef (OID, DataType) and its value."""

    name: str
    item: str
    data_type: str  # ODM DataType: integer, text, datetime
    get: Callable[[Allocation], Any]


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def factor_codes(trial: Trial) -> list[str]:
    """The stratification factors in the protocol's order."""
    return [f["code"] for f in trial.definition.get("randomization", {}).get("factors", [])]


def _factor(code: str) -> Callable[[Allocation], Any]:
    return lambda allocation: allocation.factors.get(code)


def fields(trial: Trial) -> list[Field]:
    factors = [
        Field(f"factor_{code}", f"I.FACTOR.{code.upper()}", "text", _factor(code)) for code in factor_codes(trial)
    ]
    return [
        Field("sequence", "I.RANDNO", "integer", lambda a: a.sequence),
        Field("participant_id", "I.PARTICIPANT_ID", "integer", lambda a: a.participant_id),
        Field("screening_number", "I.SCREENING_NUMBER", "text", lambda a: a.participant.screening_number),
        Field("site", "I.SITE", "text", lambda a: a.participant.site.code),
        Field("scheme_version", "I.SCHEME_VERSION", "integer", lambda a: a.scheme.version),
        Field("method", "I.METHOD", "text", lambda a: a.method),
        *factors,
        Field("arm", "I.ARM", "text", lambda a: a.arm),
        Field("allocated_at", "I.ALLOCATED_AT", "datetime", lambda a: a.allocated_at),
        Field("allocated_by", "I.ALLOCATED_BY", "text", lambda a: a.allocated_by.get_username()),
        Field("assessment_id", "I.ASSESSMENT_ID", "integer", lambda a: a.assessment_id),
        Field("draws", "I.DRAWS", "text", lambda a: _json(a.draws)),
        Field("details", "I.DETAILS", "text", lambda a: _json(a.details)),
        Field("chain_key_id", "I.CHAIN_KEY_ID", "text", lambda a: a.chain_key_id),
        Field("prev_hash", "I.PREV_HASH", "text", lambda a: a.prev_hash),
        Field("entry_hash", "I.ENTRY_HASH", "text", lambda a: a.entry_hash),
        Field("time_zone", "I.TIME_ZONE", "text", lambda a: a.participant.site.time_zone),
    ]


def record_rows(trial: Trial, *, by: Any) -> QuerySet[Allocation]:
    """The allocations of `trial` at `by`'s sites, in sequence order; refused (403) to anyone
    but the statistician and a superuser, whichever door asks."""
    roles.require(by, PERMISSION)
    return (
        randomization.allocations_for_statistician(by, trial)
        .filter(participant__site__in=sites_for_user(by))
        .select_related("participant", "participant__site", "scheme", "allocated_by")
    )


def _local(moment: dt.datetime, allocation: Allocation) -> dt.datetime:
    return moment.astimezone(zone(allocation.participant.site.time_zone))


def _about(trial: Trial, by: Any, now: dt.datetime) -> list[str]:
    exported = now.astimezone(zone(settings.TIME_ZONE)).isoformat(timespec="seconds")
    return [
        f"TrialSite allocation record of {trial.registry_id}, exported {exported} by {by.get_username()}",
        verify_trial(trial).line(trial.registry_id),
    ]


def record_csv(trial: Trial, *, by: Any, now: dt.datetime) -> ExportFile:
    """The record as CSV: two "# " lines (what, and the verification line), then the table."""
    rows = list(record_rows(trial, by=by))
    dataset = Dataset(
        name="allocations",
        title="allocations",
        model=Allocation,
        queryset=Allocation.objects.none,
        site="participant__site",
        permission=PERMISSION,
        columns=[Column(f.name, f.item, f.get) for f in fields(trial)],
    )
    content = write(build(dataset, rows, by), "csv", preamble=_about(trial, by, now))
    return ExportFile(content, "text/csv; charset=utf-8", f"{trial.registry_id}-allocations.csv")


def _value(field: Field, allocation: Allocation) -> str | None:
    value = field.get(allocation)
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return _local(value, allocation).isoformat(timespec="seconds")
    return str(value)


def _translated(text: str, text_zh: str = "") -> list[Any]:
    out = [ODM.TranslatedText(text, {XML_LANG: "en"})]
    if text_zh:
        out.append(ODM.TranslatedText(text_zh, {XML_LANG: "zh-Hans"}))
    return out


def _metadata(trial: Trial, mdv: str, items: list[Field]) -> Any:
    arms = trial.definition.get("arms", [])
    return ODM.MetaDataVersion(
        {"OID": mdv, "Name": f"{trial.registry_id} allocation record"},
        ODM.Protocol(ODM.StudyEventRef(StudyEventOID=STUDY_EVENT, OrderNumber="1", Mandatory="Yes")),
        ODM.StudyEventDef(
            ODM.FormRef(FormOID=FORM, Mandatory="Yes"),
            OID=STUDY_EVENT,
            Name="Randomization",
            Repeating="No",
            Type="Scheduled",
        ),
        ODM.FormDef(
            ODM.ItemGroupRef(ItemGroupOID=ITEM_GROUP, Mandatory="Yes"), OID=FORM, Name="Allocation", Repeating="No"
        ),
        ODM.ItemGroupDef(
            *[ODM.ItemRef(ItemOID=f.item, OrderNumber=str(n), Mandatory="No") for n, f in enumerate(items, start=1)],
            OID=ITEM_GROUP,
            Name="Allocation",
            Repeating="No",
        ),
        *[
            ODM.ItemDef(
                *([ODM.CodeListRef(CodeListOID=ARM_CODES)] if f.name == "arm" else []),
                OID=f.item,
                Name=f.name,
                DataType=f.data_type,
            )
            for f in items
        ],
        ODM.CodeList(
            *[
                ODM.CodeListItem(
                    ODM.Decode(*_translated(str(a.get("name") or a["code"]), str(a.get("name_zh") or ""))),
                    CodedValue=a["code"],
                )
                for a in arms
            ],
            OID=ARM_CODES,
            Name="Arm",
            DataType="text",
        ),
    )


def _subject(allocation: Allocation, items: list[Field]) -> Any:
    site = allocation.participant.site
    item_data = [ODM.ItemData(ItemOID=f.item, Value=v) for f in items if (v := _value(f, allocation)) is not None]
    return ODM.SubjectData(
        ODM.SiteRef(LocationOID=f"LOC.{site.code}"),
        ODM.StudyEventData(
            ODM.FormData(
                ODM.ItemGroupData(
                    ODM.AuditRecord(
                        ODM.UserRef(UserOID=f"USR.{allocation.allocated_by.get_username()}"),
                        ODM.LocationRef(LocationOID=f"LOC.{site.code}"),
                        ODM.DateTimeStamp(_local(allocation.allocated_at, allocation).isoformat(timespec="seconds")),
                    ),
                    *item_data,
                    ItemGroupOID=ITEM_GROUP,
                ),
                FormOID=FORM,
            ),
            StudyEventOID=STUDY_EVENT,
        ),
        SubjectKey=allocation.participant.screening_number,
    )


def record_odm(trial: Trial, *, by: Any, now: dt.datetime) -> ExportFile:
    """The record as a CDISC ODM 1.3.2 snapshot (the layout is in the module's docstring)."""
    allocations = list(record_rows(trial, by=by))
    about = _about(trial, by, now)
    items = fields(trial)
    mdv = "MDV.ALLOCATIONS.1"
    created = now.astimezone(zone(settings.TIME_ZONE))
    users = sorted({a.allocated_by.get_username() for a in allocations})
    sites = sorted({a.participant.site.code: a.participant.site for a in allocations}.items())
    effective = created.date().isoformat()
    root = ODM.ODM(
        ODM.Study(
            ODM.GlobalVariables(
                ODM.StudyName(trial.registry_id),
                ODM.StudyDescription(trial.title),
                ODM.ProtocolName(trial.registry_id),
            ),
            _metadata(trial, mdv, items),
            OID=trial.registry_id,
        ),
        ODM.AdminData(
            *[ODM.User(ODM.LoginName(name), OID=f"USR.{name}") for name in users],
            *[
                ODM.Location(
                    ODM.MetaDataVersionRef(StudyOID=trial.registry_id, MetaDataVersionOID=mdv, EffectiveDate=effective),
                    OID=f"LOC.{code}",
                    Name=site.name,
                    LocationType="Site",
                )
                for code, site in sites
            ],
            StudyOID=trial.registry_id,
        ),
        ODM.ClinicalData(
            *[_subject(a, items) for a in allocations],
            ODM.Annotations(ODM.Annotation(ODM.Comment(about[1]), SeqNum="1")),
            StudyOID=trial.registry_id,
            MetaDataVersionOID=mdv,
        ),
        FileType="Snapshot",
        FileOID=f"TrialSite.{trial.registry_id}.allocations.{created:%Y%m%dT%H%M%S}",
        CreationDateTime=created.isoformat(timespec="seconds"),
        ODMVersion="1.3.2",
        SourceSystem="TrialSite",
        Description=about[0],
    )
    content = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return ExportFile(content, "application/xml", f"{trial.registry_id}-allocations.odm.xml")
