from django.apps import AppConfig


class DemoConfig(AppConfig):
    # The demo and benchmark data: the demo network, each app's demo rows and the synthetic cases of
    # `seed_demo --scale N`. At the top of the dependency graph: it may import every app; no app imports it.
    name = "circlekeeper.demo"
    label = "demo"
    # Not translated: an app's name is shown nowhere (there is no admin site).
    verbose_name = "Demo data"
