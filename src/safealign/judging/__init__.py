"""Judges that measure harm (issue 11): the harm judge, a refusal detector that knows lecturing refusals,
toxicity checked per subset, side-by-side comparison with published judges, and the audit loop."""
