"""The providers, one package per platform. Each package's PROVIDERS lists its instances."""

import importlib

from huike.channels.base import Provider

PACKAGES = ("wechat", "meta", "douyin", "weibo", "linkedin", "email", "sms", "webchat")


def installed() -> list[Provider]:
    found: list[Provider] = []
    for package in PACKAGES:
        try:
            module = importlib.import_module(f"huike.channels.providers.{package}")
        except ModuleNotFoundError as error:
            if error.name != f"huike.channels.providers.{package}":
                raise
            continue
        found.extend(getattr(module, "PROVIDERS", ()))
    return found
