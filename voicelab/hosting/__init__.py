"""Hosting Voice Lab for others, without Streamlit: what the host allows (``policy``), the
passcode gate (``passcode``), whether a Start may go ahead and within which limits
(``allowance``), and the record of every hosted call that makes limits hold across reloads,
restarts and replicas (``ledger``, kept current by ``keeper``)."""
