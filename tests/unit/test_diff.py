"""Unit tests of fleet.diff: Secret data masked with keyed fingerprints, and the unified diff."""

import base64

from fleet import diff

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
    docs = diff.documents(LIVE, KEY)
    secret = docs["Secret/hub"]
    assert secret["data"]["values.yaml"].startswith("<redacted hmac:")
    assert SECRET not in str(docs)
    assert diff.documents(LIVE, KEY)["Secret/hub"] == secret
    assert diff.documents(LIVE, b"x" * 32)["Secret/hub"] != secret


def test_diff_shows_a_secret_change_without_content_and_other_changes_in_full():
    new_secret = base64.b64encode(b"new-cookie-secret").decode()
    new = LIVE.replace(SECRET, new_secret).replace("type: ClusterIP", "type: NodePort")
    text = diff.unified(LIVE, new, set(), live_label="live", new_label="new", key=KEY)
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
    text = diff.unified(LIVE, new, {"hunter22"}, live_label="a", new_label="b", key=KEY)
    assert "hunter22" not in text and "<redacted>" in text


def test_no_change_is_an_empty_diff():
    assert diff.unified(LIVE, LIVE, set(), live_label="a", new_label="b") == ""


def test_not_installed_shows_everything_as_added():
    text = diff.unified("", LIVE, set(), live_label="none", new_label="new", key=KEY)
    assert "+kind: Service" in text and SECRET not in text


def test_mask_manifests():
    text = diff.mask_manifests(LIVE, {"ClusterIP"}, KEY)
    assert SECRET not in text and "ClusterIP" not in text and "# Service/proxy-public" in text
