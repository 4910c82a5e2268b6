from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from huike.core.health import health_report


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    healthy, report = health_report()
    return JsonResponse(report, status=200 if healthy else 503)
