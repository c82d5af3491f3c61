"""URLs of the community app's activities pages (included by community/urls.py)."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
