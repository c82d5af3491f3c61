from django.urls import path

from circlekeeper.cases import retention_views, views

app_name = "cases"

urlpatterns = [
    path("", views.case_list, name="list"),
    path("new/", views.referral_new, name="referral_new"),
    path("<int:case_id>/", views.case_detail, name="detail"),
    path("retention/", retention_views.retention_policy, name="retention"),
    path("known/", views.known, name="known"),
    path("<int:case_id>/notes/", views.note_add, name="note_add"),
    path("<int:case_id>/intake/", views.intake, name="intake"),
    path("<int:case_id>/participants/add/", views.participant_add, name="participant_add"),
    path(
        "<int:case_id>/participants/<int:participant_id>/",
        views.participant_detail,
        name="participant_detail",
    ),
    path(
        "<int:case_id>/participants/<int:participant_id>/details/",
        views.participant_details,
        name="participant_details",
    ),
    path(
        "<int:case_id>/participants/<int:participant_id>/consents/add/",
        views.consent_add,
        name="consent_add",
    ),
    path(
        "<int:case_id>/consents/<int:consent_id>/withdraw/", views.consent_withdraw, name="consent_withdraw"
    ),
    path(
        "<int:case_id>/participants/<int:participant_id>/contact/",
        views.contact_rules,
        name="contact_rules",
    ),
    path("<int:case_id>/track/", views.track_choice, name="track_choice"),
    path(
        "<int:case_id>/participants/<int:participant_id>/releases/add/", views.release_add, name="release_add"
    ),
    path(
        "<int:case_id>/participants/<int:participant_id>/compelled/add/",
        views.compelled_add,
        name="compelled_add",
    ),
    path("<int:case_id>/releases/<int:release_id>/revoke/", views.release_revoke, name="release_revoke"),
    path("<int:case_id>/tasks/<int:task_id>/done/", views.task_done, name="task_done"),
]
