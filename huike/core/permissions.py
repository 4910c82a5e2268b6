"""The one registry of permissions.

Each part declares the permissions it checks in its AppConfig.ready(); roles are sets of these
codes. Keeping the registry in core lets accounts compose roles without importing the parts
that define the permissions.
"""

from dataclasses import dataclass

from django.utils.functional import Promise


@dataclass(frozen=True)
class Permission:
    code: str
    label: str | Promise
    group: str | Promise


_REGISTRY: dict[str, Permission] = {}


def register_permissions(*permissions: Permission) -> None:
    for permission in permissions:
        existing = _REGISTRY.get(permission.code)
        if existing is not None and existing != permission:
            raise ValueError(f"Permission {permission.code!r} registered twice differently")
        _REGISTRY[permission.code] = permission


def all_permissions() -> list[Permission]:
    return list(_REGISTRY.values())


def is_known_permission(code: str) -> bool:
    return code in _REGISTRY
