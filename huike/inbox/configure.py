"""Writes of the inbox's settings: canned replies and the assignment strategy (permission
inbox.configure). Kept apart from services.py, which holds the conversation work."""

from django.db import IntegrityError, transaction
from django.utils.text import slugify
from django.utils.translation import gettext as _

from huike.accounts.access import Actor
from huike.core.errors import ConflictError, InvalidInputError
from huike.inbox.models import AssignmentStrategy, CannedReply, InboxSettings
from huike.inbox.services import inbox_settings

SHORTCUT_MAX = 40
TITLE_MAX = 100
BODY_MAX = 5_000
# Shorter than this and agents would be assigned conversations they never see; longer than a
# day and "online" means nothing.
ONLINE_TIMEOUT_RANGE = (30, 86_400)


def _clean(*, shortcut: str, title: str, body_zh_hans: str, body_en: str) -> dict[str, str]:
    shortcut = slugify((shortcut or "").strip().lstrip("/"), allow_unicode=True)
    if not shortcut or len(shortcut) > SHORTCUT_MAX:
        raise InvalidInputError(
            _("A shortcut of letters, digits, - or _, at most %(count)d.")
            % {"count": SHORTCUT_MAX},
            field="shortcut",
        )
    title = (title or "").strip()
    if not title or len(title) > TITLE_MAX:
        raise InvalidInputError(
            _("A title of at most %(count)d characters.") % {"count": TITLE_MAX}, field="title"
        )
    bodies = {"body_zh_hans": (body_zh_hans or "").strip(), "body_en": (body_en or "").strip()}
    if not any(bodies.values()):
        raise InvalidInputError(_("Write the reply in at least one language."), field="body_en")
    for name, body in bodies.items():
        if len(body) > BODY_MAX:
            raise InvalidInputError(
                _("At most %(count)d characters.") % {"count": BODY_MAX}, field=name
            )
    return {"shortcut": shortcut, "title": title, **bodies}


def _save(reply: CannedReply) -> CannedReply:
    try:
        with transaction.atomic():
            reply.save()
    except IntegrityError:
        raise ConflictError(
            _("Another canned reply has this shortcut."), field="shortcut"
        ) from None
    return reply


def canned_reply_create(
    *, actor: Actor, shortcut: str, title: str, body_zh_hans: str = "", body_en: str = ""
) -> CannedReply:
    """Raises InvalidInputError for a bad field, ConflictError for a shortcut in use."""
    actor.require("inbox.configure")
    data = _clean(shortcut=shortcut, title=title, body_zh_hans=body_zh_hans, body_en=body_en)
    return _save(CannedReply(workspace=actor.workspace, created_by=actor.membership, **data))


def canned_reply_update(
    *,
    actor: Actor,
    reply: CannedReply,
    shortcut: str,
    title: str,
    body_zh_hans: str = "",
    body_en: str = "",
) -> CannedReply:
    actor.require("inbox.configure")
    data = _clean(shortcut=shortcut, title=title, body_zh_hans=body_zh_hans, body_en=body_en)
    for name, value in data.items():
        setattr(reply, name, value)
    return _save(reply)


def canned_reply_delete(*, actor: Actor, reply: CannedReply) -> None:
    actor.require("inbox.configure")
    reply.delete()


def inbox_settings_update(
    *, actor: Actor, strategy: str, online_timeout_seconds: int
) -> InboxSettings:
    actor.require("inbox.configure")
    if strategy not in AssignmentStrategy.values:
        raise InvalidInputError(_("Unknown assignment strategy."), field="strategy")
    low, high = ONLINE_TIMEOUT_RANGE
    if not low <= online_timeout_seconds <= high:
        raise InvalidInputError(
            _("Between %(low)d and %(high)d seconds.") % {"low": low, "high": high},
            field="online_timeout_seconds",
        )
    found = inbox_settings(actor.workspace.pk)
    found.strategy = strategy
    found.online_timeout_seconds = online_timeout_seconds
    found.save(update_fields=["strategy", "online_timeout_seconds"])
    return found
