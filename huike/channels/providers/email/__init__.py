from huike.channels.base import Provider
from huike.channels.providers.email.provider import EmailProvider

PROVIDERS: tuple[Provider, ...] = (EmailProvider(),)
