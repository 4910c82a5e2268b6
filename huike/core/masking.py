"""Masking of personal data for roles that may not reveal it (138****5678, z***@example.com)."""

from collections.abc import Callable


def mask_phone(value: str) -> str:
    digits = value.strip()
    if len(digits) <= 4:
        return "*" * len(digits)
    if len(digits) < 8:
        return "*" * (len(digits) - 2) + digits[-2:]
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


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
