"""Unit tests of fleet.manifests (and sops.secret_paths): Secret data masked with keyed fingerprints, and the unified manifests."""

import base64
import json

import yaml

from fleet.core.redact import redact_text
from fleet.tools import manifests, sops

KEY = b"k" * 32
SECRET = base64.b64encode(b"cookie-secret-value").decode()

LIVE = f"""---
# Source: hub/templates/secret.yaml
apiVersion: v1
kind: Secret
metadata:
  name: hub
data:
  values.yaml: {SECRET}
  other: {base64.b64encode(b"unchanged").decode()}
---
apiVersion: v1
kind: Service
metadata:
  name: proxy-public
spec:
  type: ClusterIP
"""


def test_secret_values_are_masked_and_stable():
    docs = manifests.documents(LIVE, KEY)
    secret = docs["Secret/hub"]
    assert secret["data"]["values.yaml"].startswith("<redacted hmac:")
    assert SECRET not in str(docs)
    assert manifests.documents(LIVE, KEY)["Secret/hub"] == secret
    assert manifests.documents(LIVE, b"x" * 32)["Secret/hub"] != secret


def test_diff_shows_a_secret_change_without_content_and_other_changes_in_full():
    new_secret = base64.b64encode(b"new-cookie-secret").decode()
    new = LIVE.replace(SECRET, new_secret).replace("type: ClusterIP", "type: NodePort")
    text = manifests.unified(LIVE, new, set(), live_label="live", new_label="new", key=KEY)
    changed = [
        line for line in text.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]
    assert len(changed) == 4
    assert "-  type: ClusterIP" in changed and "+  type: NodePort" in changed
    assert all("other" not in line for line in changed)
    assert SECRET not in text and new_secret not in text
    assert sum("values.yaml: <redacted hmac:" in line for line in changed) == 2


def test_known_secret_strings_are_redacted_everywhere():
    new = LIVE.replace("proxy-public", "proxy-public-hunter22")
    text = manifests.unified(LIVE, new, {"hunter22"}, live_label="a", new_label="b", key=KEY)
    assert "hunter22" not in text and "<redacted>" in text


def test_no_change_is_an_empty_diff():
    assert manifests.unified(LIVE, LIVE, set(), live_label="a", new_label="b") == ""


def test_not_installed_shows_everything_as_added():
    text = manifests.unified("", LIVE, set(), live_label="none", new_label="new", key=KEY)
    assert "+kind: Service" in text and SECRET not in text


def test_mask_manifests():
    text = manifests.mask_manifests(LIVE, {"ClusterIP"}, KEY)
    assert SECRET not in text and "ClusterIP" not in text and "# Service/proxy-public" in text


def _values_secret(values: dict) -> str:
    encoded = base64.b64encode(yaml.safe_dump(values).encode()).decode()
    token = base64.b64encode(b"chart-made-token").decode()
    return (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: hub\n"
        f"data:\n  values.yaml: {encoded}\n  auth_token: {token}\n"
    )


OLD_VALUES = {"hub": {"cookieSecret": "old-cookie-secret-1"}, "singleuser": {"defaultUrl": "/lab"}}
NEW_VALUES = {"hub": {"cookieSecret": "new-cookie-secret-2"}, "singleuser": {"defaultUrl": "/tree"}}
# The paths of the hub's encrypted values, as in hubs/<hub>/secrets/<env>.yaml.
SECRET_PATHS = {("jupyterhub", "hub", "cookieSecret")}


def test_config_in_a_secret_is_shown_decoded_with_secret_leaves_masked():
    live, new = _values_secret(OLD_VALUES), _values_secret(NEW_VALUES)
    # Only the new secret is known as a string (the files decrypt to it); the old one is found
    # by its path, so a rotated secret's previous value never shows either.
    text = manifests.unified(
        live,
        new,
        {"new-cookie-secret-2"},
        live_label="a",
        new_label="b",
        key=KEY,
        secret=SECRET_PATHS,
    )
    assert "-      defaultUrl: /lab" in text and "+      defaultUrl: /tree" in text
    assert "old-cookie-secret-1" not in text and "new-cookie-secret-2" not in text
    assert "values.yaml (decoded):" in text
    assert sum("cookieSecret: <redacted hmac:" in line for line in text.splitlines()) == 2
    # A value that is not a mapping stays a fingerprint whole.
    assert "chart-made-token" not in text and "auth_token: <redacted hmac:" in text


def test_without_secret_paths_secret_data_is_never_decoded():
    text = manifests.mask_manifests(_values_secret(OLD_VALUES), set(), KEY)
    assert "/lab" not in text and "old-cookie-secret-1" not in text


def test_is_secret_path_matches_on_the_common_end():
    assert manifests.is_secret_path(("hub", "cookieSecret"), SECRET_PATHS)
    assert manifests.is_secret_path(("jupyterhub", "hub", "cookieSecret"), SECRET_PATHS)
    assert not manifests.is_secret_path(("singleuser", "cookieSecret"), SECRET_PATHS)
    assert not manifests.is_secret_path(("cookieSecret",), SECRET_PATHS)
    assert manifests.is_secret_path(("x", "token"), {("token",)})


def test_secret_paths_read_encrypted_files_without_a_key(tmp_path):
    encrypted = tmp_path / "staging.yaml"
    encrypted.write_text(
        "jupyterhub:\n  hub:\n    cookieSecret: ENC[AES256_GCM,data:abc=,iv:i=,tag:t=,type:str]\n"
        "sops:\n  mac: ENC[AES256_GCM,data:m=,iv:i=,tag:t=,type:str]\n  version: 3.13.3\n"
    )
    assert sops.secret_paths([encrypted, tmp_path / "missing.yaml"]) == SECRET_PATHS


# A secret YAML would escape (non-ASCII) and fold (long, with spaces) when it dumps it.
AWKWARD = "pässwörd with spaces " + "and more words " * 8 + '"quoted" \\ end'


def test_a_secret_that_yaml_escapes_or_folds_is_redacted_in_any_object():
    """Before, the manifests were dumped first and redacted as text: the dumped secret was
    `p\\xE4ssw\\xF6rd ...` folded over two lines, and printed as it was."""
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c"},
        "data": {"config": AWKWARD, "line": f"--password={AWKWARD} --verbose"},
    }
    text = yaml.safe_dump(config_map)
    masked = manifests.mask_manifests(text, sops.secret_strings({"x": AWKWARD}))
    assert "w\\xF6rd" not in masked and "wörd" not in masked and "more words" not in masked
    assert "config: <redacted>" in masked
    assert "line: --password=<redacted> --verbose" in masked
    diff = manifests.unified(
        "", text, sops.secret_strings({"x": AWKWARD}), live_label="a", new_label="b"
    )
    assert "more words" not in diff and "<redacted>" in diff


def test_a_secret_in_json_or_yaml_escaped_text_is_redacted():
    """Logs and events quote values the way JSON or YAML write them."""
    secrets = sops.secret_strings({"token": AWKWARD})
    for text in (
        json.dumps({"token": AWKWARD}),
        json.dumps({"t": AWKWARD}, ensure_ascii=False),
        yaml.safe_dump({"t": AWKWARD}, default_style='"', width=10_000),
    ):
        redacted = redact_text(text, secrets)
        assert "more words" not in redacted, redacted
        assert "<redacted>" in redacted
