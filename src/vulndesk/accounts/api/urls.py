from django.urls import path

from vulndesk.accounts.api import views

urlpatterns = [
    path("token/", views.TokenObtainApi.as_view(), name="api_token_obtain"),
    path("token/refresh/", views.TokenRefreshApi.as_view(), name="api_token_refresh"),
    path("token/logout/", views.TokenLogoutApi.as_view(), name="api_token_logout"),
]
