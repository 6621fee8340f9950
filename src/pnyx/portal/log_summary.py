"""A log entry in one line of words: a pure summariser per event type (docs/events.md lists them).

Each type has a template over its fields. A field reads compactly: a list as its first few items, a
mapping as ``key value`` pairs, a missing or null field as "none". The spec ``n`` counts a list's
items and ``h`` shortens a digest to 12 characters. A type without a template (one added later)
reads as its first fields, ``name=value``.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Mapping, Sequence
from typing import Any

LISTED = 3  # items of a list shown before "…"
LONGEST = 120  # characters of one field's text
SHOWN_FIELDS = 4  # fields shown for a type without a template
TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}):\d{2}(\.\d+)?Z$", re.ASCII)  # the log's times

TEMPLATES = {
    "accounting.project.over_budget": "project {project_id} went over budget: {used_hours} h used of "
    "{allocated_hours} h",
    "accounting.usage.recorded": "job {job_id} used {accelerators} × {accelerator_type} for project "
    "{project_id} ({member_state}), {energy_wh} Wh estimated",
    "allocation.allocation.created": "project {project_id} allocated {hours} from call {call_id} "
    "({pool} pool)",
    "allocation.call.created": "call {call_id} “{title}” opened: {budget_hours} h, {mode}, closes "
    "{closes_at}",
    "allocation.call.decided": "call {call_id} decided: {awarded_hours} of {budget_hours} h awarded to "
    "{grants:n} proposals, {rejected:n} rejected",
    "allocation.call.ranked": "call {call_id} ranked {ranking:n} proposals",
    "allocation.call.transitioned": "call {call_id}: {action}, now {state}",
    "allocation.conflict.declared": "a conflict declared on proposal {proposal_id}; "
    "{recused_assignments:n} reviewers recused",
    "allocation.conflict.withdrawn": "a conflict on proposal {proposal_id} withdrawn by its reviewer",
    "allocation.conflict.waived": "conflict on proposal {proposal_id} waived by {waived_by}: {reason}",
    "allocation.proposal.created": "proposal {proposal_id} started for call {call_id}",
    "allocation.proposal.edited": "proposal {proposal_id} edited",
    "allocation.proposal.replied": "the applicants of proposal {proposal_id} replied to the reviews",
    "allocation.proposal.transitioned": "proposal {proposal_id}: {action}, now {state}",
    "allocation.review.submitted": "a {kind} review of proposal {proposal_id} submitted",
    "allocation.reviewer.registered": "reviewer {user_id} registered ({expertise}), up to {max_load} reviews",
    "allocation.reviewers.assigned": "proposal {proposal_id} assigned reviewers: technical {technical}, "
    "scientific {scientific}",
    "allocation.team.confirmed": "the team of proposal {proposal_id} confirmed: {confirmed_members:n} "
    "members",
    "governance.ballot.cast": "{member_state} voted {choice} on motion {motion_id}",
    "governance.ballot.changed": "{member_state} changed its vote on motion {motion_id} from {previous} "
    "to {choice}",
    "governance.member_state.admitted": "{name} ({code}) admitted as a member state",
    "governance.member_state.contribution_changed": "{code}'s annual contribution set to "
    "{contribution_minor_units} ({currency} minor units)",
    "governance.member_state.contribution_recorded": "{code}'s contribution for {budget_year} recorded: "
    "{cash_minor_units} cash, {in_kind_minor_units} in kind ({currency} minor units)",
    "governance.member_state.payment_recorded": "{code} paid {amount_minor_units} for {budget_year} "
    "({currency} minor units)",
    "governance.member_state.status_changed": "{code} is now {status}: {reason}",
    "governance.motion.amended": "motion {motion_id} amended by {amendment_id}",
    "governance.motion.comment_posted": "{author} ({member_state}) commented on motion {motion_id}",
    "governance.motion.decided": "motion {motion_id} {state}",
    "governance.motion.submitted": "motion {motion_id} submitted for a vote",
    "governance.motion.tabled": "{member_state} tabled motion {motion_id} “{title}” ({decision_type})",
    "governance.motion.tallied": "motion {motion_id} tallied over {ballots:n} ballots: {outcome}",
    "governance.motion.voting_opened": "voting opened on motion {motion_id} ({decision_type}, {rules_name}), "
    "closes {closes_at}",
    "governance.motion.withdrawn": "motion {motion_id} withdrawn by {by}",
    "governance.policy.adopted": "policy {kind} {subject} version {version} adopted, in force from "
    "{effective_from}",
    "identity.token.issued": "a {kind} token issued to {user_id} by {issued_by}, expires {expires_at}",
    "identity.token.restored": "token {token_id} of {user_id} restored by {restored_by}",
    "identity.token.revoked": "token {token_id} of {user_id} revoked by {revoked_by}",
    "identity.token.suspended": "token {token_id} of {user_id} suspended: {reason}",
    "identity.user.disabled": "user {user_id} disabled by {disabled_by}: {reason}",
    "identity.user.registered": "user {name} registered as {roles}",
    "identity.user.roles_changed": "user {user_id} now holds {roles}",
    "inventory.facility.generated": "a facility generated: {accelerators} accelerators on {nodes} nodes at "
    "{sites} sites",
    "inventory.imported": "{source} imported at {site_id}: {added} nodes added, {changed} changed, "
    "{removed} removed; {accelerators} accelerators",
    "inventory.node.added": "node {node_id} added at {site_id}: {accelerators} × {accelerator_type} "
    "({safety_level})",
    "inventory.node.changed": "node {node_id} changed: {changes}",
    "inventory.node.removed": "node {node_id} removed: {reason}",
    "inventory.node.state_set": "node {node_id} {before} → {state} by {by}: {reason}",
    "jobs.job.cancel_requested": "cancelling job {job_id} ({status}): {reason}",
    "jobs.job.relabelled": "job {job_id} relabelled {from_label} → {label}: {reason}",
    "jobs.job.state_changed": "job {job_id} {action}: now {status}",
    "jobs.job.submitted": "job {job_id} submitted to project {project}: {accelerators} × {accelerator_type} "
    "at {label}",
    "jobs.outputs.recorded": "job {job_id} recorded {files} output files ({bytes} bytes) at {label}",
    "registry.checkpoint.registered": "job {job_id} registered the checkpoint of step {step}",
    "registry.dataset.takedown_applied": "takedown on {dataset}: {from_version} → {to_version}, "
    "{removed} samples removed ({reason})",
    "registry.dataset.version_created": "dataset {dataset} version {version}: {samples} samples in {shards} "
    "shards",
    "registry.evaluation.recorded": "model {model_version} evaluated on {eval_set}: {metrics}",
    "registry.evaluation.refused": "the evaluation of job {job_id} refused: {code}",
    "registry.model.refused": "the model from job {job_id} refused: {code}",
    "registry.model.registered": "model version {version} registered from job {job_id}, trained on "
    "{datasets}",
    "safety.classification.changed": "project {project}: {action} at {level}, now {status}",
    "safety.incident.action_taken": "incident {incident_id}: {action} {target}",
    "safety.incident.lift_changed": "incident {incident_id}: {action}, now {status}",
    "safety.incident.opened": "incident {incident_id} opened on {subject_kind} {subject}: {summary}",
    "safety.key.registered": "{user} registered signing key {key_id}",
    "safety.key.revoked": "{user}'s signing key {key_id} revoked",
    "safety.project.classified": "project {project} classified {level} ({status})",
    "safety.release.approved": "{approver} ({role}) approved release {release_id}",
    "safety.release.decided": "release {release_id} {status}: {artifact_ref} of job {job} to {to_label}",
    "safety.release.requested": "{requester} requested release {release_id}: {artifact_ref} of job {job} "
    "from {from_label} to {to_label}",
    "scheduler.cycle.decided": "the {scheduler} scheduler decided cycle {seq} (part {part} of {parts})",
    "scheduler.topology.published": "topology {digest:h} published: {nodes:n} nodes in {pools:n} pools",
    "workspaces.job.authorised": "job {job_id} authorised to read {objects} objects of workspace "
    "{workspace_id}",
    "workspaces.objects.committed": "{commitments:n} objects committed to workspace {workspace_id} "
    "({origin})",
    "workspaces.workspace.created": "workspace {workspace_id} created for project {project}",
    "workspaces.workspace.shredded": "workspace {workspace_id} of project {project} shredded: {reason}",
}


def summarise(entry: bytes) -> str:
    """One entry's bytes (the log's JSON envelope) in words; an unreadable entry says so."""
    try:
        envelope = json.loads(entry)
        kind, data = str(envelope["type"]), envelope["data"]
    except (ValueError, KeyError, TypeError):
        return "(an entry this page cannot read)"
    if not isinstance(data, Mapping):
        return kind
    return summary(kind, data)


def summary(kind: str, data: Mapping[str, Any]) -> str:
    template = TEMPLATES.get(kind)
    if template is None:
        return ", ".join(f"{k}={_text(v)}" for k, v in list(data.items())[:SHOWN_FIELDS]) or kind
    return _Fields().format(template, **data)


class _Fields(string.Formatter):
    """Formats the log's JSON values: missing fields read "none"; specs ``n`` and ``h``."""

    def get_value(self, key: int | str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        return kwargs.get(str(key))

    def format_field(self, value: Any, format_spec: str) -> str:
        if format_spec == "n":
            return str(len(value)) if isinstance(value, list | dict) else _text(value)
        if format_spec == "h" and isinstance(value, str):
            return value[:12]
        return _text(value)


def _text(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        shown = ", ".join(_text(v) for v in value[:LISTED])
        return (shown + (", …" if len(value) > LISTED else "")) or "none"
    if isinstance(value, dict):
        return _pairs(value)
    text = str(value)
    if m := TIME.match(text):
        return f"{m[1]} {m[2]} UTC"
    return text if len(text) <= LONGEST else text[: LONGEST - 1] + "…"


def _pairs(value: Mapping[str, Any]) -> str:
    items = list(value.items())
    shown = ", ".join(f"{k} {_text(v)}" for k, v in items[:LISTED])
    return (shown + (", …" if len(items) > LISTED else "")) or "none"
