from django.urls import path

from circlekeeper.accounts import audit_views, reauth_views, views

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
    path("audit/", audit_views.audit_log, name="audit"),
]
