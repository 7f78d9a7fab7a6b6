from django.urls import path

from vulndesk.organisations import views

app_name = "organisations"

urlpatterns = [
    path("", views.home_view, name="home"),
]
