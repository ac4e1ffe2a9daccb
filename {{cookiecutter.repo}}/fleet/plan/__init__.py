"""Many releases: the plan of a change, its rules and review, its report, and deploying many at once."""
