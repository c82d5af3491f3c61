"""Public pages (no sign-in): the network's directory of options and its impact page."""

from django.urls import URLPattern

app_name = "public"

urlpatterns: list[URLPattern] = []
