"""URLs of the community app's public pages (included by community/urls.py)."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
