from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Count, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from huike.accounts.models import ApiKey, Membership, Role, Team, Workspace
from huike.core.audit import AuditAction
from huike.core.models import AuditEntry

DASHBOARD_DAYS = 14


def membership_list(*, workspace: Workspace) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(workspace=workspace)
        .select_related("user", "role", "team")
        .order_by("-is_active", "user__email")
    )


def team_list(*, workspace: Workspace) -> QuerySet[Team]:
    """Teams in tree order (a parent right before its children)."""
    return (
        Team.objects.filter(workspace=workspace)
        .select_related("manager__user", "parent")
        .annotate(member_count=Count("members"))
        .order_by("path")
    )


def role_list(*, workspace: Workspace) -> QuerySet[Role]:
    return (
        Role.objects.filter(workspace=workspace)
        .annotate(member_count=Count("memberships"))
        .order_by("-is_builtin", "name")
    )


def api_key_list(*, workspace: Workspace) -> QuerySet[ApiKey]:
    return (
        ApiKey.objects.filter(workspace=workspace)
        .select_related("role", "created_by__user")
        .order_by("revoked_at", "-created_at")
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
    sign_ins: list[DailyCount]
    failed_sign_ins_recent: int
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
        active_members=Membership.objects.filter(workspace=workspace, is_active=True).count(),
        teams=Team.objects.filter(workspace=workspace).count(),
        active_api_keys=ApiKey.objects.filter(workspace=workspace, revoked_at__isnull=True).count(),
        sign_ins=[DailyCount(day, per_day.get(day, 0)) for day in days],
        failed_sign_ins_recent=entries.filter(action=AuditAction.LOGIN_FAILED).count(),
        audit_entries_recent=entries.count(),
    )
