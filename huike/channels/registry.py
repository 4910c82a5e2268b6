"""Which providers exist: one per channel kind, registered from AppConfig.ready()."""

from huike.channels.base import Provider

_PROVIDERS: dict[str, Provider] = {}


def register_provider(provider: Provider) -> None:
    existing = _PROVIDERS.get(provider.kind)
    if existing is not None and type(existing) is not type(provider):
        raise ValueError(f"two providers for channel kind {provider.kind!r}")
    _PROVIDERS[provider.kind] = provider


def provider_for(kind: str) -> Provider:
    """The provider of `kind`; KeyError for a kind nobody registered."""
    return _PROVIDERS[kind]


def providers() -> list[Provider]:
    return sorted(_PROVIDERS.values(), key=lambda provider: provider.kind)
