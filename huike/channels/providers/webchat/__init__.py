from huike.channels.base import Provider
from huike.channels.providers.webchat.provider import WebchatProvider

PROVIDERS: tuple[Provider, ...] = (WebchatProvider(),)
