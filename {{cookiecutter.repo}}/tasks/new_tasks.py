"""New hubs and clusters from the skeletons (fleet.scaffold)."""

from __future__ import annotations

from fleet.core import config, output
from fleet.ops import scaffold

from .task_entry import errors_exit, task


@task(
    help={
        "name": "hub name: a DNS label of at most 45 characters",
        "cluster": "folder under clusters/ (default: the only cluster)",
        "image": "folder under images/ (default: default), or an external name:tag",
    }
)
@errors_exit
def new_hub(c, name, cluster=None, image=None):
    """Add hubs/NAME from the skeleton, with freshly generated, encrypted secrets."""
    folder = scaffold.new_hub(config.find_root(), name, cluster=cluster, image=image)
    output.line(
        f"created {folder}; edit its values, and its secrets with `invoke secrets.edit --hub {name} --env staging`"
    )


@task(
    help={
        "name": "cluster name: a DNS label (the folder under clusters/)",
        "provider": "kubeconfig (default), gcp, aws or azure",
        "project": "gcp: project id",
        "cloud_cluster": "gcp/aws/azure: the cluster's name there (default: NAME)",
        "location": "gcp: zone or region; aws: region",
        "resource_group": "azure: resource group",
    }
)
@errors_exit
def new_cluster(
    c,
    name,
    provider="kubeconfig",
    project=None,
    cloud_cluster=None,
    location=None,
    resource_group=None,
):
    """Add clusters/NAME/cluster.yaml for a provider."""
    path = scaffold.new_cluster(
        config.find_root(),
        name,
        provider,
        project=project,
        cluster=cloud_cluster,
        location=location,
        resource_group=resource_group,
    )
    output.line(f"created {path}; point hubs at it with `cluster: {name}` in their hub.yaml")
