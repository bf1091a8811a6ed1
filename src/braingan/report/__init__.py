"""Human-facing outputs: plots now, the HTML report later."""
