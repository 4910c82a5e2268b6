"""The providers, one package per platform. Each package's PROVIDERS lists its instances."""

import importlib

from huike.channels.base import Provider

PACKAGES = ("wechat", "meta", "douyin", "weibo", "linkedin", "email", "sms", "webchat")


def installed() -> list[Provider]:
    found: list[Provider] = []
    for package in PACKAGES:
        module = importlib.import_module(f"huike.channels.providers.{package}")
        found.extend(module.PROVIDERS)
    return found
