from django.urls import path

from circlekeeper.accounts import (
    account_views,
    audit_views,
    passkey_views,
    reauth_views,
    shredding_views,
    views,
)

app_name = "accounts"

urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("two-factor/setup/", views.mfa_setup, name="mfa_setup"),
    path("two-factor/verify/", views.mfa_verify, name="mfa_verify"),
    path("confirm/", reauth_views.reauthenticate, name="reauthenticate"),
    path("organization/", views.switch_organization, name="switch_organization"),
    path("people/", views.member_list, name="member_list"),
    path("people/add/", views.member_add, name="member_add"),
    path("people/<int:user_id>/", views.member_change, name="member_change"),
    path("people/<int:user_id>/active/", views.member_set_active, name="member_set_active"),
    path("people/<int:user_id>/second-factor/", views.member_second_factor, name="member_second_factor"),
    path(
        "people/invitations/<int:invitation_id>/withdraw/",
        views.invitation_withdraw,
        name="invitation_withdraw",
    ),
    path("audit/", audit_views.audit_log, name="audit"),
    path("organization/shred/", shredding_views.shred_organization, name="shred_organization"),
    # A person's own account (SECURITY.md 15a). The two token-carrying patterns are redacted in every log
    # (lib.redaction): their token is a keyword argument named `token`.
    path("invitation/", account_views.invitation, name="invitation"),
    path("invitation/<str:token>/", account_views.invitation_open, name="invitation_open"),
    path("account/", account_views.account, name="account"),
    path("account/password/", account_views.password_change, name="password_change"),
    path("account/email/", account_views.email_change, name="email_change"),
    path("account/passkeys/", passkey_views.passkey_list, name="passkeys"),
    path("account/passkeys/<int:passkey_id>/", passkey_views.passkey_rename, name="passkey_rename"),
    path("account/passkeys/<int:passkey_id>/remove/", passkey_views.passkey_remove, name="passkey_remove"),
    path("account/email/<str:token>/", account_views.email_confirm, name="email_confirm"),
    path("password-reset/", account_views.password_reset, name="password_reset"),
    path("password-reset/new/", account_views.password_reset_set, name="password_reset_set"),
    path(
        "password-reset/<str:uidb64>/<str:token>/",
        account_views.password_reset_confirm,
        name="password_reset_confirm",
    ),
]
