"""Reports: JSON results (versioned schema), JUnit XML (one testsuite per node), terminal summary."""
