"""A real Label Studio on 127.0.0.1: push a plan, annotate through the API, read the answers back.

Label Studio runs from its own virtualenv (``.ci/run`` makes one), found through
``$BUDGETPLAN_LABEL_STUDIO`` (the ``label-studio`` executable) or ``PATH``; the test is skipped
only where it is not installed. Its first start migrates a new database (minutes on a loaded
machine), so ``.ci/run`` migrates one once into ``$BUDGETPLAN_LABEL_STUDIO_TEMPLATE`` and each
session starts on a copy of it. The server is started once per session with a temporary data
directory, a user and a legacy API token given on its command line, and stopped afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from budgetplan.cli import main
from budgetplan.planner.labelstudio_api import LabelStudioClient

from .test_export import label_table, tiny_plan

EXE_ENV, TEMPLATE_ENV = "BUDGETPLAN_LABEL_STUDIO", "BUDGETPLAN_LABEL_STUDIO_TEMPLATE"
TOKEN = "budgetplan0test0token0" + "0" * 18
START_TIMEOUT_S = float(os.environ.get("BUDGETPLAN_LABEL_STUDIO_TIMEOUT", "420"))


def _executable() -> str | None:
    exe = os.environ.get(EXE_ENV) or shutil.which("label-studio")
    return exe if exe and os.access(exe, os.X_OK) else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The address of a Label Studio started for this session (stopped after it)."""
    exe = _executable()
    if exe is None:
        pytest.skip(f"Label Studio is not installed (set ${EXE_ENV} or put label-studio on PATH)")
    root = tmp_path_factory.mktemp("label-studio")
    data = root / "data"
    template = Path(os.environ.get(TEMPLATE_ENV, "/nonexistent"))
    if (template / "label_studio.sqlite3").is_file():
        shutil.copytree(template, data)  # already migrated: starts in seconds
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "LABEL_STUDIO_BASE_DATA_DIR": str(data),
        "LATEST_VERSION_CHECK": "false",  # no call to the package index
        "COLLECT_ANALYTICS": "false",
    }
    argv = [exe, "start", "--no-browser", "--internal-host", "127.0.0.1", "-p", str(port)]
    argv += ["--data-dir", str(data), "--username", "annotator@example.com"]
    argv += ["--password", "budgetplan-test", "--user-token", TOKEN, "--enable-legacy-api-token"]
    log = (root / "label-studio.log").open("wb")
    proc = subprocess.Popen(
        argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root, start_new_session=True
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _up(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = (root / "label-studio.log").read_text(errors="replace")[-1500:]
                pytest.fail(f"Label Studio did not come up at {url}:\n{tail}")
            time.sleep(1.0)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)
        log.close()


def test_push_annotate_export_and_import_answers(
    label_studio: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from budgetplan.data.csv_labels import load_label_csv, save_label_csv

    plan = tiny_plan()
    plan_path = plan.save(tmp_path / "plan.json")
    labels_csv = tmp_path / "labels.csv"
    table = label_table()
    save_label_csv(table, labels_csv)
    scores = tmp_path / "scores.csv"
    scores.write_text("id,Mass,Pleural Thickening\nb.png,0.9,\na.png,0.2,0.7\n")

    # Ids without a URL prefix are refused before anything is sent.
    argv = ["labelstudio", "push", str(plan_path), "--url", label_studio, "--token", TOKEN]
    assert main(argv) == 2
    assert "--url-prefix" in capsys.readouterr().err
    assert main([*argv, "--url-prefix", "http://127.0.0.1:9/images/", "--scores", str(scores)]) == 0
    out = capsys.readouterr().out
    assert "3 tasks imported" in out  # the plan's 3 images
    project = int(out.split()[1].rstrip(":"))

    client = LabelStudioClient(label_studio, TOKEN)
    assert client.task_count(project) == len(plan.assignments())
    tasks = client.request("GET", f"/api/tasks?project={project}")["tasks"]
    by_image = {t["data"]["image_id"]: t for t in tasks}
    assert [c["value"] for c in by_image["c.png"]["data"]["choices"]] == [
        "Pleural Thickening",
        "none of these",
    ]
    assert by_image["b.png"]["total_predictions"] == 1
    # An annotator ticks Mass on a.png (so Pleural Thickening is absent there).
    result = [
        {
            "from_name": "findings",
            "to_name": "image",
            "type": "choices",
            "value": {"choices": ["Mass"]},
        }
    ]
    client.request("POST", f"/api/tasks/{by_image['a.png']['id']}/annotations", {"result": result})

    export = tmp_path / "export.json"
    pull = ["labelstudio", "pull", "--url", label_studio, "--token", TOKEN]
    assert main([*pull, "--project", str(project), "--out", str(export)]) == 0
    assert "3 tasks, 1 with annotations" in capsys.readouterr().out
    assert len(json.loads(export.read_text())) == 3

    answered = tmp_path / "answered.csv"
    argv = ["answers", "import", str(export), "--labels", str(labels_csv), "--out", str(answered)]
    # a.png: Mass was 0 in the labels and the annotator says present: a conflict, refused.
    assert main(argv) == 2
    assert "a.png Mass: label 0, answer 1" in capsys.readouterr().err
    assert not answered.exists()
    assert main([*argv, "--prefer", "answers"]) == 0
    new = load_label_csv(answered)
    row = list(new.ids).index("a.png")
    assert new.column("Mass")[row] == 1 and new.column("Pleural Thickening")[row] == 0
