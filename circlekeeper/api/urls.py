from django.urls import URLPattern, path, re_path

from circlekeeper.api import results, views

app_name = "api"
urlpatterns: list[URLPattern] = [
    path("redcap/", views.redcap_api, name="redcap"),
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<int:token_id>/revoke/", views.revoke, name="revoke"),
    path("v1/", results.index, name="v1_index"),
    path("v1/dashboards/<path:domain>/", results.dashboard, name="v1_dashboard"),
    path("v1/openapi.json", results.openapi, name="v1_schema"),
    path("v1/docs/", results.docs, name="v1_docs"),
    # Anything else under v1/ answers in the API's own shape (JSON), never the site's HTML page.
    # No name and no parameter: it is reached only by addresses the API does not have (nothing to redact in logs).
    re_path(r"^v1/[\s\S]+$", results.not_found),
]
