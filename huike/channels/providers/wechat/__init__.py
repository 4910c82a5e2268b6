"""WeChat Official Accounts and WeCom: one package, as both use WeChat's callback crypto."""

from huike.channels.base import Provider
from huike.channels.providers.wechat.oa import WeChatOfficialAccountProvider
from huike.channels.providers.wechat.wecom import WeComProvider

PROVIDERS: tuple[Provider, ...] = (WeChatOfficialAccountProvider(), WeComProvider())
