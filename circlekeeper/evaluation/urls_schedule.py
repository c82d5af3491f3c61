"""URLs of the evaluation's schedule pages (included by evaluation/urls.py under the "evaluation" namespace)."""

from django.urls import URLPattern, path

from circlekeeper.evaluation import schedule_views as views

urlpatterns: list[URLPattern] = [
    path("plan/", views.plan, name="plan"),
    path("plan/timepoints/new/", views.plan_timepoint_add, name="plan_timepoint_add"),
    path("plan/timepoints/<int:timepoint_id>/", views.plan_timepoint_edit, name="plan_timepoint_edit"),
    path(
        "plan/timepoints/<int:timepoint_id>/retire/",
        views.plan_timepoint_retire,
        name="plan_timepoint_retire",
    ),
    path("networks/<slug:slug>/plan/", views.network_plan, name="network_plan"),
    path(
        "networks/<slug:slug>/plan/timepoints/new/",
        views.network_plan_timepoint_add,
        name="network_plan_timepoint_add",
    ),
    path(
        "networks/<slug:slug>/plan/timepoints/<int:timepoint_id>/",
        views.network_plan_timepoint_edit,
        name="network_plan_timepoint_edit",
    ),
    path(
        "networks/<slug:slug>/plan/timepoints/<int:timepoint_id>/retire/",
        views.network_plan_timepoint_retire,
        name="network_plan_timepoint_retire",
    ),
    path("due/", views.due, name="due"),
    path("cases/<int:case_id>/", views.case_schedule, name="case_schedule"),
    path("cases/<int:case_id>/enrol/", views.case_enrol, name="case_enrol"),
    path("cases/<int:case_id>/enrolment/end/", views.case_enrolment_end, name="case_enrolment_end"),
    path(
        "cases/<int:case_id>/timepoints/<int:timepoint_id>/answer/",
        views.timepoint_entry,
        name="timepoint_entry",
    ),
]
