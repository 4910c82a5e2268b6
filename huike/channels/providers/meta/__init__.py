from huike.channels.base import Provider
from huike.channels.providers.meta.messenger import MessengerProvider
from huike.channels.providers.meta.whatsapp import WhatsAppProvider

PROVIDERS: tuple[Provider, ...] = (WhatsAppProvider(), MessengerProvider())
