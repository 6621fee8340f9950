"""The safety policy the facility ships with, before the council adopts its own (docs/safety.md).

Controls are cumulative, like biosafety levels: each level keeps what the one below demands and adds
to it. ``SOURCES`` says where each control comes from (see ``docs/safety.md`` and the anchors).
The council changes the compute thresholds by motion (``SetSafetyThreshold(name, value)`` with the
names in ``THRESHOLD_NAMES``); ``rules.policy_with_thresholds`` applies what it adopted.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType

from pnyx.safety.model import Controls, Egress, Readers, ReleaseGate, SafetyLevel, SafetyPolicy

SAFETY_OFFICER = "safety-officer"

# The fraction of an accelerator's dense bf16 peak a training job is assumed to reach (MFU). Public
# large runs report 33-48% (OLMo-core, Megatron-Core, Llama 3, torchtitan): 0.4 is their middle.
DEFAULT_EFFICIENCY = Decimal("0.4")

L2_THRESHOLD_FLOP = Decimal("1e23")  # general-purpose scale; the EU GPAI guidelines' indicative 1e23
L3_THRESHOLD_FLOP = Decimal("1e25")  # EU AI Act Art. 51(2): presumed systemic risk

L1 = Controls(
    level=SafetyLevel.L1,
    exclusive_nodes=False,
    egress=Egress.PROXY_ALLOWLIST,
    readers=Readers.PROJECT_MEMBERS,
    release=ReleaseGate(approvals=0, roles=(), council_motion=False, public=True),
    evaluations=("licence-provenance",),
    threshold_flop=Decimal(0),
)

L2 = Controls(
    level=SafetyLevel.L2,
    exclusive_nodes=True,
    egress=Egress.LOGGED_ALLOWLIST,
    readers=Readers.NAMED_MEMBERS,
    release=ReleaseGate(approvals=2, roles=(SAFETY_OFFICER,), council_motion=False, public=True),
    evaluations=("safety-suite", "capability-screening"),
    threshold_flop=L2_THRESHOLD_FLOP,
)

L3 = Controls(
    level=SafetyLevel.L3,
    exclusive_nodes=True,
    egress=Egress.NONE,
    readers=Readers.JOBS_ONLY,
    release=ReleaseGate(approvals=2, roles=(SAFETY_OFFICER,), council_motion=True, public=True),
    evaluations=("independent-evaluation", "red-team"),
    threshold_flop=L3_THRESHOLD_FLOP,
)

L4 = Controls(
    level=SafetyLevel.L4,
    exclusive_nodes=True,
    egress=Egress.NONE,
    readers=Readers.JOBS_ONLY,
    release=ReleaseGate(approvals=3, roles=(SAFETY_OFFICER,), council_motion=True, public=False),
    evaluations=("safety-case",),
    threshold_flop=None,  # by evaluation result or governance designation, never by compute alone
)

DEFAULT_POLICY = SafetyPolicy(controls=(L1, L2, L3, L4), efficiency=DEFAULT_EFFICIENCY)

# The names under which the council adopts a compute threshold (governance SetSafetyThreshold).
THRESHOLD_NAMES: Mapping[SafetyLevel, str] = MappingProxyType(
    {
        SafetyLevel.L2: "L2_training_flop",
        SafetyLevel.L3: "L3_training_flop",
        SafetyLevel.L4: "L4_training_flop",
    }
)

# Where each default comes from (documented at length in docs/safety.md).
SOURCES: Mapping[str, str] = MappingProxyType(
    {
        "levels": "CDC/NIH BMBL 6th ed.: BSL-1..4, cumulative practices, equipment and facilities",
        "threshold_flop.L2": "EU Commission GPAI guidelines (2025): 1e23 training FLOP indicates a "
        "general-purpose model",
        "threshold_flop.L3": "EU AI Act Art. 51(2): 1e25 training FLOP presumes systemic risk",
        "threshold_flop.L4": "OpenAI Preparedness Framework, Google DeepMind Frontier Safety Framework: "
        "critical capability levels are reached by evaluation, not by compute; and council designation",
        "exclusive_nodes": "BMBL BSL-2+ restricted access; RAND 'Securing AI Model Weights' SL2+: "
        "no co-tenancy with untrusted workloads",
        "egress": "Anthropic RSP ASL-3 egress bandwidth controls; RAND SL3+ network isolation; "
        "BMBL BSL-3/4 controlled entry and exit",
        "readers": "Anthropic RSP ASL-3 two-party access to weights; RAND SL3+: no human copy of weights",
        "release": "Anthropic RSP ASL-3 two-party control; OpenAI Preparedness and DeepMind FSF: "
        "deployment only after safeguards are judged sufficient; governance quorum from L3",
        "release.public": "L4: open weights barred by default (RAND SL4+, frontier lab frameworks); "
        "the council may decide otherwise by motion",
        "evaluations": "EU AI Act Art. 55: model evaluation and adversarial testing; OpenAI "
        "Preparedness and DeepMind FSF: capability evaluations before release; safety case at L4",
        "efficiency": "public MFU reports of 33-48% (OLMo-core, Megatron-Core, Llama 3, torchtitan)",
        "peak": "each accelerator type's documented dense bf16 peak (inventory peak_bf16_tflops)",
    }
)
