"""LTI 1.3 / LTI Advantage tool: platform registrations, launches, deep linking, grade passback."""
