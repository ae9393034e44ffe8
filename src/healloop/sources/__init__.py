"""Event sources: the reporters that turn failing tests and alerts into queue reports.

``reporter`` is the one delivery core (idempotency key, retries, spool, flush); ``spool`` is the
on-disk format shared with the JavaScript reporters; each source (``junit``, ``pytest_plugin``,
``wrapper``) only turns its own results into ``Failure`` records.
"""
