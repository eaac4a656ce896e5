"""The function's settings in the local stack: what the environment sets, what the stack
defaults, and the few it must decide itself.

Precedence, highest first: settings the stack must fix (a conflicting value is refused, not
silently replaced), values the calling code passes (tests, benchmarks), the environment
(`MIN_CONFIDENCE=80 make run`), the local defaults below, chalicelib/settings.py's defaults.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from chalicelib.settings import VARIABLES, ConfigurationError, Settings, variable_named
from localdev.rekognition.operations import OPERATIONS

# Defaults that differ from a deployed stage's, each for a local reason.
LOCAL_DEFAULTS = {
    # The local classifier spreads its confidence over related ImageNet classes (Egyptian Cat,
    # Tabby Cat, ...), so its labels need a lower bar than Rekognition's.
    "MIN_CONFIDENCE": "30",
    # Person comes from the face detector: without it the astronaut is no Person.
    "DETECT_FACES": "true",
    # A local OpenSearch node is a single node: a replica is never assigned (index yellow).
    "INDEX_REPLICAS": "0",
}

# The settings that, when enabled, need these Rekognition operations.
NEEDS_OPERATION = {
    "DETECT_TEXT": "DetectText",
    "DETECT_MODERATION_LABELS": "DetectModerationLabels",
    "DETECT_FACES": "DetectFaces",
}

# Why the stack fixes what it fixes: said in the refusal.
FIXED_BECAUSE = {
    "QUEUE_NAME": "it creates the local queue under this name",
    "QUEUE_ARN": "it creates the local queue and passes its ARN",
    "UPLOAD_BUCKET": "it creates the local bucket under this name",
    "SQLITE_PATH": "it resets the embedded store on every start, in its data folder",
    "API_AUTH": "chalice's local server enforces no authorizer, so locally it is none",
}


class LocalSettingConflict(ConfigurationError):
    """The environment sets a variable that the local stack decides itself."""


def setting_names() -> dict[str, str]:
    """Settings field -> its environment variable."""
    return {row.setting: row.name for row in VARIABLES}


def check_fixed(environ: Mapping[str, str], fixed: Mapping[str, str]) -> None:
    for name, value in fixed.items():
        given = environ.get(name, "").strip()
        if given and given != value:
            raise LocalSettingConflict(
                f"{name}={given}: the local stack sets {name} itself ({value}), because "
                f"{FIXED_BECAUSE[name]}; unset {name} for make run"
            )
    given_arn = environ.get("QUEUE_ARN", "").strip()
    if given_arn:
        raise LocalSettingConflict(
            f"QUEUE_ARN={given_arn}: the local stack sets QUEUE_ARN itself, because "
            f"{FIXED_BECAUSE['QUEUE_ARN']}; unset QUEUE_ARN for make run"
        )


def function_environment(
    environ: Mapping[str, str], fixed: Mapping[str, str], caller: Mapping[str, str]
) -> dict[str, str]:
    """The function's settings variables: local defaults where the environment says nothing,
    then the caller's, then the fixed ones."""
    check_fixed(environ, fixed)
    values = {
        name: value for name, value in LOCAL_DEFAULTS.items() if not environ.get(name, "").strip()
    }
    return {**values, **caller, **fixed}


def check_servable(settings: Settings) -> None:
    """Refuse, before anything starts, a feature the local Rekognition cannot answer: otherwise
    every image fails its call and ends in the dead-letter queue."""
    enabled = {
        "DETECT_TEXT": settings.detect_text,
        "DETECT_MODERATION_LABELS": settings.detect_moderation_labels,
        "DETECT_FACES": settings.detect_faces,
    }
    for name, on in enabled.items():
        operation = NEEDS_OPERATION[name]
        if on and operation not in OPERATIONS:
            raise ConfigurationError(
                f"{name}=true needs {operation}, which the local Rekognition endpoint does not "
                f"serve (it serves {' and '.join(OPERATIONS)}, with IMAGE_PROPERTIES): unset "
                f"{name} for make run; a deployed stage calls Amazon Rekognition's"
            )


def effective_differences(
    environ: Mapping[str, str],
    user_environ: Mapping[str, str],
    fixed: Mapping[str, str],
    caller: Mapping[str, str],
) -> list[tuple[str, str, str]]:
    """(variable, value, where it came from) for each setting that differs from its default."""
    settings, defaults = Settings.from_environ(environ), Settings()
    rows = []
    for field_name, variable in setting_names().items():
        value = getattr(settings, field_name)
        if value == getattr(defaults, field_name):
            continue
        if variable in fixed:
            source = "local stack"
        elif user_environ.get(variable, "").strip():
            source = "your environment"
        elif variable in caller:
            source = "set by the caller"
        elif variable in LOCAL_DEFAULTS:
            source = "local default"
        else:
            source = "local stack"
        shown = "****" if "PASSWORD" in variable else _shown(value)
        rows.append((variable, shown, source))
    return rows


def _shown(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def region_from(environ: Mapping[str, str] = os.environ) -> str:
    """The local stack runs in the region the environment names (AWS_REGION, else
    AWS_DEFAULT_REGION), else the settings' default, us-east-1."""
    return variable_named("AWS_REGION").read(environ)
