"""A select of customers or companies that a workspace may have millions of: it lists a few
and has a search box above it that asks the picker endpoint (huike.customers.views.pickers)
for the matching ones as the person types. The search box belongs to no form, so only the
choice is submitted; the form's field still accepts any record the actor may see."""

from typing import Any

from django import forms
from django.urls import reverse


class SearchableSelect(forms.Select):
    template_name = "customers/widgets/searchable_select.html"

    def __init__(self, url_name: str, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs)
        self.url_name = url_name

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        context["widget"]["search_url"] = reverse(self.url_name)
        return context
