from django.urls import URLPattern, path, re_path

from circlekeeper.api import results, views

app_name = "api"
urlpatterns: list[URLPattern] = [
    path("redcap/", views.redcap_api, name="redcap"),
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<int:token_id>/revoke/", views.revoke, name="revoke"),
    path("v1/", results.index, name="v1_index"),
    # Any text as the domain (newlines included), so that a wrong one gets the API's own JSON 404.
    re_path(r"^v1/dashboards/(?P<domain>[\s\S]+)/$", results.dashboard, name="v1_dashboard"),
    path("v1/openapi.json", results.openapi, name="v1_schema"),
    path("v1/docs/", results.docs, name="v1_docs"),
]
