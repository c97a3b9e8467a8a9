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
from reprolam.planning.choose import PLANNER_NAMES, PlannerChoice, choose_planner
from reprolam.planning.llm import Endpoint, LLMPlanner, resolve_endpoint
from reprolam.planning.rules import RulesPlanner, ScriptPlanner
from reprolam.planning.simulated import SimulatedPlanner

__all__ = [
    "PLANNER_NAMES",
    "ArtifactRef",
    "Decision",
    "Done",
    "Endpoint",
    "LLMPlanner",
    "NoProposal",
    "Planner",
    "PlannerChoice",
    "Proposal",
    "RulesPlanner",
    "RunState",
    "ScriptPlanner",
    "SimulatedPlanner",
    "choose_planner",
    "resolve_endpoint",
]
