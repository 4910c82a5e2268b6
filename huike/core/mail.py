"""Sending e-mail from tasks, with temporary failures marked for retry.

Pages never send mail themselves: they enqueue a task (with `enqueue_on_commit`) that builds
and sends the message. A slow or failing SMTP server then neither delays the page nor reveals,
by the time it takes, whether an address belongs to an account. A task builds anything secret
in a message (a sign-in link's token, say) itself, so the secret never sits in the task queue.
"""

import smtplib

from django.core.mail import EmailMessage

from huike.core.tasks import RetryableError

# Connection problems and 4xx answers pass; a 5xx refusal of the recipient will not.
_TEMPORARY_SMTP_ERRORS = (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, OSError)


def email_send(*, subject: str, body: str, to: list[str], from_email: str | None = None) -> int:
    """Send one plain-text message; for tasks decorated with `retrying()`.

    Raises RetryableError for failures that may pass (a dropped connection, a 4xx answer), so
    the task tries again later; a 5xx refusal raises as it is and fails the task.
    """
    message = EmailMessage(subject=subject, body=body, from_email=from_email, to=to)
    try:
        return message.send()
    except smtplib.SMTPRecipientsRefused as error:
        # Raised when every recipient was refused; it is an OSError, so decide here: retry
        # only if every refusal was temporary (a 4xx such as greylisting or a full mailbox).
        codes = [code for code, _text in error.recipients.values()]
        if codes and all(400 <= code < 500 for code in codes):
            raise RetryableError(f"recipients refused: {error.recipients!r}") from error
        raise
    except smtplib.SMTPResponseException as error:
        if 400 <= error.smtp_code < 500:
            raise RetryableError(f"SMTP {error.smtp_code}: {error.smtp_error!r}") from error
        raise
    except _TEMPORARY_SMTP_ERRORS as error:
        raise RetryableError(str(error)) from error
