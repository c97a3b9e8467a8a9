"""A sweep shows itself in Jupyter, like a run, a diff or a comparison.

``rl.sweep(...)`` as a notebook cell's last line printed the dataclass repr (every fork's
whole RunRecord); it is now the CLI's summary as an HTML table: one row per point with its
status, swept values and metrics, the run id, and the best point.
"""

from __future__ import annotations

from pathlib import Path

import reprolam
from reprolam import action, workflow


@action(outputs=["metrics"])
def score(*, alpha: float = 1.0) -> dict[str, float]:
    return {"mse": alpha * 2.0}


FLOW = workflow("notebook-sweep", [score], outputs=["metrics"])


def test_a_sweep_displays_as_a_table(tmp_path: Path) -> None:
    with reprolam.open(tmp_path / "store") as rl:
        parent = rl.run(FLOW).id
        result = rl.sweep(parent, at="score", grid={"score.alpha": [3.0, 0.5]})
    html = result._repr_html_()
    assert html.startswith(f"<p><b>sweep {result.id}</b> of {parent} at step 0: 2 steps")
    assert "best: point 1 (mse=1.0000)" in html
    assert ">score.alpha</th>" in html
    assert ">mse</th>" in html
    for point in result.points:
        assert point.run is not None
        assert f">{point.run.id}</td>" in html
    assert html.count("<tr>") == 3  # the header, then one row per point
    assert ">6.0000</td>" in html  # point 0's mse
