"""The command-line edge: parse, call one service, print (Rich)."""
