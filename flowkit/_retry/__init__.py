"""The pieces of ``flowkit.retry_policy``: conditions, waits and stops, and their checks."""
