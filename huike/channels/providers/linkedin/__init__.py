from huike.channels.base import Provider
from huike.channels.providers.linkedin.provider import LinkedInProvider

PROVIDERS: tuple[Provider, ...] = (LinkedInProvider(),)
