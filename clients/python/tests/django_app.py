"""A small Django site for the tests: settings, views, URLs in one module."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import path

from keyward.django import require_key

from .apps import echo


def data(request: HttpRequest) -> JsonResponse:
    return JsonResponse(echo(request.keyward))  # type: ignore[attr-defined]


@require_key("data:read")
def decorated(request: HttpRequest) -> JsonResponse:
    return JsonResponse(echo(request.keyward))  # type: ignore[attr-defined]


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("data", data),
    path("healthz", healthz),
    path("decorated/data", decorated),
    path("decorated/healthz", healthz),
]
