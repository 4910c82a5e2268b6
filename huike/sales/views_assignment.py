"""The lead-assignment settings page (permission leads.configure): the rules in the order they
are evaluated (moved up and down), creating and changing one, each rep's open leads against
their capacity, and running the rules over the pool now."""

import uuid
from dataclasses import dataclass

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST

from huike.accounts.access import Actor
from huike.accounts.settings_views.common import settings_page
from huike.core.errors import InvalidInputError
from huike.sales import assignment
from huike.sales.access import access_assignment_rule
from huike.sales.assignment import RuleConditions
from huike.sales.forms_assignment import AssignmentRuleForm
from huike.sales.models import AssignmentRule, AssignmentStrategy, LeadSource
from huike.sales.ownership import claim_limits

TEMPLATES = "sales/assignment/"
# How far a move button moves a rule: one place up or down.
MOVES = {"up": -1, "down": 1}


@dataclass(frozen=True)
class RuleRow:
    rule: AssignmentRule
    conditions: list[tuple[str, str]]
    reps: list[str]
    is_first: bool
    is_last: bool


def _conditions_shown(conditions: RuleConditions) -> list[tuple[str, str]]:
    """The rule's conditions as (label, values) pairs; empty means "any lead"."""
    source_labels = dict(LeadSource.choices)
    shown = [
        (label, ", ".join(values))
        for label, values in (
            (_("Region"), conditions.regions),
            (_("Source"), tuple(str(source_labels.get(s, s)) for s in conditions.sources)),
            (_("Industry"), conditions.industries),
            (_("Language"), conditions.languages),
        )
        if values
    ]
    low, high = conditions.min_score, conditions.max_score
    if low is not None or high is not None:
        if high is None:
            score = _("at least %(low)d") % {"low": low}
        elif low is None:
            score = _("at most %(high)d") % {"high": high}
        else:
            score = f"{low}–{high}"
        shown.append((_("Score"), score))
    return shown


def _reps_shown(rule: AssignmentRule) -> list[str]:
    if rule.strategy == AssignmentStrategy.OWNER:
        return [rule.owner.user.display_name] if rule.owner else []
    members = sorted(rule.members.all(), key=lambda member: member.pk)
    if members:
        return [member.user.display_name for member in members]
    if rule.team is not None:
        return [_("Members of %(team)s") % {"team": rule.team.name}]
    return []


def _rule_rows(actor: Actor) -> list[RuleRow]:
    rules = list(assignment.assignment_rules(actor.workspace.pk))
    return [
        RuleRow(
            rule=rule,
            conditions=_conditions_shown(RuleConditions.of(rule)),
            reps=_reps_shown(rule),
            is_first=index == 0,
            is_last=index == len(rules) - 1,
        )
        for index, rule in enumerate(rules)
    ]


def _save(
    request: HttpRequest, actor: Actor, form: AssignmentRuleForm, rule: AssignmentRule | None
) -> bool:
    if not form.is_valid():
        return False
    try:
        data = form.rule_data()
        if rule is None:
            assignment.assignment_rule_create(actor=actor, data=data)
            messages.success(request, _("Assignment rule created."))
        else:
            assignment.assignment_rule_update(actor=actor, rule=rule, data=data)
            messages.success(request, _("Assignment rule saved."))
    except InvalidInputError as error:
        form.add_service_error(error)
        return False
    return True


@settings_page
@require_http_methods(["GET", "POST"])
def settings_assignment(request: HttpRequest, actor: Actor) -> HttpResponse:
    actor.require("leads.configure")
    workspace_id = actor.workspace.pk
    form = AssignmentRuleForm(
        request.POST if request.method == "POST" else None,
        workspace_id=workspace_id,
        initial={"is_active": True, "strategy": AssignmentStrategy.ROUND_ROBIN},
    )
    if request.method == "POST" and _save(request, actor, form, None):
        return redirect("sales:settings_assignment")
    rows = _rule_rows(actor)
    active = [row.rule for row in rows if row.rule.is_active]
    return render(
        request,
        f"{TEMPLATES}settings.html",
        {
            "rows": rows,
            "form": form,
            "loads": assignment.rep_loads(workspace_id),
            "claim_limit": claim_limits(workspace_id, []).default,
            "pending": assignment.pending_leads(workspace_id, active).count(),
        },
    )


@settings_page
@require_http_methods(["GET", "POST"])
def settings_assignment_rule(
    request: HttpRequest, actor: Actor, public_id: uuid.UUID
) -> HttpResponse:
    rule = access_assignment_rule(actor, public_id)
    form = AssignmentRuleForm(
        request.POST if request.method == "POST" else None,
        workspace_id=actor.workspace.pk,
        initial=AssignmentRuleForm.initial_from(assignment.assignment_rule_data(rule)),
    )
    if request.method == "POST" and _save(request, actor, form, rule):
        return redirect("sales:settings_assignment")
    return render(
        request,
        f"{TEMPLATES}rule_form.html",
        {"form": form, "rule": rule},
    )


@settings_page
@require_POST
def settings_assignment_rule_delete(
    request: HttpRequest, actor: Actor, public_id: uuid.UUID
) -> HttpResponse:
    rule = access_assignment_rule(actor, public_id)
    assignment.assignment_rule_delete(actor=actor, rule=rule)
    messages.success(request, _("Assignment rule deleted."))
    return redirect("sales:settings_assignment")


@settings_page
@require_POST
def settings_assignment_rule_move(
    request: HttpRequest, actor: Actor, public_id: uuid.UUID
) -> HttpResponse:
    rule = access_assignment_rule(actor, public_id)
    offset = MOVES.get(request.POST.get("direction", ""))
    if offset is not None:
        assignment.assignment_rule_move(actor=actor, rule=rule, offset=offset)
    return redirect("sales:settings_assignment")


@settings_page
@require_POST
def settings_assignment_assign_pool(request: HttpRequest, actor: Actor) -> HttpResponse:
    assigned = assignment.leads_assign_pending_now(actor=actor)
    messages.success(
        request,
        ngettext("%(count)d pool lead assigned.", "%(count)d pool leads assigned.", assigned)
        % {"count": assigned},
    )
    return redirect("sales:settings_assignment")
