"""A bug's one line names a file that keeps its whole traceback; saving it never fails the line."""

from __future__ import annotations

from budgetplan.bug_report import DEBUG_ENV, MAX_TEXT, debugging, describe_bug


def _raised(exc: Exception) -> Exception:
    try:
        raise exc
    except Exception as caught:  # noqa: BLE001 - a real traceback to save
        return caught


def test_the_line_names_the_type_the_message_and_the_saved_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("BUDGETPLAN_CACHE", str(tmp_path))
    line = describe_bug(_raised(KeyError("Nodule")))
    assert line.startswith("KeyError: 'Nodule' (a bug in budgetplan, please report it; ")
    saved = list((tmp_path / "errors").iterdir())
    assert len(saved) == 1 and str(saved[0]) in line and saved[0].suffix == ".txt"
    text = saved[0].read_text(encoding="utf-8")
    assert text.startswith("Traceback (most recent call last)") and "_raised" in text
    assert text.rstrip().endswith("KeyError: 'Nodule'")


def test_a_long_or_multi_line_message_stays_one_short_line(tmp_path, monkeypatch):
    monkeypatch.setenv("BUDGETPLAN_CACHE", str(tmp_path))
    line = describe_bug(_raised(ValueError("row\n" * 5000)))
    assert "\n" not in line and len(line) < MAX_TEXT + 300
    assert ("row\n" * 5000) in list((tmp_path / "errors").iterdir())[0].read_text()


def test_a_cache_that_cannot_be_written_still_gives_the_line(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("mine")
    monkeypatch.setenv("BUDGETPLAN_CACHE", str(blocker / "cache"))
    line = describe_bug(_raised(RuntimeError("boom")))
    assert line.startswith("RuntimeError: boom") and f"{DEBUG_ENV}=1" in line
    assert blocker.read_text() == "mine"


def test_debugging_reads_the_switch(monkeypatch):
    for value, on in (("", False), ("0", False), ("1", True), ("yes", True)):
        monkeypatch.setenv(DEBUG_ENV, value)
        assert debugging() is on
    monkeypatch.delenv(DEBUG_ENV)
    assert not debugging()
