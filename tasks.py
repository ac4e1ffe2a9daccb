"""Tasks for working on the hubfleet template: `invoke --list`."""

import functools
import sys

from invoke import Collection, Exit, task

from toolchain import cache, chartrepo, node, provision, stack, versions
from toolchain.run import MissingPrerequisite, ToolError


def _one_line_errors(func):
    """Turn toolchain errors into invoke.Exit: a clear message, not a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (MissingPrerequisite, ToolError, TimeoutError) as error:
            raise Exit(f"error: {error}", code=1) from None

    return wrapper


@task(
    help={
        "optional": "Also build optional tools (actionlint). Default: yes.",
        "generation": "Only what generating a repo needs: sops, age, gpg and helm.",
    }
)
@_one_line_errors
def toolchain(c, optional=True, generation=False):
    """Provision every pinned tool into the cache ($HUBFLEET_CACHE or ~/.cache/hubfleet)."""
    provision.provision(optional=optional, generation=generation)


@task(
    name="cluster-up",
    help={
        "name": f"Name of the stack and cluster (default {stack.DEV_NAME}).",
        "real-node": "Also start the real node, one per machine (default: yes).",
    },
)
@_one_line_errors
def cluster_up(c, name=stack.DEV_NAME, real_node=True):
    """Start a cluster (kwok's fake nodes and one real node), a registry and a chart repository.

    Run again while the stack runs, it reuses it: same addresses, nothing restarted or lost.
    """
    up = stack.up(name, real_node=real_node)
    mirror = f"{up.registry.address}/mirror"
    chartrepo.push_mirror(mirror)
    if up.reused:
        print(f"{name} is already running: reusing it, nothing restarted", file=sys.stderr)
    real = "none (--no-real-node)"
    if up.node:
        real = f"{up.node.name} ({up.node.ip}), label {'='.join(node.REAL_NODE_LABEL)}, taint "
        real += node.REAL_NODE_TAINT
    print(
        f"\nkubeconfig:       {up.cluster.kubeconfig}\n"
        f"registry:         {up.registry.address}\n"
        f"chart repository: {up.chart_repo.url}\n"
        f"image mirror:     {mirror} (every image the jupyterhub chart runs)\n"
        f"real node:        {real}\n"
        f"base image:       {versions.BASE_IMAGE} (local to docker)\n\n"
        f'export PATH="{cache.bin_dir()}:$PATH"\n'
        f'export KUBECONFIG="{up.cluster.kubeconfig}" FLEET_KUBECONFIG="{up.cluster.kubeconfig}"\n'
        f'export FLEET_BASE_IMAGE="{versions.BASE_IMAGE}"\n\n'
        f"stop it all with: invoke cluster-down"
        + (f" --name {name}" if name != stack.DEV_NAME else "")
    )


@task(name="cluster-down", help={"name": f"Name given to cluster-up (default {stack.DEV_NAME})."})
@_one_line_errors
def cluster_down(c, name=stack.DEV_NAME):
    """Stop the cluster, registry and chart repository that cluster-up started."""
    if stack.down(name):
        print(f"stopped {name}: cluster, registry and chart repository", file=sys.stderr)
    else:
        print(f"nothing to stop: {name} is not running", file=sys.stderr)


ns = Collection(toolchain, cluster_up, cluster_down)
