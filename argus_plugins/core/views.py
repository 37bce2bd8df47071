from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from .health import health_report


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    report = health_report()
    return JsonResponse(report, status=200 if report["ok"] else 503)
