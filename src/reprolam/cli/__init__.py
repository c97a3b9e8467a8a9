"""The reprolam command line."""
