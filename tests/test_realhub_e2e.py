"""End to end on the real node: the generated repo's hub really runs JupyterHub, behind its proxy.

The real jupyterhub chart with its defaults: its hub, proxy, user-scheduler and image pullers run
the images `invoke toolchain` builds, from the session's mirror of them (fleet.yaml's
image_mirror), every pod pinned to the real node, the hub database and users' homes on
PersistentVolumeClaims the node's storage provisions; user servers run the image `invoke build`
makes. A deploy waits for their real readiness probes,
then its health check starts a test user's server and runs code in a kernel there. A hub whose
`hub.extraConfig` raises fails fast with its traceback, and the release goes back to the one
that served; a user image no registry has fails the health check at the server's start.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from generated import (
    GeneratedRepo,
    assert_clean,
    left_in,
    local_repo,
    on_the_real_node,
    read_until,
    scratch_folders,
)

from toolchain import node, versions

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

HUB, ENV = "sigma", "staging"
RELEASE = f"{HUB}-{ENV}"
OTHER = "kappa"  # a second hub of the real chart on the same cluster


@contextlib.contextmanager
def port_forward(ops: GeneratedRepo, service: str):
    """`kubectl port-forward` to a Service of the release; yields the local base URL."""
    argv = ["kubectl", "--kubeconfig", str(ops.kubeconfig), "port-forward", "-n", RELEASE]
    proc = subprocess.Popen([*argv, f"svc/{service}", ":80"], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # Forwarding from 127.0.0.1:PORT -> 8000
        port = line.split("127.0.0.1:", 1)[1].split()[0]
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def hub_api(ops: GeneratedRepo) -> dict:
    with port_forward(ops, "proxy-public") as url:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/hub/api", timeout=5) as response:
                    return json.load(response)
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)


@pytest.fixture(scope="module")
def ops(tmp_path_factory, local_stack, real_node, node_images):
    repo = local_repo(
        tmp_path_factory.mktemp("realhub-e2e"),
        local_stack,
        org="RealHub",
        hubs=f"{HUB},{OTHER}",
    )

    def real(values):
        on_the_real_node(values)
        # The chart's default database, on a PersistentVolumeClaim the real node's storage binds.
        del values["hub"]["db"]

    repo.edit_values(HUB, real)
    repo.edit_values(OTHER, real)
    repo.commit("e2e: every pod on the real node, the chart's default storage")
    # Here pods really run: the deploys check that the hub serves.
    repo.env["FLEET_HEALTH_CHECK"] = "on"
    with repo.own_releases():
        repo.invoke("build", "--push")
        yield repo


def test_the_hub_really_runs_and_its_health_check_runs_code_in_a_kernel(ops):
    proc = ops.invoke("deploy", "--hub", HUB, "--env", ENV, "--timeout", "5m")
    assert f"{HUB}/{ENV}: deployed revision 1" in proc.stdout
    assert "health check passed (hub api" in proc.stdout
    for step in ("hub api", "test user", "server start", "kernel"):
        assert f"health check: {step} ok" in proc.stderr
    labels = ops.release_labels(RELEASE, 1)
    assert labels["fleet-health"] == "passed" and int(labels["fleet-health-at"]) > 0
    assert labels["fleet-health-revision"] == "1"
    assert (
        len(labels["fleet-health-image"]) == 56
    )  # the server's image digest, as the node pulled it
    # The test user and its server are gone.
    assert ops.user_pods_gone(RELEASE)
    pods = ops.kubectl_json("get", "pods", "-n", RELEASE)["items"]
    hub = next(p for p in pods if p["metadata"]["labels"].get("component") == "hub")
    assert hub["spec"]["nodeName"] == "hubfleet-real"
    started = hub["status"]["containerStatuses"][0]
    assert started["ready"] and started["restartCount"] == 0
    argv = ["kubectl", "--kubeconfig", str(ops.kubeconfig), "logs", "-n", RELEASE]
    logs = subprocess.run([*argv, hub["metadata"]["name"]], capture_output=True, text=True).stdout
    assert "JupyterHub is now running" in logs
    assert hub_api(ops)["version"] == versions.JUPYTERHUB


def test_a_second_hub_of_the_real_chart_on_the_same_cluster_deploys_and_serves(ops):
    """Its cluster-wide objects (the user-scheduler's ClusterRole and binding) are named for its
    release: both hubs run side by side and pass their health checks."""
    proc = ops.invoke("deploy", "--hub", OTHER, "--env", ENV, "--timeout", "5m")
    assert f"{OTHER}/{ENV}: deployed revision 1" in proc.stdout
    assert "health check passed" in proc.stdout
    again = ops.invoke("health", "--hub", HUB, "--env", ENV)
    assert "health check passed" in again.stdout
    roles = {r["metadata"]["name"] for r in ops.kubectl_json("get", "clusterroles")["items"]}
    assert {f"{RELEASE}-user-scheduler", f"{OTHER}-{ENV}-user-scheduler"} <= roles
    # Off the node again, so the tests after this one have it as before.
    argv = [str(ops.helm), "--kubeconfig", str(ops.kubeconfig), "uninstall", f"{OTHER}-{ENV}"]
    subprocess.run([*argv, "-n", f"{OTHER}-{ENV}", "--wait"], check=True, capture_output=True)
    delete = ["kubectl", "--kubeconfig", str(ops.kubeconfig), "delete", "namespace"]
    subprocess.run([*delete, f"{OTHER}-{ENV}", "--wait=true"], check=True, capture_output=True)


def test_the_hub_database_and_the_users_homes_are_on_dynamic_volumes(ops):
    claims = {
        c["metadata"]["name"]: c for c in ops.kubectl_json("get", "pvc", "-n", RELEASE)["items"]
    }
    assert claims["hub-db-dir"]["status"]["phase"] == "Bound"
    events = ops.kubectl_json("get", "events", "-n", RELEASE)["items"]
    provisioned = {
        e["involvedObject"]["name"]
        for e in events
        if e["involvedObject"].get("kind") == "PersistentVolumeClaim"
        and e.get("reason") == "ProvisioningSucceeded"
    }
    assert "hub-db-dir" in provisioned
    # The health check's test user had a home of its own, provisioned for its server.
    assert any(name.startswith("claim-") for name in provisioned), provisioned


def test_a_recreated_hub_pod_keeps_its_users(ops):
    token = health_token(ops)
    with port_forward(ops, "proxy-public") as url:
        api(url, token, "POST", "/hub/api/users/kept-user")
    hub_pod = ops.kubectl_json("get", "pods", "-n", RELEASE, "-l", "component=hub")["items"][0]
    kubectl = ["kubectl", "--kubeconfig", str(ops.kubeconfig), "-n", RELEASE]
    subprocess.run([*kubectl, "delete", "pod", hub_pod["metadata"]["name"]], check=True)
    wait = [*kubectl, "rollout", "status", "deployment/hub", "--timeout=180s"]
    subprocess.run(wait, check=True, capture_output=True)
    with port_forward(ops, "proxy-public") as url:
        users = {u["name"] for u in api(url, token, "GET", "/hub/api/users")}
        # Its server once started, stopped: its home's claim stays (for the retire test).
        api(url, token, "POST", "/hub/api/users/kept-user/server")
        wait_for(lambda: api(url, token, "GET", "/hub/api/users/kept-user")["servers"][""]["ready"])
        api(url, token, "DELETE", "/hub/api/users/kept-user/server")
        wait_for(lambda: not api(url, token, "GET", "/hub/api/users/kept-user")["servers"])
    assert "kept-user" in users
    claims = [c["metadata"]["name"] for c in ops.kubectl_json("get", "pvc", "-n", RELEASE)["items"]]
    assert "claim-kept-user" in claims


def wait_for(check, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except (KeyError, TypeError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout:.0f}s")
        time.sleep(2)


def health_token(ops: GeneratedRepo) -> str:
    """The health-check service's token, as `invoke secrets.decrypt` prints it."""
    out = ops.invoke("secrets.decrypt", "--hub", "sigma", "--env", ENV).stdout
    return yaml.safe_load(out)["jupyterhub"]["hub"]["services"]["health-check"]["apiToken"]


def api(url: str, token: str, method: str, path: str):
    """One call of the hub's REST API, retried while the proxy does not route to the hub yet."""
    deadline = time.monotonic() + 60
    while True:
        request = urllib.request.Request(
            url + path, method=method, headers={"Authorization": f"token {token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                body = response.read()
                return json.loads(body) if body else None
        except urllib.error.HTTPError as exc:
            if exc.code < 500 or time.monotonic() > deadline:
                raise
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(1)


def test_an_extra_config_that_raises_fails_fast_quotes_the_traceback_and_rolls_back(ops):
    """Its last words print a secret (the proxy's token, from the hub's env): the quoted
    traceback, the output and the results file (what notify and the annotations read) carry
    it redacted."""
    good = ops.serving(RELEASE)
    leak = "raise RuntimeError('extraConfig says no: ' + __import__('os').environ['CONFIGPROXY_AUTH_TOKEN'])"
    ops.edit_values(HUB, lambda v: v["hub"].setdefault("extraConfig", {}).update(boom=leak))
    ops.commit("e2e: a hub.extraConfig that raises, printing a secret")
    secrets = ops.invoke("secrets.decrypt", "--hub", HUB, "--env", ENV).stdout
    token = yaml.safe_load(secrets)["jupyterhub"]["proxy"]["secretToken"]
    results = ops.tmp / "results-extra-config.json"
    started = time.monotonic()
    argv = ["deploy", "--hub", HUB, "--env", ENV, "--timeout", "10m", "--results", str(results)]
    proc = ops.invoke(*argv, check=False)
    elapsed = time.monotonic() - started
    ops.revert()
    assert proc.returncode == 1, proc.output[-3000:]
    assert elapsed < 90, f"took {elapsed:.0f}s with --timeout 10m"
    # With --results, the run's summary gives each failure's first line; the file, all of it.
    assert "stopped early: a pod cannot become ready" in proc.output
    error = json.loads(results.read_text())["results"][0]["error"]
    assert "RuntimeError: extraConfig says no: <redacted>" in error, error
    assert "serving now (rolled back)" in error
    assert token not in proc.output and token not in results.read_text()
    serving = ops.serving(RELEASE)
    assert serving["revision"] > good["revision"]
    assert hub_api(ops)["version"] == versions.JUPYTERHUB


def test_invoke_health_checks_the_revision_serving_now(ops):
    proc = ops.invoke("health", "--hub", HUB, "--env", ENV)
    assert "health check passed" in proc.stdout
    assert_clean(proc)


def test_invoke_health_goes_through_the_public_url_hub_yaml_names(ops):
    """The proxy's Service address stands for a public URL (there is no DNS or ingress here)."""
    argv = ["kubectl", "--kubeconfig", str(ops.kubeconfig), "get", "svc", "proxy-public"]
    argv += ["-n", RELEASE, "-o", "jsonpath={.spec.clusterIP}"]
    address = subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()
    hub_yaml = ops.path / "hubs" / HUB / "hub.yaml"
    before = hub_yaml.read_text()
    try:
        hub_yaml.write_text(before + f"urls:\n  {ENV}: http://{address}/\n")
        proc = ops.invoke("health", "--hub", HUB, "--env", ENV)
        assert f"health check: through the hub's public URL http://{address}/" in proc.stderr
        assert "port-forward" not in proc.output
        assert "health check passed" in proc.stdout
        assert_clean(proc)
        # A URL where nothing answers fails at the first step, after its bounded retries.
        hub_yaml.write_text(before + f"urls:\n  {ENV}: http://127.0.0.1:9\n")
        proc = ops.invoke("health", "--hub", HUB, "--env", ENV, check=False)
        assert proc.returncode == 1
        assert "health check FAILED at step hub api: GET /hub/api:" in proc.stderr
        assert "refused" in proc.stderr
    finally:
        hub_yaml.write_text(before)


def test_a_user_image_no_registry_has_fails_the_health_check_at_the_server_start(ops, registry):
    """With the chart's image pullers off (its pre-upgrade hook fails fast on it otherwise, see
    test_failfast_e2e), the health check's server start meets the missing image."""
    hub_yaml = ops.path / "hubs" / HUB / "hub.yaml"
    values = ops.path / "hubs" / HUB / "values.yaml"
    before, values_before = hub_yaml.read_text(), values.read_text()
    hub_yaml.write_text(f"cluster: main\nexternal_image: {registry}/nowhere/user:1\n")

    def no_pullers(v):
        pullers = v.setdefault("prePuller", {})
        pullers.setdefault("hook", {})["enabled"] = False
        pullers.setdefault("continuous", {})["enabled"] = False

    ops.edit_values(HUB, no_pullers)
    ops.commit("e2e: a user image that does not exist, no image pullers")
    proc = ops.invoke("deploy", "--hub", HUB, "--env", ENV, check=False)
    hub_yaml.write_text(before)
    values.write_text(values_before)
    ops.commit("e2e: back to the built user image")
    assert proc.returncode == 1, proc.output[-3000:]
    assert "health check FAILED at step server start" in proc.stderr
    assert "ErrImagePull" in proc.stderr or "ImagePullBackOff" in proc.stderr
    assert "nowhere/user" in proc.stderr
    assert "invoke rollback --hub sigma --env staging" in proc.stderr
    assert_clean(proc)
    ops.invoke("rollback", "--hub", HUB, "--env", ENV)


def test_ctrl_c_during_the_health_check_removes_the_test_user_and_leaves_no_secret(ops):
    """Interrupted while the test user's server starts: the user, its server and the decrypted
    secrets are gone, whatever signal disposition the task inherited."""
    fresh, folders = scratch_folders(ops.tmp, "health-sigint")
    child = subprocess.Popen(
        ["invoke", "health", "--hub", HUB, "--env", ENV],
        cwd=ops.path,
        env={**os.environ, **ops.env, **fresh},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    seen = []
    for line in child.stderr:
        seen.append(line)
        if "health check: test user ok" in line:
            break
    time.sleep(1)
    child.send_signal(signal.SIGINT)
    _, rest = child.communicate(timeout=180)
    assert child.returncode != 0, "".join(seen) + rest
    assert "interrupted" in rest
    assert left_in(folders) == []
    assert ops.user_pods_gone(RELEASE)
    # The next check finds no test user left over, and passes.
    assert "health check passed" in ops.invoke("health", "--hub", HUB, "--env", ENV).stdout


def _port_forwards_of(namespace: str) -> list[int]:
    """The pids of `kubectl port-forward` processes into `namespace`."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            words = [w.decode() for w in cmdline.read_bytes().split(b"\0") if w]
        except OSError:
            continue
        if "port-forward" in words and namespace in words:
            found.append(int(cmdline.parent.name))
    return found


def test_ctrl_c_at_the_terminal_leaves_the_port_forward_to_the_cleanup(ops):
    """A terminal's Ctrl-C goes to the whole foreground process group: it used to kill the
    port-forward too, so the cleanup could not reach the hub and the test user's server stayed."""
    child = subprocess.Popen(
        ["invoke", "health", "--hub", HUB, "--env", ENV],
        cwd=ops.path,
        env={**os.environ, **ops.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a shell gives a foreground job
    )
    seen = read_until(child, "health check: test user ok")
    time.sleep(1)
    os.killpg(child.pid, signal.SIGINT)
    _, rest = child.communicate(timeout=180)
    assert child.returncode != 0, "".join(seen) + rest
    assert "interrupted" in rest
    assert ops.user_pods_gone(RELEASE), rest
    assert _port_forwards_of(RELEASE) == []


def test_a_port_forward_that_dies_mid_check_is_started_again(ops):
    """Before, every retry went to the dead forward's address, and the check failed."""
    child = ops.start("health", "--hub", HUB, "--env", ENV)
    seen = read_until(child, "health check: hub api ok")
    forwards = _port_forwards_of(RELEASE)
    assert len(forwards) == 1
    os.kill(forwards[0], signal.SIGKILL)
    out, rest = child.communicate(timeout=300)
    assert child.returncode == 0, "".join(seen) + rest
    assert "health check: the port-forward had died; started again (http://127.0.0.1:" in rest
    assert "health check passed" in out
    assert _port_forwards_of(RELEASE) == []


def test_prod_waits_for_its_canary_then_follows_it_and_a_skip_is_recorded(ops):
    """A prod upgrade is refused while staging runs other shared inputs; it passes once staging
    is deployed and healthy with them; --skip-canary overrides and is recorded on the release."""
    ops.edit_values(HUB, lambda v: v["hub"].setdefault("extraEnv", {}).update(CANARY="one"))
    ops.commit("e2e: a shared change not yet on staging")
    refused = ops.invoke("deploy", "--hub", HUB, "--env", "prod", check=False)
    assert refused.returncode == 1
    error = refused.stderr.strip().splitlines()[-1]
    assert error.startswith("error: deploy sigma/prod failed at step canary: hub sigma: staging")
    assert "runs other inputs than this deploy: the hub's hub.yaml and values.yaml differ" in error
    assert ops.namespaces() == [RELEASE]  # nothing of prod was made

    ops.invoke("deploy", "--hub", HUB, "--env", ENV)  # staging: deployed, then its health check
    proc = ops.invoke("deploy", "--hub", HUB, "--env", "prod")
    assert "canary: staging proved these inputs" in proc.stderr
    assert "health check passed" in proc.stdout
    labels = ops.release_labels("sigma-prod", ops.serving("sigma-prod")["revision"])
    assert "fleet-canary" not in labels

    ops.edit_values(HUB, lambda v: v["hub"]["extraEnv"].update(CANARY="two"))
    ops.commit("e2e: a shared change that skips the canary")
    skipped = ops.invoke("deploy", "--hub", HUB, "--env", "prod", "--skip-canary")
    assert "canary: skipped (--skip-canary)" in skipped.stderr
    labels = ops.release_labels("sigma-prod", ops.serving("sigma-prod")["revision"])
    assert labels["fleet-canary"] == "skipped"
    assert_clean(skipped)


def _prod_refusal(ops: GeneratedRepo) -> str:
    refused = ops.invoke("deploy", "--hub", HUB, "--env", "prod", check=False)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    return refused.stderr.strip().splitlines()[-1]


def test_the_canary_takes_only_a_recent_check_of_the_staging_revision_itself_and_its_image(ops):
    """helm carries a revision's labels into the next upgrade and copies them on rollback: the
    evidence is dropped on upgrade and names its revision; it must be younger than
    canary_max_age; and the image digest the registry serves must be the one the check ran."""
    ops.invoke("deploy", "--hub", HUB, "--env", ENV)  # passes its health check
    checked = ops.serving(RELEASE)["revision"]
    ops.edit_values(HUB, lambda v: v["hub"].setdefault("extraEnv", {}).update(CANARY="unchecked"))
    ops.commit("e2e: a change staging deploys without its health check")
    ops.invoke("deploy", "--hub", HUB, "--env", ENV, "--no-health-check")
    unchecked = ops.serving(RELEASE)["revision"]
    labels = ops.release_labels(RELEASE, unchecked)
    assert not {key for key in labels if key.startswith("fleet-health")}, labels
    error = _prod_refusal(ops)
    assert f"staging revision {unchecked} has no health check of its own" in error

    # A rollback to the checked revision copies its labels: not evidence for the new revision.
    ops.invoke("rollback", "--hub", HUB, "--env", ENV)
    back = ops.serving(RELEASE)["revision"]
    assert ops.release_labels(RELEASE, back)["fleet-health-revision"] == str(checked)
    error = _prod_refusal(ops)
    assert f"staging revision {back} has no health check of its own (the passing one" in error
    assert f"is of revision {checked})" in error

    ops.invoke("deploy", "--hub", HUB, "--env", ENV)  # the work tree's inputs, checked
    fleet_yaml = ops.path / "fleet.yaml"
    saved = fleet_yaml.read_text()
    assert "\ncanary_max_age: 24h\n" in saved
    fleet_yaml.write_text(saved.replace("\ncanary_max_age: 24h\n", "\ncanary_max_age: 1s\n"))
    ops.commit("e2e: a canary check is good for one second")
    try:
        time.sleep(2)
        assert "more than canary_max_age 1s" in _prod_refusal(ops)
    finally:
        fleet_yaml.write_text(saved)
        ops.commit("e2e: the default canary age")

    # The image's tag pushed again with other content after staging's check.
    argv = [str(ops.helm), "--kubeconfig", str(ops.kubeconfig), "get", "values", RELEASE]
    values = subprocess.run(
        [*argv, "--namespace", RELEASE, "--output", "json"], capture_output=True, check=True
    )
    user_image = json.loads(values.stdout)["jupyterhub"]["singleuser"]["image"]
    image = f"{user_image['name']}:{user_image['tag']}"
    docker = lambda *args: subprocess.run(["docker", *args], check=True, capture_output=True)  # noqa: E731
    docker("pull", image)
    original = docker("image", "inspect", image, "--format", "{{.Id}}").stdout.decode().strip()
    try:
        docker("tag", ops.env["FLEET_BASE_IMAGE"], image)
        docker("push", image)
        error = _prod_refusal(ops)
        assert f"image {image} is now sha256:" in error and "the tag was pushed again" in error
    finally:
        docker("tag", original, image)
        docker("push", image)
    proc = ops.invoke("deploy", "--hub", HUB, "--env", "prod")
    assert "canary: staging proved these inputs" in proc.stderr


def _pod_on_the_real_node(
    ops: GeneratedRepo, name: str, labels: dict, annotations: dict, script, image: str = ""
):
    """A pod (of the hub image unless given) in the release's namespace, on the real node,
    running `script`."""
    key, value = node.REAL_NODE_LABEL
    hub = ops.kubectl_json("get", "deployment", "hub", "-n", RELEASE)
    image = image or hub["spec"]["template"]["spec"]["containers"][0]["image"]
    manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels, "annotations": annotations},
        "spec": {
            "nodeSelector": {key: value},
            "tolerations": [
                {"key": key, "operator": "Equal", "value": value, "effect": "NoSchedule"}
            ],
            "containers": [{"name": "main", "image": image, "command": ["sh", "-c", script]}],
        },
    }
    argv = ["kubectl", "--kubeconfig", str(ops.kubeconfig), "apply", "-n", RELEASE, "-f", "-"]
    subprocess.run(argv, input=json.dumps(manifest), text=True, check=True, capture_output=True)


def _delete_pods(ops: GeneratedRepo, *names: str) -> None:
    argv = ["kubectl", "--kubeconfig", str(ops.kubeconfig), "delete", "pod", "-n", RELEASE]
    subprocess.run([*argv, *names, "--wait", "--grace-period=1"], check=True, capture_output=True)


def test_invoke_logs_finds_the_hub_and_the_proxy_by_their_labels(ops):
    hub = ops.invoke("logs", "--hub", HUB, "--env", ENV)
    assert "==> pod hub-" in hub.stdout and ", container hub: running <==" in hub.stdout
    assert "JupyterHub is now running" in hub.stdout
    proxy = ops.invoke("logs", "--hub", HUB, "--env", ENV, "--component", "proxy", "--since", "24h")
    assert "==> pod proxy-" in proxy.stdout and ", container chp: running <==" in proxy.stdout
    assert "JupyterHub is now running" not in proxy.stdout
    assert_clean(proxy)
    none = ops.invoke("logs", "--hub", HUB, "--env", ENV, "--component", "nothing", check=False)
    assert none.returncode == 1
    assert f"namespace {RELEASE}: no pod with label component=nothing" in none.stderr


def test_invoke_logs_of_a_restarted_container_shows_its_previous_run_first(ops):
    """A user's server that crashed (a pod with KubeSpawner's labels, its command exits 3)."""
    user = "ada@uni.example"
    labels = {"component": "singleuser-server", "hub.jupyter.org/username": "ada-40uni-2eexample"}
    script = 'echo "server run $(date +%s%N)"; sleep 1; exit 3'
    _pod_on_the_real_node(ops, "jupyter-ada", labels, {"hub.jupyter.org/username": user}, script)
    try:
        deadline = time.monotonic() + 120
        while True:
            pod = ops.kubectl_json("get", "pod", "jupyter-ada", "-n", RELEASE)
            status = (pod["status"].get("containerStatuses") or [{}])[0]
            if status.get("restartCount", 0) >= 1 and status.get("lastState", {}).get("terminated"):
                break
            assert time.monotonic() < deadline, pod["status"]
            time.sleep(1)
        deadline = time.monotonic() + 60
        while True:  # the previous run's logs can lag its end by a few seconds
            proc = ops.invoke("logs", "--hub", HUB, "--env", ENV, "--user", user)
            previous = proc.stdout.split("previous run <==", 1)[-1]
            if "server run" in previous.split("==>", 1)[0] or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert "==> pod jupyter-ada, container main: previous run <==" in proc.stdout
        assert "server run" in previous.split("==>", 1)[0], proc.stdout
        assert "last exit code 3 (Error)" in proc.stdout
        other = ops.invoke("logs", "--hub", HUB, "--env", ENV, "--user", "bob", check=False)
        assert other.returncode == 1
        assert other.stderr.strip() == (
            f"error: namespace {RELEASE}: user bob has no server (servers: {user})"
        )
    finally:
        _delete_pods(ops, "jupyter-ada")


def test_a_users_broken_server_during_a_deploy_does_not_stop_it(ops, registry):
    """A user's server that cannot pull its image, started while the hub upgrades, is the
    user's trouble: fail-fast judges the release's own pods, and the deploy goes through."""
    before = ops.serving(RELEASE)["revision"]
    ops.edit_values(HUB, lambda v: v["hub"].setdefault("extraEnv", {}).update(USERS="broken"))
    ops.commit("e2e: a change deployed while a user's server is broken")
    child = ops.start("deploy", "--hub", HUB, "--env", ENV, "--timeout", "5m")
    seen = read_until(child, "==> [sigma/staging] helm upgrade")
    labels = {"component": "singleuser-server", "hub.jupyter.org/username": "bob"}
    missing = f"{registry}/nowhere/user:404"
    _pod_on_the_real_node(ops, "jupyter-bob", labels, {}, "sleep 600", image=missing)
    try:
        out, err = child.communicate(timeout=360)
        bob = ops.kubectl_json("get", "pod", "jupyter-bob", "-n", RELEASE)
    finally:
        _delete_pods(ops, "jupyter-bob")
    assert child.returncode == 0, "".join(seen) + err[-3000:]
    assert "stopped early" not in err and "rolled back" not in err
    assert ops.serving(RELEASE)["revision"] == before + 1
    waiting = [
        c.get("state", {}).get("waiting", {}) for c in bob["status"].get("containerStatuses", [])
    ]
    assert any(w.get("reason") in ("ErrImagePull", "ImagePullBackOff") for w in waiting), bob[
        "status"
    ]


def test_retire_of_a_real_chart_hub_names_the_volumes_it_deletes_and_keeps(ops):
    """Last in the module: the hub leaves the repository. The chart's own claim (the hub
    database) goes with the release, users' homes stay; the cluster-wide objects go too."""
    ops.git("rm", "-r", "-q", f"hubs/{HUB}")
    ops.commit("e2e: hub sigma is gone")
    dry = ops.invoke("retire", "--hub", HUB, "--env", ENV, "--dry-run")
    assert "its volume claim(s), their data deleted with them: hub-db-dir" in dry.stdout
    kept = next(line for line in dry.stdout.splitlines() if "kept:" in line)
    assert "volume claim(s) of users' homes" in kept and "claim-kept-user" in kept, dry.stdout
    assert "hub-db-dir" not in kept
    assert f"ClusterRole/{RELEASE}-user-scheduler" in dry.stdout
    proc = ops.invoke("retire", "--hub", HUB, "--env", ENV, "--yes")
    assert f"{HUB}/{ENV}: retired" in proc.stdout
    claims = [c["metadata"]["name"] for c in ops.kubectl_json("get", "pvc", "-n", RELEASE)["items"]]
    assert "claim-kept-user" in claims and "hub-db-dir" not in claims
    roles = ops.kubectl_json("get", "clusterroles")["items"]
    assert not [r for r in roles if r["metadata"]["name"].startswith(RELEASE)]
