"""Settings pages (members, teams, roles, API keys, workspace & security, audit log)."""



urlpatterns: list[object] = []
