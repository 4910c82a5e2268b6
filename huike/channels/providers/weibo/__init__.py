from huike.channels.base import Provider
from huike.channels.providers.weibo.provider import WeiboProvider

PROVIDERS: tuple[Provider, ...] = (WeiboProvider(),)
