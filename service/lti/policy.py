"""Who may do what through an LTI launch."""

from __future__ import annotations

from service.lti.tool import LtiLaunchRefused, ValidatedLaunch


def check_may_link(validated: ValidatedLaunch) -> None:
    """Only instructors, designers, teaching assistants and administrators add quizzes to a
    course (deep linking)."""
    launch = validated.launch
    if not (
        launch.check_teacher_access()
        or launch.check_staff_access()
        or launch.check_designer_access()
        or launch.check_teaching_assistant_access()
    ):
        raise LtiLaunchRefused(
            "Only instructors, designers and administrators can add quizzes to a course."
        )
