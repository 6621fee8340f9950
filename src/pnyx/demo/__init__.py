"""A living demo facility: member states, users of every role, a generated inventory, log entries."""
