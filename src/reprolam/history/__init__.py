"""What happened, shown again: replay (no execution), reproduce (re-execution), fork, diff.

Import from the modules (or from ``reprolam``): this package imports nothing itself, so
``reprolam.history.replay`` never pulls in the engine, planners or workflows.
"""
