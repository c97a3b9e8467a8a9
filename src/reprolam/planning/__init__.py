"""Planners: choose the next action; never execute it.

Import from the modules (``planning.base``, ``rules``, ``llm``, ``simulated``, ``choose``) or
from ``reprolam``: this package imports nothing itself, so the offline planners never pay
for the LLM client at start-up.
"""
