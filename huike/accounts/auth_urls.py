from django.contrib.auth import views as auth_views
from django.urls import path

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name="accounts/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("security/", auth_views.PasswordChangeView.as_view(), name="security"),
    path("security/two-factor/", auth_views.PasswordChangeView.as_view(), name="two_factor_setup"),
]
