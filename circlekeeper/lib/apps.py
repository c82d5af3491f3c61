from django.apps import AppConfig


class LibConfig(AppConfig):
    name = "circlekeeper.lib"
    label = "lib"
    verbose_name = "Shared pieces"

    def ready(self) -> None:
        from django.core.signals import request_started
        from django_tasks.signals import task_started

        from circlekeeper.lib.keys import clear_key_cache

        # Unwrapped keys live for one request or task only, so a rotation or a shredding done elsewhere
        # is seen by the next one.
        request_started.connect(clear_key_cache, dispatch_uid="circlekeeper.lib.keys.request")
        task_started.connect(clear_key_cache, dispatch_uid="circlekeeper.lib.keys.task")
