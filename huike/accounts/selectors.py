from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from huike.accounts.models import ApiKey, Membership, Role, Team, User, Workspace
from huike.core.audit import AuditAction
from huike.core.models import AuditEntry

DASHBOARD_DAYS = 14


def membership_list(*, workspace: Workspace) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(workspace=workspace)
        .select_related("user", "role", "team")
        .order_by("-is_active", "user__email")
    )


def membership_search(
    *,
    workspace: Workspace,
    query: str = "",
    role: Role | None = None,
    team: Team | None = None,
    is_active: bool | None = None,
) -> QuerySet[Membership]:
    """membership_list narrowed down; `query` matches email or name, None means any."""
    members = membership_list(workspace=workspace)
    if query := query.strip():
        members = members.filter(
            Q(user__email__icontains=query) | Q(user__full_name__icontains=query)
        )
    if role is not None:
        members = members.filter(role=role)
    if team is not None:
        members = members.filter(team=team)
    if is_active is not None:
        members = members.filter(is_active=is_active)
    return members


def team_list(*, workspace: Workspace) -> QuerySet[Team]:
    """Teams in tree order (a parent right before its children)."""
    return (
        Team.objects.filter(workspace=workspace)
        .select_related("manager__user", "parent")
        .annotate(member_count=Count("members"))
        .order_by("path")
    )


def team_member_list(*, workspace: Workspace, team: Team) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(workspace=workspace, team=team)
        .select_related("user", "role")
        .order_by("user__email")
    )


def team_child_list(*, team: Team) -> QuerySet[Team]:
    return team.children.order_by("name")


def team_managed_list(*, manager: Membership) -> QuerySet[Team]:
    """The teams `manager` manages, in tree order."""
    return manager.managed_teams.order_by("path")


def role_list(*, workspace: Workspace) -> QuerySet[Role]:
    return (
        Role.objects.filter(workspace=workspace)
        .annotate(member_count=Count("memberships"))
        .order_by("-is_builtin", "name")
    )


def role_member_count(*, role: Role) -> int:
    return Membership.objects.filter(role=role).count()


def api_key_list(*, workspace: Workspace) -> QuerySet[ApiKey]:
    return (
        ApiKey.objects.filter(workspace=workspace)
        .select_related("role", "created_by__user")
        .order_by("revoked_at", "-created_at")
    )


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    newer_cursor: int | None  # link with ?after=<cursor>
    older_cursor: int | None  # link with ?before=<cursor>


def audit_entries_matching(
    *,
    workspace: Workspace,
    action: str,
    actor_contains: str,
    since: date | None,
    until: date | None,
) -> QuerySet[AuditEntry]:
    entries = AuditEntry.objects.filter(workspace=workspace)
    if action := action.strip():
        # "member." lists every member action; anything else is one exact action.
        if action.endswith("."):
            entries = entries.filter(action__startswith=action)
        else:
            entries = entries.filter(action=action)
    if actor_contains := actor_contains.strip():
        entries = entries.filter(actor_label__icontains=actor_contains)
    # Dates are days in the workspace's time zone, the one the audit page shows times in.
    tz = workspace.zone
    if since is not None:
        entries = entries.filter(created_at__gte=datetime.combine(since, time.min, tz))
    if until is not None:
        end = datetime.combine(until + timedelta(days=1), time.min, tz)
        entries = entries.filter(created_at__lt=end)
    return entries


def audit_entry_page(
    *,
    workspace: Workspace,
    action: str = "",
    actor_contains: str = "",
    since: date | None = None,
    until: date | None = None,
    before_seq: int | None = None,
    after_seq: int | None = None,
    page_size: int,
) -> AuditPage:
    """One keyset page of the workspace's audit entries, newest first.

    `action` is one exact action, or a prefix ending in a dot ("member."); `since` and `until`
    are inclusive days in the workspace's time zone. `after_seq` (the page above a newer
    cursor) wins over `before_seq`. A workspace's entries form one chain, so `seq` orders them
    exactly and, unlike OFFSET or COUNT(*), costs the same on page 1 and page 10,000: one query
    for the rows, plus one EXISTS for the other direction when it can have rows.
    """
    entries = audit_entries_matching(
        workspace=workspace, action=action, actor_contains=actor_contains, since=since, until=until
    )
    if after_seq is not None:
        rows = list(entries.filter(seq__gt=after_seq).order_by("seq")[: page_size + 1])
        has_newer = len(rows) > page_size
        rows = rows[:page_size][::-1]
        has_older = bool(rows) and entries.filter(seq__lt=rows[-1].seq).exists()
    else:
        older = entries.filter(seq__lt=before_seq) if before_seq is not None else entries
        rows = list(older.order_by("-seq")[: page_size + 1])
        has_older = len(rows) > page_size
        rows = rows[:page_size]
        has_newer = (
            before_seq is not None and bool(rows) and entries.filter(seq__gt=rows[0].seq).exists()
        )
    return AuditPage(
        entries=rows,
        newer_cursor=rows[0].seq if rows and has_newer else None,
        older_cursor=rows[-1].seq if rows and has_older else None,
    )


@dataclass(frozen=True)
class DailyCount:
    day: date
    count: int


@dataclass(frozen=True)
class Dashboard:
    active_members: int
    teams: int
    active_api_keys: int
    sign_ins: list[DailyCount]  # successful sign-ins that landed in this workspace
    audit_entries_recent: int

    @property
    def sign_in_peak(self) -> int:
        return max((day.count for day in self.sign_ins), default=0)


def dashboard_figures(*, workspace: Workspace) -> Dashboard:
    now = timezone.localtime()
    start = (now - timedelta(days=DASHBOARD_DAYS - 1)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    entries = AuditEntry.objects.filter(workspace=workspace, created_at__gte=start)
    per_day = dict(
        entries.filter(action=AuditAction.LOGIN_SUCCEEDED)
        .annotate(day=TruncDate("created_at", tzinfo=now.tzinfo))
        .values_list("day")
        .annotate(count=Count("id"))
        .values_list("day", "count")
    )
    days = [(start + timedelta(days=offset)).date() for offset in range(DASHBOARD_DAYS)]
    return Dashboard(
        active_members=Membership.objects.usable().filter(workspace=workspace).count(),
        teams=Team.objects.filter(workspace=workspace).count(),
        active_api_keys=ApiKey.objects.filter(workspace=workspace, revoked_at__isnull=True).count(),
        sign_ins=[DailyCount(day, per_day.get(day, 0)) for day in days],
        audit_entries_recent=entries.count(),
    )


def invitation_list(*, user: User) -> QuerySet[Membership]:
    """The person's invitations to workspaces they have not accepted yet."""
    return (
        Membership.objects.pending_invitations()
        .filter(user=user)
        .select_related("workspace", "role")
        .order_by("created_at")
    )
