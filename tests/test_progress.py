"""Progress bars of long commands: each stage its own bar, named and counted in its own unit."""

from __future__ import annotations

from budgetplan.progress import stage_of, tqdm_progress


def test_stage_messages_get_their_own_named_bar(capsys) -> None:
    with tqdm_progress(desc="simulating", unit="run") as progress:
        progress(0, 4, "demo build: reading the NIH label table")
        progress(4, 4, "demo build: built in 6 s")
        progress(0, 5, "set-up: nearest neighbours of the pool")
        progress(5, 5, "set-up: ready to train")
        progress(0, 32, "round 1/2: 15 candidates x 2 draws")
        progress(32, 32, "round 1/2: 15 candidates x 2 draws")
    err = capsys.readouterr().err
    assert "demo build: 100%" in err and "4/4" in err and "built in 6 s" in err
    assert "set-up: 100%" in err and "ready to train" in err
    assert "simulating: 100%" in err and "32/32" in err
    # set-up steps are not counted as training runs
    setup_lines = [line for line in err.replace("\r", "\n").splitlines() if "set-up:" in line]
    assert setup_lines and not any("run/s" in x or "s/run" in x for x in setup_lines)


def test_other_messages_keep_the_callers_bar() -> None:
    assert stage_of("round 2/2: 13 candidates", "simulating", "run") == (
        "simulating",
        "run",
        "round 2/2: 13 candidates",
    )
    assert stage_of("set-up: sizing", "simulating", "run") == ("set-up", "step", "sizing")
    assert stage_of("set-up", "simulating", "run") == ("simulating", "run", "set-up")


def test_a_disabled_bar_still_takes_every_message(monkeypatch) -> None:
    import functools

    import budgetplan.progress as module

    # TQDM_DISABLE=1 (CI logs, the tests' own conftest) gives bars without desc or total
    monkeypatch.setattr(module, "tqdm", functools.partial(module.tqdm, disable=True))
    with tqdm_progress(desc="simulating", unit="run") as progress:
        progress(0, 5, "set-up: nearest neighbours of the pool")
        progress(1, 5, "set-up: relations")
        progress(0, 32, "round 1/2: 15 candidates x 2 draws")
