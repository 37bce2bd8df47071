"""`argus-plugin init` and `argus-plugin run`: a scaffold that works, run locally in the real sandbox
(real Docker, the platform's runtime image and limits) with the platform's statuses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from argus_cli.errors import EXIT_RUN_FAILED
from argus_cli.main import app

ROOT = Path(__file__).resolve().parents[2]


def cli(*args, env=None):
    result = CliRunner().invoke(app, [str(a) for a in args], env=env)
    assert "Traceback" not in result.output, result.output
    return result


def test_init_writes_a_valid_plugin_folder(tmp_path):
    made = cli("--json", "init", "chat-keyword-counter", "--dir", tmp_path / "p")
    assert made.exit_code == 0, made.output
    files = {Path(f).name for f in json.loads(made.stdout)["files"]}
    assert {
        "manifest.json",
        "main.py",
        "sample-input.json",
        "notes.txt",
        "test_plugin.py",
        "README.md",
    } <= files
    manifest = json.loads((tmp_path / "p" / "manifest.json").read_text())
    assert manifest["name"] == "chat-keyword-counter" and manifest["entrypoint"] == "main.py"
    assert "Chat Keyword Counter" in (tmp_path / "p" / "README.md").read_text()
    packed = cli("pack", tmp_path / "p", "-o", tmp_path / "p.tar.gz")  # the manifest passes the offline check
    assert packed.exit_code == 0, packed.output


@pytest.mark.parametrize("name", ["Bad_Name", "x-", "a--b", "x" * 65])
def test_init_refuses_names_that_are_not_slugs(tmp_path, name):
    refused = cli("init", name, "--dir", tmp_path / "p")
    assert refused.exit_code == 2 and "slug" in refused.stderr
    assert not (tmp_path / "p").exists()


def test_init_never_overwrites(tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "mine.txt").write_text("keep")
    refused = cli("init", "demo", "--dir", tmp_path / "p")
    assert refused.exit_code == 1 and "already exists" in refused.stderr
    assert (tmp_path / "p" / "mine.txt").read_text() == "keep"


def test_every_command_has_help_with_an_example():
    commands = [
        ["init"], ["run"], ["pack"], ["keygen"], ["sign"], ["verify"], ["login"], ["publish"], ["submit"],
        ["status"], ["execute"], ["receipt"], ["versions"], ["deprecate"], ["publisher", "create"], ["key", "register"], ["listing", "edit"],
    ]  # fmt: skip
    for command in commands:
        shown = cli(*command, "--help")
        assert shown.exit_code == 0, (command, shown.output)
        assert "Example:" in shown.stdout, command
    top = cli("--help")
    assert "Exit codes" in top.stdout


@pytest.mark.docker
class TestLocalRuns:
    def test_scaffold_runs_and_its_own_test_passes(self, tmp_path):
        folder = tmp_path / "counter"
        assert cli("init", "counter", "--dir", folder).exit_code == 0
        ran = cli("--json", "run", folder, "--input", folder / "sample-input.json",
                  "--evidence", folder / "sample-evidence" / "notes.txt")  # fmt: skip
        assert ran.exit_code == 0, ran.output
        result = json.loads(ran.stdout)
        assert result["status"] == "SUCCEEDED" and result["exitCode"] == 0
        assert result["output"] == {"keyword": "invoice", "evidence_items": 1, "lines": 3, "matches": 2}
        assert result["limits"] == {"memory_mb": 128, "cpus": 0.5, "timeout_seconds": 60, "pids": 16}
        assert "scanned 1 evidence item(s)" in result["stdout"]
        own_test = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_plugin.py"],
            cwd=folder, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert own_test.returncode == 0, own_test.stdout + own_test.stderr

    def _plugin(self, tmp_path: Path, code: str, **resources) -> Path:
        folder = tmp_path / "probe"
        assert cli("init", "probe", "--dir", folder).exit_code == 0
        manifest = json.loads((folder / "manifest.json").read_text())
        manifest["resources"].update(resources)
        manifest.pop("input_schema")
        (folder / "manifest.json").write_text(json.dumps(manifest))
        (folder / "main.py").write_text(code)
        return folder

    def test_a_plugin_that_loops_forever_times_out(self, tmp_path):
        folder = self._plugin(
            tmp_path, "print('spinning', flush=True)\nwhile True:\n    pass\n", timeout_seconds=2
        )
        ran = cli("--json", "run", folder)
        assert ran.exit_code == EXIT_RUN_FAILED
        result = json.loads(ran.stdout)
        assert result["status"] == "TIMED_OUT" and result["errorReason"] == "Timed out after 2 s."
        assert "spinning" in result["stdout"]

    def test_a_plugin_that_allocates_too_much_exceeds_its_memory(self, tmp_path):
        code = "blocks = []\nwhile True:\n    blocks.append(bytearray(8 * 1024 * 1024))\n"
        folder = self._plugin(tmp_path, code, memory_mb=64)
        ran = cli("--json", "run", folder)
        assert ran.exit_code == EXIT_RUN_FAILED
        result = json.loads(ran.stdout)
        assert result["status"] == "MEMORY_EXCEEDED" and "64 MiB" in result["errorReason"]

    def test_a_failing_plugin_is_failed_with_its_exit_code_and_stderr(self, tmp_path):
        folder = self._plugin(tmp_path, "import sys\nprint('oops', file=sys.stderr)\nsys.exit(3)\n")
        ran = cli("run", folder)
        assert ran.exit_code == EXIT_RUN_FAILED
        assert "FAILED (exit code 3" in ran.stderr and "oops" in ran.stderr

    def test_limits_are_bounded_like_a_tenants_defaults(self, tmp_path):
        folder = self._plugin(tmp_path, "open('/argus/output/output.json', 'w').write('{}')\n", memory_mb=2048,
                              timeout_seconds=900)  # fmt: skip
        ran = json.loads(cli("--json", "run", folder).stdout)
        assert ran["limits"]["memory_mb"] == 256 and ran["limits"]["timeout_seconds"] == 60
        extended = json.loads(cli("--json", "run", folder, "--extended").stdout)
        assert extended["limits"]["memory_mb"] == 2048 and extended["limits"]["timeout_seconds"] == 900


def test_bad_input_is_a_clean_error(tmp_path):
    assert cli("init", "demo", "--dir", tmp_path / "p").exit_code == 0
    refused = cli("run", tmp_path / "p", "--input", "[1, 2]")
    assert refused.exit_code == 1 and "JSON object" in refused.stderr


def test_docker_missing_is_explained(tmp_path):
    assert cli("init", "demo", "--dir", tmp_path / "p").exit_code == 0
    refused = cli(
        "run", tmp_path / "p", "--input", '{"keyword": "x"}', env={"DOCKER_HOST": "unix:///nonexistent.sock"}
    )
    assert refused.exit_code == 1 and "cannot reach the Docker engine" in refused.stderr


@pytest.mark.docker
def test_a_local_run_shows_output_and_progress_as_it_runs(tmp_path):
    folder = tmp_path / "slow"
    assert cli("init", "slow", "--dir", folder).exit_code == 0
    (folder / "main.py").write_text(
        "import json, os, time\n"
        "for i in range(1, 4):\n"
        "    print(f'line {i}', flush=True)\n"
        "    os.write(int(os.environ['ARGUS_PROGRESS_FD']), (json.dumps({'progress': i / 3, 'message': f'step {i}'}) + '\\n').encode())\n"
        "    time.sleep(0.7)\n"
        "open('/argus/output/output.json', 'w').write('{}')\n"
    )
    ran = cli("run", folder, "--input", '{"keyword": "x"}')
    assert ran.exit_code == 0, ran.output
    # Printed as it happened: each line before the next progress report, not all at the end.
    assert "line 1\n[ 33%] step 1\nline 2\n[ 67%] step 2\nline 3\n[100%] step 3\n--- SUCCEEDED" in ran.stderr


def test_pack_refuses_an_unhashed_lock_file_naming_the_line(tmp_path):
    assert cli("init", "with-deps", "--dir", tmp_path / "p").exit_code == 0
    manifest = json.loads((tmp_path / "p" / "manifest.json").read_text())
    manifest["dependencies"] = {"lock_file": "requirements.lock"}
    (tmp_path / "p" / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "p" / "requirements.lock").write_text("# pinned\npefile==2024.8.26\n")
    refused = cli("pack", tmp_path / "p", "-o", tmp_path / "p.tar.gz")
    assert refused.exit_code == 1
    assert (
        "[DEPENDENCY_UNHASHED] requirements.lock: line 2: pefile==2024.8.26 has no --hash" in refused.stderr
    )
    assert not (tmp_path / "p.tar.gz").exists()


@pytest.mark.docker
def test_a_plugin_with_a_native_dependency_runs_locally(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    example = ROOT / "examples" / "plugins" / "yara-scan"
    ran = cli("--json", "run", example, "--evidence", ROOT / "examples" / "evidence" / "chat-export.txt")
    assert ran.exit_code == 0, ran.output
    result = json.loads(ran.stdout)
    assert result["status"] == "SUCCEEDED" and result["output"]["yara_version"] == "4.5.4"
    assert {m["rule"] for m in result["output"]["results"][0]["matches"]} >= {"bitcoin_address", "iban_like"}
    assert (
        len(list((tmp_path / "cache" / "argus-plugin" / "layers").glob("*.tar.gz"))) == 1
    )  # built once, cached
