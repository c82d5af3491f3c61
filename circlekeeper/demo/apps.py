from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DemoConfig(AppConfig):
    # The demo and benchmark data: the demo network, each app's demo rows and the synthetic cases of
    # `seed_demo --scale N`. At the top of the dependency graph: it may import every app; no app imports it.
    name = "circlekeeper.demo"
    label = "demo"
    verbose_name = _("Demo data")
