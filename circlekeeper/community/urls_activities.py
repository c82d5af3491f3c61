"""URLs of the community app's activities pages (included by community/urls.py)."""

from django.urls import URLPattern, path

from circlekeeper.community import activity_views as views

urlpatterns: list[URLPattern] = [
    path("events/", views.event_list, name="event_list"),
    path("events/new/", views.event_add, name="event_add"),
    path("events/<int:event_id>/", views.event_detail, name="event_detail"),
    path("events/<int:event_id>/edit/", views.event_edit, name="event_edit"),
    path("events/<int:event_id>/training/", views.training_record, name="training_record"),
    path("facilitators/", views.facilitator_list, name="facilitator_list"),
    path("facilitators/new/", views.facilitator_add, name="facilitator_add"),
    path("facilitators/<int:facilitator_id>/", views.facilitator_detail, name="facilitator_detail"),
    path("facilitators/<int:facilitator_id>/edit/", views.facilitator_edit, name="facilitator_edit"),
    path("facilitators/<int:facilitator_id>/notes/", views.supervision_note_add, name="supervision_note_add"),
    path("readiness/", views.readiness, name="readiness"),
    path("readiness/<int:requirement_id>/remove/", views.readiness_remove, name="readiness_remove"),
    path("cases/<int:case_id>/facilitators/", views.case_facilitators, name="case_facilitators"),
    path(
        "cases/<int:case_id>/facilitators/<int:facilitator_id>/remove/",
        views.case_facilitator_remove,
        name="case_facilitator_remove",
    ),
    path("funder-report/", views.funder_report, name="funder_report"),
    path("funder-report/csv/", views.funder_report_csv, name="funder_report_csv"),
]
