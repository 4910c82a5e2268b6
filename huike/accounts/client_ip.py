"""The address of the person making a request, as seen through our own reverse proxies.

django-axes (AXES_CLIENT_IP_CALLABLE), the per-address sign-in throttles and the audit log all
take the address from here, so a lock-out, a throttle and the audit entry name the same one.
"""

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def _valid_ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip_address(request: HttpRequest) -> str | None:
    """The client's address, counting settings.HUIKE_PROXY_COUNT trusted proxies.

    Each proxy appends the address it received the connection from to X-Forwarded-For, so
    with N proxies of ours the client is the N-th entry from the right; everything to the left
    of it was written by the client and proves nothing. With no proxies (0), the header is
    ignored and the connection's own address counts. A request that carries fewer entries than
    we have proxies did not come through all of them, so its header is not trusted either.
    """
    remote_addr = _valid_ip(str(request.META.get("REMOTE_ADDR") or ""))
    proxies = int(getattr(settings, "HUIKE_PROXY_COUNT", 0) or 0)
    if proxies <= 0:
        return remote_addr
    forwarded = str(request.META.get("HTTP_X_FORWARDED_FOR") or "")
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    if len(hops) < proxies:
        return remote_addr
    return _valid_ip(hops[-proxies]) or remote_addr
