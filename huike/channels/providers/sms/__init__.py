from huike.channels.base import Provider
from huike.channels.providers.sms.provider import SmsProvider

PROVIDERS: tuple[Provider, ...] = (SmsProvider(),)
