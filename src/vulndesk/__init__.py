"""vulndesk: coordinated vulnerability disclosure that keeps its promises."""
