"""The dosing app's writes, one module per idea: `sheets` (prepare, verify, release, void,
supersede), `document` (the read step of a sheet's content; the pure assembly is
dosing/document.py), `decisions` (the investigators' dose modifications and renal decisions)
and `preview` (a stateless dose calculation). The admin, the API and the tasks call the
functions listed here, the one list of the app's doors into its writes."""

from dosing.services.decisions import dose_modification_proposal, dose_modification_record, renal_decision_record
from dosing.services.preview import dose_calculation_preview
from dosing.services.sheets import (
    dose_sheet_prepare,
    dose_sheet_release,
    dose_sheet_verify,
    dose_sheet_void,
    dose_sheets_refresh,
    dose_sheets_void_for_withdrawal,
)

__all__ = [
    "dose_calculation_preview",
    "dose_modification_proposal",
    "dose_modification_record",
    "dose_sheet_prepare",
    "dose_sheet_release",
    "dose_sheet_verify",
    "dose_sheet_void",
    "dose_sheets_refresh",
    "dose_sheets_void_for_withdrawal",
    "renal_decision_record",
]
