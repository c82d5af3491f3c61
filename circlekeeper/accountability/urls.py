"""Staff pages under /accountability/ (`urlpatterns`), and the participant's progress page under /p/
(`link_patterns`)."""

from django.urls import path

from circlekeeper.accountability import views

app_name = "accountability"

_CASE = "cases/<int:case_id>/"
_COMMITMENT = f"{_CASE}commitments/<int:commitment_id>/"

urlpatterns = [
    path(_CASE, views.agreement, name="agreement"),
    path(f"{_CASE}versions/<int:number>/", views.version, name="version"),
    path(f"{_CASE}versions/<int:number>/print/", views.print_version, name="print"),
    path(f"{_CASE}draft/", views.draft, name="draft"),
    path(f"{_CASE}commitments/new/", views.commitment_add, name="commitment_add"),
    path(_COMMITMENT, views.commitment_edit, name="commitment_edit"),
    path(f"{_COMMITMENT}remove/", views.commitment_remove, name="commitment_remove"),
    path(f"{_COMMITMENT}progress/", views.checkin, name="checkin"),
    path(f"{_CASE}affirm/", views.affirm, name="affirm"),
    path(f"{_CASE}staircase/", views.step, name="step"),
    path(
        f"{_CASE}participants/<int:participant_id>/progress-link/",
        views.progress_link_issue,
        name="progress_link_issue",
    ),
    path(
        f"{_CASE}progress-links/<int:link_id>/revoke/",
        views.progress_link_revoke,
        name="progress_link_revoke",
    ),
]

# A neutral prefix and neutral names: nothing in these addresses says what the page is about.
link_patterns = (
    [
        path("", views.progress_page, name="page"),
        path("<str:token>/", views.progress_open, name="open"),
    ],
    "progress",
)
