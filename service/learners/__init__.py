"""Learners, their attempts and progress."""
