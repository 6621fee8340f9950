"""Jobs researchers submit: their specification, lifecycle and the engine that runs them."""
