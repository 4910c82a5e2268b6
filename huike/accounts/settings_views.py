"""Settings pages: workspace & security, members, teams, roles, API keys and the audit log.

Thin views: each takes the actor WorkspaceMiddleware put on the request, gets objects through
`access_*` functions and changes them through services. `settings_page` turns the errors those
raise into a 403 page (PermissionDeniedError) or a 404 (NotFoundError, which is also what an
object of another workspace gives); conflicts and invalid input become form errors or messages.
"""

import uuid
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import wraps
from typing import Any, Concatenate

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from huike.accounts import selectors, services
from huike.accounts.access import (
    Actor,
    access_api_key,
    access_membership,
    access_role,
    access_team,
)
from huike.accounts.models import Membership, Role, User, Workspace
from huike.accounts.settings_forms import (
    COMMON_CURRENCIES,
    ApiKeyForm,
    AuditFilterForm,
    InvitationForm,
    MemberAddForm,
    MemberChangeForm,
    MemberFilterForm,
    RoleForm,
    TeamForm,
    WorkspaceSettingsForm,
    add_service_error,
)
from huike.core.audit import AuditAction, ChainReport, audit_verify
from huike.core.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from huike.core.models import AuditEntry
from huike.core.navigation import nav_items
from huike.core.permissions import all_permissions

TEMPLATES = "accounts/settings/"
MEMBERS_PER_PAGE = 50
AUDIT_PER_PAGE = 50
# The plaintext of a new API key waits here between the POST that made it and the one page
# view that shows it; reading it removes it, so it is shown exactly once.
SESSION_NEW_API_KEY = "huike_new_api_key"
INVITATION_SUBJECT_TEMPLATE = "accounts/email/invitation_subject.txt"
INVITATION_TEMPLATE = "accounts/email/invitation.txt"

# audit_verify() reports in English for the command line; the page shows these instead.
CHAIN_BREAK_REASONS: dict[str, Promise] = {
    "entry missing": gettext_lazy("an entry is missing"),
    "link to previous entry broken": gettext_lazy("the link to the previous entry is broken"),
    "entry content altered": gettext_lazy("the entry was altered"),
    "entries after this one removed": gettext_lazy("entries from here on were removed"),
}


# --- plumbing -------------------------------------------------------------------------------
def forbidden(request: HttpRequest, detail: str) -> HttpResponse:
    return render(request, "accounts/forbidden.html", {"detail": detail}, status=403)


def settings_page[**P](
    view: Callable[Concatenate[HttpRequest, Actor, P], HttpResponse],
) -> Callable[Concatenate[HttpRequest, P], HttpResponse]:
    """Sign-in required; passes the actor; PermissionDeniedError → 403, NotFoundError → 404."""

    @wraps(view)
    def wrapper(request: HttpRequest, /, *args: P.args, **kwargs: P.kwargs) -> HttpResponse:
        actor: Actor | None = getattr(request, "actor", None)
        if actor is None:
            return forbidden(request, _("You are not a member of any workspace."))
        try:
            return view(request, actor, *args, **kwargs)
        except PermissionDeniedError as error:
            return forbidden(request, error.detail)
        except NotFoundError as error:
            raise Http404(error.detail) from None

    return login_required(wrapper)


def wants_fragment(request: HttpRequest) -> bool:
    """True for an htmx request that swaps part of the page (not a history restore)."""
    details = getattr(request, "htmx", None)
    return bool(details) and not details.history_restore_request  # type: ignore[union-attr]


def _template(name: str, request: HttpRequest | None = None, partial: str = "") -> str:
    if partial and request is not None and wants_fragment(request):
        return f"{TEMPLATES}{name}#{partial}"
    return f"{TEMPLATES}{name}"


@settings_page
@require_GET
def settings_index(request: HttpRequest, actor: Actor) -> HttpResponse:
    items = nav_items("settings", actor.permissions)
    if not items:
        raise PermissionDeniedError(_("Your role does not allow any settings page."))
    return redirect(items[0].url_name)


# --- workspace ------------------------------------------------------------------------------
@settings_page
@require_http_methods(["GET", "POST"])
def settings_workspace(request: HttpRequest, actor: Actor) -> HttpResponse:
    actor.require("workspace.manage")
    workspace = actor.workspace
    if request.method == "POST":
        form = WorkspaceSettingsForm(request.POST)
        if form.is_valid():
            try:
                services.workspace_update(
                    actor=actor, changes=services.WorkspaceChanges(**form.cleaned_data)
                )
            except (InvalidInputError, ConflictError) as error:
                add_service_error(form, error)
            else:
                messages.success(request, _("Workspace settings saved."))
                return redirect("accounts:settings_workspace")
    else:
        form = WorkspaceSettingsForm(
            initial={
                "name": workspace.name,
                "timezone": workspace.timezone,
                "currency": workspace.currency,
                "require_two_factor": workspace.require_two_factor,
            }
        )
    return render(
        request,
        _template("workspace.html"),
        {"form": form, "workspace": workspace, "currencies": COMMON_CURRENCIES},
    )


# --- members --------------------------------------------------------------------------------
def _send_invitation(request: HttpRequest, actor: Actor, user: User) -> None:
    form = InvitationForm(user)
    if form.is_valid():
        form.save(
            request=request,
            use_https=request.is_secure(),
            subject_template_name=INVITATION_SUBJECT_TEMPLATE,
            email_template_name=INVITATION_TEMPLATE,
            extra_email_context={
                "workspace_name": actor.workspace.name,
                "inviter": actor.label,
                "password_reset_hours": str(max(1, settings.PASSWORD_RESET_TIMEOUT // 3600)),
            },
        )


def _filter_members(members: QuerySet[Membership], cleaned: dict[str, Any]) -> QuerySet[Membership]:
    if query := cleaned.get("q", "").strip():
        members = members.filter(
            Q(user__email__icontains=query) | Q(user__full_name__icontains=query)
        )
    if cleaned.get("role") is not None:
        members = members.filter(role=cleaned["role"])
    if cleaned.get("team") is not None:
        members = members.filter(team=cleaned["team"])
    if cleaned.get("status") in {"active", "inactive"}:
        members = members.filter(is_active=cleaned["status"] == "active")
    return members


@vary_on_headers("HX-Request")
@settings_page
@require_http_methods(["GET", "POST"])
def settings_members(request: HttpRequest, actor: Actor) -> HttpResponse:
    actor.require_any("members.view", "members.manage")
    add_form = None
    if actor.has("members.manage"):
        add_form = MemberAddForm(
            request.POST if request.method == "POST" else None, workspace=actor.workspace
        )
    if request.method == "POST":
        actor.require("members.manage")
        assert add_form is not None
        if add_form.is_valid():
            data = add_form.cleaned_data
            try:
                membership = services.member_add(
                    actor=actor,
                    email=data["email"],
                    role=data["role"],
                    team=data["team"],
                    full_name=data["full_name"],
                )
            except (InvalidInputError, ConflictError) as error:
                add_service_error(add_form, error)
            else:
                user = membership.user
                if not user.has_usable_password():
                    _send_invitation(request, actor, user)
                    messages.success(
                        request,
                        _("%(email)s was added and invited to choose a password.")
                        % {"email": user.email},
                    )
                else:
                    messages.success(request, _("%(email)s was added.") % {"email": user.email})
                return redirect("accounts:settings_members")

    filter_form = MemberFilterForm(request.GET, workspace=actor.workspace)
    members = selectors.membership_list(workspace=actor.workspace)
    if filter_form.is_valid():
        members = _filter_members(members, filter_form.cleaned_data)
    page = Paginator(members, MEMBERS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        _template("members.html", request, "member_results"),
        {"filter_form": filter_form, "add_form": add_form, "page": page},
    )


@settings_page
@require_http_methods(["GET", "POST"])
def settings_member(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    membership = access_membership(actor, public_id)
    form = None
    if actor.has("members.manage"):
        form = MemberChangeForm(
            request.POST if request.method == "POST" else None,
            workspace=actor.workspace,
            initial={"role": membership.role, "team": membership.team},
        )
    if request.method == "POST":
        actor.require("members.manage")
        assert form is not None
        if form.is_valid():
            team = form.cleaned_data["team"]
            try:
                services.member_update(
                    actor=actor,
                    membership=membership,
                    role=form.cleaned_data["role"],
                    team=team,
                    clear_team=team is None,
                )
            except (InvalidInputError, ConflictError) as error:
                add_service_error(form, error)
            else:
                messages.success(request, _("Member updated."))
                return redirect("accounts:settings_member", public_id=membership.public_id)
    return render(
        request,
        _template("member_detail.html"),
        {
            "membership": membership,
            "form": form,
            "managed_teams": membership.managed_teams.order_by("path"),
        },
    )


@settings_page
@require_POST
def settings_member_status(
    request: HttpRequest, actor: Actor, public_id: uuid.UUID
) -> HttpResponse:
    membership = access_membership(actor, public_id)
    is_active = request.POST.get("active") == "true"
    try:
        services.member_update(actor=actor, membership=membership, is_active=is_active)
    except ConflictError as error:
        messages.error(request, error.detail)
    else:
        if is_active:
            messages.success(request, _("The member was reactivated."))
        else:
            messages.success(request, _("The member was deactivated."))
    return redirect("accounts:settings_member", public_id=membership.public_id)


# --- teams ----------------------------------------------------------------------------------
@settings_page
@require_http_methods(["GET", "POST"])
def settings_teams(request: HttpRequest, actor: Actor) -> HttpResponse:
    actor.require_any("members.view", "teams.manage")
    form = None
    if actor.has("teams.manage"):
        form = TeamForm(
            request.POST if request.method == "POST" else None, workspace=actor.workspace
        )
    if request.method == "POST":
        actor.require("teams.manage")
        assert form is not None
        if form.is_valid():
            try:
                team = services.team_create(
                    actor=actor,
                    name=form.cleaned_data["name"],
                    parent=form.cleaned_data["parent"],
                    manager=form.cleaned_data["manager"],
                )
            except (InvalidInputError, ConflictError) as error:
                add_service_error(form, error)
            else:
                messages.success(request, _("Team %(name)s created.") % {"name": team.name})
                return redirect("accounts:settings_teams")
    return render(
        request,
        _template("teams.html"),
        {"teams": selectors.team_list(workspace=actor.workspace), "form": form},
    )


@settings_page
@require_http_methods(["GET", "POST"])
def settings_team(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    team = access_team(actor, public_id)
    form = None
    if actor.has("teams.manage"):
        form = TeamForm(
            request.POST if request.method == "POST" else None,
            workspace=actor.workspace,
            team=team,
            initial={"name": team.name, "parent": team.parent, "manager": team.manager},
        )
    if request.method == "POST":
        actor.require("teams.manage")
        assert form is not None
        if form.is_valid():
            parent, manager = form.cleaned_data["parent"], form.cleaned_data["manager"]
            # Only what changed is passed: the service records every manager it is given.
            try:
                services.team_update(
                    actor=actor,
                    team=team,
                    name=form.cleaned_data["name"],
                    parent=parent if parent is not None and parent.pk != team.parent_id else None,
                    clear_parent=parent is None,
                    manager=manager
                    if manager is not None and manager.pk != team.manager_id
                    else None,
                    clear_manager=manager is None and team.manager_id is not None,
                )
            except (InvalidInputError, ConflictError) as error:
                add_service_error(form, error)
            else:
                messages.success(request, _("Team saved."))
                return redirect("accounts:settings_team", public_id=team.public_id)
    members = (
        Membership.objects.filter(workspace=actor.workspace, team=team)
        .select_related("user", "role")
        .order_by("user__email")
    )
    return render(
        request,
        _template("team_detail.html"),
        {
            "team": team,
            "form": form,
            "members": members,
            "children": team.children.order_by("name"),
        },
    )


@settings_page
@require_POST
def settings_team_delete(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    team = access_team(actor, public_id)
    try:
        services.team_delete(actor=actor, team=team)
    except ConflictError as error:
        messages.error(request, error.detail)
        return redirect("accounts:settings_team", public_id=team.public_id)
    messages.success(request, _("Team %(name)s deleted.") % {"name": team.name})
    return redirect("accounts:settings_teams")


# --- roles ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class RoleRow:
    role: Role
    permission_labels: list[str]


def _role_rows(workspace: Workspace) -> list[RoleRow]:
    labels = {permission.code: str(permission.label) for permission in all_permissions()}
    return [
        RoleRow(role, [labels.get(code, code) for code in role.permissions])
        for role in selectors.role_list(workspace=workspace)
    ]


@settings_page
@require_GET
def settings_roles(request: HttpRequest, actor: Actor) -> HttpResponse:
    actor.require("roles.manage")
    rows = _role_rows(actor.workspace)
    return render(
        request,
        _template("roles.html"),
        {
            "builtin_rows": [row for row in rows if row.role.is_builtin],
            "custom_rows": [row for row in rows if not row.role.is_builtin],
        },
    )


@settings_page
@require_http_methods(["GET", "POST"])
def settings_role_add(request: HttpRequest, actor: Actor) -> HttpResponse:
    actor.require("roles.manage")
    if request.method == "POST":
        form = RoleForm(request.POST)
        if form.is_valid():
            name = form.cleaned_data["name"]
            try:
                role = services.role_create(
                    actor=actor,
                    name=name,
                    description=form.cleaned_data["description"],
                    permissions=form.cleaned_data["permissions"],
                )
            except (InvalidInputError, ConflictError) as error:
                add_service_error(form, error)
            else:
                messages.success(request, _("Role %(name)s created.") % {"name": role.display_name})
                return redirect("accounts:settings_roles")
        source = None
    else:
        source = None
        initial: dict[str, Any] = {}
        if copy_id := request.GET.get("copy"):
            source = access_role(actor, copy_id)
            initial = {
                "name": _("Copy of %(name)s") % {"name": source.name},
                "description": source.description,
                "permissions": list(source.permissions),
            }
        form = RoleForm(initial=initial)
    return render(
        request, _template("role_form.html"), {"form": form, "role": None, "source": source}
    )


@settings_page
@require_http_methods(["GET", "POST"])
def settings_role(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    actor.require("roles.manage")
    role = access_role(actor, public_id)
    form = RoleForm(
        request.POST if request.method == "POST" else None,
        initial={
            "name": role.display_name,
            "description": role.description,
            "permissions": list(role.permissions),
        },
    )
    if role.is_builtin:
        # Shown with the same grouped checkboxes, read-only, so it can be compared and copied.
        for field in form.fields.values():
            field.disabled = True
    if request.method == "POST" and form.is_valid():
        try:
            services.role_update(
                actor=actor,
                role=role,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                permissions=form.cleaned_data["permissions"],
            )
        except (InvalidInputError, ConflictError) as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Role %(name)s saved.") % {"name": role.display_name})
            return redirect("accounts:settings_roles")
    return render(
        request,
        _template("role_form.html"),
        {
            "form": form,
            "role": role,
            "source": None,
            "member_count": Membership.objects.filter(role=role).count(),
        },
    )


@settings_page
@require_POST
def settings_role_delete(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    actor.require("roles.manage")
    role = access_role(actor, public_id)
    try:
        services.role_delete(actor=actor, role=role)
    except ConflictError as error:
        messages.error(request, error.detail)
        return redirect("accounts:settings_role", public_id=role.public_id)
    messages.success(request, _("Role %(name)s deleted.") % {"name": role.display_name})
    return redirect("accounts:settings_roles")


# --- API keys -------------------------------------------------------------------------------
@settings_page
@require_http_methods(["GET", "POST"])
def settings_api_keys(request: HttpRequest, actor: Actor) -> HttpResponse:
    actor.require("api_keys.manage")
    form = ApiKeyForm(request.POST if request.method == "POST" else None, workspace=actor.workspace)
    if request.method == "POST" and form.is_valid():
        try:
            issued = services.api_key_create(
                actor=actor,
                workspace=actor.workspace,
                name=form.cleaned_data["name"],
                role=form.cleaned_data["role"],
                rate_limit_per_minute=form.cleaned_data["rate_limit_per_minute"],
            )
        except (InvalidInputError, ConflictError) as error:
            add_service_error(form, error)
        else:
            request.session[SESSION_NEW_API_KEY] = {
                "public_id": str(issued.api_key.public_id),
                "name": issued.api_key.name,
                "plaintext": issued.plaintext,
            }
            messages.success(
                request, _("API key %(name)s created.") % {"name": issued.api_key.name}
            )
            return redirect("accounts:settings_api_keys")
    new_key = request.session.pop(SESSION_NEW_API_KEY, None)
    return render(
        request,
        _template("api_keys.html"),
        {
            "form": form,
            "api_keys": selectors.api_key_list(workspace=actor.workspace),
            "new_key": new_key,
        },
    )


@settings_page
@require_http_methods(["GET", "POST"])
def settings_api_key_revoke(
    request: HttpRequest, actor: Actor, public_id: uuid.UUID
) -> HttpResponse:
    api_key = access_api_key(actor, public_id)
    if request.method == "POST":
        services.api_key_revoke(actor=actor, api_key=api_key)
        messages.success(request, _("API key %(name)s revoked.") % {"name": api_key.name})
        return redirect("accounts:settings_api_keys")
    return render(request, _template("api_key_revoke.html"), {"api_key": api_key})


# --- audit log ------------------------------------------------------------------------------
@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    newer_cursor: int | None  # link with ?after=<cursor>
    older_cursor: int | None  # link with ?before=<cursor>


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _filter_audit(
    entries: QuerySet[AuditEntry], cleaned: dict[str, Any], workspace: Workspace
) -> QuerySet[AuditEntry]:
    if action := cleaned.get("action", "").strip():
        # "member." lists every member action; anything else is one exact action.
        if action.endswith("."):
            entries = entries.filter(action__startswith=action)
        else:
            entries = entries.filter(action=action)
    if actor_email := cleaned.get("actor", "").strip():
        entries = entries.filter(actor_label__icontains=actor_email)
    # Dates are days in the workspace's time zone, the one the page shows times in.
    tz = zoneinfo.ZoneInfo(workspace.timezone)
    if cleaned.get("date_from"):
        entries = entries.filter(
            created_at__gte=datetime.combine(cleaned["date_from"], time.min, tz)
        )
    if cleaned.get("date_to"):
        end = datetime.combine(cleaned["date_to"] + timedelta(days=1), time.min, tz)
        entries = entries.filter(created_at__lt=end)
    return entries


def _audit_page(
    entries: QuerySet[AuditEntry], *, before: int | None, after: int | None
) -> AuditPage:
    """Keyset pages over the chain's sequence numbers, newest first.

    A workspace's entries form one chain, so `seq` orders them exactly and, unlike OFFSET or
    COUNT(*), costs the same on page 1 and page 10,000.
    """
    if after is not None:
        rows = list(entries.filter(seq__gt=after).order_by("seq")[: AUDIT_PER_PAGE + 1])
        has_newer = len(rows) > AUDIT_PER_PAGE
        rows = rows[:AUDIT_PER_PAGE][::-1]
        has_older = bool(rows) and entries.filter(seq__lt=rows[-1].seq).exists()
    else:
        older = entries.filter(seq__lt=before) if before is not None else entries
        rows = list(older.order_by("-seq")[: AUDIT_PER_PAGE + 1])
        has_older = len(rows) > AUDIT_PER_PAGE
        rows = rows[:AUDIT_PER_PAGE]
        has_newer = (
            before is not None and bool(rows) and entries.filter(seq__gt=rows[0].seq).exists()
        )
    return AuditPage(
        entries=rows,
        newer_cursor=rows[0].seq if rows and has_newer else None,
        older_cursor=rows[-1].seq if rows and has_older else None,
    )


@dataclass(frozen=True)
class AuditRow:
    entry: AuditEntry
    details: list[tuple[str, str]]


def _detail_text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, list):
        return ", ".join(_detail_text(item) for item in value) or "—"
    if isinstance(value, dict):
        return ", ".join(f"{key}={_detail_text(item)}" for key, item in value.items())
    return str(value)


def _audit_rows(entries: list[AuditEntry]) -> list[AuditRow]:
    return [
        AuditRow(entry, [(key, _detail_text(value)) for key, value in entry.data.items()])
        for entry in entries
    ]


def _known_actions() -> list[str]:
    return sorted(
        value for name, value in vars(AuditAction).items() if name.isupper() and "." in value
    )


@vary_on_headers("HX-Request")
@settings_page
@require_GET
def settings_audit(request: HttpRequest, actor: Actor) -> HttpResponse:
    actor.require("audit.view")
    form = AuditFilterForm(request.GET)
    entries = AuditEntry.objects.filter(workspace=actor.workspace)
    if form.is_valid():
        entries = _filter_audit(entries, form.cleaned_data, actor.workspace)
    page = _audit_page(
        entries,
        before=_int_or_none(request.GET.get("before")),
        after=_int_or_none(request.GET.get("after")),
    )
    return render(
        request,
        _template("audit.html", request, "audit_results"),
        {
            "form": form,
            "page": page,
            "rows": _audit_rows(page.entries),
            "known_actions": _known_actions(),
            "timezone_name": actor.workspace.timezone,
        },
    )


@dataclass(frozen=True)
class ChainStatus:
    is_intact: bool
    entries_checked: int
    first_broken_seq: int | None
    reason: str


def _chain_status(reports: list[ChainReport]) -> ChainStatus:
    broken = next((report for report in reports if not report.is_intact), None)
    checked = sum(report.entries_checked for report in reports)
    if broken is None:
        return ChainStatus(True, checked, None, "")
    reason = CHAIN_BREAK_REASONS.get(broken.reason)
    return ChainStatus(False, checked, broken.first_broken_seq, str(reason or broken.reason))


@settings_page
@require_POST
def settings_audit_verify(request: HttpRequest, actor: Actor) -> HttpResponse:
    actor.require("audit.view")
    status = _chain_status(audit_verify(workspace_id=actor.workspace.pk))
    if wants_fragment(request):
        return render(request, _template("audit.html") + "#chain_status", {"status": status})
    if status.is_intact:
        messages.success(
            request,
            _("The audit chain is intact: %(count)d entries checked.")
            % {"count": status.entries_checked},
        )
    else:
        messages.error(
            request,
            _("The audit chain is broken at entry %(seq)s: %(reason)s.")
            % {"seq": status.first_broken_seq, "reason": status.reason},
        )
    return redirect("accounts:settings_audit")
