"""django-otp-webauthn's JSON ceremonies, under the names its scripts' configuration looks for (the namespace
"otp_webauthn"), served by our narrowed views (passkey_views). Signing in with a passkey and the scripts' message
catalogue sit under /accounts/two-factor/, the pages open before the second factor is passed; adding a passkey
sits under the account, which needs it passed."""

from django.urls import path
from django.views.i18n import JavaScriptCatalog

from circlekeeper.accounts import passkey_views

app_name = "otp_webauthn"

urlpatterns = [
    path(
        "account/passkeys/add/begin/",
        passkey_views.RegistrationBegin.as_view(),
        name="credential-registration-begin",
    ),
    path(
        "account/passkeys/add/complete/",
        passkey_views.RegistrationComplete.as_view(),
        name="credential-registration-complete",
    ),
    path(
        "two-factor/passkey/begin/",
        passkey_views.AuthenticationBegin.as_view(),
        name="credential-authentication-begin",
    ),
    path(
        "two-factor/passkey/complete/",
        passkey_views.AuthenticationComplete.as_view(),
        name="credential-authentication-complete",
    ),
    path(
        "two-factor/passkey/messages.js",
        JavaScriptCatalog.as_view(packages=["django_otp_webauthn"]),
        name="js-i18n-catalog",
    ),
]
