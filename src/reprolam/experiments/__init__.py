"""The paper's study: Script vs Naive LAM vs R-LAM on the same actions, measured side by side.

``reprolam experiment`` runs it. From Python::

    from pathlib import Path
    from reprolam.experiments import ExperimentConfig, run_experiment, write_results

    out = Path("experiment-results")
    out.mkdir(exist_ok=True)
    experiment = run_experiment(ExperimentConfig(trials=5, faults={"train_model": 0.2}), out=out)
    write_results(experiment, out)  # results.md/.csv/.json and the plots (needs matplotlib)
"""

from reprolam.experiments.harness import Experiment, ExperimentConfig, run_experiment
from reprolam.experiments.pipelines import PARADIGMS
from reprolam.experiments.report import write_results

__all__ = ["PARADIGMS", "Experiment", "ExperimentConfig", "run_experiment", "write_results"]
