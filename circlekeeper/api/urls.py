from django.urls import URLPattern, path

from circlekeeper.api import views

app_name = "api"
urlpatterns: list[URLPattern] = [
    path("redcap/", views.redcap_api, name="redcap"),
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<int:token_id>/revoke/", views.revoke, name="revoke"),
]
