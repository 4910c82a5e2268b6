"""Sign-in, password reset and security pages, mounted at /account/ in the accounts namespace.

Everything under /account/ stays reachable for members who still have to set up two-factor
sign-in (see WorkspaceMiddleware).
"""

from django.urls import path

from huike.accounts import auth_views, security_views

urlpatterns = [
    path("login/", auth_views.login, name="login"),
    path("login/verify/", auth_views.login_verify, name="login_verify"),
    path("logout/", auth_views.logout, name="logout"),
    path("reset/", auth_views.PasswordResetView.as_view(), name="password_reset"),
    path("reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path(
        "reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("security/", security_views.security, name="security"),
    path("security/two-factor/", security_views.two_factor_setup, name="two_factor_setup"),
]
