"""Planners: choose the next action; never execute it."""

from reprolam.planning.base import (
    ArtifactRef,
    Decision,
    Done,
    NoProposal,
    Planner,
    Proposal,
    RunState,
)
from reprolam.planning.rules import RulesPlanner, ScriptPlanner

__all__ = [
    "ArtifactRef",
    "Decision",
    "Done",
    "NoProposal",
    "Planner",
    "Proposal",
    "RulesPlanner",
    "RunState",
    "ScriptPlanner",
]
