from django.urls import path

from circlekeeper.support import views

app_name = "support"

_CASE = "cases/<int:case_id>/"

urlpatterns = [
    path(_CASE, views.pods, name="pods"),
    path(f"{_CASE}map/", views.network_map, name="map"),
    path(f"{_CASE}members/add/", views.member_add, name="member_add"),
    path(f"{_CASE}members/<int:member_id>/", views.member_edit, name="member_edit"),
    path(f"{_CASE}ties/add/", views.tie_add, name="tie_add"),
    path(f"{_CASE}ties/<int:tie_id>/remove/", views.tie_remove, name="tie_remove"),
]
