from django.urls import path

from vulndesk.organisations import views

app_name = "organisations"

urlpatterns = [
    path("", views.home_view, name="home"),
    path("o/<slug:organisation>/members/", views.members_view, name="members"),
    path("o/<slug:organisation>/members/add/", views.member_add_view, name="member_add"),
    path("o/<slug:organisation>/members/<int:membership_id>/role/", views.member_role_view, name="member_role"),
    path("o/<slug:organisation>/members/<int:membership_id>/products/", views.member_products_view,
         name="member_products"),
    path("o/<slug:organisation>/members/<int:membership_id>/remove/", views.member_remove_view, name="member_remove"),
    # The token is the authorisation (organisations/mails.py); the view checks it before anything else.
    path("invitation/<str:uidb64>/<str:token>/", views.invitation_view, name="invitation"),
]
