from huike.channels.base import Provider
from huike.channels.providers.douyin.provider import DouyinProvider

PROVIDERS: tuple[Provider, ...] = (DouyinProvider(),)
