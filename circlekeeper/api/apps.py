from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "circlekeeper.api"
    label = "api"
    verbose_name = "API"
