"""Staff pages under /instruments/ (`urlpatterns`), and the participant's link pages under /s/ (`link_patterns`)."""

from django.urls import path

from circlekeeper.instruments import views

app_name = "instruments"

urlpatterns = [
    path("", views.instrument_list, name="instrument_list"),
    path("import/", views.instrument_import, name="instrument_import"),
    path("versions/<int:version_id>/", views.version_detail, name="version_detail"),
    path("cases/<int:case_id>/", views.case_questionnaires, name="case_questionnaires"),
    path(
        "cases/<int:case_id>/participants/<int:participant_id>/links/new/",
        views.link_issue,
        name="link_issue",
    ),
    path("cases/<int:case_id>/links/<int:link_id>/revoke/", views.link_revoke, name="link_revoke"),
    path(
        "cases/<int:case_id>/participants/<int:participant_id>/responses/new/",
        views.response_start,
        name="response_start",
    ),
    path("cases/<int:case_id>/responses/<int:response_id>/", views.response_detail, name="response_detail"),
    path(
        "cases/<int:case_id>/responses/<int:response_id>/answer/",
        views.response_answer,
        name="response_answer",
    ),
    path(
        "cases/<int:case_id>/responses/<int:response_id>/answer/live/",
        views.response_live,
        name="response_live",
    ),
    path(
        "cases/<int:case_id>/responses/<int:response_id>/review/",
        views.response_review,
        name="response_review",
    ),
]

# A neutral prefix and neutral names: nothing in these addresses says what the questionnaire is about.
link_patterns = (
    [
        path("", views.link_page, name="page"),
        path("live/", views.link_live, name="live"),
        path("review/", views.link_review, name="review"),
        path("done/", views.link_done, name="done"),
        path("code/", views.link_code, name="code"),
        path("<str:token>/", views.link_open, name="open"),
    ],
    "links",
)
