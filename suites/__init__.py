"""The suites shipped with dashbench (suites/*.toml); see dashbench.suites."""
