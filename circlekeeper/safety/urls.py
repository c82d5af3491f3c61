from django.urls import path

from circlekeeper.safety import views

app_name = "safety"

_PLAN = "cases/<int:case_id>/participants/<int:participant_id>/plan/"

urlpatterns = [
    path("cases/<int:case_id>/", views.case_safety, name="case"),
    path(
        "cases/<int:case_id>/participants/<int:participant_id>/check/",
        views.check_start,
        name="check_start",
    ),
    path("cases/<int:case_id>/violence/", views.report_violence, name="report_violence"),
    path("cases/<int:case_id>/holds/<int:hold_id>/lift/", views.hold_lift, name="hold_lift"),
    path("cases/<int:case_id>/alerts/<int:alert_id>/seen/", views.alert_ack, name="alert_ack"),
    path(_PLAN, views.plan, name="plan"),
    path(f"{_PLAN}edit/", views.plan_edit, name="plan_edit"),
    path(f"{_PLAN}review/", views.plan_review, name="plan_review"),
    path(f"{_PLAN}revisions/", views.plan_history, name="plan_history"),
    path(f"{_PLAN}revisions/<int:number>/", views.plan_revision, name="plan_revision"),
    path(f"{_PLAN}print/", views.plan_print, name="plan_print"),
    path("instruments/", views.risk_instruments, name="risk_instruments"),
    path("instruments/<int:mapping_id>/remove/", views.risk_instrument_delete, name="risk_instrument_delete"),
]
