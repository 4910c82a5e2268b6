"""Forms for signing in, one-time codes and password reset.

Checking a one-time code changes state (django-otp's throttle, the replay guard), so forms only
clean what was typed; the views verify codes against devices.
"""

from collections.abc import Iterator
from typing import Any

from django import forms
from django.contrib.auth import authenticate
from django.contrib.auth.forms import PasswordResetForm
from django.http import HttpRequest
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from huike.accounts.models import User
from huike.accounts.tasks import ACCOUNT_LINK_PASSWORD_RESET, deliver_account_link
from huike.core.tasks import enqueue_on_commit

TOTP_DIGITS = 6


class SignInForm(forms.Form):
    # Named "username" because that is the credential name django-axes reads (see
    # AXES_USERNAME_FORM_FIELD); the value is the email address.
    username = forms.EmailField(
        label=_("Email"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    error_messages = {
        "invalid_login": _("That email and password do not match an active account."),
    }

    def __init__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request = request
        self.user: User | None = None

    def clean_username(self) -> str:
        # Addresses are stored lower-cased (UserManager.create_user), so match them that way.
        return str(self.cleaned_data["username"]).strip().lower()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        email, password = cleaned.get("username"), cleaned.get("password")
        if email and password:
            # Passing the request lets django-axes count failures and refuse locked-out pairs.
            user = authenticate(self.request, username=email, password=password)
            if not isinstance(user, User):
                raise forms.ValidationError(
                    self.error_messages["invalid_login"], code="invalid_login"
                )
            self.user = user
        return cleaned


class OneTimeCodeForm(forms.Form):
    """A 6-digit code from the authenticator app, or one of the backup codes."""

    code = forms.CharField(
        label=_("Code"),
        max_length=32,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autocapitalize": "none", "autofocus": True}
        ),
        help_text=_("The 6-digit code from your authenticator app, or a backup code."),
    )

    def clean_code(self) -> str:
        # People copy codes with spaces or hyphens ("123 456", "abcd-efgh").
        code = "".join(str(self.cleaned_data["code"]).split()).replace("-", "").lower()
        if not code.isalnum():
            raise forms.ValidationError(_("Enter the code without other characters."))
        return code


class TotpConfirmForm(forms.Form):
    """The first code from a newly added authenticator app; backup codes do not apply."""

    code = forms.CharField(
        label=_("6-digit code from the app"),
        max_length=16,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "pattern": "[0-9 ]*",
                "autofocus": True,
            }
        ),
    )

    def clean_code(self) -> str:
        code = "".join(str(self.cleaned_data["code"]).split())
        if not (code.isdigit() and len(code) == TOTP_DIGITS):
            raise forms.ValidationError(_("Enter the 6 digits the app shows."))
        return code


class HuikePasswordResetForm(PasswordResetForm):
    """Django's reset form, with the e-mail built and sent by a task.

    Only the user's id and the reader's language go to the task; the worker makes the token
    and the link (see huike.accounts.tasks), so Django's template and domain arguments are
    not used.
    """

    def get_users(self, email: str) -> Iterator[Any]:
        """Active users with this address, including those who have no password yet.

        Django skips users with an unusable password because they may sign in elsewhere; here
        the reset link is how a newly added member chooses their first password.
        """
        # Addresses are stored lower-cased, so an exact match on the lower-cased input avoids
        # the Unicode case-folding surprises of a database iexact.
        yield from User.objects.filter(email=email.strip().lower(), is_active=True)

    def save(self, *args: Any, **kwargs: Any) -> None:
        language = translation.get_language() or ""
        for user in self.get_users(self.cleaned_data["email"]):
            enqueue_on_commit(
                deliver_account_link,
                user_id=user.pk,
                kind=ACCOUNT_LINK_PASSWORD_RESET,
                language=language,
            )
