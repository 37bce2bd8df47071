"""A large output.json goes to the object store, not the run's row: GraphQL's ``output`` still answers it,
checked against the SHA-256 the ledger recorded (which is the same whichever way the bytes are kept); an
object that is altered or missing is refused with a typed error; a store that cannot take the output ends
the run FAILED with the reason, and nothing of a status that did not commit stays in the store."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from argus_plugins.core import clock
from argus_plugins.core.storage_url import parse_storage_url
from execution import worker
from execution.models import Execution, ExecutionArtifact, ExecutionStatus
from execution.sandbox import Artifact, Outcome, SandboxResult
from tests.support.object_store import s3_bucket, unreachable_storage_url
from triggers.models import Event

pytestmark = pytest.mark.django_db

INLINE_MAX = 1000
OUTPUT_QUERY = """
query($id: ID!) { execution(id: $id) { status output outputSize outputSha256 ledgerEntry { id } } }
"""


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.s3)])
def store(request, settings) -> Iterator[str]:
    """Each test once on the filesystem backend and once on the real S3 server."""
    settings.ARGUS_OUTPUT_INLINE_MAX_BYTES = INLINE_MAX
    if request.param == "file":
        yield "file"
        return
    with s3_bucket() as bucket:
        settings.STORAGES = bucket.storages()
        yield "s3"


@pytest.fixture
def running(queued_run) -> worker.Prepared:
    Execution.objects.filter(pk=queued_run.pk).update(status=ExecutionStatus.RUNNING, started_at=clock.now())
    execution = Execution.objects.select_related("plugin_version__plugin", "plugin_version__signing_key").get(
        pk=queued_run.pk
    )
    return worker.Prepared(execution, [], b"", {}, [])


def _result(output: bytes, **fields) -> SandboxResult:
    return SandboxResult(Outcome.COMPLETED, exit_code=0, stdout=b"", stderr=b"", output=output, **fields)


def _large_output() -> tuple[bytes, dict]:
    value = {"findings": [{"offset": index, "rule": "r" * 20} for index in range(200)]}
    data = json.dumps(value, indent=1).encode()  # as a plugin writes it: not canonical, whitespace kept
    assert len(data) > INLINE_MAX
    return data, value


def _stored_names(prefix: str) -> list[str]:
    directories, files = default_storage.listdir(prefix)
    return [f"{prefix}/{name}" for name in files] + [
        name for directory in directories for name in _stored_names(f"{prefix}/{directory}")
    ]


def test_a_large_output_is_an_object_in_the_store_and_graphql_still_answers_it(
    store, running, world, gql_for
):
    data, value = _large_output()
    worker._record_outcome(running.execution, running, _result(data))

    execution = Execution.objects.get(pk=running.execution.pk)
    assert execution.status == ExecutionStatus.SUCCEEDED, execution.error_reason
    assert execution.output is None
    assert execution.output_object.name.startswith(f"outputs/{execution.tenant_id}/{execution.pk}")
    with default_storage.open(execution.output_object.name, "rb") as handle:
        assert handle.read() == data  # the plugin's bytes, exactly
    digest = hashlib.sha256(data).hexdigest()
    assert execution.output_sha256 == digest == execution.ledger_entry.record["output_sha256"]

    answer = gql_for(world.analyst_a).execute(OUTPUT_QUERY, {"id": str(execution.pk)}).data["execution"]
    assert json.loads(answer["output"]) == value
    assert (answer["outputSize"], answer["outputSha256"]) == (len(data), digest)


def test_a_small_output_stays_in_the_row_and_nothing_is_stored(store, running, world, gql_for):
    data = b'{"ok": true}'
    worker._record_outcome(running.execution, running, _result(data))

    execution = Execution.objects.get(pk=running.execution.pk)
    assert (execution.status, execution.output, execution.output_object.name) == (
        "SUCCEEDED",
        {"ok": True},
        "",
    )
    assert execution.ledger_entry.record["output_sha256"] == hashlib.sha256(data).hexdigest()
    assert not default_storage.exists("outputs")
    answer = gql_for(world.analyst_a).execute(OUTPUT_QUERY, {"id": str(execution.pk)}).data["execution"]
    assert (json.loads(answer["output"]), answer["outputSize"]) == ({"ok": True}, len(data))


def test_an_altered_or_missing_output_object_is_refused_with_a_typed_error(store, running, world, gql_for):
    data, _ = _large_output()
    worker._record_outcome(running.execution, running, _result(data))
    name = Execution.objects.get(pk=running.execution.pk).output_object.name
    client = gql_for(world.analyst_a)

    default_storage.delete(name)
    default_storage.save(name, ContentFile(data.replace(b'"r', b'"R', 1)))  # one flipped byte
    response = client.execute(OUTPUT_QUERY, {"id": str(running.execution.pk)})
    (error,) = response.errors
    assert error["extensions"]["code"] == "OUTPUT_UNAVAILABLE"
    assert error["message"] == "The run's stored output does not match its recorded SHA-256: refused."

    default_storage.delete(name)
    (error,) = client.execute(OUTPUT_QUERY, {"id": str(running.execution.pk)}).errors
    assert error["extensions"]["code"] == "OUTPUT_UNAVAILABLE"
    assert "missing" in error["message"]
    # Everything else about the run still answers.
    response = client.execute(
        "query($id: ID!) { execution(id: $id) { status outputSize } }", {"id": str(running.execution.pk)}
    )
    assert response.data["execution"] == {"status": "SUCCEEDED", "outputSize": len(data)}


def test_a_store_that_cannot_take_the_output_fails_the_run_with_the_reason(running, settings):
    settings.ARGUS_OUTPUT_INLINE_MAX_BYTES = INLINE_MAX
    settings.STORAGES = {
        **settings.STORAGES,
        "default": parse_storage_url(unreachable_storage_url(), upload_memory_bytes=1 << 20).storage,
    }
    data, _ = _large_output()
    worker._record_outcome(running.execution, running, _result(data, progress=(0.5, "half")))

    execution = Execution.objects.get(pk=running.execution.pk)
    assert execution.status == ExecutionStatus.FAILED
    assert execution.error_reason.startswith(
        "Object storage is unavailable: the output or artifacts could not be stored ("
    )
    assert (execution.output, execution.output_object.name) == (None, "")
    assert execution.ledger_entry.record["status"] == "FAILED"


def test_objects_of_a_status_that_did_not_commit_are_removed(store, running):
    """The run was cancelled while its outcome was being stored: nothing points at the output or the
    artifacts, so they are taken out of the store again."""
    Execution.objects.filter(pk=running.execution.pk).update(status=ExecutionStatus.CANCELLED)
    data, _ = _large_output()
    artifact = Artifact("report.txt", b"x", hashlib.sha256(b"x").hexdigest())
    worker._record_outcome(running.execution, running, _result(data, artifacts=[artifact]))

    execution = Execution.objects.get(pk=running.execution.pk)
    assert execution.status == ExecutionStatus.CANCELLED and execution.output_object.name == ""
    assert not ExecutionArtifact.objects.filter(execution=execution).exists()
    for prefix in ("outputs", "artifacts"):
        assert not default_storage.exists(prefix) or _stored_names(prefix) == []


def test_the_artifacts_are_stored_with_the_run_and_their_records_commit_with_its_status(store, running):
    data, _ = _large_output()
    artifact = Artifact("report.txt", b"report", hashlib.sha256(b"report").hexdigest())
    worker._record_outcome(running.execution, running, _result(data, artifacts=[artifact]))

    execution = Execution.objects.get(pk=running.execution.pk)
    assert execution.status == ExecutionStatus.SUCCEEDED
    (record,) = execution.artifacts.all()
    assert (record.name, record.size, record.sha256) == ("report.txt", 6, artifact.sha256)
    with default_storage.open(record.content.name, "rb") as handle:
        assert handle.read() == b"report"
    assert sorted(_stored_names("outputs") + _stored_names("artifacts")) == sorted(
        [execution.output_object.name, record.content.name]
    )


def test_the_events_of_a_run_with_a_large_output_carry_its_value(store, running):
    """The triggers' hook reads the value the worker parsed: the execution.succeeded payload has it, and its
    custom events are looked at (here refused: the run did not hold events:emit)."""
    value = {"events": [{"type": "custom.found", "payload": {}}], "padding": "p" * 2 * INLINE_MAX}
    worker._record_outcome(running.execution, running, _result(json.dumps(value).encode()))

    execution = Execution.objects.get(pk=running.execution.pk)
    assert execution.status == ExecutionStatus.SUCCEEDED and execution.output_object.name
    event = Event.objects.get(source_execution=execution, type="execution.succeeded")
    assert event.payload["output"] == value
    assert execution.warnings == [
        "Custom events refused: the run did not hold the 'events:emit' capability (1 event(s) dropped)."
    ]
