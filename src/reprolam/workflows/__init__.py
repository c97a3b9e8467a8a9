"""Bundled workflows and the workflow registry."""
