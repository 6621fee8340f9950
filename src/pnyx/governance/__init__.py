"""Member states, their contributions, the council and the policies it adopts."""
