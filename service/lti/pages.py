"""The few HTML pages an LTI flow shows in the LMS's frame: the instructor's quiz picker, the
auto-submitting deep-linking response, the end of a dynamic registration, and refusals. Every
value is HTML-escaped."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import escape

from service.lti.services import QuizChoice

STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;"
    "line-height:1.5;color:#1f2328}fieldset{border:0;margin:0;padding:0}legend{font-weight:600}"
    "label{display:block;padding:.6rem;border:1px solid #d0d7de;border-radius:6px;margin:.5rem 0}"
    "label:has(:checked){border-color:#0b57a4;box-shadow:inset 0 0 0 1px #0b57a4}"
    "button{font:inherit;padding:.4rem 1rem}.muted{color:#59636e}"
    ":focus-visible{outline:3px solid #b54708;outline-offset:2px}"
)


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def quiz_picker(choices: Sequence[QuizChoice], *, action: str, launch_id: str) -> str:
    """The instructor's choice of the quiz to link (posts `launch_id` and `quiz` to `action`)."""
    if not choices:
        return _page(
            "No quizzes",
            "<h1>No quizzes to link</h1><p>Load the lesson quizzes first "
            "(<code>flask --app service seed</code>).</p>",
        )
    options = "".join(
        f'<label><input type="radio" name="quiz" value="{escape(choice.slug)}"'
        f"{' checked' if index == 0 else ''}> <strong>{escape(choice.title)}</strong> "
        f'<span class="muted">({choice.max_score:g} points)</span><br>'
        f'<span class="muted">{escape(choice.description)}</span></label>'
        for index, choice in enumerate(choices)
    )
    return _page(
        "Choose a quiz",
        f"<h1>Choose a quiz to add</h1>"
        f'<form method="post" action="{escape(action)}">'
        f'<input type="hidden" name="launch_id" value="{escape(launch_id)}">'
        f"<fieldset><legend>Quizzes of the lesson</legend>{options}</fieldset>"
        '<p><button type="submit">Add to the course</button></p></form>',
    )


def auto_post(action: str, fields: dict[str, str], *, title: str) -> str:
    """A form that posts `fields` to `action` as soon as it loads (the LTI message return)."""
    inputs = "".join(
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'
        for name, value in fields.items()
    )
    return _page(
        title,
        f'<form id="lti-return" method="post" action="{escape(action)}">{inputs}'
        f'<noscript><button type="submit">Continue</button></noscript></form>'
        "<script>document.getElementById('lti-return').submit();</script>",
    )


CLOSE_SCRIPT = (
    "(window.opener || window.parent).postMessage({subject: 'org.imsglobal.lti.close'}, '*');"
)


def registered(*, issuer: str, client_id: str, deployment_ids: Sequence[str]) -> str:
    """The end of a dynamic registration: what was stored, then the platform is told to close
    its registration dialog (LTI Dynamic Registration §3.7)."""
    deployments = ", ".join(deployment_ids) or "none yet (add one in the admin API)"
    return _page(
        "Registered",
        "<h1>The tool is registered</h1>"
        f"<p>Platform <code>{escape(issuer)}</code>, client id <code>{escape(client_id)}</code>, "
        f"deployment {escape(deployments)}.</p>"
        '<p class="muted">Your LMS closes this window; if it stays open, close it.</p>'
        f"<script>{CLOSE_SCRIPT}</script>",
    )


def refusal(status: int, title: str, detail: str) -> str:
    return _page(
        title,
        f"<h1>{escape(title)}</h1><p>{escape(detail)}</p>"
        f'<p class="muted">HTTP {status}. Start again from your course in the LMS; if it '
        "keeps happening, tell the LMS administrator.</p>",
    )
