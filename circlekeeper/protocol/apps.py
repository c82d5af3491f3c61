from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProtocolConfig(AppConfig):
    name = "circlekeeper.protocol"
    label = "protocol"
    verbose_name = _("Protocol")
