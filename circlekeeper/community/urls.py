"""The community app's staff pages: events, trainings, facilitators, the directory entry, the network hub."""

from django.urls import URLPattern, URLResolver, include, path

app_name = "community"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", include("circlekeeper.community.urls_activities")),
    path("", include("circlekeeper.community.urls_public")),
]
