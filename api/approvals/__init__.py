"""Run the joint connection-approval flow (集联办理) for water, power, heat, gas, drainage, telecom."""
