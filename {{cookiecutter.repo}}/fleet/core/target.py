"""What one release command acts on: hub H in environment E, or cluster C's support chart.

Built and checked once, at a task's entry (`Target.of`), then passed down: preparation, deploy,
diff, rollback, secrets and the plan read from it everything that differs between the two kinds
(release name, chart, values files in order, secrets file, labels, the command that names it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fleet.core.config import SUPPORT_RELEASE, Fleet, Hub
from fleet.core.errors import FleetError

# The labels recorded on every revision: whose release it is (see fleet.deploy).
LABEL_HUB, LABEL_ENV, LABEL_CLUSTER = "fleet-hub", "fleet-env", "fleet-cluster"
LABEL_SUPPORT = "fleet-support"


@dataclass(frozen=True, eq=False)
class Target:
    """A hub in one environment (`hub` set), or a cluster's support chart (`hub` None)."""

    fleet: Fleet
    cluster: str
    hub: Hub | None = None
    env: str = SUPPORT_RELEASE  # the environment, or SUPPORT_RELEASE

    @classmethod
    def of(
        cls,
        fleet: Fleet,
        hub: str | None = None,
        env: str | None = None,
        cluster: str | None = None,
        support: bool = False,
    ) -> Target:
        """The target a task names: `--hub H --env E`, or `--support --cluster C`."""
        if support or (cluster and not hub):
            if hub or env:
                raise FleetError("--support names a cluster's support release: no --hub or --env")
            if not cluster:
                raise FleetError("--support needs --cluster NAME (a folder under clusters/)")
            return cls.support(fleet, cluster)
        if not hub:
            raise FleetError("name the release: --hub NAME --env ENV, or --support --cluster NAME")
        if env is None:
            raise FleetError(f"hub {hub}: --env is required")
        return cls.of_hub(fleet, hub, env)

    @classmethod
    def of_hub(cls, fleet: Fleet, hub: str | Hub, env: str) -> Target:
        found = fleet.hub(hub) if isinstance(hub, str) else hub
        fleet.hub_env(found, env)
        return cls(fleet, found.cluster, found, env)

    @classmethod
    def support(cls, fleet: Fleet, cluster: str) -> Target:
        fleet.cluster(cluster)
        return cls(fleet, cluster)

    @property
    def is_support(self) -> bool:
        return self.hub is None

    @property
    def name(self) -> str:
        """The helm release, and its namespace."""
        return SUPPORT_RELEASE if self.hub is None else self.hub.release(self.env)

    @property
    def who(self) -> tuple[str, str]:
        """(hub, env), or (cluster, "support"): how progress lines and results name it."""
        return (self.cluster, SUPPORT_RELEASE) if self.hub is None else (self.hub.name, self.env)

    @property
    def label(self) -> str:
        return "/".join(self.who)

    def __repr__(self) -> str:
        return f"Target({self.label})"

    @property
    def labels(self) -> dict[str, str]:
        """The release labels that say whose release it is."""
        if self.hub is None:
            return {LABEL_SUPPORT: "true", LABEL_CLUSTER: self.cluster}
        return {LABEL_HUB: self.hub.name, LABEL_ENV: self.env, LABEL_CLUSTER: self.cluster}

    def command(self, task: str) -> str:
        """The invoke command line that runs `task` on this release."""
        if self.hub is None:
            return f"invoke {task} --support --cluster {self.cluster}"
        return f"invoke {task} --hub {self.hub.name} --env {self.env}"

    @property
    def chart(self) -> Path:
        return self.fleet.support_chart if self.hub is None else self.fleet.chart

    @property
    def secrets_file(self) -> Path:
        if self.hub is None:
            return self.fleet.clusters[self.cluster].support_secrets
        return self.hub.secrets_file(self.env)

    @property
    def secrets_name(self) -> str:
        """The name of its decrypted secrets file (private to one call)."""
        return "-".join(self.who)

    def values_files(self, secrets: Path) -> list[Path]:
        """Its values files in helm's order over the chart's own, the decrypted `secrets` last."""
        if self.hub is None:
            own = self.fleet.clusters[self.cluster].support_values
            return [p for p in (own,) if p.exists()] + [secrets]
        return [*self.hub.values_files(self.env), secrets]
