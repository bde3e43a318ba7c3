"""Reliability suites: contract fuzzing, load, faults and bad input against real processes."""
