"""One notice for simulated features: real features get none, the demo its own words."""

from __future__ import annotations

from types import SimpleNamespace

from budgetplan.demo import DEMO_TITLE
from budgetplan.notices import DEMO_NOTICE, SIMULATED_NOTICE, simulated_notice


def test_real_features_get_no_notice() -> None:
    assert simulated_notice(False) is None
    assert simulated_notice(SimpleNamespace(simulated=False, info={"name": DEMO_TITLE})) is None


def test_demo_and_other_simulated_stores_get_their_notice() -> None:
    demo = SimpleNamespace(simulated=True, info={"name": DEMO_TITLE})
    other = SimpleNamespace(simulated=True, info={"name": "toy"})
    assert simulated_notice(demo) == DEMO_NOTICE and "NIH ChestX-ray14" in DEMO_NOTICE
    assert simulated_notice(other) == SIMULATED_NOTICE
    assert simulated_notice(True) == SIMULATED_NOTICE
    assert simulated_notice(True, demo=True) == DEMO_NOTICE
    assert "SIMULATED" in DEMO_NOTICE and "SIMULATED" in SIMULATED_NOTICE
