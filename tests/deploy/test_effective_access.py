"""What each principal can do on the domain, identity and resource policy evaluated together.

OpenSearch Service decides a request to ``https://<endpoint>/<path>`` as IAM does for the action
``es:ESHttp<Method>`` on ``arn:aws:es:<region>:<account>:domain/<name>/<path>``: within one
account an allow in *either* the caller's identity-based policies *or* the domain's
resource-based policy admits it, and an explicit deny in either refuses it (developer guide,
"Identity and Access Management in Amazon OpenSearch Service", "When policies collide").

The identity policies are localdev/aws/policy.py's; the resource policy is the ``AccessPolicies``
of infra/template.yaml's ``SearchDomain`` with its intrinsics resolved for one stage. The small
evaluator below understands exactly what those documents use (Allow/Deny, Action and Resource
with ``*`` and ``?``, ``Principal.AWS``) and refuses anything else (``NotAction``, ``Condition``,
...), so it cannot silently misjudge a policy it does not model.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

import pytest
from cfnlint.decode import decode_str

from localdev.aws import policy
from localdev.aws.stack import TEMPLATE_PATH

ACCOUNT, REGION, APP, STAGE = "123456789012", "us-east-1", "image-label-search", "dev"
DOMAIN_NAME = f"{APP}-{STAGE}"
DOMAIN = f"arn:aws:es:{REGION}:{ACCOUNT}:domain/{DOMAIN_NAME}"
BUCKET = f"{APP}-{STAGE}-{ACCOUNT}-{REGION}"
QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{APP}-{STAGE}-uploads"
ADMINS = [f"arn:aws:iam::{ACCOUNT}:role/deployer", f"arn:aws:iam::{ACCOUNT}:user/alice"]
NO_VALUE = object()


# -- the evaluator -------------------------------------------------------------------------------


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _glob(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """IAM wildcards: ``*`` any run of characters (``/`` included), ``?`` any one character."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


def resource_matches(pattern: str, arn: str) -> bool:
    """ARN segments (split on the first five colons) match one by one; the last one, which
    holds ``domain/<name>/<path>``, may contain colons and ``*`` spans its slashes."""
    if pattern == "*":
        return True
    wanted, actual = pattern.split(":", 5), arn.split(":", 5)
    return len(wanted) == len(actual) and all(map(_glob, wanted, actual))


def action_matches(pattern: str, action: str) -> bool:
    return _glob(pattern, action, ignore_case=True)  # action names are case-insensitive


SUPPORTED = {"Sid", "Effect", "Action", "Resource", "Principal"}


def _applies(statement: dict, action: str, resource: str) -> bool:
    unsupported = set(statement) - SUPPORTED
    if unsupported:
        raise NotImplementedError(f"{statement.get('Sid')}: {sorted(unsupported)}")
    return any(action_matches(a, action) for a in _as_list(statement["Action"])) and any(
        resource_matches(r, resource) for r in _as_list(statement["Resource"])
    )


def _names(statement: dict, principal: str, effect: str) -> bool:
    """Does a resource policy statement name this principal?

    ``*`` names everyone. An account (``<id>`` or ``arn:...:root``) in an Allow only delegates to
    the account's identity policies (it admits nobody by itself); in a Deny it covers every
    principal of the account.
    """
    account = principal.split(":")[4]
    for named in _as_list(statement["Principal"]["AWS"]):
        if named in ("*", principal):
            return True
        if effect == "Deny" and named in (account, f"arn:aws:iam::{account}:root"):
            return True
    return False


@dataclass
class Principal:
    name: str
    arn: str
    identity: list[dict] = field(default_factory=list)  # identity-based policy documents


def decide(who: Principal, resource_policy: dict | None, action: str, resource: str) -> str:
    """ "allow", "deny" (explicit) or "-" (implicit deny), for a caller of the domain's account."""
    effects = [
        statement["Effect"]
        for document in who.identity
        for statement in document["Statement"]
        if _applies(statement, action, resource)
    ]
    for statement in (resource_policy or {}).get("Statement", []):
        if _names(statement, who.arn, statement["Effect"]) and _applies(
            statement, action, resource
        ):
            effects.append(statement["Effect"])
    if "Deny" in effects:
        return "deny"
    return "allow" if "Allow" in effects else "-"


def http(who: Principal, resource_policy: dict | None, method: str, path: str) -> str:
    """A request to the domain's endpoint: ``HEAD /`` is authorized against ``domain/<name>/``."""
    action = "es:ESHttp" + method.capitalize()
    return decide(who, resource_policy, action, f"{DOMAIN}/{path.lstrip('/').split('?')[0]}")


# -- the template's domain policy, resolved for one stage -----------------------------------------


def _resolve(node, template: dict, params: dict[str, str]):
    pseudo = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT}
    values = {**pseudo, **params}
    if isinstance(node, list):
        items = [_resolve(item, template, params) for item in node]
        return [item for item in items if item is not NO_VALUE]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        (key, arg), *_ = node.items()
        if key == "Ref":
            return NO_VALUE if arg == "AWS::NoValue" else values[arg]
        if key == "Fn::Sub":
            return re.sub(r"\$\{([^}]+)\}", lambda m: values[m.group(1)], arg)
        if key == "Fn::If":
            condition, when_true, when_false = arg
            chosen = when_true if _condition(condition, template, params) else when_false
            return _resolve(chosen, template, params)
        if key == "Fn::Split":
            return _resolve(arg[1], template, params).split(arg[0])
        if key == "Fn::Join":
            return arg[0].join(_resolve(arg[1], template, params))
        if key == "Fn::GetAtt":  # a role's ARN, should the domain policy ever name one
            return f"arn:aws:iam::{ACCOUNT}:role/{ROLE_NAMES[arg[0]]}"
    resolved = {key: _resolve(value, template, params) for key, value in node.items()}
    return {key: value for key, value in resolved.items() if value is not NO_VALUE}


def _condition(name_or_node, template: dict, params: dict[str, str]) -> bool:
    node = template["Conditions"][name_or_node] if isinstance(name_or_node, str) else name_or_node
    (key, arg), *_ = node.items()
    if key == "Condition":
        return _condition(arg, template, params)
    if key == "Fn::Equals":
        left, right = (_resolve(a, template, params) for a in arg)
        return left == right
    if key == "Fn::Not":
        return not _condition(arg[0], template, params)
    if key == "Fn::Or":
        return any(_condition(a, template, params) for a in arg)
    if key == "Fn::And":
        return all(_condition(a, template, params) for a in arg)
    raise NotImplementedError(key)


ROLE_NAMES = {"IndexerRole": f"{APP}-{STAGE}-indexer", "ApiRole": f"{APP}-{STAGE}-api"}


@functools.cache
def _template() -> dict:
    template, errors = decode_str(TEMPLATE_PATH.read_text())
    assert errors == []
    return template


def domain_policy(admins: list[str]) -> dict | None:
    template = _template()
    params = {
        "AppName": APP,
        "Stage": STAGE,
        "SearchDomainName": DOMAIN_NAME,
        "ExistingSearchEndpoint": "",
        "AdminPrincipalArns": ",".join(admins),
    }
    props = template["Resources"]["SearchDomain"]["Properties"]
    resolved = _resolve({"AccessPolicies": props["AccessPolicies"]}, template, params)
    return resolved.get("AccessPolicies")


# -- the principals ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def principals() -> dict[str, Principal]:
    documents = policy.build_policies(
        policy.PolicyInputs(
            partition="aws",
            region=REGION,
            account=ACCOUNT,
            app_name=APP,
            stage=STAGE,
            bucket=BUCKET,
            queue_name=f"{APP}-{STAGE}-uploads",
            domain_arn=DOMAIN,
            upload_prefix="uploads/",
            detect_text=True,
            detect_moderation_labels=True,
            detect_faces=True,
        )
    )
    role = f"arn:aws:iam::{ACCOUNT}:role/"
    return {
        "indexer": Principal(
            "indexer", role + ROLE_NAMES["IndexerRole"], [documents["index_images"]]
        ),
        "api": Principal("api", role + ROLE_NAMES["ApiRole"], [documents["api_handler"]]),
        # An admin with no es:* grant in IAM at all: the domain policy alone admits it.
        "admin": Principal("admin", ADMINS[0]),
        # Anyone else in the account with no grant of their own.
        "other": Principal("other", f"{role}someone-else"),
    }


# request -> the principals allowed to make it (the admin makes every request).
INDEXER, API = {"indexer", "admin"}, {"api", "admin"}
BOTH, ADMIN = {"indexer", "api", "admin"}, {"admin"}
REQUESTS: list[tuple[str, str, set[str]]] = [
    ("POST", "/imagerepository/_bulk", INDEXER),
    ("POST", "/imagerepository/_mget", BOTH),
    ("PUT", "/_template/imagerepository", INDEXER),
    ("HEAD", "/_alias/imagerepository", INDEXER),
    ("PUT", "/imagerepository-v2", INDEXER),
    ("PUT", "/imagerepository/_mapping", INDEXER),
    ("PUT", "/imagerepository/_doc/_mapping", INDEXER),
    ("GET", "/_cluster/health/imagerepository", INDEXER),
    ("GET", "/_alias/imagerepository", API),
    ("POST", "/imagerepository/_search", API),
    ("POST", "/imagerepository/_count", API),
    ("POST", "/imagerepository/_msearch", API),
    ("POST", "/imagerepository/_termvectors", API),
    ("POST", "/imagerepository/_doc/_termvectors", API),
    ("POST", "/_msearch", ADMIN),
    ("POST", "/imagerepository/_doc/x/_termvectors", ADMIN),
    ("GET", "/imagerepository/_doc/x", API),
    ("HEAD", "/", API),
    ("GET", "/", BOTH),
    ("POST", "/_bulk", ADMIN),
    ("POST", "/_search", ADMIN),
    ("PUT", "/imagerepository/_doc/x", ADMIN),
    ("POST", "/imagerepository/_doc", ADMIN),
    ("DELETE", "/imagerepository/_doc/x", ADMIN),
    ("POST", "/imagerepository/_delete_by_query", ADMIN),
    ("DELETE", "/imagerepository", ADMIN),
    ("DELETE", "/imagerepository-v1", ADMIN),
    ("PUT", "/imagerepository-v1/_settings", ADMIN),
    ("PUT", "/imagerepository-v1", ADMIN),
    ("PUT", "/imagerepository-v3", ADMIN),
    ("PUT", "/imagerepository-v2/_mapping", ADMIN),
    ("POST", "/_aliases", ADMIN),
    ("DELETE", "/_template/imagerepository", ADMIN),
    ("PUT", "/other-index", ADMIN),
    ("DELETE", "/other-index", ADMIN),
    ("POST", "/other-index/_search", ADMIN),
    ("DELETE", "/_all", ADMIN),
    ("PUT", "/_cluster/settings", ADMIN),
    ("GET", "/_snapshot/repo", ADMIN),
    ("PUT", "/_snapshot/repo/snap", ADMIN),
    ("GET", "/_security/user", ADMIN),
    ("GET", "/_plugins/_security/api/internalusers", ADMIN),
    ("GET", "/_cat/indices", ADMIN),
    ("GET", "/_dashboards/app/home", ADMIN),
]
COLUMNS = ("indexer", "api", "admin", "other")


def test_effective_permissions_per_principal(principals, capsys):
    resource_policy = domain_policy(ADMINS)
    table, wrong = [], []
    for method, path, expected in REQUESTS:
        row = {name: http(principals[name], resource_policy, method, path) for name in COLUMNS}
        allowed = {name for name, decision in row.items() if decision == "allow"}
        if allowed != expected:
            wrong.append(f"{method} {path}: allowed {sorted(allowed)}, expected {sorted(expected)}")
        cells = [f"{method} {path}", *(row[name] for name in COLUMNS)]
        table.append(cells)
    assert wrong == []
    with capsys.disabled():
        lines = [("request (alias imagerepository)", *COLUMNS), *table]
        print(
            "\n"
            + "\n".join(f"{r[0]:<46}" + "".join(f"{c:<8}" for c in r[1:]).rstrip() for r in lines)
        )


def test_the_api_role_has_no_queue_no_rekognition_and_the_indexer_has_both(principals):
    api, indexer = principals["api"], principals["indexer"]
    consume = ["ReceiveMessage", "DeleteMessage", "GetQueueAttributes", "ChangeMessageVisibility"]
    for action in [*consume, "SendMessage", "PurgeQueue"]:
        assert decide(api, None, f"sqs:{action}", QUEUE) == "-", action
    for action in consume:
        assert decide(indexer, None, f"sqs:{action}", QUEUE) == "allow", action
    for action in ("DetectLabels", "DetectText", "DetectModerationLabels", "DetectFaces"):
        assert decide(api, None, f"rekognition:{action}", "*") == "-"
        assert decide(indexer, None, f"rekognition:{action}", "*") == "allow"
    granted = {a for d in api.identity for s in d["Statement"] for a in _as_list(s["Action"])}
    assert not {a for a in granted if a.lower().startswith(("sqs:", "rekognition:"))}


def test_objects_logs_and_uploads(principals):
    api, indexer = principals["api"], principals["indexer"]
    image, upload = f"arn:aws:s3:::{BUCKET}/photo.jpg", f"arn:aws:s3:::{BUCKET}/uploads/x.jpg"
    for who in (api, indexer):
        assert decide(who, None, "s3:GetObject", image) == "allow"
        assert decide(who, None, "s3:DeleteObject", image) == "-"
    assert decide(api, None, "s3:PutObject", upload) == "allow"
    assert decide(api, None, "s3:PutObject", image) == "-"  # outside the upload prefix
    assert decide(indexer, None, "s3:PutObject", upload) == "-"
    groups = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/"
    own = {"api": f"{groups}{APP}-{STAGE}", "indexer": f"{groups}{APP}-{STAGE}-index_images"}
    for name, who in (("api", api), ("indexer", indexer)):
        for group_name, group in own.items():
            stream = f"{group}:log-stream:2026/01/01/abc"
            expected = "allow" if group_name == name else "-"
            assert decide(who, None, "logs:PutLogEvents", stream) == expected, (name, group)


def test_the_domain_policy_names_only_the_admins():
    resource_policy = domain_policy(ADMINS)
    (statement,) = resource_policy["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"AWS": ADMINS}
    assert statement["Action"] == "es:ESHttp*"
    assert statement["Resource"] == f"{DOMAIN}/*"
    # No admins: no resource policy at all, so only identity policies admit anyone.
    assert domain_policy([]) is None


def test_without_admins_the_functions_keep_exactly_their_rights(principals):
    with_admins, without = domain_policy(ADMINS), domain_policy([])
    for name in ("indexer", "api"):
        for method, path, _ in REQUESTS:
            who = principals[name]
            assert http(who, with_admins, method, path) == http(who, without, method, path)
    assert all(http(principals["admin"], without, m, p) == "-" for m, p, _ in REQUESTS)


def test_the_evaluator_unions_the_two_policies_and_lets_a_deny_win(principals):
    """What the old domain policy did: naming the role with es:ESHttp* on /* widened it."""
    api = principals["api"]
    old = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": [api.arn, *ADMINS]},
                "Action": "es:ESHttp*",
                "Resource": f"{DOMAIN}/*",
            }
        ]
    }
    assert http(api, old, "DELETE", "/other-index") == "allow"
    assert http(api, old, "PUT", "/_cluster/settings") == "allow"
    deny = {
        "Effect": "Deny",
        "Principal": {"AWS": ACCOUNT},
        "Action": "es:ESHttpDelete",
        "Resource": f"{DOMAIN}/*",
    }
    old["Statement"].append(deny)
    assert http(api, old, "DELETE", "/other-index") == "deny"
    assert http(api, old, "POST", "/imagerepository/_search") == "allow"
    # An account in an Allow admits nobody by itself (it delegates to identity policies).
    account_only = {"Statement": [{**deny, "Effect": "Allow", "Action": "es:ESHttp*"}]}
    assert http(principals["other"], account_only, "GET", "/imagerepository/_doc/x") == "-"
    with pytest.raises(NotImplementedError):
        decide(api, {"Statement": [{**deny, "Condition": {}}]}, "es:ESHttpGet", f"{DOMAIN}/x")


@pytest.mark.parametrize(
    ("pattern", "arn", "matches"),
    [
        (f"{DOMAIN}/imagerepository/_doc/*", f"{DOMAIN}/imagerepository/_doc/a/b", True),
        (f"{DOMAIN}/imagerepository/*", f"{DOMAIN}/imagerepository", False),
        (f"{DOMAIN}/imagerepository-v?", f"{DOMAIN}/imagerepository-v1", True),
        (f"{DOMAIN}/imagerepository-v?", f"{DOMAIN}/imagerepository-v10", False),
        (f"{DOMAIN}/", f"{DOMAIN}/", True),
        (f"{DOMAIN}/", f"{DOMAIN}/_cat", False),
        ("arn:aws:es:*:*:domain/x/*", f"arn:aws:es:{REGION}:{ACCOUNT}:domain/x/y", True),
        ("arn:aws:es:*:domain/x/*", f"arn:aws:es:{REGION}:{ACCOUNT}:domain/x/y", False),
    ],
)
def test_resource_matching(pattern, arn, matches):
    assert resource_matches(pattern, arn) is matches


def test_action_matching_is_case_insensitive():
    assert action_matches("es:ESHttp*", "es:ESHttpDelete")
    assert action_matches("ES:eshttpget", "es:ESHttpGet")
    assert not action_matches("es:ESHttpGet", "es:ESHttpHead")


@pytest.mark.parametrize("quota", [False, True], ids=["no-quota", "quota"])
def test_under_a_quota_the_indexer_may_send_to_its_own_queue_and_nowhere_else(quota):
    document = policy.build_indexer_policy(
        policy.PolicyInputs(
            partition="aws",
            region=REGION,
            account=ACCOUNT,
            app_name=APP,
            stage=STAGE,
            bucket=BUCKET,
            queue_name=f"{APP}-{STAGE}-uploads",
            redelivers_throttled=quota,
        )
    )
    indexer = Principal("indexer", f"arn:aws:iam::{ACCOUNT}:role/indexer", [document])
    other_queue = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{APP}-{STAGE}-uploads-dlq"
    for action in ("sqs:SendMessage", "sqs:GetQueueUrl"):
        assert decide(indexer, None, action, QUEUE) == ("allow" if quota else "-"), action
        assert decide(indexer, None, action, other_queue) == "-", action
    assert decide(indexer, None, "sqs:PurgeQueue", QUEUE) == "-"


def test_the_indexer_may_head_its_images_for_late_events_but_not_list_the_bucket(principals):
    """HeadObject needs s3:GetObject (chalicelib/late_events.py checks a late create with it);
    without s3:ListBucket S3 answers 403 for a missing key, which late_events reads as gone."""
    indexer = principals["indexer"]
    assert decide(indexer, None, "s3:GetObject", f"arn:aws:s3:::{BUCKET}/photos/a.jpg") == "allow"
    assert decide(indexer, None, "s3:GetObject", "arn:aws:s3:::another-bucket/a.jpg") == "-"
    assert decide(indexer, None, "s3:ListBucket", f"arn:aws:s3:::{BUCKET}") == "-"
