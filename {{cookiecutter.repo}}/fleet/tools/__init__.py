"""Wrappers of the tools and the charts: helm, sops, images, git, the charts, cluster credentials, CRDs, manifests, the image mirror."""
