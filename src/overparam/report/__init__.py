"""The HTML report: studies, figures and the summary of claims."""
