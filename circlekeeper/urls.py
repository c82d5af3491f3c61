from django.urls import include, path

from circlekeeper import views
from circlekeeper.accountability import urls as accountability_urls
from circlekeeper.api import views as api_views
from circlekeeper.instruments import urls as instrument_urls

urlpatterns = [
    path("", views.home, name="home"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/", include("circlekeeper.accounts.urls")),
    path("accounts/", include("circlekeeper.accounts.passkey_urls")),
    path("cases/", include("circlekeeper.cases.urls")),
    path("instruments/", include("circlekeeper.instruments.urls")),
    path("safety/", include("circlekeeper.safety.urls")),
    path("protocol/", include("circlekeeper.protocol.urls")),
    path("accountability/", include("circlekeeper.accountability.urls")),
    path("support/", include("circlekeeper.support.urls")),
    path("evaluation/", include("circlekeeper.evaluation.urls")),
    path("community/", include("circlekeeper.community.urls")),
    path("n/", include("circlekeeper.community.urls_open")),
    path("s/", include(instrument_urls.link_patterns)),
    path("p/", include(accountability_urls.link_patterns)),
    path("api/", include("circlekeeper.api.urls")),
    # The same API where REDCap's clients look for it: PyCap insists the address end in "/api/".
    path("redcap/api/", api_views.redcap_api, name="redcap_api"),
    path("i18n/", include("django.conf.urls.i18n")),
]

handler403 = "circlekeeper.views.error_403"
handler404 = "circlekeeper.views.error_404"
handler500 = "circlekeeper.views.error_500"
