"""Schemathesis checks for the CTI API, loaded by tests/api_property.rs (SCHEMATHESIS_HOOKS).

The house rule (src/cti/error.rs): a 4xx explains itself as
`{"error": {"code": ..., "message": ..., "field": ...}}` and names the field at fault when
the request's parameters or body are to blame; a 5xx reveals nothing. Schemathesis's own
`not_a_server_error` covers the 5xx side; this file adds the 4xx side.
"""

import json
import os

import schemathesis

# Codes whose blame is one parameter or one body field: the client must be told which.
CODES_NAMING_A_FIELD = {
    "invalid_parameter",
    "unknown_parameter",
    "out_of_range",
    "invalid_field",
    "unknown_field",
}


@schemathesis.check
def client_errors_are_json_naming_the_problem(ctx, response, case):
    """Every 4xx is the API's JSON error: a code, a message, and the field when one is at fault."""
    if not 400 <= response.status_code < 500:
        return None
    content_type = ",".join(response.headers.get("content-type", []))
    if "application/json" not in content_type:
        raise AssertionError(
            f"{response.status_code} with Content-Type {content_type!r}, not the JSON error: "
            f"{response.content[:200]!r}"
        )
    try:
        body = json.loads(response.content)
    except ValueError as e:
        raise AssertionError(f"{response.status_code} body is not JSON ({e}): {response.content[:200]!r}")
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        raise AssertionError(f"{response.status_code} body has no `error` object: {body!r}")
    for key in ("code", "message"):
        if not isinstance(error.get(key), str) or not error[key]:
            raise AssertionError(f"{response.status_code} error without a `{key}`: {body!r}")
    if error["code"] in CODES_NAMING_A_FIELD and not (
        isinstance(error.get("field"), str) and error["field"]
    ):
        raise AssertionError(f"{response.status_code} `{error['code']}` names no field: {body!r}")
    return None


# The principal the run acts as must survive it: disabling, demoting, re-passwording or
# deleting itself would revoke the token every later request carries (by design), and the
# rest of the run would only see 401s. Such requests go to a stand-in agent instead.
SELF = os.environ.get("SWITCHBOARD_PROPERTY_SELF")
STAND_IN = os.environ.get("SWITCHBOARD_PROPERTY_STAND_IN")


@schemathesis.hook
def before_call(context, case, kwargs):
    if (
        SELF
        and STAND_IN
        and case.method.upper() in ("PUT", "DELETE")
        and case.operation.path == "/api/v1/agents/{id}"
        and (case.path_parameters or {}).get("id") == SELF
    ):
        case.path_parameters["id"] = STAND_IN
