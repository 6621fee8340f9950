"""The ``[slurm]`` section of the engines file: the executor's ``SlurmConfig`` and the import mapping.

```toml
[slurm]
url = "http://127.0.0.1:6820"      # or PNYX_SLURM_URL
user = "pnyx"                      # or PNYX_SLURM_USER; the token: PNYX_SLURM_TOKEN or token_file
fixed_account = "pnyx"             # optional: every project's jobs run under this account
account_setup = "check"            # check | create | none: each project's account (slurm_accounts)
work_mount = "/shared/pnyx/work"   # optional: the working directory as the control plane sees it;
                                   # set, each job's outputs/ are collected from it (job_dirs)
dataset_mount = "/shared/pnyx/datasets"  # optional: where nodes see the registry's dataset versions
[slurm.gres]                       # the cluster's gres NAME:TYPE (or NAME) -> Pnyx accelerator type
"gpu:h100" = "H100-SXM"
[slurm.features]                   # node feature -> Pnyx type (GPUs typed by feature, gres untyped)
[slurm.partitions]                 # partition -> the certification of its nodes (1..4, "L1".."L4")
open = 1
secure = 3
[slurm.accounts]                   # project -> Slurm account (default: the project's name)
[slurm.partition_accounts]         # partition -> the account its jobs charge (a partition that admits
                                   # only its own accounts; default: the project's account)
[slurm.site]                       # id, name, member_state (required to import), city
```
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from pnyx.core.errors import InvalidInput
from pnyx.executors import engine_settings as es
from pnyx.executors.slurm import DEFAULT_PARTITIONS, SlurmConfig, SlurmExecutor
from pnyx.executors.slurm_accounts import AccountSetup
from pnyx.inventory.model import Site
from pnyx.safety.model import SafetyLevel

ENGINE = "slurm"
QUEUE_DEPTH = (
    4  # default layers per node: short jobs keep Slurm busy across its ~1 s start and our ~0.5 s poll
)
KEYS = frozenset(
    {
        "url", "user", "token", "token_file", "working_directory", "log_directory", "log_mount", "path",
        "api_version", "use_accounting", "timeout_s", "fixed_account", "account_setup", "cluster",
        "pin_nodes", "queue_depth", "listing_ttl_s", "work_mount", "dataset_mount",
        "site", "gres", "features", "partitions", "accounts", "partition_accounts",
    }
)  # fmt: skip
GRES_KEY = re.compile(r"^[A-Za-z0-9_]+(:[A-Za-z0-9_.-]+)?$")  # NAME or NAME:TYPE, as slurm.conf spells it


class EveryProject(Mapping[str, str]):
    """``fixed_account``: the same Slurm account for every project."""

    def __init__(self, account: str) -> None:
        self.account = account

    def __getitem__(self, project: str) -> str:
        return self.account

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


@dataclass(frozen=True, slots=True, kw_only=True)
class SlurmSettings:
    config: SlurmConfig
    gres: Mapping[str, str]  # "gpu:h100" -> "H100-SXM"
    features: Mapping[str, str]  # feature -> Pnyx type
    partitions: Mapping[str, SafetyLevel]  # partition -> certification of its nodes
    section: Mapping[str, object]
    queue_depth: int = QUEUE_DEPTH  # layers of jobs per node at the engine: 1 = only what fits now

    @classmethod
    def from_section(cls, section: es.Section) -> SlurmSettings:
        es.check_keys(section, ENGINE, KEYS)
        gres = _gres_map(section)
        partitions = es.level_map(section, ENGINE, "partitions")
        config = SlurmConfig(
            base_url=es.text(section, ENGINE, "url"),
            user=es.text(section, ENGINE, "user", "pnyx"),
            token=_token(section),
            partitions=partitions_by_level(partitions) if partitions else dict(DEFAULT_PARTITIONS),
            accounts=_accounts(section),
            partition_accounts=es.names(section, ENGINE, "partition_accounts"),
            account_setup=_account_setup(section),
            cluster=es.optional_text(section, ENGINE, "cluster"),
            gres_types=gres_types(gres),
            pin_nodes=es.flag(section, ENGINE, "pin_nodes", True),
            working_directory=es.text(section, ENGINE, "working_directory"),
            log_directory=es.text(section, ENGINE, "log_directory"),
            log_mount=es.optional_text(section, ENGINE, "log_mount"),
            work_mount=es.optional_text(section, ENGINE, "work_mount"),
            dataset_mount=es.optional_text(section, ENGINE, "dataset_mount"),
            path=es.text(section, ENGINE, "path", "/usr/local/bin:/usr/bin:/bin"),
            api_version=es.optional_text(section, ENGINE, "api_version"),
            use_accounting=es.flag(section, ENGINE, "use_accounting", True),
            listing_ttl_s=es.number(section, ENGINE, "listing_ttl_s", 1.0),
            timeout_s=es.number(section, ENGINE, "timeout_s", 10.0),
        )
        features = es.type_map(section, ENGINE, "features")
        return cls(
            config=config,
            gres=gres,
            features=features,
            partitions=partitions,
            section=section,
            queue_depth=es.whole(section, ENGINE, "queue_depth", QUEUE_DEPTH),
        )

    def mapped_types(self) -> frozenset[str]:
        return frozenset(self.gres.values()) | frozenset(self.features.values())

    def ahead_depth(self) -> int:
        """Two layers by default: Slurm starts a pinned job the moment its nodes free up (with
        ``pin_nodes``; without, Slurm places jobs itself and nothing is queued ahead)."""
        return self.queue_depth if self.config.pin_nodes else 1

    def site(self) -> Site:
        return es.site(self.section, ENGINE)

    def executor(self) -> SlurmExecutor:
        return SlurmExecutor(self.config)


def partitions_by_level(partitions: Mapping[str, SafetyLevel]) -> dict[SafetyLevel, str]:
    """Each level's partition: the least certified one that is certified high enough."""
    by_level: dict[SafetyLevel, str] = {}
    for level in SafetyLevel:
        fitting = sorted((p_level, name) for name, p_level in partitions.items() if p_level >= level)
        if fitting:
            by_level[level] = fitting[0][1]
    return by_level


def gres_types(gres: Mapping[str, str]) -> dict[str, str]:
    """Pnyx type -> the gres TYPE a job asks for ("" for an untyped gres: ``gpu:N``)."""
    inverse: dict[str, str] = {}
    for key, pnyx in sorted(gres.items()):
        gres_type = key.partition(":")[2]
        if pnyx in inverse and inverse[pnyx] != gres_type:
            raise InvalidInput(
                f"slurm.gres maps both {inverse[pnyx] or 'untyped'} and {gres_type or 'untyped'} gres to "
                f"{pnyx}; one Pnyx type is one gres type (map the other to another type)",
                field="slurm.gres",
            )
        inverse[pnyx] = gres_type
    return inverse


def _gres_map(section: es.Section) -> dict[str, str]:
    gres = es.type_map(section, ENGINE, "gres")
    for key in gres:
        if not GRES_KEY.match(key):
            raise InvalidInput(
                f'slurm.gres key {key!r} must be NAME or NAME:TYPE as the cluster\'s gres says ("gpu:h100")',
                field=f"slurm.gres.{key}",
            )
    return gres


def _accounts(section: es.Section) -> Mapping[str, str]:
    accounts = es.names(section, ENGINE, "accounts")
    fixed = es.optional_text(section, ENGINE, "fixed_account")
    if fixed is not None and accounts:
        raise InvalidInput(
            "slurm.fixed_account and slurm.accounts exclude each other: one account for all, "
            "or one per project",
            field="slurm.fixed_account",
        )
    return EveryProject(fixed) if fixed is not None else accounts


def _account_setup(section: es.Section) -> AccountSetup:
    value = es.text(section, ENGINE, "account_setup", AccountSetup.CHECK.value)
    try:
        return AccountSetup(value)
    except ValueError:
        known = ", ".join(AccountSetup)
        raise InvalidInput(
            f"slurm.account_setup is one of {known}, got {value!r}", field="slurm.account_setup"
        ) from None


def _token(section: es.Section) -> str:
    """PNYX_SLURM_TOKEN, else the first line of ``token_file`` (a JWT from ``scontrol token``)."""
    if "token" in section:
        return es.text(section, ENGINE, "token")
    path = es.optional_text(section, ENGINE, "token_file")
    if path is None:
        return ""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InvalidInput(
            f"slurm.token_file {path} cannot be read: {exc.strerror}", field="slurm.token_file"
        ) from None
    return lines[0].strip().removeprefix("SLURM_JWT=") if lines else ""
