"""Schemathesis hooks for Keyward's CI run (.ci/schemathesis.sh).

1. The run must not lock itself out. It authenticates with the root key
   `keyward org create` printed, and schemathesis learns ids from responses
   (the audit log names that key as the actor of every change), so a fuzzed
   `POST /v1/keys/{id}/revoke`, `/disable`, `/archive`, `/regenerate` or a
   `PATCH` could aim at it. Every request whose `{id}` is that key's id goes
   to a decoy root key instead, made for the run: the fuzzer still exercises
   those operations on a real root key, never on its own. (Members are safe:
   the root key was created by the owner, and root keys cannot change,
   remove or reset owners.)

2. Some rules of the API depend on stored state or on the clock, which no
   schema can state: a `project_id` must name one of the caller's projects,
   `expires_at` must lie in the future and within the organization's key
   policy, scopes must be in the project's
   catalog, team members must exist, a key cursor must come from the same
   listing. The operations below therefore list 422 among the statuses
   `positive_data_acceptance` accepts (schemathesis.toml), and the check
   here makes that narrow: a 422 to schema-valid data must name only those
   rules, field by field; any other refused field is a finding.
"""

import os
import re

import schemathesis

PROTECTED = os.environ["KEYWARD_PROTECTED_KEY_ID"]
DECOY = os.environ["KEYWARD_DECOY_KEY_ID"]


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.path_parameters and case.path_parameters.get("id") == PROTECTED:
        case.path_parameters["id"] = DECOY


KEY_RULES = [
    ("expires_at", r"must be in the future|outside the years 0000 to 9999"),
    # The organization's key policy (PATCH /v1/policy, fuzzed in the same run)
    # may cap how long a key lives.
    ("expires_at", r"^the organization's policy (allows keys to live at most|requires keys to expire within) \d+ days$"),
    ("scopes", r"only with role `custom`|role `custom` needs a list of scopes"),
    (r"scopes\[\d+\]", r"^unknown API `|is not a management scope"),
    ("role", r"is not a management scope"),
    ("meta", r"^at most \d+ bytes of JSON$"),
]

# Operation → (field, message) rules a schema-valid request may still break.
STATEFUL_RULES = {
    "POST /v1/keys": KEY_RULES
    + [
        ("project_id", r"^no such project$"),
        ("type", r"^root keys are always secret$"),
    ],
    "PATCH /v1/keys/{id}": KEY_RULES,
    "GET /v1/keys": [
        ("project_id", r"^no such project$"),
        ("cursor", r"^not a cursor of this listing"),
    ],
    "GET /v1/keys/{id}/usage": [("from", r"^must be before `to`")],
    # Which projects and keys exist, and which of them the caller may see,
    # is the organization's state.
    "GET /v1/usage": [
        ("from", r"^must be before `to`"),
        ("project_id", r"^no such project$"),
        ("key_id", r"^(no such key|not a key of `project_id`)$"),
    ],
    "POST /v1/teams": [("members", r"^no member ")],
    # Whether a URL may be used depends on --webhook-allow-private and on
    # what its host is; "*" must stand alone in a list.
    "POST /v1/webhooks": [
        ("url", r"^(not a valid URL|must use https|must be an https URL|must name a host|must not carry credentials|must not have a fragment|must not point to)"),
        ("events", r"must be the only entry"),
    ],
    "PATCH /v1/webhooks/{id}": [
        ("url", r"^(not a valid URL|must use https|must be an https URL|must name a host|must not carry credentials|must not have a fragment|must not point to)"),
        ("events", r"must be the only entry"),
    ],
    # Depends on the stored policy: stale keys can be disabled only with a
    # stale_after_days, given now or before.
    "PATCH /v1/policy": [("disable_stale_keys", r"^needs stale_after_days$")],
    "PATCH /v1/teams/{id}": [("members", r"^no member ")],
    # A leak report's URL must parse as an http(s) URL (which no schema
    # pattern states exactly); its note must be plain text.
    "POST /v1/leaks": [
        ("source_url", r"^must be an http\(s\) URL$"),
        ("note", r"characters of text without control characters$"),
    ],
    # The recipient of an export by email must be a member, who may read
    # the audit log.
    "POST /v1/audit/export/email": [
        ("to", r"^(must be the email address of a member|required with a root key)"),
    ],
    # A key whose secret leaked gets no grace period when regenerated.
    "POST /v1/keys/{id}/regenerate": [("grace_period_seconds", r"the key's secret leaked")],
}


@schemathesis.check
def refusals_of_valid_data_name_stateful_rules(ctx, response, case):
    """A 422 to schema-valid data names only rules that depend on state."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 422:
        return None
    rules = STATEFUL_RULES.get(case.operation.label, [])
    try:
        errors = response.json().get("errors") or []
    except ValueError:
        errors = []
    unexplained = [
        error
        for error in errors
        if not any(
            re.fullmatch(field, error.get("field", "")) and re.search(message, error.get("message", ""))
            for field, message in rules
        )
    ]
    if unexplained or not errors:
        raise AssertionError(
            "Schema-valid data refused for a reason the schema could state: "
            f"{unexplained or response.text}"
        )
    return None
