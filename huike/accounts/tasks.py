"""Background work of accounts: e-mail carrying a link to choose a password.

The task is enqueued with the user's id and nothing secret. The worker makes the token and
the link, so no token is ever stored in the task queue (whose results are kept for days), and
the link starts with settings.SITE_URL rather than whatever Host header the request carried.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.tasks import task
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from huike.accounts.models import User
from huike.core.mail import email_send
from huike.core.tasks import PermanentError, retrying

ACCOUNT_LINK_PASSWORD_RESET = "password_reset"
ACCOUNT_LINK_INVITATION = "invitation"
# To someone who already has an account: a plain link to sign in, no token.
ACCOUNT_LINK_WORKSPACE_INVITATION = "workspace_invitation"


def sign_in_url(user: User) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("accounts:home")


@dataclass(frozen=True)
class AccountLinkTemplates:
    subject: str
    body: str
    link: Callable[[User], str]


def account_link_url(user: User) -> str:
    """An absolute link to choose a new password, valid once, until PASSWORD_RESET_TIMEOUT."""
    path = reverse(
        "accounts:password_reset_confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    return settings.SITE_URL.rstrip("/") + path


ACCOUNT_LINK_TEMPLATES: dict[str, AccountLinkTemplates] = {
    ACCOUNT_LINK_PASSWORD_RESET: AccountLinkTemplates(
        subject="accounts/email/password_reset_subject.txt",
        body="accounts/email/password_reset_email.txt",
        link=account_link_url,
    ),
    ACCOUNT_LINK_INVITATION: AccountLinkTemplates(
        subject="accounts/email/invitation_subject.txt",
        body="accounts/email/invitation.txt",
        link=account_link_url,
    ),
    ACCOUNT_LINK_WORKSPACE_INVITATION: AccountLinkTemplates(
        subject="accounts/email/workspace_invitation_subject.txt",
        body="accounts/email/workspace_invitation.txt",
        link=sign_in_url,
    ),
}


def _supported_language(language: str) -> str:
    try:
        return translation.get_supported_language_variant(language)
    except LookupError:
        return str(settings.LANGUAGE_CODE)


@task
@retrying()
def deliver_account_link(
    *,
    user_id: int,
    kind: str,
    language: str,
    workspace_name: str = "",
    inviter: str = "",
) -> int:
    """Send a password-reset, invitation or workspace-invitation e-mail to an active user;
    returns the number of messages sent.

    Safe to retry: each attempt makes a fresh token, and every token stays good until the
    password changes or PASSWORD_RESET_TIMEOUT passes. An inactive or deleted user gets
    nothing.
    """
    templates = ACCOUNT_LINK_TEMPLATES.get(kind)
    if templates is None:
        raise PermanentError(f"unknown account link kind {kind!r}")
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return 0
    context = {
        "email": user.email,
        "link": templates.link(user),
        "link_hours": max(1, settings.PASSWORD_RESET_TIMEOUT // 3600),
        "workspace_name": workspace_name,
        "inviter": inviter,
    }
    with translation.override(_supported_language(language)):
        # A header cannot span lines, whatever a translation does.
        subject = "".join(render_to_string(templates.subject, context).splitlines())
        body = render_to_string(templates.body, context)
    return email_send(subject=subject, body=body, to=[user.email])
