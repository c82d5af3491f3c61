"""URLs of the evaluation's schedule pages (included by evaluation/urls.py under the "evaluation" namespace)."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
