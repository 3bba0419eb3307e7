"""Kitchen stations (the kitchen, the bar) and the tickets orders make for them (SPEC section 10)."""
