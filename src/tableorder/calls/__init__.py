"""Staff calls: a table asks for staff (water, utensils, the bill, help); staff resolve the call."""
