"""Each project's Slurm account, checked (or created) once per executor, before the project's first job.

A job charges an account (``SlurmConfig.account_for``: ``[slurm.accounts]``, ``slurm.fixed_account``,
or the project's name), and Slurm (``AccountingStorageEnforce=associations``) takes it only when the
submitting user (``SlurmConfig.user``: the token's user, whom every job runs as) has an association
with that account. ``AccountSetup`` says what the executor does about it:

- ``check`` (default): ask slurmdbd once per account; if the account or the user's association is
  missing, the project's jobs are refused with a reason that says so and what to do, logged (again at
  most once a minute, when it is asked again: an account created meanwhile is found);
- ``create``: create what is missing (the account on the cluster, then the user's association);
- ``none``: ask nothing (no slurmdbd, or accounts managed elsewhere); Slurm's refusal is the reason.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from enum import StrEnum

from pnyx.executors.slurm_api import (
    EMPTY_RESULT,
    SlurmCall,
    association_creation,
    association_query,
    associations_of,
    cluster_names,
    clusters_query,
    parse_errors,
)
from pnyx.executors.slurm_rest import SlurmRest, describe
from pnyx.jobs.model import EngineRejected, EngineUnavailable

log = logging.getLogger("pnyx.executors.slurm")
RECHECK_S = 60.0  # a missing account is asked about again after this long


class AccountSetup(StrEnum):
    CHECK = "check"
    CREATE = "create"
    NONE = "none"


class AccountBook:
    """Which accounts the submitting user may charge; in memory, per executor."""

    def __init__(
        self,
        rest: SlurmRest,
        *,
        user: str,
        setup: AccountSetup,
        cluster: str | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rest, self.user, self.setup, self.cluster, self.clock = rest, user, setup, cluster, clock
        self._ready: set[str] = set()
        self._refused: dict[str, tuple[float, EngineRejected]] = {}  # account -> (when, why)

    def ensure(self, project: str, account: str) -> None:
        """Return when the project's jobs may charge ``account``; raise ``EngineRejected`` otherwise."""
        if self.setup is AccountSetup.NONE or account in self._ready:
            return
        when, why = self._refused.get(account, (None, None))
        if when is not None and why is not None and self.clock() - when < RECHECK_S:
            raise why
        try:
            self._settle(project, account)
        except EngineRejected as exc:
            log.warning("slurm: %s", exc.message)
            self._refused[account] = (self.clock(), exc)
            raise
        self._refused.pop(account, None)
        self._ready.add(account)

    def _settle(self, project: str, account: str) -> None:
        cluster = self.cluster or self._only_cluster()
        missing = self._missing(account, cluster)
        if missing and self.setup is AccountSetup.CREATE:
            self._create(project, account, cluster, missing)
            missing = self._missing(account, cluster)
        if missing:
            raise EngineRejected(self._reason(project, account, cluster))

    def _missing(self, account: str, cluster: str) -> set[str]:
        """What the account lacks on the cluster: "" (the account itself) and/or the user's association."""
        version = self.rest.dialect().version
        body = self.rest.send(association_query(version, account))
        errors = [e for e in parse_errors(body) if e.number != EMPTY_RESULT]
        if errors:
            raise EngineUnavailable(
                f"Slurm accounting did not answer about account {account!r}: {describe(errors)}"
            )
        return {"", self.user} - {user for c, user in associations_of(body, account) if c == cluster}

    def _create(self, project: str, account: str, cluster: str, missing: set[str]) -> None:
        dialect = self.rest.dialect()
        if "" in missing:
            self._post(
                project, account, dialect.account_creation(account, cluster, f"Pnyx project {project}")
            )
        self._post(project, account, association_creation(dialect.version, account, cluster, self.user))
        log.info(
            "slurm: created account %r (user %r, cluster %r) for project %s",
            account,
            self.user,
            cluster,
            project,
        )

    def _post(self, project: str, account: str, call: SlurmCall) -> None:
        errors = parse_errors(self.rest.send(call))
        if errors:
            raise EngineRejected(
                f"project {project} has no Slurm account: creating {account!r} failed: {describe(errors)}"
            )

    def _only_cluster(self) -> str:
        names = cluster_names(self.rest.send(clusters_query(self.rest.dialect().version)))
        if len(names) != 1:
            raise EngineRejected(
                f"Slurm accounting knows clusters {names or 'none'}: set slurm.cluster to the one jobs run on"
            )
        return names[0]

    def _reason(self, project: str, account: str, cluster: str) -> str:
        return (
            f"project {project} has no Slurm account: {account!r} with user {self.user!r} is not in "
            f"cluster {cluster}'s accounting (sacctmgr add account {account}; sacctmgr add user "
            f"{self.user} account={account}), or map the project in [slurm.accounts] or slurm.fixed_account"
        )
