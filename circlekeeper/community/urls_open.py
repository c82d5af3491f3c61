"""Public pages (no sign-in): the network's directory of options and its impact page."""

from django.urls import URLPattern, path

from circlekeeper.community import public_views as views

app_name = "public"

urlpatterns: list[URLPattern] = [
    path("<slug:slug>/", views.public_directory, name="directory"),
    path("<slug:slug>/impact/", views.public_impact, name="impact"),
]
