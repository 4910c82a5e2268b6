"""Sales targets (quotas): one amount per rep or per team per month, in one currency.

Writes need targets.manage. A rep or team has at most one target a month (partial unique
constraints on SalesTarget); creating a second is a ConflictError, `target_set` updates the
one there is instead. Attainment is read in huike.sales.reports.
"""

import datetime as dt
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Team
from huike.core.errors import ConflictError, InvalidInputError
from huike.sales.models import SalesTarget

MAX_TARGET = Decimal("999999999999.99")  # what the column (14 digits, 2 decimals) holds


def _clean_amount(amount: Decimal) -> Decimal:
    if not amount.is_finite() or amount <= 0 or amount > MAX_TARGET:
        raise InvalidInputError(_("A target is an amount above zero."), field="amount")
    return amount.quantize(Decimal("0.01"))


def _clean_currency(currency: str) -> str:
    currency = currency.strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        raise InvalidInputError(
            _("A currency is a three-letter code such as CNY."), field="currency"
        )
    return currency


def _first_of_month(month: dt.date) -> dt.date:
    return month.replace(day=1)


def _check_subject(actor: Actor, membership: Membership | None, team: Team | None) -> None:
    if (membership is None) == (team is None):
        raise InvalidInputError(_("Choose either a rep or a team."), field="membership_id")
    subject = membership or team
    if subject is not None and subject.workspace_id != actor.workspace.pk:
        raise InvalidInputError(_("No such rep or team."), field="membership_id")


def _duplicate() -> ConflictError:
    return ConflictError(
        _("There is already a target for this month; change that one."), field="month"
    )


def target_create(
    *,
    actor: Actor,
    month: dt.date,
    amount: Decimal,
    currency: str | None = None,
    membership: Membership | None = None,
    team: Team | None = None,
) -> SalesTarget:
    """The target of `membership` or `team` (exactly one) for the month `month` falls in.
    Raises InvalidInputError (amount, currency, subject) and ConflictError (one exists)."""
    actor.require("targets.manage")
    _check_subject(actor, membership, team)
    target = SalesTarget(
        workspace=actor.workspace,
        membership=membership,
        team=team,
        month=_first_of_month(month),
        amount=_clean_amount(amount),
        currency=_clean_currency(currency or actor.workspace.currency),
    )
    try:
        with transaction.atomic():
            target.save()
    except IntegrityError:
        raise _duplicate() from None
    return target


def target_update(
    *,
    actor: Actor,
    target: SalesTarget,
    amount: Decimal | None = None,
    currency: str | None = None,
) -> SalesTarget:
    actor.require("targets.manage")
    fields = ["updated_at"]
    if amount is not None:
        target.amount = _clean_amount(amount)
        fields.append("amount")
    if currency is not None:
        target.currency = _clean_currency(currency)
        fields.append("currency")
    target.save(update_fields=fields)
    return target


def target_set(
    *,
    actor: Actor,
    month: dt.date,
    amount: Decimal,
    currency: str | None = None,
    membership: Membership | None = None,
    team: Team | None = None,
) -> tuple[SalesTarget, bool]:
    """Create the month's target of the rep or team, or change the one there is (created?).
    Holds the existing row's lock while changing it."""
    actor.require("targets.manage")
    _check_subject(actor, membership, team)
    with transaction.atomic():
        existing = (
            SalesTarget.objects.select_for_update()
            .filter(
                workspace=actor.workspace,
                membership=membership,
                team=team,
                month=_first_of_month(month),
            )
            .first()
        )
        if existing is not None:
            return target_update(
                actor=actor, target=existing, amount=amount, currency=currency
            ), False
    return target_create(
        actor=actor,
        month=month,
        amount=amount,
        currency=currency,
        membership=membership,
        team=team,
    ), True


def target_delete(*, actor: Actor, target: SalesTarget) -> None:
    actor.require("targets.manage")
    target.delete()
