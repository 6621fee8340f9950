"""pnyx demo: seed a demo facility, and say who its people are and how to get their tokens."""

from __future__ import annotations

import typer

from pnyx.cli.context import console, platform
from pnyx.demo.service import DEMO_DATASET, USERS, DemoResult, seed_demo
from pnyx.identity.model import User

MINT_HINT = (
    "their tokens were shown once, when the demo was seeded, and only their hashes are stored. To get one "
    "again: `pnyx token create NAME` (an enrolment token for NAME), then, as NAME, `pnyx token redeem` "
    "(paste it) for NAME's own API token"
)


def demo(
    accelerators: int = typer.Option(100_000, help="Size of the generated facility"),
    seed: int = typer.Option(0, help="Same seed, same facility and history"),
) -> None:
    """Seed a demo facility (member states, users of every role, inventory) and log all of it; print
    each demo person's API token with their roles (once), or, when already seeded, how to mint one."""
    with platform() as p, console().status("seeding the demo facility…"):
        result = seed_demo(p, accelerators=accelerators, seed=seed)
        size = p.log.size()
        people = {u.name: u for u in p.identity.list_users()}
    if not result.seeded:
        already_seeded(result, people)
        return
    console().print(f"seeded the demo facility; the log holds {size} entries")
    console().print(
        "demo API tokens, with their people's roles (valid 30 days, shown once; send them as "
        "'Authorization: Bearer TOKEN'):",
        style="bold",
    )
    for name, issued in result.tokens:
        console().print(f"  {name:<10} {_roles(people.get(name)):<26} {issued.secret}", highlight=False)
    show_projects(result)


def already_seeded(result: DemoResult, people: dict[str, User]) -> None:
    console().print(
        f"the facility already has member states; nothing seeded ({result.log_entries} pending events logged)"
    )
    demo_people = [people[name] for name in (*(n for n, _r, _s in USERS), "del-de") if name in people]
    if not demo_people:
        return
    console().print("the demo's people:", style="bold")
    for user in demo_people:
        console().print(f"  {user.name:<10} {_roles(user)}", highlight=False)
    console().print(MINT_HINT, highlight=False)


def show_projects(result: DemoResult) -> None:
    for project, pi, runs in result.projects:
        state = "confirmed: its jobs run" if runs else "waits for a safety officer: its jobs are held"
        console().print(f"project {project} (PI {pi}; {state})", highlight=False)
    if result.dataset:
        console().print(
            f"public dataset {DEMO_DATASET}, version {result.dataset}", highlight=False, soft_wrap=True
        )


def _roles(user: User | None) -> str:
    if user is None:
        return ""
    state = f" ({user.member_state})" if user.member_state else ""
    return ", ".join(sorted(user.roles)) + state
