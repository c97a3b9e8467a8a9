"""Compatibility layers: code written for other packages, running on reprolam.

``reprolam.compat.rlam`` is the paper's own package, ``rlam`` 0.1.0, on reprolam's engine
and store: change ``from rlam import ...`` to ``from reprolam.compat.rlam import ...``.
"""
