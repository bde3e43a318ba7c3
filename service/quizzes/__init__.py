"""Quizzes: the lesson question bank, question types, grading, generators and interchange."""
