"""Settings shared by the whole suite."""

from vigia.memory import tune_for_arrays

# The suite simulates and detects like the CLI does: give it the CLI's memory settings
# (vigia.memory), so it is not slowed by page faults the CLI does not pay.
tune_for_arrays()
