"""Every write started from the UI, run in a child process through one runner."""
