"""What cfn-lint cannot know about template.yaml, checked by `make test`:
- the API's access log holds no personal data: the route, never the path (it carries IDs), and
  neither the client's IP nor its user agent;
- each function may read only the settings secrets it needs, and is told exactly those;
- every route but the regional default has a throttle below the regional quota, and the CDN
  sends every answer through the security headers policy;
- each function that acts for a person is told the identity settings (and no other function
  is), and the optional JWT authorizer covers every route of those functions.
Run with the template venv's Python (PyYAML): python3 scripts/template_checks.py template.yaml
"""
import sys

from cfn_yaml import load, ref

REGIONAL_QUOTA = 10_000
# Functions that sign or check references, tickets or tokens get the keys secret too.
KEYED = {"CreateBookingFunction", "GetBookingFunction", "MoveBookingFunction",
         "CancelBookingFunction", "QueueJoinFunction", "QueueStatusFunction",
         "VerifyIdentityFunction"}
NO_REDIS = {"ApiDocsFunction", "RouteFallbackFunction"}
# Functions that act for a person, so check who the caller is (README "Identity").
IDENTIFIED = {"CreateBookingFunction", "GetBookingFunction", "MoveBookingFunction",
              "CancelBookingFunction", "QueueJoinFunction"}
IDENTITY_VARIABLES = {
    "IDENTITY": ref("Identity"),
    "IDENTITY_ID_CLAIM": ref("IdentityIdClaim"),
    "IDENTITY_ISSUER": ref("JwtIssuer"),
    "IDENTITY_AUDIENCE": {"Fn::Join": [",", ref("JwtAudience")]},
}


def main(path):
    template = load(path)
    resources = template["Resources"]
    parameters = template["Parameters"]
    failures = []

    api = resources["BookingApi"]["Properties"]
    log_format = api["AccessLogSettings"]["Format"]
    for personal in ["$context.path", "$context.identity.sourceIp", "$context.identity.userAgent"]:
        if personal in log_format:
            failures.append(f"the access log records {personal}")
    if "$context.routeKey" not in log_format:
        failures.append("the access log lost $context.routeKey")

    def default(value):
        return parameters[value["Ref"]]["Default"] if isinstance(value, dict) else value

    throttles = [("default", api["DefaultRouteSettings"])] + list(api["RouteSettings"].items())
    for route, settings in throttles:
        rate = default(settings["ThrottlingRateLimit"])
        if rate >= REGIONAL_QUOTA:
            failures.append(f"{route} may take the whole regional quota ({rate}/s)")

    for name, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        allowed = [policy["AWSSecretsManagerGetSecretValuePolicy"]["SecretArn"]
                   for policy in props.get("Policies", [])
                   if isinstance(policy, dict) and "AWSSecretsManagerGetSecretValuePolicy" in policy]
        told = props.get("Environment", {}).get("Variables", {}).get("SETTINGS_SECRET_ARN")
        if name in NO_REDIS:
            expected, expected_told = [], None
        elif name in KEYED:
            expected = [ref("RedisSecretArn"), ref("KeysSecretArn")]
            expected_told = {"Fn::Sub": "${RedisSecretArn},${KeysSecretArn}"}
        else:
            expected = [ref("RedisSecretArn")]
            expected_told = ref("RedisSecretArn")
        if allowed != expected:
            failures.append(f"{name} may read {allowed}, not {expected}")
        if told != expected_told:
            failures.append(f"{name} is told SETTINGS_SECRET_ARN={told}, not {expected_told}")

    if parameters["Identity"].get("Default") == "none":
        failures.append("the Identity parameter defaults to none")
    secured = api["DefinitionBody"]["paths"]
    for name, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        variables = resource["Properties"].get("Environment", {}).get("Variables", {})
        # The check's settings; verify-identity's own (IDENTITY_IDS_PER_PHONE) are not among them.
        told = {key: value for key, value in variables.items() if key in IDENTITY_VARIABLES}
        if name in IDENTIFIED and told != IDENTITY_VARIABLES:
            failures.append(f"{name} is told {told}, not the identity settings")
        if name not in IDENTIFIED and told:
            failures.append(f"{name} is told identity settings it does not use")
        if name not in IDENTIFIED:
            continue
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] != "HttpApi":
                continue
            path, method = event["Properties"]["Path"], event["Properties"]["Method"].lower()
            if "security" not in secured.get(path, {}).get(method, {}):
                failures.append(f"{method.upper()} {path} is not behind the optional JWT authorizer")

    behaviours = resources["Cdn"]["Properties"]["DistributionConfig"]
    for behaviour in behaviours["CacheBehaviors"] + [behaviours["DefaultCacheBehavior"]]:
        if behaviour.get("ResponseHeadersPolicyId") != ref("SecurityHeadersPolicy"):
            failures.append(f"CDN path {behaviour.get('PathPattern', 'default')} lacks the headers policy")

    for failure in failures:
        print(f"template: {failure}", file=sys.stderr)
    print(f"template checks: {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
