"""URLs of the community app's pages about the network's public side (included by community/urls.py): a program
admin's directory entry and sharing decisions, the network admins' review of the directory, the network hub."""

from django.urls import URLPattern, path

from circlekeeper.community import public_views as views

urlpatterns: list[URLPattern] = [
    path("directory/", views.directory_edit, name="directory_edit"),
    path("directory/submit/", views.directory_submit, name="directory_submit"),
    path("sharing/", views.sharing, name="sharing"),
    path("sharing/impact/", views.impact_decide, name="impact_decide"),
    path("sharing/pool/", views.pool_decide, name="pool_decide"),
    path("network/<slug:slug>/", views.network_hub, name="hub"),
    path("network/<slug:slug>/threshold/", views.network_threshold, name="network_threshold"),
    path("network/<slug:slug>/directory/", views.directory_review_list, name="directory_review_list"),
    path("network/<slug:slug>/directory/<int:entry_id>/", views.directory_review, name="directory_review"),
]
