"""E-mail leaves the request: pages that send mail (password reset, invitations) render the
message in the request, in the reader's language, and a task delivers it. A slow or failing SMTP
server then neither delays the page nor reveals, by the time it takes, whether an address
belongs to an account; a temporary SMTP failure is retried with backoff."""

import smtplib
from typing import Any

from django.core.mail import EmailMessage
from django.tasks import task

from huike.core.tasks import RetryableError, enqueue_on_commit, retrying

# Connection problems and 4xx answers pass; a 5xx refusal of the recipient will not.
_TEMPORARY_SMTP_ERRORS = (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, OSError)


@task
@retrying()
def deliver_email(*, subject: str, body: str, to: list[str], from_email: str | None = None) -> int:
    message = EmailMessage(subject=subject, body=body, from_email=from_email, to=to)
    try:
        return message.send()
    except smtplib.SMTPResponseException as error:
        if 400 <= error.smtp_code < 500:
            raise RetryableError(f"SMTP {error.smtp_code}: {error.smtp_error!r}") from error
        raise
    except _TEMPORARY_SMTP_ERRORS as error:
        raise RetryableError(str(error)) from error


def email_enqueue(*, subject: str, body: str, to: list[str], from_email: str | None = None) -> Any:
    """Deliver after the current transaction commits (at once outside a transaction)."""
    enqueue_on_commit(deliver_email, subject=subject, body=body, to=to, from_email=from_email)
