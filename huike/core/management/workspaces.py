"""Workspace lookups for core's commands. Core sits below accounts and does not import it, so
the Workspace model is fetched from the app registry."""

from django.apps import apps
from django.core.management.base import CommandError
from django.utils.translation import gettext as _


def workspace_slugs(slug: str | None) -> dict[int, str]:
    """{id: slug} of one workspace (CommandError if there is none) or of all, by slug."""
    workspaces = apps.get_model("accounts", "Workspace")._default_manager.order_by("slug")
    if slug is None:
        return dict(workspaces.values_list("pk", "slug"))
    found = dict(workspaces.filter(slug=slug).values_list("pk", "slug"))
    if not found:
        raise CommandError(_("No workspace with slug %(slug)r.") % {"slug": slug})
    return found
