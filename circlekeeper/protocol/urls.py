from django.urls import path

from circlekeeper.protocol import correction_views, reach_out_views, timeline_views, views

app_name = "protocol"

_CASE = "cases/<int:case_id>/"
_MEETING = f"{_CASE}meetings/<int:meeting_id>/"

urlpatterns = [
    path(_CASE, views.case_page, name="case"),
    path(f"{_CASE}checklist/", views.checklist, name="checklist"),
    path(f"{_CASE}advance/", views.advance, name="advance"),
    path(f"{_CASE}withdraw/", views.withdraw, name="withdraw"),
    path(f"{_CASE}refer-out/", views.refer_out, name="refer_out"),
    path(f"{_CASE}approve/", views.approve, name="approve"),
    path(f"{_CASE}meetings/", views.meetings, name="meetings"),
    path(_MEETING, views.meeting, name="meeting"),
    path(f"{_MEETING}check/", views.meeting_check, name="meeting_check"),
    path(f"{_MEETING}held/", views.meeting_held, name="meeting_held"),
    path(f"{_MEETING}cancel/", views.meeting_cancel, name="meeting_cancel"),
    path(f"{_MEETING}acknowledgment/", views.acknowledge, name="acknowledge"),
    path(f"{_CASE}reached-out/", reach_out_views.reach_out, name="reach_out"),
    path(f"{_CASE}timeline/", timeline_views.timeline, name="timeline"),
    path(f"{_CASE}timeline/more/", timeline_views.timeline_more, name="timeline_more"),
    path(f"{_CASE}reopen/", correction_views.reopen, name="reopen"),
    path(
        f"{_CASE}participants/<int:participant_id>/entered-in-error/",
        correction_views.participant_error,
        name="participant_error",
    ),
    path(
        f"{_CASE}consents/<int:consent_id>/entered-in-error/",
        correction_views.consent_error,
        name="consent_error",
    ),
    path(f"{_MEETING}entered-in-error/", correction_views.meeting_error, name="meeting_error"),
    path(f"{_CASE}notes/<int:note_id>/entered-in-error/", correction_views.note_error, name="note_error"),
    path(
        f"{_CASE}track-choices/<int:choice_id>/entered-in-error/",
        correction_views.choice_error,
        name="choice_error",
    ),
    path(
        f"{_CASE}participants/<int:participant_id>/plan/revisions/<int:number>/entered-in-error/",
        correction_views.plan_revision_error,
        name="plan_revision_error",
    ),
    path("calendar/", views.calendar, name="calendar"),
    path("calendar/<str:token>.ics", views.calendar_feed, name="calendar_feed"),
]
