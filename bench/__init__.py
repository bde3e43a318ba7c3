"""Performance ratios against bare baselines measured in the same run (`make bench`).

Every figure is a ratio of medians of interleaved repetitions (subject, baseline, subject, ...),
because the machines are shared and absolute times mean little. Nothing here is a test: the
suite never asserts on timings.
"""
