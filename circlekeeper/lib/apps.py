from django.apps import AppConfig


class LibConfig(AppConfig):
    name = "circlekeeper.lib"
    label = "lib"
    verbose_name = "Shared pieces"
