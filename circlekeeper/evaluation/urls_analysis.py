"""URLs of the evaluation's analysis pages (included by evaluation/urls.py under the "evaluation" namespace)."""

from django.urls import URLPattern, path

from circlekeeper.evaluation import dashboard_views as views

urlpatterns: list[URLPattern] = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/<slug:domain>/", views.dashboard_domain, name="dashboard_domain"),
    path(
        "dashboard/<slug:domain>/sections/<int:section>/bundle/",
        views.dashboard_bundle,
        name="dashboard_bundle",
    ),
    path("networks/<slug:slug>/dashboard/", views.network_dashboard, name="network_dashboard"),
    path(
        "networks/<slug:slug>/dashboard/<slug:domain>/",
        views.network_dashboard_domain,
        name="network_dashboard_domain",
    ),
]
