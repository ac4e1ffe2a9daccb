"""JupyterHub's configuration in the stand-in chart, read from the chart's values as the real one.

The hub Secret holds the values (`values.yaml`); this file turns the parts the stand-in supports
into traitlets: `hub.config`, `hub.services`, `hub.loadRoles`, `hub.extraConfig`, `hub.db`,
`hub.cookieSecret`, and the user servers' `singleuser` image, command and placement.
"""

import os
from pathlib import Path

import yaml
from kubespawner import KubeSpawner

VALUES = yaml.safe_load(Path("/usr/local/etc/jupyterhub/secret/values.yaml").read_text()) or {}
c = get_config()  # noqa: F821 - defined by the loader of JupyterHub config files
hub = VALUES.get("hub") or {}
singleuser = VALUES.get("singleuser") or {}

# Listen on every address of the pod; others reach it through the `hub` Service.
c.JupyterHub.hub_bind_url = "http://:8081"
c.JupyterHub.hub_connect_url = "http://hub:8081"
c.JupyterHub.cleanup_servers = False
c.ConfigurableHTTPProxy.should_start = False
c.ConfigurableHTTPProxy.api_url = "http://proxy-api:8001"
c.ConfigurableHTTPProxy.auth_token = os.environ["CONFIGPROXY_AUTH_TOKEN"]
if hub.get("cookieSecret"):
    c.JupyterHub.cookie_secret = bytes.fromhex(hub["cookieSecret"])

db = hub.get("db") or {}
DB_URLS = {
    "sqlite-memory": "sqlite://",
    "sqlite-pvc": "sqlite:////srv/jupyterhub/jupyterhub.sqlite",
}
c.JupyterHub.db_url = db.get("url") or DB_URLS.get(db.get("type"), DB_URLS["sqlite-pvc"])

c.JupyterHub.spawner_class = KubeSpawner
c.KubeSpawner.namespace = os.environ["POD_NAMESPACE"]
image = singleuser.get("image") or {}
if image.get("name"):
    c.KubeSpawner.image = f"{image['name']}:{image.get('tag') or 'latest'}"
c.KubeSpawner.cmd = singleuser.get("cmd") or "jupyterhub-singleuser"
c.KubeSpawner.node_selector = singleuser.get("nodeSelector") or {}
c.KubeSpawner.tolerations = singleuser.get("extraTolerations") or []
c.KubeSpawner.start_timeout = singleuser.get("startTimeout") or 300
c.KubeSpawner.storage_pvc_ensure = False

for section, traits in (hub.get("config") or {}).items():
    for name, value in (traits or {}).items():
        c[section][name] = value

SERVICE_KEYS = {"apiToken": "api_token", "oauthClientId": "oauth_client_id"}
c.JupyterHub.services = [
    {"name": name, **{SERVICE_KEYS.get(k, k): v for k, v in (service or {}).items()}}
    for name, service in sorted((hub.get("services") or {}).items())
]
c.JupyterHub.load_roles = [
    {"name": name, **(role or {})} for name, role in sorted((hub.get("loadRoles") or {}).items())
]

for key, code in sorted((hub.get("extraConfig") or {}).items()):
    exec(compile(code, f"hub.extraConfig.{key}", "exec"))
