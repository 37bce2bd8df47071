from django.contrib import admin
from django.urls import path

from argus_plugins.core.graphql.view import ArgusGraphQLView
from argus_plugins.core.metrics import metrics
from argus_plugins.core.views import healthz

urlpatterns = [
    path("admin/", admin.site.urls),
    path("graphql/", ArgusGraphQLView.as_view(), name="graphql"),
    # The endpoint without its slash too: APPEND_SLASH would redirect, and clients turn a redirected
    # POST into a GET that has lost its body ("Must provide query string").
    path("graphql", ArgusGraphQLView.as_view(), name="graphql-without-slash"),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
]
