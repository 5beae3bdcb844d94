"""Authentication as EKS does it: bearer tokens are presigned STS GetCallerIdentity URLs, mapped to a Kubernetes user.

An EKS token is ``k8s-aws-v1.`` + base64url(a presigned ``GetCallerIdentity`` URL) that signs the header
``x-k8s-aws-id: <cluster name>`` (``aws eks get-token``, the amazon provider's ``eks_get_token``). EKS's
authenticator (kubernetes-sigs/aws-iam-authenticator ``pkg/token/token.go``, ``Verify``) checks the prefix,
the STS host, the action, that ``x-k8s-aws-id`` is signed, ``X-Amz-Expires`` ≤ 900 and that ``X-Amz-Date`` is
less than 15 minutes old, then replays the URL to STS with the cluster's name in that header. The sandbox replays
it in-process: it recomputes the SigV4 signature with the secret moto holds for the access key. A key moto never
issued (plain credentials such as ``testing``) has no secret to check against: its token is accepted unchecked,
for the identity moto's GetCallerIdentity answers for it. Tokens use the real clock, not the simulated one.

Who the caller is then becomes in Kubernetes (user name, groups, EKS access policies) is the cluster's
``access`` source's decision: access entries and aws-auth for an EKS cluster (``eks_sandbox.eks.access_entries``),
a fixed mapping for a bare cluster (``StaticAccess``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from calendar import timegm
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, urlsplit

from eks_sandbox import moto_compat

TOKEN_PREFIX = "k8s-aws-v1."
CLUSTER_ID_HEADER = "x-k8s-aws-id"
#: aws-iam-authenticator: tokens expire 15 minutes after X-Amz-Date, whatever X-Amz-Expires says (≤ 900).
TOKEN_LIFETIME_SECONDS = 15 * 60
MAX_TOKEN_BYTES = 1024 * 4
#: The STS endpoints aws-iam-authenticator accepts: global, regional and FIPS hosts of the AWS partitions.
_STS_HOST = re.compile(r"^sts(-fips)?(\.[a-z0-9-]+)?\.amazonaws\.com(\.cn)?$")
#: aws-iam-authenticator's parameterWhitelist.
_ALLOWED_PARAMETERS = {
    "action",
    "version",
    "x-amz-algorithm",
    "x-amz-credential",
    "x-amz-date",
    "x-amz-expires",
    "x-amz-security-token",
    "x-amz-signature",
    "x-amz-signedheaders",
}
_REQUIRED_PARAMETERS = ("x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-expires", "x-amz-signedheaders")


class TokenRefused(Exception):
    """A bearer token EKS would not authenticate (the API server answers 401 whatever the reason)."""


@dataclass(frozen=True)
class AwsIdentity:
    """The IAM caller a token proves, as STS GetCallerIdentity answers for the key that signed it."""

    arn: str
    user_id: str
    account: str
    access_key: str

    @property
    def principal_arn(self) -> str:
        """What access entries and aws-auth ``mapRoles`` match: an assumed-role session's role ARN."""
        return moto_compat.principal_arn(self.arn)

    @property
    def session_name(self) -> str:
        assumed = re.match(r"arn:aws[\w-]*:sts::\d+:assumed-role/[^/]+/(.+)$", self.arn)
        return assumed.group(1) if assumed else ""


@dataclass(frozen=True)
class PolicyGrant:
    """The Kubernetes permissions of one EKS access policy associated with the caller, and where they apply."""

    policy: str
    rules: tuple[dict, ...]
    #: None: the whole cluster (accessScope cluster); else only these namespaces.
    namespaces: frozenset[str] | None = None


@dataclass(frozen=True)
class KubeUser:
    """The user a request runs as: what SelfSubjectReview reports and RBAC evaluates."""

    username: str
    groups: tuple[str, ...]
    uid: str = ""
    extra: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: EKS access policies (authorized by EKS's webhook, in addition to RBAC).
    policies: tuple[PolicyGrant, ...] = ()


#: Who may read /version, /healthz, /livez and /readyz without a token (ClusterRole system:public-info-viewer).
ANONYMOUS = KubeUser("system:anonymous", ("system:unauthenticated",))

#: A cluster's access source: the Kubernetes user an IAM identity is, or None when the cluster knows it not.
AccessSource = Callable[[AwsIdentity], KubeUser | None]


def authenticated_user(identity: AwsIdentity, username: str, groups: list[str] | tuple[str, ...], **kw) -> KubeUser:
    """A ``KubeUser`` as EKS's authenticator builds one: its groups plus system:authenticated, its extras."""
    extra = {
        "accessKeyId": (identity.access_key,),
        "arn": (identity.arn,),
        "canonicalArn": (identity.principal_arn,),
        "principalId": (identity.user_id.partition(":")[0],),
    }
    if identity.session_name:
        extra["sessionName"] = (identity.session_name,)
    all_groups = tuple(dict.fromkeys([*groups, "system:authenticated"]))
    uid = f"aws-iam-authenticator:{identity.account}:{identity.user_id.partition(':')[0]}"
    return KubeUser(username, all_groups, uid, extra, **kw)


def resolve_username(template: str, identity: AwsIdentity) -> str:
    """Fill an access entry's or aws-auth mapping's username template ({{SessionName}}, {{AccountID}} …)."""
    return (
        template.replace("{{SessionName}}", identity.session_name.replace("@", "-"))
        .replace("{{SessionNameRaw}}", identity.session_name)
        .replace("{{AccountID}}", identity.account)
        .replace("{{AccessKeyID}}", identity.access_key)
    )


@dataclass
class StaticAccess:
    """A fixed principal → user mapping, for a cluster that is not an EKS cluster (tests' bare clusters)."""

    users: dict[str, tuple[str, tuple[str, ...]]]

    def __call__(self, identity: AwsIdentity) -> KubeUser | None:
        found = self.users.get(identity.principal_arn)
        return authenticated_user(identity, *found) if found else None


class TokenVerifier:
    """Verifies EKS tokens for any cluster of the sandbox, remembering each good token until it expires."""

    def __init__(self, sts_hosts: Callable[[], set[str]]) -> None:
        #: Hosts (``host:port``) besides AWS's STS endpoints whose URLs count as STS: the sandbox's own.
        self._sts_hosts = sts_hosts
        self._cache: dict[tuple[str, str], tuple[AwsIdentity, float]] = {}

    def verify(self, token: str, cluster_name: str) -> AwsIdentity:
        """The identity that signed ``token`` for ``cluster_name``, or TokenRefused."""
        now = time.time()
        cached = self._cache.get((token, cluster_name))
        if cached is not None and now < cached[1]:
            return cached[0]
        identity, expires_at = self._verify(token, cluster_name, now)
        if len(self._cache) > 10_000:
            self._cache = {key: value for key, value in self._cache.items() if value[1] > now}
        self._cache[(token, cluster_name)] = (identity, expires_at)
        return identity

    def _verify(self, token: str, cluster_name: str, now: float) -> tuple[AwsIdentity, float]:
        url, query = self._presigned_url(token)
        signed_at = _amz_date(query["x-amz-date"])
        if now > signed_at + TOKEN_LIFETIME_SECONDS:
            raise TokenRefused(f"X-Amz-Date parameter is expired (15 minute expiration) {query['x-amz-date']}")
        access_key, _, scope = query["x-amz-credential"].partition("/")
        secret = moto_compat.secret_access_key(access_key)
        if secret is not None and not hmac.compare_digest(
            _signature(url, query, cluster_name, secret, scope), query.get("x-amz-signature", "")
        ):
            raise TokenRefused("the signature does not match (another cluster's token, or a forged one)")
        region = scope.split("/")[1] if scope.count("/") >= 3 else moto_compat.DEFAULT_REGION
        caller = moto_compat.caller_identity(access_key, region)
        return AwsIdentity(caller.arn, caller.user_id, caller.account, access_key), signed_at + TOKEN_LIFETIME_SECONDS

    def _presigned_url(self, token: str) -> tuple[str, dict[str, str]]:
        if len(token) > MAX_TOKEN_BYTES or not token.startswith(TOKEN_PREFIX):
            raise TokenRefused(f"token is missing expected {TOKEN_PREFIX!r} prefix")
        encoded = token[len(TOKEN_PREFIX) :]
        try:
            url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError) as error:
            raise TokenRefused(str(error)) from None
        parts = urlsplit(url)
        sandbox_sts = parts.netloc in self._sts_hosts() and parts.scheme in ("http", "https")
        if not sandbox_sts and not (parts.scheme == "https" and _STS_HOST.match(parts.netloc)):
            raise TokenRefused(f"unexpected hostname {parts.netloc!r} in pre-signed URL")
        if parts.path != "/":
            raise TokenRefused("unexpected path in pre-signed URL")
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        query = {key.lower(): value for key, value in pairs}
        if len(query) != len(pairs) or not query.keys() <= _ALLOWED_PARAMETERS:
            raise TokenRefused("non-whitelisted or repeated query parameter in pre-signed URL")
        if query.get("action") != "GetCallerIdentity":
            raise TokenRefused("unexpected action parameter in pre-signed URL")
        missing = [name for name in _REQUIRED_PARAMETERS if not query.get(name)]
        if missing:
            raise TokenRefused(f"{', '.join(missing)} must be present in pre-signed URL")
        if CLUSTER_ID_HEADER not in query["x-amz-signedheaders"].lower().split(";"):
            raise TokenRefused(f"client did not sign the {CLUSTER_ID_HEADER} header in the pre-signed URL")
        if not query["x-amz-expires"].isdigit() or int(query["x-amz-expires"]) > TOKEN_LIFETIME_SECONDS:
            raise TokenRefused(f"invalid X-Amz-Expires parameter in pre-signed URL: {query['x-amz-expires']}")
        return url, query


def _amz_date(value: str) -> float:
    try:
        return float(timegm(time.strptime(value, "%Y%m%dT%H%M%SZ")))
    except ValueError:
        raise TokenRefused(f"error parsing X-Amz-Date parameter {value}") from None


def _signature(url: str, query: dict[str, str], cluster_name: str, secret: str, scope: str) -> str:
    """The SigV4 query signature of ``url`` as STS computes it, with ``x-k8s-aws-id: <cluster_name>``."""
    parts = urlsplit(url)
    pairs = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() != "x-amz-signature"]
    canonical_query = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(pairs, key=lambda pair: pair)
    )
    header_values = {"host": parts.netloc, CLUSTER_ID_HEADER: cluster_name}
    signed = query["x-amz-signedheaders"].lower().split(";")
    canonical_headers = "".join(f"{name}:{header_values.get(name, '').strip()}\n" for name in signed)
    canonical_request = "\n".join(
        ["GET", parts.path or "/", canonical_query, canonical_headers, ";".join(signed), hashlib.sha256().hexdigest()]
    )
    date = query["x-amz-date"]
    string_to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    key = ("AWS4" + secret).encode()
    for part in scope.split("/"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
