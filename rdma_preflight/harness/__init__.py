"""The pytest harness: plugin (options, gathering, outcomes, exit codes) and check binding."""
