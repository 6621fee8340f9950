"""Access to compute: calls, proposals, reviewers, conflicts of interest, reviews, panels, awards."""
