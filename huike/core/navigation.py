"""The one registry of navigation entries. Each part registers the pages it adds in its
AppConfig.ready(); the shell shows an entry only to roles holding its permission."""

from dataclasses import dataclass

from django.utils.functional import Promise


@dataclass(frozen=True)
class NavItem:
    url_name: str
    label: str | Promise
    section: str  # "main" (top navigation) or "settings"
    order: int
    permission: str | None = None
    any_permissions: tuple[str, ...] = ()

    def allowed(self, permissions: frozenset[str]) -> bool:
        if self.permission is not None and self.permission not in permissions:
            return False
        return not self.any_permissions or any(p in permissions for p in self.any_permissions)


_ITEMS: dict[str, NavItem] = {}


def register_nav(*items: NavItem) -> None:
    for item in items:
        _ITEMS[item.url_name] = item


def nav_items(section: str, permissions: frozenset[str]) -> list[NavItem]:
    return sorted(
        (item for item in _ITEMS.values() if item.section == section and item.allowed(permissions)),
        key=lambda item: item.order,
    )
