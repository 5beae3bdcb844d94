"""The upgrade runbook's domain core: request, plan, pre-flight catalogue and checks, validation, report."""
