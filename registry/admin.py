"""Reviewers' desk: a review queue of versions IN_REVIEW, oldest first; each version's page shows its
files' source and the diff to the previous published version, with approve/reject that call the same
service functions as the GraphQL API. Versions, keys and history are read-only here. Who sees what is
decided by model permissions (the Reviewers group: argus_plugins.staff.roles)."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from argus_plugins.core.admin_mixins import AuditedAdminMixin, ReadOnlyMixin, report_admin_change
from argus_plugins.core.errors import DomainError, DomainErrors
from argus_plugins.core.objects import StorageUnavailable
from argus_plugins.core.snapshots import snapshot

from . import bundles, code_review, dependencies, services
from .manifest import lock_file_of
from .models import (
    LayerStatus,
    LifecycleEvent,
    Plugin,
    PluginVersion,
    PluginVersionReview,
    Publisher,
    PublisherMembership,
    SigningKey,
    VersionStatus,
)


class PublisherMembershipInline(admin.TabularInline):
    model = PublisherMembership
    extra = 0
    autocomplete_fields = ("user",)


@admin.register(Publisher)
class PublisherAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "slug", "verified", "created_at")
    list_filter = ("verified",)
    list_editable = ("verified",)
    search_fields = ("name", "slug")
    readonly_fields = ("id", "created_at")
    inlines = (PublisherMembershipInline,)


@admin.register(SigningKey)
class SigningKeyAdmin(AuditedAdminMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("fingerprint", "publisher", "key_bits", "created_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("fingerprint", "publisher__slug")


@admin.register(Plugin)
class PluginAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("slug", "name", "publisher", "status", "created_at")
    list_filter = ("status",)
    search_fields = ("slug", "name", "publisher__slug")
    readonly_fields = ("id", "publisher", "slug", "status", "created_at", "created_by")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class LifecycleEventInline(admin.TabularInline):
    model = LifecycleEvent
    fk_name = "version"
    fields = ("at", "from_status", "to_status", "actor", "note")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


#: Who may approve or reject (besides being staff, which the service itself requires).
REVIEW_PERMISSION = "registry.review_pluginversion"

REVIEW_FIELDS = (
    "plugin",
    "version",
    "status",
    "publisher",
    "created_by",
    "submitted_at",
    "integrity",
    "signing_key",
    "requested_capabilities",
    "requested_resources",
    "runtime",
    "platform_range",
    "changelog",
    "manifest_pretty",
    "bundle_files",
    "review_notes",
    "reviewer",
    "reviewed_at",
)
CODE_FIELDS = ("source_code", "changes_since_previous", "third_party_packages")
REVIEW_FIELDSETS = (
    (None, {"fields": REVIEW_FIELDS}),
    ("Third-party packages (frozen dependency layer, SBOM)", {"fields": ("third_party_packages",)}),
    ("Source code", {"fields": ("source_code",), "classes": ("wide",)}),
    ("Changes since the previous published version", {"fields": ("changes_since_previous",)}),
)


class VersionDetailsMixin:
    """Everything a reviewer must see before trusting code, computed from the stored bytes."""

    @admin.display(description="Publisher")
    def publisher(self, version: PluginVersion) -> str:
        publisher = version.plugin.publisher
        return f"{publisher.name} ({'verified' if publisher.verified else 'NOT verified'})"

    @admin.display(description="Signature and hash")
    def integrity(self, version: PluginVersion) -> str:
        try:
            services.verify_stored_version(version)
        except DomainError as error:
            return format_html('<strong style="color:#ba2121">FAILED: {}</strong>', error.message)
        except StorageUnavailable as error:
            return format_html("<strong>NOT CHECKED: the object store is unavailable</strong> ({})", error)
        return format_html(
            '<strong style="color:#107010">Verified</strong>: SHA-256 {} matches the stored bundle; RSA-PSS '
            "signature valid for key {}…",
            version.code_sha256,
            version.signing_key.fingerprint[:16],
        )

    @admin.display(description="Requested capabilities")
    def requested_capabilities(self, version: PluginVersion) -> str:
        return ", ".join(version.capabilities) or "none"

    @admin.display(description="Requested resources")
    def requested_resources(self, version: PluginVersion) -> str:
        return ", ".join(f"{key}={value}" for key, value in version.manifest["resources"].items())

    @admin.display(description="Platform range")
    def platform_range(self, version: PluginVersion) -> str:
        return f"{version.min_platform_version or '*'} … {version.max_platform_version or '*'}"

    @admin.display(description="Manifest")
    def manifest_pretty(self, version: PluginVersion) -> str:
        return format_html("<pre>{}</pre>", json.dumps(version.manifest, indent=2, sort_keys=True))

    @admin.display(description="Bundle files")
    def bundle_files(self, version: PluginVersion) -> str:
        try:
            info = bundles.inspect_bundle(services.read_stored_bundle(version))
        except (OSError, bundles.BundleRejected, StorageUnavailable) as error:
            return f"Cannot list the bundle: {error}"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            ((f.path, f.size, f.sha256[:16]) for f in info.files),
        )
        return format_html("<table><tr><th>path</th><th>bytes</th><th>sha256</th></tr>{}</table>", rows)

    def _sources(self, version: PluginVersion) -> list[code_review.SourceFile]:
        # Read once per page: both the source and the diff need them.
        if not hasattr(version, "_review_sources"):
            version._review_sources = code_review.source_files(version)
        return version._review_sources

    @admin.display(description="Files")
    def source_code(self, version: PluginVersion) -> SafeString | str:
        try:
            files = self._sources(version)
        except (OSError, bundles.BundleRejected, StorageUnavailable) as error:
            return f"Cannot read the bundle: {error}"
        return format_html_join("", "{}", ((_source_block(file),) for file in files))

    @admin.display(description="Packages")
    def third_party_packages(self, version: PluginVersion) -> SafeString | str:
        layer = version.dependency_layer
        if lock_file_of(version.manifest) is None:
            return "None: the plugin declares no lock file (it uses its runtime's standard library only)."
        if layer is None or layer.status != LayerStatus.RESOLVED:
            state = layer.get_status_display() if layer else "Not resolved yet (it is resolved at submission)"
            error = f" [{layer.error_code}] {layer.error_message}" if layer and layer.error_message else ""
            return f"{state}.{error} The version cannot be approved until its dependencies are frozen."
        changes = dependencies.sbom_changes(version) or {}
        summary = format_html_join(
            "",
            "<li><strong>{}</strong>: {}</li>",
            ((kind, ", ".join(items)) for kind, items in changes.items() if items),
        )
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            ((p["name"], p["version"], p["license"] or "unknown", p["sha256"][:16]) for p in layer.packages),
        )
        return format_html(
            "<p>Layer SHA-256 <code>{}</code> ({} bytes), verified before every run. Changes since the "
            "previous published version:</p><ul>{}</ul><table><tr><th>package</th><th>version</th>"
            "<th>licence</th><th>sha256</th></tr>{}</table><details><summary>CycloneDX SBOM (JSON)</summary>"
            "<pre>{}</pre></details>",
            layer.archive_sha256,
            layer.archive_size,
            summary or format_html("<li>none</li>"),
            rows,
            json.dumps(dependencies.sbom_of(version), indent=2),
        )

    @admin.display(description="Diff")
    def changes_since_previous(self, version: PluginVersion) -> SafeString | str:
        previous = code_review.previous_published_version(version)
        if previous is None:
            return "No earlier version of this plugin was published: everything is new (see the files above)."
        try:
            diffs = code_review.file_diffs(
                previous, code_review.source_files(previous), version, self._sources(version)
            )
        except (OSError, bundles.BundleRejected, StorageUnavailable) as error:
            return f"Cannot read a bundle: {error}"
        heading = format_html(
            '<p class="argus-diff-base">Compared with <strong>{}</strong> (published {}).</p>',
            previous,
            previous.published_at,
        )
        if not diffs:
            return format_html("{}<p>No file changed.</p>", heading)
        blocks = format_html_join(
            "",
            '<details open class="argus-diff"><summary>{} ({})</summary>{}</details>',
            (
                (diff.path, diff.change, code_review.highlight_diff(diff.unified) if diff.unified else "")
                for diff in diffs
            ),
        )
        return format_html("{}{}", heading, blocks)


def _source_block(file: code_review.SourceFile) -> SafeString:
    if file.text is None:
        body = format_html("<p>{} bytes, not shown ({}).</p>", file.size, file.omitted_reason)
    else:
        shown = len(file.text.encode())
        cut = (
            format_html("<p><strong>Only the first {} of {} bytes are shown.</strong></p>", shown, file.size)
            if file.truncated
            else ""
        )
        body = format_html("{}{}", cut, code_review.highlight_source(file.path, file.text))
    return format_html(
        '<details open class="argus-file" data-path="{}"><summary>{} ({} bytes)</summary>{}</details>',
        file.path,
        file.path,
        file.size,
        body,
    )


@admin.register(PluginVersion)
class PluginVersionAdmin(AuditedAdminMixin, VersionDetailsMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("plugin", "version", "status", "created_at", "published_at")
    list_filter = ("status",)
    search_fields = ("plugin__slug", "version", "code_sha256")
    fieldsets = REVIEW_FIELDSETS
    readonly_fields = REVIEW_FIELDS + CODE_FIELDS
    inlines = (LifecycleEventInline,)

    class Media:
        css = {"all": ("registry/review.css",)}


@admin.register(PluginVersionReview)
class ReviewQueueAdmin(AuditedAdminMixin, VersionDetailsMixin, admin.ModelAdmin):
    """The review queue: versions IN_REVIEW, oldest submission first."""

    list_display = ("plugin", "version", "publisher", "submitted_at", "requested_capabilities")
    fieldsets = REVIEW_FIELDSETS
    readonly_fields = REVIEW_FIELDS + CODE_FIELDS
    inlines = (LifecycleEventInline,)
    change_form_template = "admin/registry/pluginversionreview/change_form.html"

    class Media:
        css = {"all": ("registry/review.css",)}

    def get_queryset(self, request: HttpRequest):
        return (
            super()
            .get_queryset(request)
            .filter(status=VersionStatus.IN_REVIEW)
            .select_related("plugin__publisher", "signing_key")
            .order_by("submitted_at", "id")
        )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # "Changing" a version in the queue means deciding on it; every field stays read-only.
        return request.user.is_active and request.user.is_staff and request.user.has_perm(REVIEW_PERMISSION)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None
    ) -> HttpResponse:
        if request.method == "POST" and ("_approve" in request.POST or "_reject" in request.POST):
            return self._decide(request, object_id)
        return super().change_view(request, object_id, form_url, extra_context)

    def _decide(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self.has_change_permission(request):
            raise PermissionDenied
        notes = request.POST.get("decision_notes", "")
        approve = "_approve" in request.POST
        service = services.approve_version if approve else services.reject_version
        try:
            with transaction.atomic():
                before = snapshot(PluginVersion.objects.filter(pk=object_id).first())
                version = service(actor=request.user, version_id=object_id, notes=notes)
                action = f"admin.registry.pluginversion.{'approve' if approve else 'reject'}"
                report_admin_change(action, request, version, before)
        except (DomainError, DomainErrors) as error:
            self.message_user(
                request, f"Not {'approved' if approve else 'rejected'}: {error}", messages.ERROR
            )
            return HttpResponseRedirect(request.path)
        self.message_user(request, f"{version} is now {version.status}.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:registry_pluginversionreview_changelist"))
