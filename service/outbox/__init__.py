"""The delivery queue: messages written with the event they report, delivered later by handlers
that their owners register at the composition root. It imports none of its users."""
