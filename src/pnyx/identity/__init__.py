"""Users, roles and API tokens: who is calling, and what they may do."""
