"""The "Shared with" panel of the record pages (customers, and the kinds other apps register in
huike.customers.share_kinds: leads, deals): share the record with a member or a team, and stop
sharing it (huike.accounts.sharing)."""

import uuid
from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from huike.accounts import sharing
from huike.accounts.access import Actor, lookup_membership, lookup_team
from huike.accounts.models import Membership, Team
from huike.accounts.visibility import OwnedRecord
from huike.core.errors import HuikeError, NotFoundError, PermissionDeniedError
from huike.customers.share_kinds import ShareKind, share_kind
from huike.customers.views.common import customers_page


class ShareForm(forms.Form):
    grantee = forms.ChoiceField(label=gettext_lazy("Share with"))

    def __init__(self, *args: Any, actor: Actor, record: OwnedRecord, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        members = (
            Membership.objects.usable()
            .filter(workspace=actor.workspace)
            .exclude(pk=record.owner_id or 0)
            .select_related("user")
            .order_by("user__full_name", "user__email")
        )
        teams = Team.objects.filter(workspace=actor.workspace).order_by("name")
        field = self.fields["grantee"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [
            (_("Members"), [(f"member:{m.public_id}", m.user.display_name) for m in members]),
            (_("Teams"), [(f"team:{t.public_id}", t.name) for t in teams]),
        ]
        self.actor = actor

    def grantee_objects(self) -> tuple[Membership | None, Team | None]:
        return _grantee(self.actor, self.cleaned_data["grantee"])


def _grantee(actor: Actor, value: str) -> tuple[Membership | None, Team | None]:
    """The member or team a `member:<id>` / `team:<id>` value names; (None, None) for anything
    else, another workspace's included."""
    kind, _sep, public_id = value.partition(":")
    try:
        if kind == "member":
            return lookup_membership(actor.workspace, public_id), None
        if kind == "team":
            return None, lookup_team(actor.workspace, public_id)
    except NotFoundError:
        pass
    return None, None


def sharing_context(actor: Actor, record: OwnedRecord, kind: str) -> dict[str, Any]:
    """The panel's context (customers/_shares.html) for the detail page of a record of a
    registered kind."""
    registered = share_kind(kind)
    assert registered is not None, f"share kind {kind} is not registered"
    can_share = actor.has(registered.permission) and sharing.can_share(actor, record)
    return {
        "share_kind": kind,
        "share_record": record,
        "shares": sharing.record_shares(record),
        "share_form": ShareForm(actor=actor, record=record) if can_share else None,
    }


def _record(actor: Actor, kind: str, public_id: uuid.UUID) -> tuple[OwnedRecord, str]:
    registered: ShareKind | None = share_kind(kind)
    if registered is None:
        raise Http404
    record = registered.access(actor, public_id)
    actor.require(registered.permission)
    return record, registered.detail_url


@customers_page
@require_POST
def record_share(
    request: HttpRequest, actor: Actor, kind: str, public_id: uuid.UUID
) -> HttpResponse:
    record, detail = _record(actor, kind, public_id)
    form = ShareForm(request.POST, actor=actor, record=record)
    if not form.is_valid():
        messages.error(request, _("Choose a member or a team from the list."))
        return redirect(detail, public_id)
    membership, team = form.grantee_objects()
    try:
        sharing.record_share(actor=actor, record=record, membership=membership, team=team)
    except PermissionDeniedError:
        raise
    except HuikeError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, _("Shared."))
    return redirect(detail, public_id)


@customers_page
@require_POST
def record_unshare(
    request: HttpRequest, actor: Actor, kind: str, public_id: uuid.UUID
) -> HttpResponse:
    record, detail = _record(actor, kind, public_id)
    # The grantee being removed may no longer be offered (an inactive member): not the form.
    membership, team = _grantee(actor, request.POST.get("grantee", ""))
    if membership is None and team is None:
        messages.error(request, _("Choose a member or a team from the list."))
        return redirect(detail, public_id)
    sharing.record_unshare(actor=actor, record=record, membership=membership, team=team)
    messages.success(request, _("No longer shared."))
    return redirect(detail, public_id)
