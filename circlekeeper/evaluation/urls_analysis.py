"""URLs of the evaluation's analysis pages (included by evaluation/urls.py under the "evaluation" namespace)."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
