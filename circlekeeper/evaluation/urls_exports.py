"""URLs of the evaluation's exports pages (included by evaluation/urls.py under the "evaluation" namespace)."""

from django.urls import URLPattern, path

from circlekeeper.evaluation import export_views as views

urlpatterns: list[URLPattern] = [
    path("data/", views.deidentified_data, name="deidentified_data"),
    path("exports/", views.export_data, name="exports"),
]
