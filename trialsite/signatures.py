"""Electronic signatures (21 CFR 11.50, 11.100, 11.200): a signed act (randomize, verify, release,
a renal decision, a dose modification) needs its person to re-enter the password just before it.

Two steps, because they live on two floors:
- `sign` at the door (admin page, API view): checks the password through Django's
  `authenticate`, so that django-axes counts a wrong one towards the lock-out and refuses a
  locked-out account. It must run outside the act's transaction: the act's refusal rolls its
  transaction back, and the failed attempt must stay counted. It writes an unused Signature.
- `consume` inside the service's transaction: the signature is the caller's own, for this act,
  fresh and unused; it is marked used for the signed record, and the record's history row gets
  the manifestation (who, when in the site's time, what it means) as its change reason.
The system (`by=None`: a task, a receiver) acts without a signature; a person never does."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.http import HttpRequest
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from drf_spectacular.utils import OpenApiParameter

from trialsite.error_codes import CommonErrorCode
from trialsite.errors import NotPermitted
from trialsite.history import zone_for
from trialsite.models import SIGNATURE_MEANINGS, Signature

MEANINGS = SIGNATURE_MEANINGS
RANDOMIZE = "randomize"
VERIFY_SHEET = "verify_sheet"
RELEASE_SHEET = "release_sheet"
RENAL_DECISION = "renal_decision"
DOSE_MODIFICATION = "dose_modification"

# A signature is made for the act the user is about to do: one older than this is refused, so
# that a password typed and left on a screen cannot sign an act later.
SIGNATURE_MAX_AGE = dt.timedelta(minutes=5)
# The request header that carries the password re-entered by an API caller (PRODUCT.md §6).
PASSWORD_HEADER = "X-Signature-Password"  # noqa: S105 - a header name, not a password

# The header in the API schema of every signed act.
PARAMETER = OpenApiParameter(
    PASSWORD_HEADER,
    str,
    OpenApiParameter.HEADER,
    required=True,
    description="The caller's password, re-entered to sign the act (21 CFR 11.200). Missing: 403 "
    "signature_required; wrong: 403 signature_invalid (counted towards the lock-out); nothing is written.",
)

MANIFESTATION = gettext_noop("%(name)s signed %(time)s (%(zone)s): %(meaning)s")
PASSWORD_LABEL = gettext_noop("Re-enter your password to sign: %(meaning)s")
# The history rows' change reason is a text column (SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD):
# a bound only against a runaway note, far above a note and a manifestation.
REASON_MAX = 4000


def meaning_text(meaning: str) -> str:
    """The meaning in the active language."""
    return _(MEANINGS[meaning])


def password_label(meaning: str) -> str:
    """The label of a door's password field, in the active language."""
    return _(PASSWORD_LABEL) % {"meaning": meaning_text(meaning)}


def signer_name(user: User) -> str:
    return user.get_full_name().strip() or user.get_username()


def manifestation(signature: Signature, *, time_zone: str, offset: bool = False) -> str:
    """What a signed record shows (11.50): the signer's printed name, the time in the site's time
    zone (named, or as its UTC offset with `offset`, shorter for the history's column), and the
    meaning, in the active language."""
    local = signature.signed_at.astimezone(ZoneInfo(time_zone))
    return _(MANIFESTATION) % {
        "name": signature.signer_name,
        "time": local.strftime("%Y-%m-%d %H:%M"),
        "zone": f"UTC{local.isoformat()[-6:]}" if offset else time_zone,
        "meaning": meaning_text(signature.meaning),
    }


def site_time_zone(record: Any) -> str:
    """The time zone of the site a signed record belongs to (its own site, or its participant's)."""
    return str(zone_for(record))


def signatures_of(record: models.Model) -> list[Signature]:
    """The signatures used for `record`, oldest first (for the page and the PDF)."""
    return list(
        Signature.objects.filter(
            target_type=ContentType.objects.get_for_model(record), target_id=record.pk, used_at__isnull=False
        ).order_by("signed_at", "pk")
    )


def manifestations(record: models.Model) -> list[str]:
    """Every manifestation of `record`, in the active language."""
    zone = site_time_zone(record)
    return [manifestation(s, time_zone=zone) for s in signatures_of(record)]


def _refused(code: CommonErrorCode) -> NotPermitted:
    messages = {
        CommonErrorCode.SIGNATURE_REQUIRED: _("This act must be signed: re-enter your password."),
        CommonErrorCode.SIGNATURE_INVALID: _("The password is not correct: nothing was signed."),
        CommonErrorCode.SIGNATURE_LOCKED: _(
            "Too many wrong passwords: your account is locked for a while; nothing was signed."
        ),
    }
    message = messages[code]
    return NotPermitted(message, code=code, errors={"signature_password": [message]})


def sign(*, request: HttpRequest, user: User, password: str, meaning: str, now: dt.datetime) -> Signature:
    """Sign `meaning` as `user` with the re-entered `password` (at the door, outside the act's
    transaction). A wrong password, or an account without one (an API token), signs nothing and
    is NotPermitted (signature_invalid), counted by django-axes like a failed sign-in (name and
    address); a locked-out account is refused without trying the password (signature_locked)."""
    if meaning not in MEANINGS:
        raise ValueError(f"unknown signature meaning {meaning!r}")
    if not password:
        raise _refused(CommonErrorCode.SIGNATURE_REQUIRED)
    checked = authenticate(request=request, username=user.get_username(), password=password)
    if getattr(request, "axes_locked_out", False):
        # Answered here (403 signature_locked, the page kept with what was typed) rather than by
        # AxesMiddleware's lock-out page, which would replace the act's form; the account stays
        # locked for signing and signing in alike.
        request.axes_locked_out = False  # type: ignore[attr-defined]
        raise _refused(CommonErrorCode.SIGNATURE_LOCKED)
    if checked is None or checked.pk != user.pk:
        raise _refused(CommonErrorCode.SIGNATURE_INVALID)
    signature = Signature(signer=user, signer_name=signer_name(user)[:300], meaning=meaning, signed_at=now)
    signature.full_clean()
    signature.save()
    return signature


def check(signature: Signature | None, *, by: User | None, meaning: str, now: dt.datetime) -> Signature | None:
    """The signature of `by`'s act `meaning`, locked, or NotPermitted (signature_required): none,
    another person's, another act's, a used one, or one older than SIGNATURE_MAX_AGE. The
    system (`by=None`) needs none. A service that creates the signed record checks first (so that
    nothing is done for a refused act), then saves the record and consumes the checked signature
    in the same transaction (which holds the row lock, so it is not read again)."""
    if by is None:
        return None
    if signature is None or signature.pk is None:
        raise _refused(CommonErrorCode.SIGNATURE_REQUIRED)
    if getattr(signature, "_checked_for", None) == (by.pk, meaning, now) and signature.used_at is None:
        return signature  # checked and locked already, earlier in this act's transaction
    locked = Signature.objects.select_for_update().filter(pk=signature.pk).first()
    if (
        locked is None
        or locked.signer_id != by.pk
        or locked.meaning != meaning
        or locked.used_at is not None
        or abs(now - locked.signed_at) > SIGNATURE_MAX_AGE
    ):
        raise _refused(CommonErrorCode.SIGNATURE_REQUIRED)
    locked._checked_for = (by.pk, meaning, now)  # type: ignore[attr-defined]
    return locked


def consume(
    signature: Signature | None, *, by: User | None, meaning: str, target: models.Model, now: dt.datetime
) -> Signature | None:
    """Use `by`'s `signature` for the act `meaning` on the saved record `target`, inside the act's
    transaction (a refusal after it undoes the use); refused as `check` says. Sets the English
    manifestation as the change reason of `target`'s next history row (after a note already set
    there): save `target` after this call, or set it before saving a new record
    (`set_change_reason`). The system (`by=None`) signs nothing."""
    locked = check(signature, by=by, meaning=meaning, now=now)
    if locked is None:
        return None
    if target.pk is None:
        raise ValueError("a signature is used for a saved record")
    locked.target_type = ContentType.objects.get_for_model(target)
    locked.target_id = target.pk
    locked.used_at = now
    locked.save(update_fields=["target_type", "target_id", "used_at"])
    set_change_reason(target, locked)
    return locked


def set_change_reason(target: models.Model, signature: Signature) -> None:
    """The English manifestation as the change reason of `target`'s next save (simple-history),
    after a note already set there, with the zone as its UTC offset (whole on the Signature row,
    the page and the PDF too)."""
    if getattr(target, "_signature_reason_of", None) == signature.pk:
        return  # set already, before a new record's first save
    with translation.override("en"):
        text = manifestation(signature, time_zone=site_time_zone(target), offset=True)
    note = (getattr(target, "_change_reason", None) or "").strip()
    target._signature_reason_of = signature.pk  # type: ignore[attr-defined]
    reason = f"{note} · {text}" if note else text
    target._change_reason = reason if len(reason) <= REASON_MAX else reason[: REASON_MAX - 1] + "…"  # type: ignore[attr-defined]


def sign_api_request(request: Any, *, meaning: str, now: dt.datetime) -> Signature:
    """The API's door: sign with the password in the X-Signature-Password header (missing:
    signature_required; wrong: signature_invalid). `request` is DRF's Request or Django's;
    django-axes reads the underlying HttpRequest."""
    http = getattr(request, "_request", request)
    user = getattr(request, "user", None)
    if not isinstance(user, User) or not user.is_authenticated:
        raise _refused(CommonErrorCode.SIGNATURE_REQUIRED)
    return sign(request=http, user=user, password=http.headers.get(PASSWORD_HEADER, ""), meaning=meaning, now=now)


def reason_text(text: str, signed: Iterable[Signature], *, time_zone: str) -> str:
    """A history change reason in the active language. The reason is stored as English text (a
    text column that simple-history's own pages read too): a note as typed, then, for a signed
    act, the English manifestation `set_change_reason` wrote. `signed` are the record's
    signatures and `time_zone` its site's (`site_time_zone`): the one whose English
    manifestation ends the reason is said again in the active language from its Signature row,
    the note before it kept as typed. The stored English is never parsed: a reason that ends
    with none of them (typed text, a system's message id, a reason cut at the column's length)
    comes back unchanged."""
    for signature in signed:
        with translation.override("en"):
            stored = manifestation(signature, time_zone=time_zone, offset=True)
        if text == stored or text.endswith(f" · {stored}"):
            return text[: len(text) - len(stored)] + manifestation(signature, time_zone=time_zone, offset=True)
    return text


def history_signatures(rows: Sequence[Any]) -> list[list[Signature]]:
    """For each history row (simple-history's), the signatures whose manifestation its change
    reason may end with: those used for its record, and those its user used within
    SIGNATURE_MAX_AGE of the row (an act whose signature is another record's but shown in this
    record's history: a randomization's is its allocation's, on the participant's row). Oldest
    first; one query for a page of history."""
    if not rows:
        return []
    query = models.Q()
    keys = []
    for row in rows:
        type_id = ContentType.objects.get_for_model(row.instance_type).pk
        user_id = getattr(row, "history_user_id", None)
        keys.append((type_id, row.id, user_id, row.history_date))
        query |= models.Q(target_type_id=type_id, target_id=row.id)
        if user_id is not None:
            query |= models.Q(
                signer_id=user_id,
                used_at__gte=row.history_date - SIGNATURE_MAX_AGE,
                used_at__lte=row.history_date + SIGNATURE_MAX_AGE,
            )
    found = list(Signature.objects.filter(query, used_at__isnull=False).order_by("signed_at", "pk"))
    return [
        [
            s
            for s in found
            if (s.target_type_id, s.target_id) == (type_id, pk)
            or (s.signer_id == user_id and s.used_at is not None and abs(s.used_at - moment) <= SIGNATURE_MAX_AGE)
        ]
        for type_id, pk, user_id, moment in keys
    ]
