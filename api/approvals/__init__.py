"""Run the joint connection-approval flow (集联办理) of the six public utilities."""
