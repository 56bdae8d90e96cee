"""Benchmarks of Intake: `make bench` runs them all, `make bench BENCH=name` one; results go to docs/benchmarks.md."""
