from django import template

from huike.customers.events import event_kind_label

register = template.Library()


@register.filter
def event_label(kind: str) -> str:
    """A timeline event's kind in the reader's language (`page.viewed` → "Viewed a page")."""
    return event_kind_label(kind)
