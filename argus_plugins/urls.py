from django.contrib import admin
from django.urls import path

from argus_plugins.core.graphql.view import ArgusGraphQLView
from argus_plugins.core.metrics import metrics
from argus_plugins.core.views import healthz

urlpatterns = [
    path("admin/", admin.site.urls),
    path("graphql/", ArgusGraphQLView.as_view(), name="graphql"),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
]
