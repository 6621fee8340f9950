"""Safety levels L1..L4 (the facility's biosafety analogue): levels, labels, controls, classification,
releases and incidents. See README.md."""
