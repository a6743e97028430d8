"""One way for every admin add/change page that writes through a service to answer a refusal:
the page is shown again (status 200) with everything the user typed, and each of the service's
messages next to the field or inline row it concerns (issue 14, "Never lose input").

How: the service runs where Django's admin saves (save_model, save_formset), inside the admin's
own transaction (ModelAdmin.changeform_view is atomic). A refusal is recorded against the form
it belongs to and raised out of that transaction, which undoes everything the request wrote:
nothing is half-written. The page is then built again from the same POST, and the recorded
messages become the forms' errors, so the admin renders its usual "please correct the errors
below" page with every typed value and every message (several rows can each be refused).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from django import forms
from django.contrib import messages
from django.core.exceptions import NON_FIELD_ERRORS
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from trialsite import i18n
from trialsite.errors import ApplicationError

MAIN = "__main__"  # the page's own form; an inline row is keyed by its prefix ("lab_results-0")
Refusals = dict[str, dict[str, list[str]]]
T = TypeVar("T")


def show_error(request: HttpRequest, exc: ApplicationError) -> None:
    """An admin message for a refused operation: the detail, plus field messages it does not
    already say."""
    # Fields by the reader's name for them, not their code (no English inside a Chinese message).
    extra = [
        f"{i18n.field_label(field)}: {msg}" if i18n.field_label(field) else msg
        for field, msgs in exc.errors.items()
        for msg in msgs
        if msg not in exc.detail
    ]
    messages.error(request, exc.detail + (f" ({'; '.join(extra)})" if extra else ""))


def attempt(request: HttpRequest, call: Callable[[], T], success: str | Callable[[T], str]) -> bool:
    """For an admin action or a button of a custom page (no form to show again): run the service,
    say its refusal as an error message or `success` (a text, or made from the result)."""
    try:
        result = call()
    except ApplicationError as exc:
        show_error(request, exc)
        return False
    messages.success(request, success if isinstance(success, str) else success(result))
    return True


def attempt_on_form(form: forms.BaseForm, call: Callable[[], object]) -> bool:
    """For a custom admin page with its own form: run the service; a refusal puts its messages on
    the form's fields, so the page is shown again with what was typed (issue 14)."""
    try:
        call()
    except ApplicationError as exc:
        add_errors(form, field_errors(exc, form, str))
        return False
    return True


class ServiceRefused(Exception):
    """Leaves the admin's transaction after a service refused (the recorded messages are on the
    request)."""


def field_errors(exc: ApplicationError, form: forms.BaseForm, field_for: Callable[[str], str]) -> dict[str, list[str]]:
    """The service's `errors` keyed by the form's field names. A key the form has no field for is
    a message for the whole form (or row), and so is the detail when no field message says it."""
    out: dict[str, list[str]] = {}
    for key, msgs in exc.errors.items():
        name = field_for(key)
        target = name if name in form.fields else NON_FIELD_ERRORS
        for msg in msgs:
            if msg not in out.setdefault(target, []):
                out[target].append(msg)
    if not any(exc.detail == m for msgs in out.values() for m in msgs):
        out.setdefault(NON_FIELD_ERRORS, []).insert(0, exc.detail)
    return out


def add_errors(form: forms.BaseForm, errors: dict[str, list[str]]) -> None:
    if not form.is_bound:
        return
    for field, msgs in errors.items():
        target = field if field in form.fields else None
        for msg in msgs:
            form.add_error(target, msg)


def with_errors(form_class: Any, errors: Refusals | dict[str, list[str]], *, by_prefix: bool) -> Any:
    """`form_class`, adding the recorded messages after its own validation: the page's form gets
    `errors`; with by_prefix, each inline row gets `errors[row.prefix]`."""

    class Refused(form_class):
        def full_clean(self) -> None:
            super().full_clean()
            found = errors.get(self.prefix or "", {}) if by_prefix else errors
            add_errors(self, found)  # type: ignore[arg-type]

    Refused.__name__ = form_class.__name__
    return Refused


class ServiceFormAdminMixin:
    """For a ModelAdmin whose save_model / save_formset call services. Put it first in the bases.

    Wrap each service call in `with self.refusal(request, form):` (the page's form), or
    `with self.refusal(request, row_form, inline=True):` for an inline row: the save then goes
    on with the next rows so that every refused row is reported, and save_related ends it.
    `service_error_field` names the form field of a service's error key where they differ (a
    screening finding "ecog" is the form field "f_ecog")."""

    def service_error_field(self, key: str) -> str:
        return key

    @staticmethod
    def _refusals(request: HttpRequest) -> Refusals:
        if not hasattr(request, "_service_refusals"):
            request._service_refusals = {}  # type: ignore[attr-defined]
        return request._service_refusals  # type: ignore[attr-defined]

    @contextmanager
    def refusal(self, request: HttpRequest, form: forms.BaseForm, *, inline: bool = False) -> Iterator[None]:
        try:
            yield
        except ApplicationError as exc:
            key = form.prefix if inline and form.prefix else MAIN
            found = self._refusals(request).setdefault(key, {})
            for field, msgs in field_errors(exc, form, self.service_error_field).items():
                found.setdefault(field, []).extend(m for m in msgs if m not in found.get(field, []))
            if not inline:
                raise ServiceRefused from exc

    def refuse(self, request: HttpRequest, form: forms.BaseForm, exc: ApplicationError) -> None:
        """Record `exc` against the page's form and leave the save (for a check the admin makes
        itself, such as a field it parses)."""
        with self.refusal(request, form):
            raise exc

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)  # type: ignore[misc]
        if self._refusals(request):
            raise ServiceRefused

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)  # type: ignore[misc]
        except ServiceRefused:
            # The atomic block is left: every write of the first pass is undone. Second pass:
            # the same POST, validated again, with the services' messages as form errors.
            request._service_refusals_shown = self._refusals(request)  # type: ignore[attr-defined]
            request._service_refusals = {}  # type: ignore[attr-defined]
            try:
                return super().changeform_view(request, object_id, form_url, extra_context)  # type: ignore[misc]
            except ServiceRefused:
                # Only if a message found no form to sit on (the page changed under it): say
                # every message and show the page afresh rather than fail.
                for found in request._service_refusals_shown.values():  # type: ignore[attr-defined]
                    for msgs in found.values():
                        for msg in msgs:
                            messages.error(request, msg)
                return HttpResponseRedirect(request.get_full_path())

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form_class = super().get_form(request, obj, change=change, **kwargs)  # type: ignore[misc]
        shown = getattr(request, "_service_refusals_shown", {}).get(MAIN)
        return with_errors(form_class, shown, by_prefix=False) if shown else form_class

    def get_formsets_with_inlines(self, request: HttpRequest, obj: Any = None) -> Iterator[tuple[Any, Any]]:
        shown = {k: v for k, v in getattr(request, "_service_refusals_shown", {}).items() if k != MAIN}
        for formset, inline in super().get_formsets_with_inlines(request, obj):  # type: ignore[misc]
            if shown:
                form = with_errors(formset.form, shown, by_prefix=True)
                formset = type(formset.__name__, (formset,), {"form": form})
            yield formset, inline


SIGNATURE_FIELD = "signature_password"


def signature_field(meaning: str) -> forms.CharField:
    """The password field of a signed act's admin form, labelled with the signature's meaning in
    the reader's language ("Re-enter your password to sign: I verified this dose sheet")."""
    from django.utils.functional import lazy

    from trialsite import signatures

    return forms.CharField(
        label=lazy(signatures.password_label, str)(meaning),
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        required=False,
    )


def sign_from_post(request: HttpRequest, meaning: str) -> Any:
    """Sign `meaning` with the password the admin form posted (outside the act's transaction,
    so that django-axes' count of a wrong one survives the act's rollback): the Signature, or
    the refusal (an ApplicationError) for the page to show."""
    from trialsite import clock, roles, signatures

    try:
        return signatures.sign(
            request=request,
            user=roles.actor(request.user),
            password=request.POST.get(SIGNATURE_FIELD, ""),
            meaning=meaning,
            now=clock.now(),
        )
    except ApplicationError as exc:
        return exc


class SignedAddAdminMixin:
    """For an add page whose service is a signed act (put it before ServiceFormAdminMixin; its
    form declares SIGNATURE_FIELD = signature_field(meaning)): a POST signs first, outside the
    admin's transaction, and the signature reaches save_model as `request.signature`. A wrong
    password is an error on the field and the page comes back with everything typed (nothing is
    written)."""

    signature_meaning: str

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        if request.method == "POST" and object_id is None:
            signed = sign_from_post(request, self.signature_meaning)
            if isinstance(signed, ApplicationError):
                request._service_refusals_shown = {MAIN: {SIGNATURE_FIELD: [signed.detail]}}  # type: ignore[attr-defined]
            else:
                request.signature = signed  # type: ignore[attr-defined]
        return super().changeform_view(request, object_id, form_url, extra_context)  # type: ignore[misc]
