from django.urls import path

from vulndesk.products import views

app_name = "products"

urlpatterns = [
    path("", views.product_list_view, name="list"),
    path("new/", views.product_create_view, name="create"),
    path("<slug:product>/", views.product_detail_view, name="detail"),
    path("<slug:product>/update/", views.product_update_view, name="update"),
    path("<slug:product>/policy/", views.policy_update_view, name="policy"),
    path("<slug:product>/versions/", views.supported_version_add_view, name="version_add"),
    path("<slug:product>/versions/<int:row_id>/remove/", views.supported_version_remove_view, name="version_remove"),
    path("<slug:product>/releases/", views.release_plan_view, name="release_plan"),
    path("<slug:product>/releases/<int:release_id>/ship/", views.release_ship_view, name="release_ship"),
    path("<slug:product>/api-tokens/", views.api_token_create_view, name="api_token_create"),
    path("<slug:product>/api-tokens/<int:token_id>/revoke/", views.api_token_revoke_view, name="api_token_revoke"),
]
