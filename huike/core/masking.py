"""Masking of personal data for roles that may not reveal it (138****5678, z***@example.com)."""

from collections.abc import Callable


def mask_phone(value: str) -> str:
    """Show at most the first three and the last four digits, and never more than half of
    them: 138****5678, but 12****78 for a short number."""
    digits = value.strip()
    length = len(digits)
    if length <= 4:
        return "*" * length
    keep_end = min(4, length // 4)
    keep_start = min(3, length // 2 - keep_end)
    if length >= 11:
        keep_start, keep_end = 3, 4
    hidden = length - keep_start - keep_end
    return digits[:keep_start] + "*" * hidden + digits[length - keep_end :]


def mask_email(value: str) -> str:
    local, _, domain = value.partition("@")
    if not domain:
        return mask_text(value)
    return (local[:1] + "***" if local else "***") + "@" + domain


def mask_text(value: str) -> str:
    if len(value) <= 2:
        return "*" * len(value)
    return value[:1] + "*" * (len(value) - 2) + value[-1:]


def mask_date(value: str) -> str:
    # Keep nothing: a birthday's year alone narrows a person down too far.
    return "****-**-**" if value else ""


MASKERS: dict[str, Callable[[str], str]] = {
    "phone": mask_phone,
    "email": mask_email,
    "text": mask_text,
    "address": mask_text,
    "id_number": mask_text,
    "date": mask_date,
}


def mask(kind: str, value: str | None) -> str:
    if not value:
        return ""
    return MASKERS.get(kind, mask_text)(value)
