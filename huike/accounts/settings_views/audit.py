"""Settings pages for the audit log: the filtered, keyset-paged list and the chain check."""

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from huike.accounts import selectors
from huike.accounts.access import Actor
from huike.accounts.settings_forms import AuditFilterForm
from huike.accounts.settings_views.common import settings_page, settings_template, wants_fragment
from huike.core.audit import (
    AUDIT_ACTION_LABELS,
    ChainReport,
    audit_action_label,
    audit_verify,
)
from huike.core.models import AuditEntry

AUDIT_PER_PAGE = 50

# audit_verify() reports in English for the command line; the page shows these instead.
CHAIN_BREAK_REASONS: dict[str, Promise] = {
    "entry missing": gettext_lazy("an entry is missing"),
    "link to previous entry broken": gettext_lazy("the link to the previous entry is broken"),
    "entry content altered": gettext_lazy("the entry was altered"),
    "entries after this one removed": gettext_lazy("entries from here on were removed"),
}


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


@dataclass(frozen=True)
class AuditRow:
    entry: AuditEntry
    details: list[tuple[str, str]]

    @property
    def action_label(self) -> str:
        return audit_action_label(self.entry.action)


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


def _known_actions() -> list[tuple[str, str]]:
    return sorted((code, str(label)) for code, label in AUDIT_ACTION_LABELS.items())


@vary_on_headers("HX-Request")
@settings_page
@require_GET
def settings_audit(request: HttpRequest, actor: Actor) -> HttpResponse:
    actor.require("audit.view")
    form = AuditFilterForm(request.GET)
    # An invalid filter (say, an end date before the start) narrows nothing.
    cleaned = form.cleaned_data if form.is_valid() else {}
    page = selectors.audit_entry_page(
        workspace=actor.workspace,
        action=cleaned.get("action", ""),
        actor_contains=cleaned.get("actor", ""),
        since=cleaned.get("date_from"),
        until=cleaned.get("date_to"),
        before_seq=_int_or_none(request.GET.get("before")),
        after_seq=_int_or_none(request.GET.get("after")),
        page_size=AUDIT_PER_PAGE,
    )
    return render(
        request,
        settings_template("audit.html", request, "audit_results"),
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
        return render(
            request, settings_template("audit.html") + "#chain_status", {"status": status}
        )
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
