from django.urls import path  # noqa: F401

app_name = "accountability"

urlpatterns: list = []
link_patterns: tuple = ([], "progress")
