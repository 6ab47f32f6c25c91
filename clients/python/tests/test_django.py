"""Django: ``KeywardMiddleware`` and ``@require_key`` in a site served over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import django
import pytest
from django.conf import settings

from keyward import django as keyward_django

from .apps import check_app, check_unavailable
from .conftest import Server, dead_url, serve_wsgi


@pytest.fixture(scope="module")
def site(server: Server) -> Iterator[object]:
    settings.configure(
        DEBUG=False,
        ALLOWED_HOSTS=["127.0.0.1"],
        ROOT_URLCONF="tests.django_app",
        SECRET_KEY="tests-only",
        MIDDLEWARE=["keyward.django.KeywardMiddleware"],
        KEYWARD={
            "URL": server.url,
            "SCOPES": ["data:read"],
            "EXCLUDE": ["/healthz", "/decorated/"],
        },
    )
    django.setup()
    from django.core.wsgi import get_wsgi_application

    yield get_wsgi_application()
    keyward_django.reset_client()


def test_django_middleware(site: object, server: Server, make_key) -> None:
    with serve_wsgi(site) as base:
        check_app(base, server, make_key)


def test_django_decorator(site: object, server: Server, make_key) -> None:
    with serve_wsgi(site) as base:
        check_app(f"{base}/decorated", server, make_key)


def test_django_fails_closed(site: object) -> None:
    url = settings.KEYWARD["URL"]
    settings.KEYWARD["URL"] = dead_url()
    settings.KEYWARD["RETRIES"] = 0
    keyward_django.reset_client()
    try:
        with serve_wsgi(site) as base:
            check_unavailable(base)
            check_unavailable(f"{base}/decorated")
    finally:
        settings.KEYWARD["URL"] = url
        settings.KEYWARD["RETRIES"] = 2
        keyward_django.reset_client()
