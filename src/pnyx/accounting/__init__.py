"""Usage records, charges against allocations, and each member state's use against its entitlement."""
