"""The evaluation app's URLs: plans and timepoints, dashboards and analyses, the de-identified data and exports."""

from django.urls import URLPattern, URLResolver, include, path

app_name = "evaluation"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", include("circlekeeper.evaluation.urls_schedule")),
    path("", include("circlekeeper.evaluation.urls_analysis")),
    path("", include("circlekeeper.evaluation.urls_exports")),
]
